"""Helpers for the conservation tests: a valid record document, generated images, the storage config."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from PIL import Image

ITEM = "repair-book"
MAGENTA = (230, 20, 200)  # a colour no page of the sample book has: easy to find in a screenshot
RECORD: dict[str, Any] = {
    "item": ITEM,
    "volume": "第一冊",
    "scope": {"pages": ["p0002"], "leaves": "卷一葉一"},
    "condition": {
        "damage": [
            {"type": "insect_damage", "extent": "书口蛀洞十余处", "area_percent": 8},
            {"type": "acidification", "extent": "全叶泛黄", "ph": 5.2},
        ],
        "grade": "grade_3",
        "notes": "书根有水渍旧痕",
    },
    "treatment": {
        "plan": "去污、补洞后压平",
        "steps": [{"type": "cleaning"}, {"type": "infilling", "notes": "蛀洞以竹纸补"}, {"type": "flattening"}],
        "materials": {
            "repair_paper": [{"type": "竹纸", "source": "福建将乐", "dyeing": "橡碗子染色", "thickness_mm": 0.05}],
            "adhesive": "小麦淀粉浆糊",
        },
    },
    "conservators": ["张修"],
    "reviewer": "李审",
    "dates": {"assessed": "2025-03-01", "started": "2025-03-03", "finished": "2025-03-20", "reviewed": "2025-03-25"},
    "hours": 14.5,
    "images": [{"file": "before-p0002.jpg", "role": "before", "caption": "修复前书口"}],
    "notes": "",
    "signed_off": False,
}


def record_doc(**changes: Any) -> dict[str, Any]:
    """Return a fresh copy of RECORD with top-level fields replaced."""
    doc = copy.deepcopy(RECORD)
    doc.update(copy.deepcopy(changes))
    return {k: v for k, v in doc.items() if v is not None}


def write_image(path: Path, colour: tuple[int, int, int] = MAGENTA, size: tuple[int, int] = (320, 240)) -> Path:
    """Write a flat-colour JPEG or PNG (by suffix) with a dark band, so it is not blank."""
    image = Image.new("RGB", size, colour)
    image.paste((30, 30, 30), (0, size[1] // 2 - 10, size[0], size[1] // 2 + 10))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    return path


def storage_toml(path: Path) -> Path:
    """A primary and a replica on disk; new versions are replicated at once, as ingest's are."""
    path.write_text(
        "[policy]\nmin_copies = 2\noffsite_copies = 0\nreplicate_on_ingest = true\n\n"
        '[catalogue]\nurl = "${SHUYING_HOME}/catalogue.sqlite"\n\n'
        '[[location]]\nname = "primary"\nbackend = "filesystem"\nrole = "primary"\noffsite = false\n'
        'path = "${SHUYING_HOME}/storage/primary"\ncreate = true\n\n'
        '[[location]]\nname = "replica"\nbackend = "filesystem"\nrole = "replica"\noffsite = false\n'
        'path = "${SHUYING_HOME}/storage/replica"\ncreate = true\n', encoding="utf-8")
    return path
