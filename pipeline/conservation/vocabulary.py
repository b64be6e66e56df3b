"""Controlled vocabularies of conservation records: damage types, treatment steps, damage grades.

The packaged terms live in ``schemas/vocabularies/<name>.json``; a workshop adds its
own in ``<home>/vocabularies/<name>.json`` (same format, checked against
``schemas/vocabulary.schema.json``). Records store a term's ``code``; people see the
Chinese label first, then the English one.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from pathlib import Path

import schemas
from pipeline.errors import ExitCode, ShuyingError
from pipeline.validation import json_errors

__all__ = ["PACKAGED_DIR", "Term", "Vocabularies", "Vocabulary", "VocabularyError", "VocabularyName",
           "load_vocabularies"]

PACKAGED_DIR = schemas.SCHEMA_DIR / "vocabularies"


class VocabularyName(str, enum.Enum):
    DAMAGE = "damage"
    TREATMENT = "treatment"
    GRADES = "grades"


NOUNS = {VocabularyName.DAMAGE: "damage type", VocabularyName.TREATMENT: "treatment step",
         VocabularyName.GRADES: "damage grade"}


class VocabularyError(ShuyingError):
    """A vocabulary file cannot be read or contradicts another."""

    exit_code = ExitCode.USAGE

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = str(path)
        self.problems = list(problems)
        super().__init__(f"{path}: {'; '.join(self.problems)}")


@dataclass(frozen=True)
class Term:
    code: str
    zh: str
    en: str
    requires: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """Return the label people see: Chinese first, then English."""
        return f"{self.zh} {self.en}"


@dataclass(frozen=True)
class Vocabulary:
    name: VocabularyName
    zh: str
    en: str
    terms: tuple[Term, ...]

    @property
    def noun(self) -> str:
        """Return what one term is called in messages ("damage type")."""
        return NOUNS[self.name]

    def term(self, code: str) -> Term:
        """Return the term with ``code``; KeyError if there is none."""
        for term in self.terms:
            if term.code == code:
                return term
        raise KeyError(code)

    def find(self, text: str) -> Term | None:
        """Return the term whose code, Chinese or English label is ``text`` (ignoring case and spaces)."""
        wanted = text.strip().casefold()
        return next((t for t in self.terms if wanted in (t.code, t.zh.casefold(), t.en.casefold())), None)

    def allowed(self) -> str:
        """Return every term as ``code (中文 English)``, for error messages."""
        return ", ".join(f"{t.code} ({t.label})" for t in self.terms)

    def label(self, code: str) -> str:
        """Return the label of ``code``, or the code itself if the term was removed since."""
        try:
            return self.term(code).label
        except KeyError:
            return code


@dataclass(frozen=True)
class Vocabularies:
    damage: Vocabulary
    treatment: Vocabulary
    grades: Vocabulary


def load_vocabularies(extra_dir: Path | None = None) -> Vocabularies:
    """Load the packaged vocabularies, extended by the files in ``extra_dir`` (if any)."""
    loaded = {}
    for name in VocabularyName:
        vocabulary = _read(PACKAGED_DIR / f"{name.value}.json", name)
        local = Path(extra_dir) / f"{name.value}.json" if extra_dir else None
        if local is not None and local.is_file():
            vocabulary = _extend(vocabulary, _read(local, name), local)
        loaded[name.value] = vocabulary
    return Vocabularies(**loaded)


def _read(path: Path, name: VocabularyName) -> Vocabulary:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise VocabularyError(path, [f"cannot read: {exc}"]) from None
    problems = json_errors(data, "vocabulary")
    if not problems and data["vocabulary"] != name.value:
        problems = [f"vocabulary: is {data['vocabulary']!r}, expected {name.value!r} for this file name"]
    if problems:
        raise VocabularyError(path, problems)
    label = data.get("label", {"zh": name.value, "en": name.value})
    terms = tuple(Term(t["code"], t["zh"], t["en"], tuple(t.get("requires", ()))) for t in data["terms"])
    _check_unique(path, terms)
    return Vocabulary(name, label["zh"], label["en"], terms)


def _extend(base: Vocabulary, local: Vocabulary, path: Path) -> Vocabulary:
    clashes = [t.code for t in local.terms if t.code in {b.code for b in base.terms}]
    if clashes:
        raise VocabularyError(path, [f"code {c!r} is already a packaged {base.name.value} term; "
                                     "choose a new code" for c in clashes])
    terms = (*base.terms, *local.terms)
    _check_unique(path, terms)
    return Vocabulary(base.name, base.zh, base.en, terms)


def _check_unique(path: Path, terms: tuple[Term, ...]) -> None:
    seen: dict[str, str] = {}
    codes = [t.code for t in terms]
    problems = [f"code {c!r} appears twice" for c in sorted({c for c in codes if codes.count(c) > 1})]
    for term in terms:
        for key in (term.code, term.zh.casefold(), term.en.casefold()):
            if key in seen and seen[key] != term.code:
                problems.append(f"{key!r} names both {seen[key]!r} and {term.code!r}")
            seen.setdefault(key, term.code)
    if problems:
        raise VocabularyError(path, problems)

