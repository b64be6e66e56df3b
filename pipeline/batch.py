"""The capture batch: batch.json plus the images a camera station produced.

``load_batch(folder)`` parses and validates ``batch.json`` against
``schemas/batch.schema.json``, checks the page list against the files present, and
returns a frozen :class:`Batch`. Every problem found is collected and raised once as
a :class:`~pipeline.errors.BatchError`, each naming the file and the field.
"""

from __future__ import annotations

import enum
import json
import os
import posixpath
import re
import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path

from pipeline.errors import BatchError, Problem
from pipeline.identifiers import DEFAULT_TEMPLATE, persistent_id
from pipeline.languages import SUPPORTED, models_for
from pipeline.structure import Division, LeafRef, logical_structure, parse_structure
from pipeline.validation import json_errors


class MaterialType(str, enum.Enum):
    ANCIENT_BOOK = "ancient_book"  # 古籍
    REPUBLICAN = "republican"  # 民国文献
    OTHER = "other"


class ScriptDirection(str, enum.Enum):
    VERTICAL_RL = "vertical-rl"  # columns top to bottom, read right to left
    HORIZONTAL_LR = "horizontal-lr"


class AccessLevel(str, enum.Enum):
    PUBLIC = "public"
    RESTRICTED = "restricted"
    STAFF_ONLY = "staff-only"


class PageType(str, enum.Enum):
    COVER = "cover"
    PAGE = "page"
    BLANK = "blank"
    COLOUR_TARGET = "colour-target"
    SPINE = "spine"


@dataclass(frozen=True)
class Creator:
    """A creator with role (撰, 注, 輯 …) and dynasty/period (明, 清 …)."""

    name: str
    role: str = ""
    period: str = ""


@dataclass(frozen=True)
class Capture:
    """How the images were made, at which station and by whom."""

    station_id: str
    operator: str
    camera: str = ""
    lens: str = ""
    lighting: str = ""
    capture_date: str = ""  # ISO 8601 date or date-time
    declared_ppi: int = 0
    qc_profile: str = ""  # built-in QC profile for this batch (legacy for migrated scans); "" = by material
    mode: str = "single"  # "spread": every image shows two leaves (an open book or an uncut double leaf)


@dataclass(frozen=True)
class Page:
    """One image in reading order.

    ``page_id`` (p0001, p0002 …) is derived from the position and names every
    derivative, so file names with spaces or Chinese characters never reach paths
    we build. ``file`` is the master's path relative to the batch folder (POSIX).
    """

    order: int  # 1-based position in reading order
    file: str
    label: str
    page_type: PageType = PageType.PAGE
    ocr_engine: str = ""  # batch.json's per-page engine (tesseract, ppocr, auto); "" = the batch's
    split: bool = False  # the image shows two leaves, each its own canvas
    split_x: int | None = None  # the cut in master columns, as batch.json gives it; None = found in the image
    leaf_labels: tuple[str, ...] = ()  # the two leaves' labels in reading order; () = label + a, b

    @property
    def page_id(self) -> str:
        return f"p{self.order:04d}"


class Side(str, enum.Enum):
    """Which part of a master a canvas shows."""

    WHOLE = "whole"
    RIGHT = "right"
    LEFT = "left"


@dataclass(frozen=True)
class Leaf:
    """One canvas: a whole master, or one side of a master that shows two leaves.

    Per-canvas steps (derivative, OCR, the physical structMap, the manifest) work on
    leaves; per-master steps (checksums, QC, the AIP's masters) on pages. A whole
    leaf's ``page_id`` is its master's (p0003); a split master's leaves add the side
    (p0003r, p0003l), so both point into one master file.
    """

    master: Page
    order: int  # 1-based place among the item's canvases, in reading order
    side: Side = Side.WHOLE
    label: str = ""

    @property
    def page_id(self) -> str:
        suffix = "" if self.side is Side.WHOLE else self.side.value[0]
        return f"{self.master.page_id}{suffix}"

    @property
    def file(self) -> str:
        return self.master.file

    @property
    def page_type(self) -> PageType:
        return self.master.page_type

    @property
    def ocr_engine(self) -> str:
        return self.master.ocr_engine


