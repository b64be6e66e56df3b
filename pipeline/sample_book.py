"""A generated sample book: woodblock-style pages plus batch.json, as a camera station delivers.

Used by ``shuying demo``, the tests and the benchmarks. Pages are deterministic for
a seed, so a re-run of the demo ingests the same bytes.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from PIL import Image, ImageCms

from pipeline.qc.sequence import to_chinese
from pipeline.synthetic import render_vertical_page, sample_text_for_page

SKEWS = (0.0, 0.6, -1.1, 0.35, -0.45, 1.4, -0.8, 0.25)  # degrees, counter-clockwise


def page_label(content_index: int) -> str:
    """Return the label of the n-th content page (0-based): 卷一 葉一上, 葉一下, 葉二上 …"""
    leaf, side = divmod(content_index, 2)
    return f"卷一 葉{to_chinese(leaf + 1)}{'上下'[side]}"


def batch_document(item_id: str, files: list[tuple[str, str, str]], *, ppi: int) -> dict:
    """Return a complete batch.json document for the sample book."""
    return {
        "batch_format": "shuying-batch/1",
        "item": {
            "id": item_id, "call_number": "善 000001", "census_number": "220000-0000-0000001",
            "title": "論語十卷", "title_lang": "zh-Hant", "title_en": "The Analects (sample)",
            "juan_count": "十卷", "creators": [{"name": "孔子弟子", "role": "輯", "period": "春秋"}],
            "edition": "示例刻本", "annotations": [], "seals": ["示例藏書印"], "binding": "綫裝",
            "extant": "存卷一", "layout": "半葉十行行二十字白口四周雙邊", "material_type": "ancient_book",
            "script_direction": "vertical-rl", "languages": ["lzh", "zh-Hant"], "access_level": "public",
            "source_organization": "示例圖書館 (Shuying demo)",
        },
        "volume": {"number": 1, "label": "第一冊"},
        "capture": {"station_id": "demo-station", "operator": "demo", "camera": "generated",
                    "lighting": "synthetic", "capture_date": "2026-01-01", "declared_ppi": ppi},
        "pages": [{"file": f, "label": label, "type": kind} for f, label, kind in files],
    }


def _structure(labels: list[str]) -> dict:
    """卷一 over the text pages; with four or more, its first two chapters (篇) as sections."""
    if not labels:
        return {}
    juan: dict = {"type": "juan", "label": "卷一", "first": labels[0], "last": labels[-1]}
    if len(labels) >= 4:
        half = len(labels) // 2
        juan["sections"] = [
            {"type": "section", "label": "學而第一", "first": labels[0], "last": labels[half - 1]},
            {"type": "section", "label": "為政第二", "first": labels[half], "last": labels[-1]},
        ]
    return {"structure": [juan]}


def write_sample_batch(dest: Path, *, pages: int = 8, item_id: str = "demo-lunyu",
                       width: int = 1800, height: int = 2600, ppi: int = 400, seed: int = 7) -> Path:
    """Write ``pages`` page images (a cover, then text pages) and batch.json into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    files = []
    for index in range(pages):
        name = f"{index + 1:04d}.tif"
        if index == 0:
            image, label, kind = _cover(width, height), "封面", "cover"
        else:
            rendered = render_vertical_page(sample_text_for_page(index, 180), width=width, height=height,
                                            skew_deg=SKEWS[index % len(SKEWS)], seal=index == 1,
                                            seed=seed + index, noise=0.01)
            image, label, kind = rendered.image, page_label(index - 1), "page"
        _save_tiff(image, dest / name, ppi)
        files.append((name, label, kind))
    document = {**batch_document(item_id, files, ppi=ppi), **_structure([lab for _, lab, kind in files if kind == "page"])}
    (dest / "batch.json").write_text(json.dumps(document, ensure_ascii=False, indent=2), encoding="utf-8")
    return dest


def _cover(width: int, height: int) -> Image.Image:
    # A plain indigo cover with a paper title slip, as on a thread-bound book.
    cover = Image.new("RGB", (width, height), (46, 58, 92))
    slip = Image.new("RGB", (width // 7, height // 3), (226, 214, 186))
    cover.paste(slip, (width - width // 7 - width // 10, height // 12))
    return cover


def _save_tiff(image: Image.Image, path: Path, ppi: int) -> None:
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    buffer = io.BytesIO()
    image.save(buffer, format="TIFF", compression="tiff_lzw", dpi=(ppi, ppi), icc_profile=icc)
    path.write_bytes(buffer.getvalue())
