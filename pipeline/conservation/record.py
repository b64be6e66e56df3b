"""The conservation record (修复档案): its model, its JSON form, and every check that needs no archive.

A record says what was wrong with an item (damage types with extent, the WH/T 22
grade of the whole item), what was done (treatment steps with materials), by whom,
when, and with which before/after images. It is saved as revisions: an amendment is
a new revision, the earlier ones stay. ``schemas/conservation.schema.json`` is the
format; :func:`parse_record` checks a document against it and against the
vocabularies, dates and scope, collecting every problem before raising.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from pipeline.checksums import Digests
from pipeline.conservation.vocabulary import Vocabularies, Vocabulary
from pipeline.errors import ExitCode, ShuyingError
from pipeline.validation import json_errors

__all__ = ["RECORD_FORMAT", "ConservationRecord", "Damage", "Dates", "DuplicateRecordError", "ImageRole",
           "Materials", "RecordError",
           "RecordHistory", "RecordImage", "RepairPaper", "RevisionConflictError", "SavedRevision", "Step",
           "UnknownRecordError", "check_pages", "parse_record", "record_from_dict"]

RECORD_FORMAT = "shuying-conservation/1"
DATE_ORDER = ("assessed", "started", "finished", "reviewed")
SHOWN_PAGES = 12


class ImageRole(str, enum.Enum):
    BEFORE = "before"
    DURING = "during"
    AFTER = "after"


class RecordError(ShuyingError):
    """A record cannot be saved as it is; carries every problem found."""

    exit_code = ExitCode.USAGE

    def __init__(self, document: str, problems: Sequence[str]) -> None:
        self.document = document
        self.problems = list(problems)
        super().__init__("\n".join(f"{document}: {p}" for p in self.problems))


class UnknownRecordError(ShuyingError):
    """No conservation record has this id."""

    exit_code = ExitCode.USAGE

    def __init__(self, record_id: str) -> None:
        self.record_id = record_id
        super().__init__(f"no conservation record {record_id!r} (see `shuying repair list`)")


class RevisionConflictError(ShuyingError):
    """Someone saved the record after the revision this amendment was edited from."""

    def __init__(self, record_id: str, based_on: int, current: int, saved_by: str) -> None:
        self.record_id, self.based_on, self.current, self.saved_by = record_id, based_on, current, saved_by
        super().__init__(f"{record_id}: edited from revision {based_on}, but revision {current} was saved since "
                         f"(by {saved_by or 'someone else'}); nothing was saved: open revision {current} and "
                         "make the change there")


@dataclass(frozen=True)
class Damage:
    type: str  # damage vocabulary code
    extent: str
    area_percent: float | None = None
    ph: float | None = None
    pages: tuple[str, ...] = ()


@dataclass(frozen=True)
class Step:
    type: str  # treatment vocabulary code
    notes: str = ""
    pages: tuple[str, ...] = ()
    ph_after: float | None = None


@dataclass(frozen=True)
class RepairPaper:
    type: str
    source: str = ""
    dyeing: str = ""
    thickness_mm: float | None = None


@dataclass(frozen=True)
class Materials:
    repair_paper: tuple[RepairPaper, ...] = ()
    adhesive: str = ""
    thread: str = ""
    other: str = ""


@dataclass(frozen=True)
class RecordImage:
    file: str
    role: ImageRole
    pages: tuple[str, ...] = ()
    caption: str = ""
    path: str = ""  # data/conservation/… once stored
    digests: Digests | None = None


@dataclass(frozen=True)
class Dates:
    started: date
    assessed: date | None = None
    finished: date | None = None
    reviewed: date | None = None


@dataclass(frozen=True)
class ConservationRecord:
    """One revision of a record; ``record_id`` and ``revision`` are empty until it is saved."""

    item_id: str
    whole_item: bool
    pages: tuple[str, ...]
    damage: tuple[Damage, ...]
    grade: str
    steps: tuple[Step, ...]
    conservators: tuple[str, ...]
    dates: Dates
    volume: str = ""
    leaves: str = ""
    condition_notes: str = ""
    plan: str = ""
    materials: Materials = field(default_factory=Materials)
    reviewer: str = ""
    hours: float | None = None
    images: tuple[RecordImage, ...] = ()
    notes: str = ""
    signed_off: bool = False
    record_id: str = ""
    revision: int = 0
    saved_by: str = ""
    saved_at: str = ""

    def referenced_pages(self) -> tuple[str, ...]:
        """Return every page the record names (scope, damage, steps, images), in first-seen order."""
        listed = [*self.pages, *(p for d in self.damage for p in d.pages), *(p for s in self.steps for p in s.pages),
                  *(p for i in self.images for p in i.pages)]
        return tuple(dict.fromkeys(listed))

    def saved(self, record_id: str, revision: int, saved_by: str, saved_at: str) -> ConservationRecord:
        """Return this record as saved revision ``revision`` of ``record_id``."""
        return replace(self, record_id=record_id, revision=revision, saved_by=saved_by, saved_at=saved_at)

    def as_dict(self) -> dict[str, Any]:
        """Return the record's JSON form (schemas/conservation.schema.json); empty fields are left out."""
        data: dict[str, Any] = {"record_format": RECORD_FORMAT}
        data.update(_compact({"id": self.record_id, "revision": self.revision or None, "saved_by": self.saved_by,
                              "saved_at": self.saved_at}))
        data.update(_compact({"item": self.item_id, "volume": self.volume}))
        data["scope"] = _compact({"whole_item": self.whole_item or None, "pages": list(self.pages),
                                  "leaves": self.leaves})
        data["condition"] = _compact({"damage": [_compact(vars(d) | {"pages": list(d.pages)}) for d in self.damage],
                                      "grade": self.grade, "notes": self.condition_notes})
        data["treatment"] = _compact({"plan": self.plan, "steps": [_compact(vars(s) | {"pages": list(s.pages)})
                                                                     for s in self.steps],
                                      "materials": _materials_dict(self.materials)})
        data["conservators"] = list(self.conservators)
        data.update(_compact({"reviewer": self.reviewer}))
        data["dates"] = _compact({k: getattr(self.dates, k) and getattr(self.dates, k).isoformat() for k in DATE_ORDER})
        data.update(_compact({"hours": self.hours, "images": [_image_dict(i) for i in self.images],
                              "notes": self.notes}))
        data["signed_off"] = self.signed_off
        return data