@dataclass(frozen=True)
class Batch:
    """A parsed, validated batch. ``root`` is the batch folder (read-only to us)."""

    root: Path
    item_id: str
    title: str
    material_type: MaterialType
    script_direction: ScriptDirection
    languages: tuple[str, ...]
    access_level: AccessLevel
    capture: Capture
    pages: tuple[Page, ...]
    call_number: str = ""  # 索书号
    census_number: str = ""  # 普查编号
    juan_count: str = ""  # 卷数, as catalogued: "十卷", "存三卷" …
    creators: tuple[Creator, ...] = ()
    edition: str = ""  # 版本, e.g. 明嘉靖刻本
    annotations: tuple[str, ...] = ()  # 批校题跋
    seals: tuple[str, ...] = ()  # 钤印
    binding: str = ""  # 装帧
    extant: str = ""  # 存卷
    layout: str = ""  # 行款
    volume_number: int = 1
    volume_label: str = ""
    title_lang: str = "zh-Hant"
    source_organization: str = ""
    persistent_id: str = ""  # item.persistent_id, else the persistent_id setting's template (see pid)
    structure: tuple[Division, ...] = ()  # batch.json's juan and sections (pipeline.structure)
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def batch_file(self) -> Path:
        return self.root / "batch.json"

    def master_path(self, page: Page) -> Path:
        return self.root / page.file

    def page(self, page_id: str) -> Page:
        return next(p for p in self.pages if p.page_id == page_id)

    @property
    def leaves(self) -> tuple[Leaf, ...]:
        """The canvases in reading order: a split master gives two, right first in a vertical book."""
        sides = ((Side.RIGHT, Side.LEFT) if self.script_direction is ScriptDirection.VERTICAL_RL
                 else (Side.LEFT, Side.RIGHT))
        leaves: list[Leaf] = []
        for page in self.pages:
            if not page.split:
                leaves.append(Leaf(page, len(leaves) + 1, label=page.label))
                continue
            labels = page.leaf_labels or (f"{page.label}a", f"{page.label}b")
            leaves += [Leaf(page, len(leaves) + n, side, label) for n, (side, label) in enumerate(zip(sides, labels), 1)]
        return tuple(leaves)

    def leaf(self, page_id: str) -> Leaf:
        return next(leaf for leaf in self.leaves if leaf.page_id == page_id)

    @property
    def pid(self) -> str:
        """The item's persistent identifier: as given, else urn:uuid from the item id."""
        return self.persistent_id or persistent_id(DEFAULT_TEMPLATE, self.item_id)

    @property
    def logical(self) -> Division:
        """The work > volume > juan > section tree the METS logical structMap and the manifest's ranges show."""
        return logical_structure(self.title, [leaf.page_id for leaf in self.leaves], self.structure,
                                 volume_label=self.volume_label, volume_number=self.volume_number)


BATCH_FILE = "batch.json"
# The extensions pipeline.images accepts for masters: any other file is not a page.
IMAGE_SUFFIXES = frozenset({".tif", ".tiff", ".jpg", ".jpeg", ".jpe", ".png", ".jp2", ".j2k", ".jpf", ".jpx"})
# Files a camera station or an operating system leaves behind that are never pages.
IGNORED_NAMES = frozenset({"Thumbs.db", "desktop.ini", BATCH_FILE})
# In a spread batch these page types show two leaves; a cover or colour target is shot alone.
SPLIT_BY_DEFAULT = frozenset({PageType.PAGE, PageType.BLANK})


def load_batch(folder: Path) -> Batch:
    """Parse and check ``folder/batch.json`` and the files beside it.

    Raises:
        BatchError: listing every problem found, each naming the file and field.
    """
    folder = Path(folder)
    data = _read_batch_json(folder)
    problems = [_schema_problem(msg) for msg in json_errors(data, "batch")]
    problems += _language_problems(data)
    # Check the page list too when it can be read, so schema and file problems come at once.
    if _pages_readable(data):
        present, twins = _files_present(folder)
        pages = _pages_from(data, present)
        problems += twins + _page_problems(folder, pages, present, listed=("pages" in data)) + _split_problems(pages)
    if problems:
        raise BatchError(problems)
    # Use each name as stored on disk, so NFD names written by a Mac still open.
    pages = [replace(p, file=present[_page_key(p.file)]) for p in pages]
    return _with_structure(_batch_from(folder, data, pages), data.get("structure", []))


def _with_structure(batch: Batch, entries: list[dict]) -> Batch:
    """Resolve the structure's leaf ranges, which needs the leaves a split image gives."""
    refs = [LeafRef(leaf.page_id, leaf.label) for leaf in batch.leaves]
    divisions, problems = parse_structure(entries, refs)
    if problems:
        raise BatchError(problems)
    return replace(batch, structure=divisions)


