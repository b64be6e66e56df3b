"""Bulk migration of legacy scans: the inventory CSV, its item folders, the run journal.

An inventory (the library's census spreadsheet, saved as UTF-8 CSV) has one row per
item; its columns map to batch.json fields (see :data:`COLUMNS` and docs/migrate.md).
``read_inventory`` parses it, ``plan_items`` checks each row and lists its folder
below ROOT; a bad row refuses that item only. Everything here is pure apart from
reading the CSV and listing folders: staging copies, the ingest and the journal file
live in workflows/migrate.py.
"""

from __future__ import annotations

import csv
import enum
import io
import json
import os
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pipeline.batch import IGNORED_NAMES, IMAGE_SUFFIXES
from pipeline.checksums import Digests
from pipeline.errors import BatchError, ExitCode, Problem, ShuyingError
from pipeline.languages import SUPPORTED, models_for
from pipeline.validation import json_errors

LEGACY_PROFILE = "legacy"
LIST_SEPARATORS = re.compile(r"[;；]")  # Excel users type the full-width ； as often as ;
CREATOR_PARTS = "|"


class Kind(str, enum.Enum):
    TEXT = "text"
    LIST = "list"  # separated by ;
    INTEGER = "integer"
    CREATORS = "creators"  # name|role|period; name|role|period


@dataclass(frozen=True)
class Column:
    """One inventory column: where its value goes in batch.json, and how it is read."""

    name: str
    target: str  # dotted batch.json path; "" for folder
    required: bool = False
    kind: Kind = Kind.TEXT
    default: str = ""


COLUMNS: tuple[Column, ...] = (
    Column("item_id", "item.id", required=True),
    Column("folder", "", required=True),
    Column("title", "item.title", required=True),
    Column("material_type", "item.material_type", required=True),
    Column("languages", "item.languages", required=True, kind=Kind.LIST),
    Column("script_direction", "item.script_direction", required=True),
    Column("declared_ppi", "capture.declared_ppi", required=True, kind=Kind.INTEGER),
    Column("access_level", "item.access_level", required=True),
    Column("title_lang", "item.title_lang"),
    Column("title_en", "item.title_en"),
    Column("call_number", "item.call_number"),
    Column("census_number", "item.census_number"),
    Column("juan_count", "item.juan_count"),
    Column("creators", "item.creators", kind=Kind.CREATORS),
    Column("edition", "item.edition"),
    Column("annotations", "item.annotations", kind=Kind.LIST),
    Column("seals", "item.seals", kind=Kind.LIST),
    Column("binding", "item.binding"),
    Column("extant", "item.extant"),
    Column("layout", "item.layout"),
    Column("source_organization", "item.source_organization"),
    Column("volume_number", "volume.number", kind=Kind.INTEGER),
    Column("volume_label", "volume.label"),
    Column("station_id", "capture.station_id", default="legacy"),
    Column("capture_operator", "capture.operator", default="unknown (legacy scan)"),
    Column("camera", "capture.camera"),
    Column("capture_date", "capture.capture_date"),
)
COLUMN_NAMES = tuple(c.name for c in COLUMNS)
REQUIRED_COLUMNS = tuple(c.name for c in COLUMNS if c.required)


class InventoryError(BatchError):
    """The inventory as a whole cannot be read (file, encoding, header); carries every problem."""


class MigrationLockedError(ShuyingError):
    """Another ``shuying migrate`` is running the same inventory."""

    exit_code = ExitCode.COULD_NOT_RUN


class Event(str, enum.Enum):
    """What the run journal records about an item."""

    STARTED = "started"
    INGESTED = "ingested"
    REFUSED = "refused"
    FAILED = "failed"


@dataclass(frozen=True)
class InventoryRow:
    """One CSV record: its batch.json fields (without pages) and what is wrong with it."""

    line: int  # where the record starts in the file, counting the header as line 1
    where: str  # "inventory.csv line 4", as every problem names it
    item_id: str
    folder: str
    document: dict
    problems: tuple[Problem, ...] = ()


@dataclass(frozen=True)
class ItemPlan:
    """A row checked against ROOT: the page files in reading order, or why it is refused."""

    row: InventoryRow
    source: Path | None
    files: tuple[str, ...] = ()
    problems: tuple[Problem, ...] = ()
    duplicate: bool = False  # the item_id is on an earlier row: never treated as that item

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def item_id(self) -> str:
        return self.row.item_id