@dataclass(frozen=True)
class SavedRevision:
    """A saved revision and the AIP version of the item that preserves it."""

    record: ConservationRecord
    aip_version: int


@dataclass(frozen=True)
class RecordHistory:
    """Every revision of one record, oldest first."""

    revisions: tuple[SavedRevision, ...]

    @property
    def current(self) -> SavedRevision:
        return self.revisions[-1]

    @property
    def record_id(self) -> str:
        return self.current.record.record_id

    @property
    def created_by(self) -> str:
        """Return who saved the first revision: the record's owner."""
        return self.revisions[0].record.saved_by


def parse_record(data: Any, vocabularies: Vocabularies, *, document: str, today: date) -> ConservationRecord:
    """Check a record document and return it with every term as its code.

    Raises:
        RecordError: with every problem: schema, unknown terms (listing the allowed ones),
            a missing pH, the scope, dates out of order or in the future, duplicate images.
    """
    problems = json_errors(data, "conservation")
    if problems:
        raise RecordError(document, problems)
    problems = [*_term_problems(data, vocabularies), *_date_problems(data["dates"], today)]
    if problems:
        raise RecordError(document, problems)
    record = record_from_dict(_with_codes(data, vocabularies))
    problems = [*_scope_problems(record), *_image_problems(record), *_sign_off_problems(record)]
    if problems:
        raise RecordError(document, problems)
    return record