def _language_problems(data: dict) -> list[Problem]:
    """Refuse a language no OCR model reads now, before any processing, rather than in OCR."""
    item = data.get("item")
    languages = item.get("languages") if isinstance(item, dict) else None
    if not isinstance(languages, list):
        return []  # the schema check reports it
    vertical = isinstance(item, dict) and item.get("script_direction") == "vertical-rl"
    unknown = [code for code in languages if isinstance(code, str) and models_for(code, vertical=vertical) is None]
    return [Problem(BATCH_FILE, f"no OCR model is known for language {code!r}", field="item.languages",
                    hint=f"use one of {', '.join(SUPPORTED)}") for code in unknown]


def _schema_problem(message: str) -> Problem:
    """Turn a "path: message" schema error into a Problem naming the field."""
    path, _, text = message.partition(": ")
    if not _has_path(message):
        path, text = "", message
    required = re.fullmatch(r"'([^']+)' is a required property", text)
    if required:
        # Name the missing field itself ("capture.declared_ppi"), not its parent.
        path = f"{path}.{required.group(1)}" if path else required.group(1)
        text = "required field is missing"
    if path == "item.id" and "does not match" in text:
        # The raw pattern helps nobody at a scanning station.
        text = (f"{text.split(' does not match')[0]} is not a usable item id: use 1-128 letters, digits, '.', '_' "
                "or '-', starting with a letter or digit and not ending in '.new' or '.old'")
    hint = ""
    if path.endswith(".ocr_engine") and " is not one of " in text:
        text, hint = f"{text.split(' is not one of ')[0]} is not an OCR engine", "use auto, tesseract or ppocr"
    return Problem(BATCH_FILE, text, field=path, hint=hint)


def _pages_readable(data: dict) -> bool:
    """True when "pages" is absent or a non-empty list of objects each naming a file."""
    if "pages" not in data:
        return True
    entries = data["pages"]
    return isinstance(entries, list) and bool(entries) and all(
        isinstance(e, dict) and isinstance(e.get("file"), str) and e["file"] for e in entries)


