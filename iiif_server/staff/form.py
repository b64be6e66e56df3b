"""Turn the staff form's fields into a record document, and a record back into form values.

Field names (one form for a new record and for an amendment)::

    whole_item, pages*, leaves, volume             scope
    damage*  damage_extent.<code>  damage_area.<code>  damage_ph.<code>
    grade, assessed, condition_notes               condition
    plan, step*  step_notes.<code>                 treatment
    paper_type, paper_source, paper_dyeing, paper_thickness, adhesive, thread, materials_other
    conservators ("、" or comma separated), reviewer, started, finished, reviewed, hours
    before*, after* (files), keep_image* (file names kept from the revision amended)
    notes, signed_off

``*`` marks fields that repeat. Everything the form cannot judge (terms, dates, pages)
is left to :func:`pipeline.conservation.parse_record`, so the web and the command line
report the same problems.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import PurePath
from typing import Any

__all__ = ["FormFields", "form_record", "safe_file_name", "split_names"]

NAME_SEPARATORS = re.compile(r"[、,，;；\n]+")
UNSAFE = re.compile(r"[^\w.\-]+")
MAX_NAME = 80


class FormFields:
    """The submitted text fields: every value of a field, in order."""

    def __init__(self, items: Sequence[tuple[str, str]]) -> None:
        self._items = list(items)

    def get(self, name: str) -> str:
        """Return the first value of a field, stripped ('' if absent)."""
        return next((v.strip() for k, v in self._items if k == name), "")

    def all(self, name: str) -> list[str]:
        """Return every non-empty value of a repeated field."""
        return [v.strip() for k, v in self._items if k == name and v.strip()]


def form_record(fields: FormFields, item_id: str, uploads: Mapping[str, Sequence[str]],
                kept: Sequence[Mapping[str, Any]]) -> tuple[dict[str, Any], list[str]]:
    """Return the record document the form describes and the problems only the form can see.

    ``uploads`` maps a role (before, during, after) to the stored file names of its
    uploads; ``kept`` are the image entries of the amended revision still ticked.
    """
    problems: list[str] = []
    data: dict[str, Any] = {"item": item_id, "scope": _scope(fields)}
    data["condition"] = _drop_empty({"damage": [_damage(fields, code, problems) for code in fields.all("damage")],
                                     "grade": fields.get("grade"), "notes": fields.get("condition_notes")})
    data["treatment"] = _drop_empty({"plan": fields.get("plan"), "steps": [
        _drop_empty({"type": code, "notes": fields.get(f"step_notes.{code}")}) for code in fields.all("step")],
        "materials": _materials(fields, problems)})
    data["conservators"] = split_names(fields.get("conservators"))
    data["dates"] = _drop_empty({k: fields.get(k) for k in ("assessed", "started", "finished", "reviewed")})
    images = [dict(entry) for entry in kept]
    images += [{"file": name, "role": role} for role, names in uploads.items() for name in names]
    data.update(_drop_empty({"volume": fields.get("volume"), "reviewer": fields.get("reviewer"),
                             "hours": _number(fields, "hours", "工时 hours", problems), "images": images,
                             "notes": fields.get("notes")}))
    data["signed_off"] = fields.get("signed_off") == "1"
    return data, problems


def split_names(text: str) -> list[str]:
    """Split "张三、李四" (or commas, semicolons, lines) into names, without repeats."""
    return list(dict.fromkeys(n.strip() for n in NAME_SEPARATORS.split(text) if n.strip()))


def safe_file_name(name: str, taken: set[str]) -> str:
    """Return an upload's file name fit for a bag path (letters, digits, CJK, ._-), unique among ``taken``."""
    base = unicodedata.normalize("NFC", PurePath(name.replace("\\", "/")).name)
    base = UNSAFE.sub("_", base).lstrip("._") or "image"
    stem, dot, suffix = base.rpartition(".")
    stem, suffix = (stem, f".{suffix}") if dot and stem else (base, "")
    stem = stem[: MAX_NAME - len(suffix)]
    candidate, counter = f"{stem}{suffix}", 1
    while candidate in taken:
        counter += 1
        candidate = f"{stem}-{counter}{suffix}"
    taken.add(candidate)
    return candidate


def _scope(fields: FormFields) -> dict[str, Any]:
    if fields.get("whole_item") == "1":
        return _drop_empty({"whole_item": True, "leaves": fields.get("leaves")})
    return _drop_empty({"pages": fields.all("pages"), "leaves": fields.get("leaves")})


def _damage(fields: FormFields, code: str, problems: list[str]) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": code, "extent": fields.get(f"damage_extent.{code}")}
    entry["area_percent"] = _number(fields, f"damage_area.{code}", f"{code} area %", problems)
    entry["ph"] = _number(fields, f"damage_ph.{code}", f"{code} pH", problems)
    return _drop_empty(entry)


def _materials(fields: FormFields, problems: list[str]) -> dict[str, Any]:
    paper = _drop_empty({"type": fields.get("paper_type"), "source": fields.get("paper_source"),
                         "dyeing": fields.get("paper_dyeing"),
                         "thickness_mm": _number(fields, "paper_thickness", "paper thickness", problems)})
    if paper and "type" not in paper:
        problems.append("修复用纸 repair paper: give the paper type (纸名) with its source, dyeing or thickness")
    return _drop_empty({"repair_paper": [paper] if paper else [], "adhesive": fields.get("adhesive"),
                        "thread": fields.get("thread"), "other": fields.get("materials_other")})


def _number(fields: FormFields, name: str, label: str, problems: list[str]) -> float | int | None:
    text = fields.get(name)
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        problems.append(f"{label}: {text!r} is not a number")
        return None
    return int(value) if value.is_integer() and "." not in text else value


def _drop_empty(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v not in (None, "", [], {})}