def check_pages(record: ConservationRecord, item_pages: Sequence[str], *, document: str) -> None:
    """Raise RecordError if the record names pages that the item does not have."""
    known = set(item_pages)
    unknown = [p for p in record.referenced_pages() if p not in known]
    if unknown:
        shown = ", ".join(item_pages[:SHOWN_PAGES]) + (" …" if len(item_pages) > SHOWN_PAGES else "")
        raise RecordError(document, [(f"pages {', '.join(unknown)} are not in item {record.item_id} "
                                      f"(its pages: {shown or 'none'})")])


def record_from_dict(data: Mapping[str, Any]) -> ConservationRecord:
    """Build a record from its JSON form as saved (terms already codes); no checks."""
    scope, condition, treatment, dates = data["scope"], data["condition"], data["treatment"], data["dates"]
    return ConservationRecord(
        item_id=data["item"], whole_item=bool(scope.get("whole_item")), pages=tuple(scope.get("pages", ())),
        damage=tuple(Damage(d["type"], d["extent"], d.get("area_percent"), d.get("ph"), tuple(d.get("pages", ())))
                     for d in condition["damage"]),
        grade=condition["grade"],
        steps=tuple(Step(s["type"], s.get("notes", ""), tuple(s.get("pages", ())), s.get("ph_after"))
                    for s in treatment["steps"]),
        conservators=tuple(data["conservators"]), dates=Dates(**{k: date.fromisoformat(v) for k, v in dates.items()}),
        volume=data.get("volume", ""), leaves=scope.get("leaves", ""), condition_notes=condition.get("notes", ""),
        plan=treatment.get("plan", ""), materials=_materials(treatment.get("materials", {})),
        reviewer=data.get("reviewer", ""), hours=data.get("hours"),
        images=tuple(_image(i) for i in data.get("images", ())), notes=data.get("notes", ""),
        signed_off=bool(data.get("signed_off", False)), record_id=data.get("id", ""),
        revision=int(data.get("revision", 0)), saved_by=data.get("saved_by", ""), saved_at=data.get("saved_at", ""))


def _term_problems(data: Mapping[str, Any], vocabularies: Vocabularies) -> list[str]:
    problems = []
    for index, damage in enumerate(data["condition"]["damage"]):
        where = f"condition.damage[{index}]"
        term = vocabularies.damage.find(damage["type"])
        problems += _unknown(where + ".type", damage["type"], vocabularies.damage) if term is None else []
        if term is not None and "ph" in term.requires and "ph" not in damage:
            problems.append(f"{where}.ph: {term.label} needs the measured pH")
    for index, step in enumerate(data["treatment"]["steps"]):
        if vocabularies.treatment.find(step["type"]) is None:
            problems += _unknown(f"treatment.steps[{index}].type", step["type"], vocabularies.treatment)
    if vocabularies.grades.find(data["condition"]["grade"]) is None:
        problems += _unknown("condition.grade", data["condition"]["grade"], vocabularies.grades)
    return problems


def _unknown(where: str, text: str, vocabulary: Vocabulary) -> list[str]:
    return [f"{where}: unknown {vocabulary.noun} {text!r}; allowed: {vocabulary.allowed()}"]


def _with_codes(data: Mapping[str, Any], vocabularies: Vocabularies) -> dict[str, Any]:
    """Return a copy of a checked document with every term replaced by its code."""
    condition, treatment = dict(data["condition"]), dict(data["treatment"])
    condition["damage"] = [{**d, "type": _code(vocabularies.damage, d["type"])} for d in condition["damage"]]
    condition["grade"] = _code(vocabularies.grades, condition["grade"])
    treatment["steps"] = [{**s, "type": _code(vocabularies.treatment, s["type"])} for s in treatment["steps"]]
    return {**data, "condition": condition, "treatment": treatment}


