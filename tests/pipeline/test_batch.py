"""load_batch: batch.json parsing, schema errors by field, and the page list against the folder."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest
from PIL import Image

from pipeline.batch import (
    AccessLevel,
    Batch,
    MaterialType,
    PageType,
    ScriptDirection,
    Side,
    load_batch,
)
from pipeline.errors import BatchError, Problem
from pipeline.sample_book import batch_document, write_sample_batch

DOC = Path(__file__).resolve().parents[2] / "docs" / "batch-format.md"
SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "batch.schema.json"
ID_RULE = ("is not a usable item id: use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit "
           "and not ending in '.new' or '.old'")

NOT_LISTED_HINT = "add it to batch.json pages, or move it out of the batch folder"


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    """A generated three-page batch: 0001.tif (cover), 0002.tif, 0003.tif."""
    return write_sample_batch(tmp_path / "sample", pages=3, width=600, height=900, item_id="GJ-0001")


def make_batch(folder: Path, files: list[str], *, listed: list[str] | None = None) -> Path:
    """Write a tiny image for each of ``files`` and a batch.json listing ``listed`` (default: files)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in files:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8), (200, 190, 170)).save(folder / name)  # format from the extension
    entries = [(name, f"葉{i}", "page") for i, name in enumerate(files if listed is None else listed, 1)]
    write_doc(folder, batch_document("GJ-0002", entries, ppi=400))
    return folder


def write_doc(folder: Path, doc: dict) -> None:
    (folder / "batch.json").write_text(json.dumps(doc, ensure_ascii=False, indent=2), encoding="utf-8")


def edit_doc(folder: Path, change) -> None:
    """Apply ``change`` to the parsed batch.json and write it back."""
    doc = json.loads((folder / "batch.json").read_text(encoding="utf-8"))
    change(doc)
    write_doc(folder, doc)


def problems_of(folder: Path) -> list[str]:
    with pytest.raises(BatchError) as caught:
        load_batch(folder)
    assert str(caught.value) == "\n".join(str(p) for p in caught.value.problems)
    return [str(p) for p in caught.value.problems]


# --- a valid batch ----------------------------------------------------------------------------


def test_generated_batch_parses_with_every_field(sample):
    batch = load_batch(sample)

    assert isinstance(batch, Batch)
    assert batch.root == sample and batch.batch_file == sample / "batch.json"
    assert (batch.item_id, batch.title, batch.title_lang) == ("GJ-0001", "論語十卷", "zh-Hant")
    assert batch.material_type is MaterialType.ANCIENT_BOOK
    assert batch.script_direction is ScriptDirection.VERTICAL_RL
    assert batch.access_level is AccessLevel.PUBLIC
    assert batch.languages == ("lzh", "zh-Hant")
    assert (batch.call_number, batch.census_number) == ("善 000001", "220000-0000-0000001")
    assert (batch.juan_count, batch.edition, batch.binding, batch.extant) == ("十卷", "示例刻本", "綫裝", "存卷一")
    assert batch.layout == "半葉十行行二十字白口四周雙邊"
    assert [(c.name, c.role, c.period) for c in batch.creators] == [("孔子弟子", "輯", "春秋")]
    assert batch.seals == ("示例藏書印",) and batch.annotations == ()
    assert (batch.volume_number, batch.volume_label) == (1, "第一冊")
    assert batch.capture.declared_ppi == 400 and batch.capture.station_id == "demo-station"
    assert batch.capture.capture_date == "2026-01-01"
    assert batch.extra == {"title_en": "The Analects (sample)"}


def test_pages_keep_reading_order_labels_and_types(sample):
    pages = load_batch(sample).pages

    assert [p.page_id for p in pages] == ["p0001", "p0002", "p0003"]
    assert [p.order for p in pages] == [1, 2, 3]
    assert [p.file for p in pages] == ["0001.tif", "0002.tif", "0003.tif"]
    assert [p.label for p in pages] == ["封面", "卷一 葉一上", "卷一 葉一下"]
    assert [p.page_type for p in pages] == [PageType.COVER, PageType.PAGE, PageType.PAGE]


