"""Errors a person can act on.

Every error names the file and the problem and, where known, the fix::

    ShuyingError
     +-- BatchError        batch.json or the batch folder is wrong (field, file)
     +-- ImageError        an image cannot be used as a master (file, problem)
     +-- ValidationError   an XML/JSON document fails its schema (document, errors)
     +-- OcrError          the OCR engine is missing or failed on a page
     +-- StorageError      a storage location cannot take or return a copy
     +-- FixityError       bytes do not match the digests recorded at ingest
     +-- BusyError         another process is already working on the same item
     +-- DiskFullError     a folder's disk is full (folder, free space, space needed)
     +-- DatabaseError     a SQLite file is damaged, locked or unwritable (file, problem, remedy)

Per-page problems are collected into reports (see :class:`Problem`) so the rest of
a batch can go on; an exception is raised only when nothing sensible can continue.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path


class ExitCode(enum.IntEnum):
    """What `shuying` exits with; each error class names its own (click's ClickException.exit_code)."""

    OK = 0
    FAILED = 1  # the work ran and something in it failed (a page, a check; audit: damage found, not repaired)
    USAGE = 2  # bad arguments or configuration (a bad batch is FAILED: the work could not be done)
    REPAIRED = 3  # audit: damage was found and every damaged file was repaired from a verified copy
    UNRECOVERABLE = 4  # audit: some file has no intact copy anywhere; nothing was overwritten
    COULD_NOT_RUN = 5  # could not run, or some copies could not be checked (storage unreachable, busy)


class ShuyingError(Exception):
    """Base class for every error Shuying reports to a user."""

    exit_code: ExitCode = ExitCode.FAILED


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one file, as shown to a technician."""

    file: str
    problem: str
    field: str = ""
    hint: str = ""

    def __str__(self) -> str:
        where = f"{self.file}: {self.field}: " if self.field else f"{self.file}: "
        hint = f" ({self.hint})" if self.hint else ""
        return f"{where}{self.problem}{hint}"

    def as_dict(self) -> dict[str, str]:
        return {"file": self.file, "field": self.field, "problem": self.problem, "hint": self.hint}


class BatchError(ShuyingError):
    """The batch file or folder cannot be ingested; carries every problem found."""

    def __init__(self, problems: list[Problem] | Problem) -> None:
        self.problems = [problems] if isinstance(problems, Problem) else list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class ImageError(ShuyingError):
    """An image file cannot be used (unreadable, truncated, too large, wrong mode)."""

    def __init__(self, path: str | Path, problem: str, hint: str = "") -> None:
        self.path = str(path)
        self.problem = problem
        self.hint = hint
        super().__init__(str(Problem(self.path, problem, hint=hint)))


class ValidationError(ShuyingError):
    """A document fails validation against its schema."""

    exit_code = ExitCode.USAGE

    def __init__(self, document: str, errors: list[str]) -> None:
        self.document = document
        self.errors = list(errors)
        shown = "; ".join(self.errors[:5])
        more = f" (and {len(self.errors) - 5} more)" if len(self.errors) > 5 else ""
        super().__init__(f"{document}: schema validation failed: {shown}{more}")


class OcrError(ShuyingError):
    """The OCR engine is missing, lacks a model, crashed or timed out."""

    exit_code = ExitCode.USAGE  # raised before work starts: an engine or model not installed


class StorageError(ShuyingError):
    """A storage location cannot take, verify or return a copy."""


class FixityError(ShuyingError):
    """Bytes read back do not match the digests recorded at ingest."""

    def __init__(self, path: str, algorithm: str, expected: str, found: str) -> None:
        self.path, self.algorithm, self.expected, self.found = path, algorithm, expected, found
        super().__init__(f'{path}: {algorithm} mismatch: expected="{expected}" found="{found}"')


class UnreachableError(StorageError):
    """A location's endpoint did not accept a connection; the run stops asking it."""

    exit_code = ExitCode.COULD_NOT_RUN

    def __init__(self, location: str, endpoint: str, reason: str, doing: str) -> None:
        self.location, self.endpoint, self.reason = location, endpoint, reason
        super().__init__(f"{location}: {doing}: cannot reach {endpoint} ({reason}); nothing partial is counted, "
                         "re-run when it is back")


class BusyError(ShuyingError):
    """Another process holds the lock of the item this run needs; nothing was changed."""

    exit_code = ExitCode.COULD_NOT_RUN


class DiskFullError(ShuyingError):
    """A write failed for lack of space (ENOSPC, EDQUOT); says where, how much is free and needed."""

    def __init__(self, folder: str | Path, free: int, needed: int | None, what: str) -> None:
        self.folder, self.free, self.needed, self.what = str(folder), free, needed, what
        need = f", about {_mb(needed)} MB needed for {what}" if needed else f" while writing {what}"
        super().__init__(f"{self.folder}: disk full ({_mb(free)} MB free{need}); "
                         "free space or set --home/SHUYING_HOME to a larger disk")


class DatabaseError(ShuyingError):
    """A SQLite file (catalogue, an index, tokens, accounts) is damaged, locked, read-only or on a full disk.

    pipeline/sqlite_db.py words it: the file, what is wrong, and the store's remedy
    (``shuying catalogue rebuild`` …). A damaged file needs a person (FAILED); a database
    another process kept locked is worth running again (COULD_NOT_RUN), so that one is
    set on the instance.
    """

    exit_code = ExitCode.FAILED

    def __init__(self, path: str | Path, problem: str, remedy: str, *, busy: bool = False) -> None:
        self.path, self.problem, self.remedy = str(path), problem, remedy
        if busy:
            self.exit_code = ExitCode.COULD_NOT_RUN
        # Not super(): a store may mix in its own error class (TokenError) whose __init__ differs.
        ShuyingError.__init__(self, f"{self.path}: {problem}; {remedy}")

def _mb(size: int) -> str:
    return f"{size / 1e6:.1f}"