def _code(vocabulary: Vocabulary, text: str) -> str:
    term = vocabulary.find(text)
    if term is None:
        raise KeyError(text)  # checked by _term_problems before
    return term.code


def _date_problems(dates: Mapping[str, str], today: date) -> list[str]:
    parsed, problems = {}, []
    for name in DATE_ORDER:
        if name in dates:
            try:
                parsed[name] = date.fromisoformat(dates[name])
            except ValueError:
                problems.append(f"dates.{name}: {dates[name]!r} is not a calendar date (YYYY-MM-DD)")
    present = [n for n in DATE_ORDER if n in parsed]
    for earlier, later in itertools.pairwise(present):
        if parsed[later] < parsed[earlier]:
            problems.append(f"dates: {later} {parsed[later]} is before {earlier} {parsed[earlier]} "
                            f"(order: {' ≤ '.join(DATE_ORDER)})")
    problems += [f"dates.{n}: {parsed[n]} is in the future (today is {today})" for n in present if parsed[n] > today]
    return problems


def _scope_problems(record: ConservationRecord) -> list[str]:
    if record.whole_item and record.pages:
        return ["scope: both whole_item and pages are given; choose one"]
    if not record.whole_item and not record.pages:
        return ["scope: give the pages treated, or whole_item: true"]
    if record.whole_item:
        return []
    scoped = set(record.pages)
    parts = [*(("condition.damage", i, d.pages) for i, d in enumerate(record.damage)),
             *(("treatment.steps", i, s.pages) for i, s in enumerate(record.steps)),
             *(("images", i, m.pages) for i, m in enumerate(record.images))]
    return [f"{where}[{i}].pages: {', '.join(p for p in pages if p not in scoped)} not among scope.pages"
            for where, i, pages in parts if set(pages) - scoped]


def _image_problems(record: ConservationRecord) -> list[str]:
    names = [i.file for i in record.images]
    return [f"images: {name!r} is listed twice" for name in sorted({n for n in names if names.count(n) > 1})]


def _sign_off_problems(record: ConservationRecord) -> list[str]:
    if record.signed_off and record.dates.finished is None:
        return ["signed_off: a record is signed off when the treatment is finished; give dates.finished"]
    return []


def _compact(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v not in (None, "", [], {}, ())}


def _materials(data: Mapping[str, Any]) -> Materials:
    papers = tuple(RepairPaper(p["type"], p.get("source", ""), p.get("dyeing", ""), p.get("thickness_mm"))
                   for p in data.get("repair_paper", ()))
    return Materials(papers, data.get("adhesive", ""), data.get("thread", ""), data.get("other", ""))


def _materials_dict(materials: Materials) -> dict[str, Any]:
    return _compact({"repair_paper": [_compact(vars(p)) for p in materials.repair_paper],
                     "adhesive": materials.adhesive, "thread": materials.thread, "other": materials.other})


def _image(data: Mapping[str, Any]) -> RecordImage:
    digests = Digests(data["size"], data["sha256"], data["sha512"]) if "sha256" in data else None
    return RecordImage(data["file"], ImageRole(data["role"]), tuple(data.get("pages", ())), data.get("caption", ""),
                       data.get("path", ""), digests)


def _image_dict(image: RecordImage) -> dict[str, Any]:
    digests = image.digests.as_dict() if image.digests else {}
    return _compact({"file": image.file, "role": image.role.value, "pages": list(image.pages),
                     "caption": image.caption, "path": image.path, **digests})


class DuplicateRecordError(ShuyingError):
    """The record is already saved, same content, images and saver: an add was retried (after a crash?)."""

    exit_code = ExitCode.FAILED

    def __init__(self, saved: SavedRevision) -> None:
        record = saved.record
        super().__init__(f"{record.item_id}: this record is already saved as {record.record_id} revision "
                         f"{record.revision} (AIP version {saved.aip_version}); nothing was saved again")
        self.saved = saved
