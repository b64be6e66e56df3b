"""Vocabularies: packaged terms with Chinese and English labels, extended by the workshop's own files."""

from __future__ import annotations

import json

import pytest

from pipeline.conservation import VocabularyError, load_vocabularies

ISSUE_DAMAGE = {"虫蛀": "insect damage", "霉蚀": "mould", "水渍": "water stain", "污渍": "soiling",
                "絮化": "fibre degradation", "粘连": "blocking", "脆化": "embrittlement", "酸化": "acidification",
                "残缺": "loss", "断线": "broken sewing", "书皮破损": "cover damage", "褪色": "fading"}
ISSUE_TREATMENT = {"去污": "cleaning", "揭页": "separating leaves", "补洞": "infilling", "托裱": "lining",
                   "溜口": "fold reinforcement", "脱酸": "deacidification", "压平": "flattening",
                   "重新装订": "resewing"}


def test_packaged_vocabularies_have_the_terms_of_the_issue_with_both_labels():
    vocabularies = load_vocabularies()
    assert {t.zh: t.en for t in vocabularies.damage.terms if t.zh in ISSUE_DAMAGE} == ISSUE_DAMAGE
    assert {t.zh: t.en for t in vocabularies.treatment.terms if t.zh in ISSUE_TREATMENT} == ISSUE_TREATMENT
    assert [t.zh for t in vocabularies.grades.terms][:2] == ["一级破损（特残）", "二级破损（严重破损）"]
    assert vocabularies.damage.term("acidification").requires == ("ph",)


@pytest.mark.parametrize("text", ["insect_damage", "虫蛀", "Insect Damage", " 虫蛀 "])
def test_a_term_is_found_by_code_or_either_label(text):
    term = load_vocabularies().damage.find(text)
    assert term is not None and term.code == "insect_damage" and term.label == "虫蛀 insect damage"


def test_the_workshop_adds_terms_in_its_own_file(tmp_path):
    (tmp_path / "treatment.json").write_text(json.dumps({"vocabulary": "treatment", "terms": [
        {"code": "silk_lining", "zh": "绢托", "en": "silk lining"}]}, ensure_ascii=False), encoding="utf-8")
    treatment = load_vocabularies(tmp_path).treatment
    assert treatment.terms[-1].label == "绢托 silk lining"
    assert treatment.find("去污").code == "cleaning"  # the packaged terms stay


def test_a_local_term_may_not_take_a_packaged_code(tmp_path):
    path = tmp_path / "damage.json"
    path.write_text(json.dumps({"vocabulary": "damage", "terms": [{"code": "mould", "zh": "霉斑", "en": "foxing"}]},
                               ensure_ascii=False), encoding="utf-8")
    with pytest.raises(VocabularyError) as caught:
        load_vocabularies(tmp_path)
    assert str(caught.value) == f"{path}: code 'mould' is already a packaged damage term; choose a new code"


def test_a_malformed_local_vocabulary_names_the_file_and_field(tmp_path):
    path = tmp_path / "grades.json"
    path.write_text(json.dumps({"vocabulary": "grades", "terms": [{"code": "Grade 6", "zh": "六级", "en": "x"}]},
                               ensure_ascii=False), encoding="utf-8")
    with pytest.raises(VocabularyError) as caught:
        load_vocabularies(tmp_path)
    assert str(caught.value).startswith(f"{path}: terms[0].code: 'Grade 6' does not match")
