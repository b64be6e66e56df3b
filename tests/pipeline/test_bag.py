"""The AIP bag: written from recorded digests, checked by the bagit library and its CLI."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import bagit
import pytest

import pipeline
from pipeline.bag import AipError, bag_info_for, manifest_path, validate_bag, write_bag
from pipeline.batch import AccessLevel, Batch, Capture, MaterialType, Page, ScriptDirection
from pipeline.checksums import Digests, digest_file

PAYLOAD = {
    "data/masters/扫描 001.tif": b"II*\x00" + bytes(range(256)) * 40,
    "data/masters/封面.tif": b"II*\x00cover" * 300,
    "data/ocr/p0001.alto.xml": "<alto>卷一</alto>".encode(),
    "data/ocr/p0001.txt": "欽定四庫全書總目\n".encode(),
    "data/mets.xml": b"<mets/>",
    "data/a b/c d.json": b"{}",
}
BAG_INFO = {
    "Source-Organization": "吉林省图书馆",
    "External-Identifier": "jlpl-0001",
    "Bagging-Date": "2024-05-01",
    "Bag-Software-Agent": "shuying 0.1.0",
    "External-Description": "欽定四庫全書總目 第二冊",
}


def place_payload(bag_dir: Path, files: dict[str, bytes] = PAYLOAD) -> dict[str, Digests]:
    """Put the payload under bag_dir/data and return its digests, as ingest recorded them."""
    digests = {}
    for rel, content in files.items():
        path = bag_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        digests[rel] = digest_file(path)
    return digests


@pytest.fixture
def bag_dir(tmp_path: Path) -> Path:
    bag = tmp_path / "jlpl-0001 第二冊"
    write_bag(bag, place_payload(bag), BAG_INFO)
    return bag


def test_written_bag_is_valid_for_the_bagit_library(bag_dir: Path) -> None:
    assert validate_bag(bag_dir) == []
    bag = bagit.Bag(str(bag_dir))
    assert bag.is_valid()
    assert bag.version_info == (1, 0)
    assert sorted(bag.algorithms) == ["sha256", "sha512"]


def test_written_bag_is_valid_for_the_bagit_command_line(bag_dir: Path) -> None:
    command = Path(sys.executable).parent / "bagit.py"
    result = subprocess.run([str(command), "--validate", str(bag_dir)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "is valid" in result.stderr


def test_manifests_equal_what_make_bag_writes_for_the_same_files(bag_dir: Path, tmp_path: Path) -> None:
    reference = tmp_path / "reference"
    shutil.copytree(bag_dir / "data", reference)
    bagit.make_bag(str(reference), checksums=["sha256", "sha512"])
    for algorithm in ("sha256", "sha512"):
        ours = (bag_dir / f"manifest-{algorithm}.txt").read_text(encoding="utf-8").splitlines()
        theirs = (reference / f"manifest-{algorithm}.txt").read_text(encoding="utf-8").splitlines()
        assert sorted(ours) == sorted(theirs)
        assert len(ours) == len(PAYLOAD)


def test_tag_files_say_bagit_1_0_and_carry_the_bag_info(bag_dir: Path) -> None:
    assert (bag_dir / "bagit.txt").read_bytes() == b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
    info = (bag_dir / "bag-info.txt").read_text(encoding="utf-8").splitlines()
    octets = sum(len(c) for c in PAYLOAD.values())
    assert info == [f"{k}: {v}" for k, v in BAG_INFO.items()] + [f"Payload-Oxum: {octets}.{len(PAYLOAD)}"]
    tagged = [line.split("  ", 1)[1] for line in (bag_dir / "tagmanifest-sha256.txt").read_text().splitlines()]
    assert tagged == ["bag-info.txt", "bagit.txt", "manifest-sha256.txt", "manifest-sha512.txt"]


def test_a_flipped_bit_is_reported_naming_the_file(bag_dir: Path) -> None:
    master = bag_dir / "data/masters/扫描 001.tif"
    content = bytearray(master.read_bytes())
    content[100] ^= 0x01
    master.write_bytes(bytes(content))
    problems = validate_bag(bag_dir)
    assert len(problems) == 2
    assert problems[0].startswith("data/masters/扫描 001.tif sha256 validation failed: expected=")
    assert problems[1].startswith("data/masters/扫描 001.tif sha512 validation failed: expected=")
    assert f'found="{digest_file(master).sha256}"' in problems[0]


def test_a_missing_file_is_reported_naming_the_file(bag_dir: Path) -> None:
    (bag_dir / "data/masters/封面.tif").unlink()
    problems = validate_bag(bag_dir)
    assert problems[0].startswith("Payload-Oxum validation failed.")
    assert "data/masters/封面.tif exists in manifest but was not found on filesystem" in problems


def test_an_extra_file_is_reported_naming_the_file(bag_dir: Path) -> None:
    (bag_dir / "data/masters/Thumbs.db").write_bytes(b"x")
    problems = validate_bag(bag_dir)
    assert "data/masters/Thumbs.db exists on filesystem but is not in the manifest" in problems


def test_every_problem_is_reported_not_just_the_first_stage(bag_dir: Path) -> None:
    # bagit alone stops at Payload-Oxum and never checksums an incomplete bag
    (bag_dir / "data/ocr/p0001.txt").unlink()
    (bag_dir / "data/mets.xml").write_bytes(b"<METS/>")
    problems = validate_bag(bag_dir)
    assert "data/ocr/p0001.txt exists in manifest but was not found on filesystem" in problems
    assert any(p.startswith("data/mets.xml sha256 validation failed") for p in problems)


def test_a_changed_tag_file_is_reported(bag_dir: Path) -> None:
    info = bag_dir / "bag-info.txt"
    info.write_text(info.read_text(encoding="utf-8").replace("第二冊", "第三冊"), encoding="utf-8")
    problems = validate_bag(bag_dir)
    assert any(p.startswith("bag-info.txt sha256 validation failed") for p in problems)


def test_not_a_bag_is_one_problem(tmp_path: Path) -> None:
    problems = validate_bag(tmp_path)
    assert len(problems) == 1 and "bagit.txt" in problems[0]


def test_manifests_use_the_recorded_digests_not_the_files(tmp_path: Path) -> None:
    bag = tmp_path / "bag"
    payload = place_payload(bag)
    recorded = payload["data/mets.xml"]
    # same size, other digest: what ingest recorded wins, and validation then catches it
    payload["data/mets.xml"] = Digests(recorded.size, "0" * 64, "0" * 128)
    write_bag(bag, payload, BAG_INFO)
    assert f"{'0' * 64}  data/mets.xml" in (bag / "manifest-sha256.txt").read_text(encoding="utf-8")
    assert any(p.startswith("data/mets.xml sha256 validation failed") for p in validate_bag(bag))


def test_payload_list_and_data_folder_must_agree(tmp_path: Path) -> None:
    bag = tmp_path / "bag"
    payload = place_payload(bag)
    (bag / "data/stray.txt").write_bytes(b"stray")
    del payload["data/mets.xml"]
    payload["data/ocr/p0002.txt"] = Digests(1, "a" * 64, "a" * 128)
    payload["data/ocr/p0001.txt"] = Digests(999, payload["data/ocr/p0001.txt"].sha256, "b" * 128)
    with pytest.raises(AipError) as caught:
        write_bag(bag, payload, BAG_INFO)
    assert [str(p) for p in caught.value.problems] == [
        "data/mets.xml: is under data/ but not in the payload list",
        "data/stray.txt: is under data/ but not in the payload list",
        "data/ocr/p0001.txt: is 25 bytes on disk but 999 bytes were recorded at ingest",
        "data/ocr/p0002.txt: is in the payload list but missing from data/",
    ]
    assert not (bag / "manifest-sha256.txt").exists()


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("masters/p0001.tif", "is not a POSIX path under data/"),
        ("data/../outside.tif", "contains '..'"),
        ("data/masters/100%.tif", "contains '%'"),
    ],
)
def test_unsafe_or_unreadable_paths_are_refused(tmp_path: Path, name: str, problem: str) -> None:
    bag = tmp_path / "bag"
    (bag / "data").mkdir(parents=True)
    with pytest.raises(AipError, match=re.escape(problem)):
        write_bag(bag, {name: Digests(0, "0" * 64, "0" * 128)}, {})


def test_a_file_name_with_a_line_break_round_trips(tmp_path: Path) -> None:
    bag = tmp_path / "bag"
    write_bag(bag, place_payload(bag, {"data/odd\nname.txt": b"x"}), {})
    assert "data/odd%0Aname.txt" in (bag / "manifest-sha256.txt").read_text(encoding="utf-8")
    assert validate_bag(bag) == []


@pytest.mark.parametrize(
    ("path", "encoded"),
    [
        ("data/扫描 001.tif", "data/扫描 001.tif"),
        ("data/a%b", "data/a%25b"),
        ("data/a\r\nb", "data/a%0D%0Ab"),
        ("data/%0A", "data/%250A"),
    ],
)
def test_manifest_paths_are_percent_encoded_as_rfc_8493_asks(path: str, encoded: str) -> None:
    assert manifest_path(path) == encoded


def test_bag_info_for_a_batch(tmp_path: Path) -> None:
    batch = Batch(
        root=tmp_path / "2024-05-01 station 2",
        item_id="jlpl-0001",
        title="欽定四庫全書總目",
        material_type=MaterialType.ANCIENT_BOOK,
        script_direction=ScriptDirection.VERTICAL_RL,
        languages=("lzh",),
        access_level=AccessLevel.PUBLIC,
        capture=Capture(station_id="cam-2", operator="张三"),
        pages=(Page(1, "a.tif", "1"),),
        edition="清乾隆武英殿刻本",
        volume_label="第二冊",
        source_organization="吉林省图书馆",
    )
    info = bag_info_for(batch, now=datetime(2024, 5, 1, 23, 30, tzinfo=UTC))
    assert info == {
        "Source-Organization": "吉林省图书馆",
        "External-Identifier": "jlpl-0001",
        "External-Description": "欽定四庫全書總目 清乾隆武英殿刻本 第二冊",
        "Internal-Sender-Identifier": "2024-05-01 station 2",
        "Internal-Sender-Description": "capture station cam-2, operator 张三",
        "Bagging-Date": "2024-05-01",
        "Bag-Software-Agent": f"shuying {pipeline.__version__}",
    }