def test_listed_order_wins_over_file_names(tmp_path):
    folder = make_batch(tmp_path / "b", ["a.tif", "b.tif", "c.tif"], listed=["c.tif", "a.tif", "b.tif"])

    pages = load_batch(folder).pages

    assert [(p.page_id, p.file) for p in pages] == [("p0001", "c.tif"), ("p0002", "a.tif"), ("p0003", "b.tif")]


def test_minimal_batch_gets_defaults(tmp_path):
    folder = make_batch(tmp_path / "b", ["x.tif"])
    write_doc(folder, {
        "batch_format": "shuying-batch/1",
        "item": {"id": "M1", "title": "詩集傳", "material_type": "republican", "script_direction": "horizontal-lr",
                 "languages": ["zh-Hans"], "access_level": "staff-only"},
        "capture": {"station_id": "s1", "operator": "王", "declared_ppi": 600},
        "pages": [{"file": "x.tif"}],
    })

    batch = load_batch(folder)

    assert batch.volume_number == 1 and batch.volume_label == "" and batch.creators == ()
    assert batch.access_level is AccessLevel.STAFF_ONLY and batch.extra == {}
    assert [(p.label, p.page_type) for p in batch.pages] == [("1", PageType.PAGE)]


def test_without_pages_every_image_is_a_page_in_natural_name_order(tmp_path):
    names = ["p10.tif", "p2.tif", "p1.tif", "P3.TIF", "sub/p0.png"]
    folder = make_batch(tmp_path / "b", names)
    (folder / "notes.txt").write_text("camera log", encoding="utf-8")
    (folder / ".DS_Store").write_bytes(b"\0")
    (folder / "Thumbs.db").write_bytes(b"\0")
    edit_doc(folder, lambda doc: doc.pop("pages"))

    pages = load_batch(folder).pages

    assert [p.file for p in pages] == ["p1.tif", "p2.tif", "P3.TIF", "p10.tif", "sub/p0.png"]
    assert [p.page_id for p in pages] == ["p0001", "p0002", "p0003", "p0004", "p0005"]
    assert [p.label for p in pages] == ["1", "2", "3", "4", "5"]
    assert {p.page_type for p in pages} == {PageType.PAGE}


def test_without_pages_and_without_images_is_refused(tmp_path):
    folder = make_batch(tmp_path / "b", [])
    edit_doc(folder, lambda doc: doc.pop("pages"))

    assert problems_of(folder) == [f"{folder}: no images found (add TIFF, JPEG, PNG or JPEG 2000 files)"]


def test_hidden_files_and_system_files_need_not_be_listed(sample):
    (sample / "._0001.tif").write_bytes(b"AppleDouble")
    (sample / ".thumbs").mkdir()
    (sample / ".thumbs" / "0001.jpg").write_bytes(b"\xff\xd8\xff")
    (sample / "desktop.ini").write_text("[.ShellClassInfo]", encoding="utf-8")

    assert len(load_batch(sample).pages) == 3


def test_byte_order_mark_is_accepted(sample):
    raw = (sample / "batch.json").read_bytes()
    (sample / "batch.json").write_bytes(b"\xef\xbb\xbf" + raw)

    assert load_batch(sample).item_id == "GJ-0001"


# --- names: Chinese, spaces, Unicode normalisation ----------------------------------------------


def test_chinese_and_space_file_names_load(tmp_path):
    names = ["封面.tif", "卷一 葉三上.tif", "卷一/葉三下 (重拍).tif"]
    folder = make_batch(tmp_path / "批次 一", names)

    batch = load_batch(folder)

    assert [p.file for p in batch.pages] == names
    assert [p.page_id for p in batch.pages] == ["p0001", "p0002", "p0003"]
    assert all(batch.master_path(p).is_file() for p in batch.pages)


def test_nfd_name_on_disk_matches_nfc_name_in_batch_json(tmp_path):
    nfc = "조선본 卷一 葉一上.tif"  # Hangul decomposes under NFD, as macOS file systems store it
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfd != nfc
    folder = make_batch(tmp_path / "b", [nfd], listed=[nfc])
    assert json.loads((folder / "batch.json").read_text(encoding="utf-8"))["pages"][0]["file"] == nfc

    batch = load_batch(folder)

    page = batch.pages[0]
    assert page.file == nfd  # the name as stored, so it opens
    assert batch.master_path(page).read_bytes() == (folder / nfd).read_bytes()
    with Image.open(batch.master_path(page)) as image:
        assert image.size == (8, 8)