@dataclass(frozen=True)
class ItemOutcome:
    """What one run did with one item."""

    line: int
    item_id: str
    folder: str
    status: str  # ingested, skipped, refused, failed
    pages: int = 0
    pages_overridden: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return {"line": self.line, "item_id": self.item_id, "folder": self.folder, "status": self.status,
                "pages": self.pages, "pages_overridden": list(self.pages_overridden),
                "reasons": list(self.reasons)}


def read_inventory(path: Path) -> list[InventoryRow]:
    """Read the inventory CSV (UTF-8, a byte-order mark allowed) into rows, each with its problems.

    Raises:
        InventoryError: the file cannot be read, or its header lacks a required column or
            names an unknown one (every row would be wrong).
    """
    text = _read_text(path)
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [unicodedata.normalize("NFC", h).strip() for h in next(reader, [])]
    _check_header(path.name, header)
    rows, start = [], reader.line_num + 1
    try:
        for values in reader:
            if any(v.strip() for v in values):
                rows.append(parse_row(f"{path.name} line {start}", start, header, values))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise InventoryError(Problem(f"{path.name} line {start}", f"not readable as CSV: {exc}",
                                     hint="check the quotes on this line")) from None
    return rows


def parse_row(where: str, line: int, header: list[str], values: list[str]) -> InventoryRow:
    """Turn one CSV record into batch.json fields, checked against the batch schema."""
    cells = {name: unicodedata.normalize("NFC", value).strip() for name, value in zip(header, values)}
    item_id, folder = cells.get("item_id", ""), cells.get("folder", "")
    if len(values) > len(header):
        extra = Problem(where, f"{len(values)} values but the header has {len(header)} columns",
                        hint="a value holding a comma must be in double quotes")
        return InventoryRow(line, where, item_id, folder, {}, (extra,))
    document, problems = _document_from(where, cells)
    if not problems:
        problems = _schema_problems(where, document) + _language_problems(where, document)
    return InventoryRow(line, where, item_id, folder, document, tuple(problems))


def plan_items(rows: list[InventoryRow], root: Path) -> list[ItemPlan]:
    """Check every row's folder below ``root`` and list its pages; refuse repeated ids and folders."""
    plans: list[ItemPlan] = []
    ids: dict[str, int] = {}
    folders: dict[str, int] = {}
    for row in rows:
        where = row.where
        problems = list(row.problems)
        duplicate = bool(row.item_id) and row.item_id in ids
        if duplicate:
            problems.append(Problem(where, f"{row.item_id!r} is also on line {ids[row.item_id]}", field="item_id",
                                    hint="each item is one row; give this one its own item_id"))
        source, files, listing = _checked_folder(row, root, folders) if row.folder else (None, [], [])
        problems += [Problem(where, p, field="folder") for p in listing]
        if row.item_id:
            ids.setdefault(row.item_id, row.line)
        plans.append(ItemPlan(row, source, tuple(files), tuple(problems), duplicate))
    return plans


def _checked_folder(row: InventoryRow, root: Path, seen: dict[str, int]) -> tuple[Path | None, list[str], list[str]]:
    """Return the row's folder, its page files and what is wrong with them; note the folder in ``seen``."""
    error = folder_problem(root, row.folder)
    if error:
        return None, [], [f"{row.folder!r} {error}"]
    key = os.path.realpath(os.path.join(root, row.folder))
    if key in seen:
        return None, [], [f"{row.folder!r} is also the folder of line {seen[key]} (one folder holds one item's images)"]
    seen[key] = row.line
    source = root / row.folder
    try:
        files, problems = list_page_files(source, root)
    except OSError as exc:
        return None, [], [f"{row.folder!r} cannot be listed: {exc.strerror}"]
    return source, files, problems


def folder_problem(root: Path, rel: str) -> str:
    """Say why ``rel`` may not be used as an item folder inside ``root`` ("" if it may)."""
    parts = re.split(r"[\\/]", rel)
    if "\x00" in rel or rel.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", rel):
        return "is not a relative path inside ROOT"
    if ".." in parts:
        return "contains '..': folders must lie inside ROOT"
    real_root = os.path.realpath(root)
    target = os.path.realpath(os.path.join(real_root, rel))
    if os.path.commonpath([real_root, target]) != real_root:
        return "points outside ROOT (through a symbolic link)"
    if not os.path.exists(target):
        return "does not exist below ROOT"
    if not os.path.isdir(target):
        return "is not a folder"
    return ""


