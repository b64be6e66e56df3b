"""Task identity: which settings made an output, as a short digest in the name of its stamp.

Luigi calls a task complete when its output exists, so an output made under one
setting (a QC profile, an OCR engine, the holding institution) would pass for one made
under another. Like gokart's ``make_unique_id``, a task's identity here is a digest of
the *effective* settings that change its output (what the task really uses: the profile
resolved from ``--profile`` or batch.json, the engine ``auto`` chooses for the page)
together with the identities of the tasks it reads from, so a changed setting re-runs
the task that uses it and everything made from its output. Operational knobs (folders,
timeouts, workers, the scheduler) are never part of it.

The digest names a small stamp file beside the item's outputs
(``work/<item>/identity/<step>.<digest>.json``); the stamp also keeps the settings, so
a later run can say what changed. Everything here is pure except the stamp helpers at
the end, which only read, write and remove stamp files.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.atomic import remove, write_json_atomic

DIGEST_LENGTH = 12  # hex digits: 48 bits, for a handful of settings combinations per step


@dataclass(frozen=True)
class Identity:
    """The settings an output was made with, and their digest.

    ``settings`` is for people (the journal); ``digest`` is exact, built from this task's
    own settings and the digests of its inputs, so two page-wise mixes of engines that
    read alike in ``settings`` still differ.
    """

    digest: str
    settings: Mapping[str, str] = field(default_factory=dict)


def make_identity(own: Mapping[str, str], upstream: Iterable[Identity] = ()) -> Identity:
    """Return the identity of a task using the settings ``own``, made from outputs of ``upstream``."""
    upstream = list(upstream)
    return Identity(settings_digest(own, [u.digest for u in upstream]),
                    merge_settings([*(u.settings for u in upstream), own]))


def settings_digest(own: Mapping[str, str], upstream_digests: Iterable[str]) -> str:
    """Digest ``own`` settings and the inputs' digests (sorted: the order of requires() is no setting)."""
    text = json.dumps({"settings": dict(sorted(own.items())), "inputs": sorted(set(upstream_digests))},
                      ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:DIGEST_LENGTH]


def merge_settings(parts: Iterable[Mapping[str, str]]) -> dict[str, str]:
    """One reading of many tasks' settings: a name whose value differs between them gets all values.

    E.g. OCR of three pages by ppocr, ppocr and tesseract reads ``ocr_engine: ppocr, tesseract``.
    """
    values: dict[str, set[str]] = {}
    for part in parts:
        for name, value in part.items():
            values.setdefault(name, set()).add(str(value))
    return {name: ", ".join(sorted(found)) for name, found in sorted(values.items())}


def describe_change(before: Mapping[str, str], now: Mapping[str, str]) -> str:
    """Say which settings differ, e.g. ``qc_profile ancient-books (was strict)``; '' if none reads differently.

    A ``<name>_digest`` (of a profile file's contents, say) is named only when ``<name>``
    itself reads the same: "strict (was ancient-books)" already says the contents differ.
    """
    names = [name for name in sorted({*before, *now}) if before.get(name) != now.get(name)]
    shown = [name for name in names if not (name.endswith("_digest") and name.removesuffix("_digest") in names)]
    return "; ".join(f"{name} {_shown(now.get(name))} (was {_shown(before.get(name))})" for name in shown)


def _shown(value: str | None) -> str:
    if value is None:
        return "unset"
    return value if value else "''"


def rerun_reason(previous: Mapping[str, str] | None, now: Mapping[str, str]) -> str:
    """The journal's reason for re-running over an output made with the settings ``previous``."""
    if previous is None:
        return "settings changed: the output in place has no record of the settings it was made with"
    return f"settings changed: {describe_change(previous, now) or 'an input was made with other settings'}"


# --- stamps: work/<item>/identity/<step>.<digest>.json ------------------------------------------


def stamp_path(folder: Path, step: str, digest: str) -> Path:
    """Where the stamp of ``step`` made with identity ``digest`` lives."""
    return folder / f"{step}.{digest}.json"


def stamps_of(folder: Path, step: str) -> list[Path]:
    """Every stamp of ``step``, whatever its digest (``Ocr-p0003`` never matches ``Ocr-p0003r``)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob(f"{step}.*.json") if p.name.count(".") == 2)


def read_stamp_settings(path: Path) -> dict[str, str] | None:
    """The settings a stamp recorded; None if it cannot be read (the reason then says so)."""
    try:
        with open(path, encoding="utf-8") as f:
            return dict(json.load(f)["settings"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_stamp(folder: Path, step: str, identity: Identity, *, adopted: bool = False) -> Path:
    """Record that ``step``'s output in place was made with ``identity``."""
    path = stamp_path(folder, step, identity.digest)
    record: dict = {"step": step, "digest": identity.digest, "settings": dict(identity.settings)}
    if adopted:
        record["adopted"] = True  # made before task identity existed; taken as made with these settings
    write_json_atomic(path, record)
    return path


def remove_stamps(folder: Path, step: str) -> None:
    """Remove every stamp of ``step``: its output is about to be replaced."""
    for path in stamps_of(folder, step):
        remove(path)