def test_nfc_name_on_disk_matches_nfd_name_in_batch_json(tmp_path):
    nfc = "한문 卷二.tif"
    folder = make_batch(tmp_path / "b", [nfc], listed=[unicodedata.normalize("NFD", nfc)])

    batch = load_batch(folder)

    assert batch.master_path(batch.pages[0]).is_file() and batch.pages[0].file == nfc


def test_two_files_differing_only_in_normalisation_are_refused(tmp_path):
    nfc = "한문.tif"
    nfd = unicodedata.normalize("NFD", nfc)
    folder = make_batch(tmp_path / "b", [nfc, nfd], listed=[nfc])
    assert len(list(folder.glob("*.tif"))) == 2

    problems = problems_of(folder)

    assert len(problems) == 1
    assert problems[0].endswith("apart from Unicode normalisation (the two names look identical; rename or remove one)")
    assert {problems[0].split(": ")[0], problems[0].split("'")[1]} == {nfc, nfd}


def test_dot_segments_in_listed_names_find_the_file(tmp_path):
    folder = make_batch(tmp_path / "b", ["a.tif", "sub/b.tif"], listed=["./a.tif", "sub/../sub/b.tif"])

    batch = load_batch(folder)

    assert [p.file for p in batch.pages] == ["a.tif", "sub/b.tif"]


# --- malformed batch.json -----------------------------------------------------------------------


def test_not_json_names_line_and_column(sample):
    (sample / "batch.json").write_text('{\n  "batch_format": "shuying-batch/1",\n  "item": {,}\n}',
                                       encoding="utf-8")

    assert problems_of(sample) == [
        "batch.json: not valid JSON: Expecting property name enclosed in double quotes at line 3 column 12"]


def test_not_utf8_names_the_byte(sample):
    (sample / "batch.json").write_bytes('{"item": {"title": "論語"}}'.encode("big5"))

    assert problems_of(sample) == ["batch.json: not UTF-8 text (byte 20) (save batch.json as UTF-8)"]


@pytest.mark.parametrize("content", [b"", b"  \n\t\n"])
def test_empty_batch_json(sample, content):
    (sample / "batch.json").write_bytes(content)

    assert problems_of(sample) == ["batch.json: empty file"]


@pytest.mark.parametrize("content", ["[]", '["0001.tif"]', '"batch"', "null", "42"])
def test_top_level_must_be_an_object(sample, content):
    (sample / "batch.json").write_text(content, encoding="utf-8")

    assert problems_of(sample) == ["batch.json: top level must be a JSON object"]


def test_missing_batch_json(tmp_path):
    folder = tmp_path / "b"
    folder.mkdir()

    assert problems_of(folder) == [f"{folder / 'batch.json'}: missing (every batch folder needs a batch.json)"]


def test_missing_folder_and_file_instead_of_folder(tmp_path):
    (tmp_path / "file.tif").write_bytes(b"II*\x00")

    assert problems_of(tmp_path / "nowhere") == [f"{tmp_path / 'nowhere'}: no such folder (check the batch folder path)"]
    assert problems_of(tmp_path / "file.tif") == [
        f"{tmp_path / 'file.tif'}: not a folder (give the batch folder, not a file)"]


# --- schema errors name the field ---------------------------------------------------------------