def list_page_files(folder: Path, root: Path) -> tuple[list[str], list[str]]:
    """Return the images directly in ``folder`` in natural order, and why any entry cannot be a page."""
    pages, problems = [], []
    real_root = os.path.realpath(root)
    for entry in sorted(os.scandir(folder), key=lambda e: natural_key(e.name)):
        if entry.name.startswith(".") or entry.name in IGNORED_NAMES:
            continue
        real = os.path.realpath(entry.path)
        if os.path.commonpath([real_root, real]) != real_root:
            problems.append(f"{entry.name!r} is a link pointing outside ROOT")
        elif not os.path.exists(real):
            problems.append(f"{entry.name!r} is a broken link")
        elif entry.is_dir():
            problems.append(f"{entry.name!r} is a sub-folder: an item's images must sit directly in its folder")
        elif Path(entry.name).suffix.lower() not in IMAGE_SUFFIXES:
            problems.append(f"{entry.name!r} is not a supported image (TIFF, JPEG, PNG or JPEG 2000); "
                            "move it out of the item folder")
        elif entry.stat().st_size == 0:
            problems.append(f"{entry.name!r} is empty (0 bytes)")
        else:
            pages.append(entry.name)
    if not pages and not problems:
        problems.append("holds no images")
    return pages, problems


def natural_key(name: str) -> list[object]:
    """Sort key putting "p2.tif" before "p10.tif", case ignored, as a person reading the folder expects."""
    # re.split with a group alternates text and digits, so parts of the same type always meet.
    parts = re.split(r"(\d+)", unicodedata.normalize("NFC", name).casefold())
    return [int(part) if index % 2 else part for index, part in enumerate(parts)]


def batch_document(plan: ItemPlan) -> dict:
    """Return the staged batch.json: the row's fields, the legacy QC profile, the pages in order."""
    document = json.loads(json.dumps(plan.row.document))  # a deep copy: rows are shared by plan and run
    document["capture"]["qc_profile"] = LEGACY_PROFILE
    document["pages"] = [{"file": name, "label": str(order), "type": "page"}
                         for order, name in enumerate(plan.files, start=1)]
    return document


def checksum_mismatches(recorded: dict[str, Digests], copied: dict[str, Digests]) -> list[str]:
    """Compare the digests an ingest recorded with those taken while staging; return each difference."""
    problems = [f"{name}: copied but not in the ingest's checksums.json" for name in copied if name not in recorded]
    problems += [f"{name}: in the ingest's checksums.json but not copied from the inventory's folder"
                 for name in recorded if name not in copied]
    for name in sorted(set(recorded) & set(copied)):
        ours, theirs = copied[name], recorded[name]
        for algorithm in ("size", "sha256", "sha512"):
            if getattr(ours, algorithm) != getattr(theirs, algorithm):
                problems.append(f'{name}: {algorithm} mismatch: recorded="{getattr(theirs, algorithm)}" '
                                f'copied="{getattr(ours, algorithm)}"')
                break
    return problems


def recorded_masters(checksums: dict) -> dict[str, Digests]:
    """Map each master's file name to its digests, from an ingest's checksums.json."""
    return {entry["file"]: Digests.from_dict(entry) for entry in checksums["masters"].values()}


def overridden_pages(qc_report: dict) -> tuple[str, ...]:
    """Return the pages whose QC findings a person let through (overrides or accepted warnings)."""
    gate = qc_report.get("gate") or {}
    findings = [*gate.get("overridden", []), *gate.get("accepted_warnings", [])]
    return tuple(sorted({f["page_id"] for f in findings}))


def failure_status(failures: list[dict]) -> str:
    """"refused" when only the data stopped the ingest (QC gate, unusable masters), else "failed"."""
    data_errors = {"QcGateError", "BatchError"}
    return "refused" if failures and all(f.get("error") in data_errors for f in failures) else "failed"


def journal_entry(event: Event, plan: ItemPlan, *, time: str, **details: object) -> dict:
    """Return one journal record (one JSON line)."""
    return {"time": time, "event": event.value, "item_id": plan.item_id, "line": plan.row.line,
            "folder": plan.row.folder, **details}


def item_states(lines: Iterable[str]) -> dict[str, dict]:
    """Return the last journal record of each item; a line cut short by a crash is ignored.

    A refused row repeating an earlier row's item_id is not that item: its records are left out.
    """
    states: dict[str, dict] = {}
    for text in lines:
        try:
            record = json.loads(text)
        except json.JSONDecodeError:
            continue  # only the last line can be torn: it was never fsynced whole
        if isinstance(record, dict) and record.get("item_id") and not record.get("duplicate"):
            states[record["item_id"]] = record
    return states