def _read_batch_json(folder: Path) -> dict:
    if not folder.exists():
        raise BatchError(Problem(str(folder), "no such folder", hint="check the batch folder path"))
    if not folder.is_dir():
        raise BatchError(Problem(str(folder), "not a folder", hint="give the batch folder, not a file"))
    path = folder / BATCH_FILE
    if not path.is_file():
        raise BatchError(Problem(str(path), "missing", hint="every batch folder needs a batch.json"))
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise BatchError(Problem(str(path), f"cannot read: {exc.strerror}")) from None
    if not raw.strip():
        raise BatchError(Problem(BATCH_FILE, "empty file"))
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise BatchError(Problem(BATCH_FILE, f"not UTF-8 text (byte {exc.start})",
                                 hint="save batch.json as UTF-8")) from None
    except json.JSONDecodeError as exc:
        raise BatchError(Problem(BATCH_FILE, f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")) from None
    if not isinstance(data, dict):
        raise BatchError(Problem(BATCH_FILE, "top level must be a JSON object"))
    return data


def _has_path(message: str) -> bool:
    head = message.partition(": ")[0]
    return bool(head) and " " not in head


def _files_present(folder: Path) -> tuple[dict[str, str], list[Problem]]:
    """Map NFC-normalised relative POSIX path -> the name as stored on disk; report NFC/NFD twins."""
    present: dict[str, str] = {}
    twins: list[Problem] = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if not path.is_file() or _ignored(rel):
            continue
        key = unicodedata.normalize("NFC", rel)
        if key in present:
            # Linux keeps the NFC and NFD spellings as two files; only one could ever be a page.
            twins.append(Problem(rel, f"has the same name as {present[key]!r} apart from Unicode normalisation",
                                 hint="the two names look identical; rename or remove one"))
        else:
            present[key] = rel
    return present, twins


def _ignored(rel: str) -> bool:
    parts = rel.split("/")
    return any(p.startswith(".") for p in parts) or parts[-1] in IGNORED_NAMES


def _pages_from(data: dict, present: dict[str, str]) -> list[Page]:
    spread = isinstance(data.get("capture"), dict) and data["capture"].get("mode") == "spread"
    if "pages" in data:
        return [_page_from(i, entry, spread) for i, entry in enumerate(data["pages"], start=1)]
    images = sorted((rel for rel in present.values() if Path(rel).suffix.lower() in IMAGE_SUFFIXES),
                    key=_natural_key)
    return [Page(order=i, file=rel, label=f"{i}", split=spread) for i, rel in enumerate(images, start=1)]


def _page_from(order: int, entry: dict, spread: bool) -> Page:
    page_type = _page_type(entry.get("type", "page"))
    split = entry.get("split", "auto" if spread and page_type in SPLIT_BY_DEFAULT else "none")
    labels = entry.get("leaf_labels")
    return Page(order=order, file=entry["file"], label=entry.get("label") or f"{order}", page_type=page_type,
                ocr_engine=str(entry.get("ocr_engine", "")), split=split != "none",
                split_x=split.get("x") if isinstance(split, dict) else None,
                leaf_labels=tuple(labels) if isinstance(labels, list) else ())


def _page_type(value: object) -> PageType:
    # A bad type is already a schema problem; PAGE only lets the file checks go on.
    return PageType(value) if isinstance(value, str) and value in {t.value for t in PageType} else PageType.PAGE


def _page_key(rel: str) -> str:
    """Return the key a listed file is found under: NFC, with "./" and "a/../" removed."""
    return unicodedata.normalize("NFC", posixpath.normpath(rel))


def _natural_key(name: str) -> list[object]:
    # "p2.tif" before "p10.tif", as a technician reading the folder expects.
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def _page_problems(folder: Path, pages: list[Page], present: dict[str, str], *, listed: bool) -> list[Problem]:
    problems: list[Problem] = []
    if not pages:
        problems.append(Problem(str(folder), "no images found", hint="add TIFF, JPEG, PNG or JPEG 2000 files"))
    seen: dict[str, int] = {}
    for index, page in enumerate(pages):
        field = f"pages[{index}].file" if listed else "pages"
        key = _page_key(page.file)
        problem = _path_problem(folder, page.file) or _missing_problem(key, present)
        if problem:
            problems.append(Problem(BATCH_FILE, f"{page.file!r} {problem}", field=field,
                                    hint=_missing_hint(key, present) if "missing" in problem else ""))
        elif key in seen:
            problems.append(Problem(BATCH_FILE, f"{page.file!r} is listed twice (also pages[{seen[key]}])",
                                    field=field, hint="each image is one page; remove the duplicate entry"))
        seen.setdefault(key, index)
    for key, rel in present.items():
        if key not in seen and listed:
            problems.append(Problem(rel, "present in the batch folder but not listed in pages",
                                    hint="add it to batch.json pages, or move it out of the batch folder"))
    return problems


def _split_problems(pages: list[Page]) -> list[Problem]:
    return [Problem(BATCH_FILE, "leaf_labels name two leaves, but the page is not split", field=f"pages[{i}].leaf_labels",
                    hint='add "split": "auto" (or set capture.mode to spread), or remove leaf_labels')
            for i, page in enumerate(pages) if page.leaf_labels and not page.split]


def _path_problem(folder: Path, rel: str) -> str:
    """Say why ``rel`` may not be used as a path inside ``folder`` ("" if it may)."""
    if "\x00" in rel or rel.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", rel):
        return "is not a relative path inside the batch folder"
    root = os.path.realpath(folder)
    target = os.path.realpath(os.path.join(root, rel))
    if os.path.commonpath([root, target]) != root:
        return "points outside the batch folder"
    return ""


def _missing_problem(key: str, present: dict[str, str]) -> str:
    if key in present:
        return ""
    return "is listed but missing from the batch folder"


def _missing_hint(key: str, present: dict[str, str]) -> str:
    # Names typed on Windows or macOS often differ from the disk only in letter case.
    same = [rel for k, rel in present.items() if k.casefold() == key.casefold()]
    if same:
        return f"the folder has {same[0]!r}: names must match exactly, including case"
    return "check the file name"


def _batch_from(folder: Path, data: dict, pages: list[Page]) -> Batch:
    item, capture, volume = data["item"], data["capture"], data.get("volume", {})
    return Batch(
        root=folder,
        item_id=item["id"],
        title=item["title"],
        material_type=MaterialType(item["material_type"]),
        script_direction=ScriptDirection(item["script_direction"]),
        languages=tuple(item["languages"]),
        access_level=AccessLevel(item["access_level"]),
        capture=Capture(**capture),
        pages=tuple(pages),
        call_number=item.get("call_number", ""),
        census_number=item.get("census_number", ""),
        juan_count=item.get("juan_count", ""),
        creators=tuple(Creator(**c) for c in item.get("creators", [])),
        edition=item.get("edition", ""),
        annotations=tuple(item.get("annotations", [])),
        seals=tuple(item.get("seals", [])),
        binding=item.get("binding", ""),
        extant=item.get("extant", ""),
        layout=item.get("layout", ""),
        volume_number=volume.get("number", 1),
        volume_label=volume.get("label", ""),
        title_lang=item.get("title_lang", "zh-Hant"),
        source_organization=item.get("source_organization", ""),
        persistent_id=item.get("persistent_id", ""),
        extra={"title_en": item["title_en"]} if "title_en" in item else {},
    )