@pytest.mark.parametrize(("change", "expected"), [
    (lambda d: d["item"].update(material_type="book"),
     "batch.json: item.material_type: 'book' is not one of ['ancient_book', 'republican', 'other']"),
    (lambda d: d["capture"].pop("declared_ppi"),
     "batch.json: capture.declared_ppi: required field is missing"),
    (lambda d: d["pages"][1].update(type="leaf"),
     "batch.json: pages[1].type: 'leaf' is not one of ['cover', 'page', 'blank', 'colour-target', 'spine']"),
    (lambda d: d.pop("capture"), "batch.json: capture: required field is missing"),
    (lambda d: d["capture"].update(declared_ppi="400"), "batch.json: capture.declared_ppi: '400' is not of type 'integer'"),
    (lambda d: d["capture"].update(declared_ppi=30), "batch.json: capture.declared_ppi: 30 is less than the minimum of 50"),
    (lambda d: d["item"].update(id="GJ 0001"),
     f"batch.json: item.id: 'GJ 0001' {ID_RULE}"),
    (lambda d: d["item"].update(id="../etc"),
     f"batch.json: item.id: '../etc' {ID_RULE}"),
    (lambda d: d["item"].update(languages=[]), "batch.json: item.languages: [] should be non-empty"),
    (lambda d: d["item"].update(titel="論語"),
     "batch.json: item: Additional properties are not allowed ('titel' was unexpected)"),
    (lambda d: d.update(batch_format="shuying-batch/2"),
     "batch.json: batch_format: 'shuying-batch/1' was expected"),
    (lambda d: d["pages"][0].pop("file"), "batch.json: pages[0].file: required field is missing"),
    (lambda d: d.update(pages=[]), "batch.json: pages: [] should be non-empty"),
], ids=["material_type-enum", "declared_ppi-missing", "page-type-enum", "capture-missing", "ppi-string",
        "ppi-too-low", "id-space", "id-traversal", "languages-empty", "unknown-field", "format-version",
        "page-file-missing", "pages-empty"])
def test_schema_error_names_file_and_field(sample, change, expected):
    edit_doc(sample, change)

    assert problems_of(sample) == [expected]


def test_every_problem_is_reported_at_once(sample):
    def break_three_ways(doc: dict) -> None:
        doc["item"]["material_type"] = "book"
        del doc["capture"]["declared_ppi"]
        doc["pages"][1]["file"] = "0009.tif"

    edit_doc(sample, break_three_ways)

    with pytest.raises(BatchError) as caught:
        load_batch(sample)
    problems = caught.value.problems
    assert all(isinstance(p, Problem) for p in problems)
    assert [(p.file, p.field) for p in problems] == [
        ("batch.json", "capture.declared_ppi"),
        ("batch.json", "item.material_type"),
        ("batch.json", "pages[1].file"),
        ("0002.tif", ""),
    ]
    assert problems[2].problem == "'0009.tif' is listed but missing from the batch folder"


@pytest.mark.parametrize("bad_type", ["leaf", ["cover"], {"type": "cover"}, 3, None])
def test_bad_page_type_of_any_json_kind_is_a_schema_problem(sample, bad_type):
    edit_doc(sample, lambda d: d["pages"][0].update(type=bad_type))

    problems = problems_of(sample)

    assert len(problems) == 1 and problems[0].startswith(f"batch.json: pages[0].type: {bad_type!r} is not one of")


def test_schema_and_file_problems_come_together(sample):
    edit_doc(sample, lambda d: d["pages"][0].update(type="back-cover"))
    (sample / "0003.tif").unlink()

    assert problems_of(sample) == [
        "batch.json: pages[0].type: 'back-cover' is not one of ['cover', 'page', 'blank', 'colour-target', 'spine']",
        "batch.json: pages[2].file: '0003.tif' is listed but missing from the batch folder (check the file name)",
    ]


@pytest.mark.parametrize("pages", ["0001.tif", ["0001.tif"], [{"label": "封面"}], [{"file": 1}], []],
                         ids=["string", "list-of-names", "entry-without-file", "file-not-string", "empty"])
def test_unreadable_page_list_gives_only_the_schema_problem(sample, pages):
    edit_doc(sample, lambda d: d.update(pages=pages))

    problems = problems_of(sample)

    assert len(problems) == 1 and problems[0].startswith("batch.json: pages")
    assert "not listed" not in problems[0]


def test_problem_text_format_and_dict():
    problem = Problem("batch.json", "'x.tif' is listed but missing", field="pages[0].file", hint="check it")

    assert str(problem) == "batch.json: pages[0].file: 'x.tif' is listed but missing (check it)"
    assert str(Problem("a.tif", "empty file")) == "a.tif: empty file"
    assert problem.as_dict() == {"file": "batch.json", "field": "pages[0].file",
                                 "problem": "'x.tif' is listed but missing", "hint": "check it"}