def summarise(outcomes: list[ItemOutcome]) -> dict[str, int]:
    """Count items by status, and the pages ingested and let through by this run."""
    totals = {status: sum(1 for o in outcomes if o.status == status)
              for status in ("ingested", "skipped", "refused", "failed")}
    ingested = [o for o in outcomes if o.status == "ingested"]
    return {"items": len(outcomes), **totals, "pages_ingested": sum(o.pages for o in ingested),
            "pages_overridden": sum(len(o.pages_overridden) for o in ingested)}


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InventoryError(Problem(str(path), f"cannot read: {exc.strerror}")) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InventoryError(Problem(path.name, f"not UTF-8 text (byte {exc.start})",
                                     hint="in Excel, save as 'CSV UTF-8 (Comma delimited)'")) from None
    if not text.strip():
        raise InventoryError(Problem(path.name, "empty file", hint="start from docs/migrate-inventory-template.csv"))
    return text


def _check_header(name: str, header: list[str]) -> None:
    where = f"{name} line 1"
    problems = [Problem(where, f"required column {c!r} is missing", field="header",
                        hint="copy the header of docs/migrate-inventory-template.csv")
                for c in REQUIRED_COLUMNS if c not in header]
    problems += [Problem(where, f"unknown column {h!r}", field="header",
                         hint=f"columns: {', '.join(COLUMN_NAMES)}") for h in header if h not in COLUMN_NAMES]
    problems += [Problem(where, f"column {h!r} appears twice", field="header")
                 for h in sorted({h for h in header if header.count(h) > 1})]
    if problems:
        raise InventoryError(problems)


def _document_from(where: str, cells: dict[str, str]) -> tuple[dict, list[Problem]]:
    document: dict = {"batch_format": "shuying-batch/1", "item": {}, "capture": {}}
    problems = []
    for column in COLUMNS:
        value = cells.get(column.name, "") or column.default
        if not value:
            if column.required:
                problems.append(Problem(where, "required value is empty", field=column.name))
            continue
        parsed, problem = _parse_value(column, value)
        if problem:
            problems.append(Problem(where, problem, field=column.name))
        elif column.target:
            section, key = column.target.split(".")
            document.setdefault(section, {})[key] = parsed
    return document, problems


def _parse_value(column: Column, value: str) -> tuple[object, str]:
    if column.kind is Kind.INTEGER:
        if not re.fullmatch(r"\d+", value):
            return None, f"{value!r} is not a whole number"
        return int(value), ""
    if column.kind is Kind.LIST:
        return [part.strip() for part in LIST_SEPARATORS.split(value) if part.strip()], ""
    if column.kind is Kind.CREATORS:
        return _creators(value)
    return value, ""


def _creators(value: str) -> tuple[object, str]:
    creators = []
    for entry in (e.strip() for e in LIST_SEPARATORS.split(value) if e.strip()):
        parts = [p.strip() for p in entry.split(CREATOR_PARTS)]
        if len(parts) > 3 or not parts[0]:
            return None, f"{entry!r} is not name|role|period (e.g. 王守仁|撰|明)"
        creators.append(dict(zip(("name", "role", "period"), parts)))
    return creators, ""


def _schema_problems(where: str, document: dict) -> list[Problem]:
    """Check the row's fields with the batch schema and name the column each error is about."""
    by_target = {c.target: c.name for c in COLUMNS if c.target}
    problems = []
    for message in json_errors(document, "batch"):
        path, _, text = message.partition(": ")
        target = re.sub(r"\[\d+\].*$", "", path)
        column = by_target.get(target) or next((n for t, n in by_target.items() if target.startswith(t)), path)
        if column == "item_id" and "does not match" in text:
            text = (f"{text.split(' does not match')[0]} is not a usable item id: use 1-128 letters, digits, '.', "
                    "'_' or '-', starting with a letter or digit")
        problems.append(Problem(where, text, field=column))
    return problems


def _language_problems(where: str, document: dict) -> list[Problem]:
    vertical = document["item"].get("script_direction") == "vertical-rl"
    return [Problem(where, f"no OCR model is known for language {code!r}", field="languages",
                    hint=f"use one of {', '.join(SUPPORTED)}")
            for code in document["item"].get("languages", []) if models_for(code, vertical=vertical) is None]


__all__ = [
    "COLUMNS",
    "LEGACY_PROFILE",
    "Column",
    "Event",
    "InventoryError",
    "InventoryRow",
    "ItemOutcome",
    "ItemPlan",
    "MigrationLockedError",
    "batch_document",
    "checksum_mismatches",
    "failure_status",
    "folder_problem",
    "item_states",
    "journal_entry",
    "list_page_files",
    "natural_key",
    "overridden_pages",
    "parse_row",
    "plan_items",
    "read_inventory",
    "recorded_masters",
    "summarise",
]