# --- the page list against the folder -----------------------------------------------------------


def test_listed_file_missing(sample):
    (sample / "0003.tif").unlink()

    assert problems_of(sample) == [
        "batch.json: pages[2].file: '0003.tif' is listed but missing from the batch folder (check the file name)"]


def test_listed_name_differing_only_in_case_says_so(sample):
    edit_doc(sample, lambda d: d["pages"][1].update(file="0002.TIF"))

    assert problems_of(sample) == [
        ("batch.json: pages[1].file: '0002.TIF' is listed but missing from the batch folder "
        "(the folder has '0002.tif': names must match exactly, including case)"),
        f"0002.tif: present in the batch folder but not listed in pages ({NOT_LISTED_HINT})",
    ]


def test_same_file_listed_twice(sample):
    edit_doc(sample, lambda d: d["pages"].append({"file": "0002.tif", "label": "again"}))

    assert problems_of(sample) == [
        ("batch.json: pages[3].file: '0002.tif' is listed twice (also pages[1]) "
        "(each image is one page; remove the duplicate entry)")]


def test_same_file_listed_twice_under_different_normalisation(tmp_path):
    name = "한문.tif"
    folder = make_batch(tmp_path / "b", [name], listed=[name, unicodedata.normalize("NFD", name)])

    problems = problems_of(folder)

    assert len(problems) == 1 and "pages[1].file" in problems[0] and "is listed twice (also pages[0])" in problems[0]


def test_file_present_but_not_listed(sample):
    (sample / "0004.tif").write_bytes((sample / "0003.tif").read_bytes())
    (sample / "extra").mkdir()
    (sample / "extra" / "notes.txt").write_text("x", encoding="utf-8")

    assert problems_of(sample) == [
        f"0004.tif: present in the batch folder but not listed in pages ({NOT_LISTED_HINT})",
        f"extra/notes.txt: present in the batch folder but not listed in pages ({NOT_LISTED_HINT})",
    ]


@pytest.mark.parametrize(("bad", "problem"), [
    ("../x.tif", "points outside the batch folder"),
    ("sub/../../x.tif", "points outside the batch folder"),
    ("/etc/passwd", "is not a relative path inside the batch folder"),
    ("\\\\server\\share\\x.tif", "is not a relative path inside the batch folder"),
    ("C:/scans/x.tif", "is not a relative path inside the batch folder"),
    ("x\x00.tif", "is not a relative path inside the batch folder"),
])
def test_path_traversal_in_page_file_is_refused(sample, bad, problem):
    (sample.parent / "x.tif").write_bytes((sample / "0003.tif").read_bytes())  # exists, outside
    edit_doc(sample, lambda d: d["pages"][2].update(file=bad))

    problems = problems_of(sample)

    assert problems[0] == f"batch.json: pages[2].file: {bad!r} {problem}"
    assert problems[1:] == [f"0003.tif: present in the batch folder but not listed in pages ({NOT_LISTED_HINT})"]


def test_symlink_leading_outside_is_refused(sample):
    outside = sample.parent / "elsewhere.tif"
    outside.write_bytes((sample / "0003.tif").read_bytes())
    (sample / "0003.tif").unlink()
    (sample / "0003.tif").symlink_to(outside)

    assert problems_of(sample) == ["batch.json: pages[2].file: '0003.tif' points outside the batch folder"]


def test_symlink_outside_is_refused_without_page_list(sample):
    outside = sample.parent / "elsewhere.tif"
    outside.write_bytes(b"II*\x00")
    (sample / "0004.tif").symlink_to(outside)
    edit_doc(sample, lambda d: d.pop("pages"))

    assert problems_of(sample) == ["batch.json: pages: '0004.tif' points outside the batch folder"]


# --- docs/batch-format.md stays true ------------------------------------------------------------


def test_complete_example_in_the_docs_is_a_valid_batch(tmp_path):
    text = DOC.read_text(encoding="utf-8")
    example = text.split("## A complete example", 1)[1].split("```json\n", 1)[1].split("```", 1)[0]
    doc = json.loads(example)
    folder = make_batch(tmp_path / "example", [entry["file"] for entry in doc["pages"]])
    write_doc(folder, doc)

    batch = load_batch(folder)

    assert batch.item_id == "GJ-2024-0137" and len(batch.pages) == 6
    assert [p.page_type for p in batch.pages] == [PageType.COVER, PageType.COLOUR_TARGET, PageType.PAGE,
                                                  PageType.PAGE, PageType.BLANK, PageType.COVER]


def test_docs_describe_every_schema_field():
    text = DOC.read_text(encoding="utf-8")
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))["properties"]
    fields = [*schema, *schema["item"]["properties"], *schema["item"]["properties"]["creators"]["items"]["properties"],
              *schema["volume"]["properties"], *schema["capture"]["properties"],
              *schema["pages"]["items"]["properties"]]
    enums = [*schema["item"]["properties"]["material_type"]["enum"], *schema["pages"]["items"]["properties"]["type"]["enum"],
             *schema["item"]["properties"]["access_level"]["enum"], *schema["item"]["properties"]["script_direction"]["enum"]]

    assert [f for f in fields if f"`{f}`" not in text] == []
    assert [e for e in enums if f"`{e}`" not in text] == []


def _spread_batch(folder: Path, direction: str = "vertical-rl", **capture: object) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("cover.tif", "s1.tif", "s2.tif", "s3.tif"):
        Image.new("L", (8, 8), 255).save(folder / name)
    document = batch_document("SPREAD-1", [("cover.tif", "封面", "cover"), ("s1.tif", "1", "page"),
                                           ("s2.tif", "2", "page"), ("s3.tif", "3", "page")], ppi=400)
    document["item"]["script_direction"] = direction
    document["capture"].update(capture)
    document["pages"][2]["split"] = "none"
    document["pages"][3]["leaf_labels"] = ["葉三上", "葉三下"]
    return document


def test_a_spread_batch_splits_its_pages_into_leaves_in_reading_order_right_first(tmp_path: Path) -> None:
    write_doc(tmp_path, _spread_batch(tmp_path, mode="spread"))

    batch = load_batch(tmp_path)

    assert len(batch.pages) == 4  # masters: checksummed, QC'd and packaged once each
    assert [(leaf.page_id, leaf.label, leaf.order) for leaf in batch.leaves] == [
        ("p0001", "封面", 1), ("p0002r", "1a", 2), ("p0002l", "1b", 3), ("p0003", "2", 4),
        ("p0004r", "葉三上", 5), ("p0004l", "葉三下", 6)]
    assert batch.leaf("p0004l").master is batch.page("p0004") and batch.leaf("p0004l").side is Side.LEFT


def test_a_horizontal_spread_reads_its_left_leaf_first_and_a_given_cut_is_kept(tmp_path: Path) -> None:
    document = _spread_batch(tmp_path, "horizontal-lr")
    document["pages"][1]["split"] = {"x": 2480}
    del document["pages"][3]["leaf_labels"]
    write_doc(tmp_path, document)

    batch = load_batch(tmp_path)

    assert [leaf.page_id for leaf in batch.leaves] == ["p0001", "p0002l", "p0002r", "p0003", "p0004"]
    assert batch.page("p0002").split_x == 2480 and batch.page("p0003").split_x is None


@pytest.mark.parametrize("split, expected", [("half", "split"), ({"x": 0}, "split"), ({"y": 4}, "split")])
def test_a_split_that_is_not_auto_none_or_a_column_is_refused(tmp_path: Path, split: object, expected: str) -> None:
    document = _spread_batch(tmp_path)
    document["pages"][1]["split"] = split
    write_doc(tmp_path, document)

    with pytest.raises(BatchError) as raised:
        load_batch(tmp_path)

    assert any(p.field.startswith("pages[1].split") for p in raised.value.problems), raised.value.problems


def test_leaf_labels_on_a_page_that_is_not_split_are_refused_with_the_remedy(tmp_path: Path) -> None:
    write_doc(tmp_path, _spread_batch(tmp_path))  # mode single: page 4's leaf_labels name nothing

    with pytest.raises(BatchError) as raised:
        load_batch(tmp_path)

    problem = next(p for p in raised.value.problems if p.field == "pages[3].leaf_labels")
    assert "not split" in problem.problem and "split" in problem.hint
