"""A damaged, locked, read-only or full SQLite file is one DatabaseError naming the file and the remedy.

Every store is filled through its own API, then its file is damaged on disk the ways it
happens: overwritten with other bytes, cut short by a full disk or a bad copy, or pages
gone bad under an intact header (the file opens, the first query fails).
"""

from __future__ import annotations

import gc
import os
import random
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from iiif_server.staff.accounts import AccountStore, Role
from iiif_server.tokens import TokenError, TokenStore
from pipeline import search
from pipeline.errors import DatabaseError, ExitCode
from pipeline.sqlite_db import Database, connect, session
from storage_config.catalogue import Catalogue, EventRecord
from storage_config.settings import load_settings
from tests.storage.helpers import ingest_bag, sample_files
from workflows.conservation_store import RecordStore

SHUYING = Path(sys.executable).parent / "shuying"
PAGE = 4096  # SQLite's default page size


def fill_catalogue(path: Path) -> Callable[[], object]:
    catalogue = Catalogue(str(path))
    catalogue.create()
    for i in range(60):
        catalogue.apply_event(EventRecord(f"e{i:04d}", "fixity check", f"2025-01-01T00:00:{i:02d}Z", f"book-{i}", 1,
                                          "primary", "success", detail="x" * 1000))
    return lambda: Catalogue(str(path)).events()


def fill_conservation(path: Path) -> Callable[[], object]:
    with RecordStore(path).connect(write=True) as conn:
        conn.executemany("INSERT INTO revisions VALUES (?, 1, 'book-a', '2025-01-01', 'zhang', 2, ?)",
                         [(f"CR-2025-{i:04d}", "{}" + " " * 300) for i in range(300)])
    return lambda: RecordStore(path).next_id(2025)


def fill_search(path: Path) -> Callable[[], object]:
    text = "學而時習之不亦說乎" * 40
    boxes = tuple(((i, 0, i + 1, 1), 0) for i in range(len(text)))
    search.index_item(path, "lunyu", [search.PageText(f"p{i:04d}", text, boxes) for i in range(20)])
    return lambda: search.search(path, "學而")


def fill_tokens(path: Path) -> Callable[[], object]:
    store = TokenStore(path)
    for i in range(200):
        store.create("wang.li", 3600, note=f"reading room PC {i} " + "x" * 200)
    return lambda: TokenStore(path).tokens()


def fill_accounts(path: Path) -> Callable[[], object]:
    store = AccountStore(path, log2_n=4)  # cheap hashes: the file, not the hashing, is under test
    for i in range(100):
        store.add_user(f"user{i}", Role.TECHNICIAN, "a long enough password", display_name="修" * 200)
    return lambda: AccountStore(path, log2_n=4).accounts()


@dataclass(frozen=True)
class Store:
    name: str
    file: str
    fill: Callable[[Path], Callable[[], object]]
    remedy: str
    also: type[Exception] = DatabaseError  # the store's own error class callers already catch


STORES = [
    Store("catalogue", "catalogue.sqlite", fill_catalogue, "run `shuying catalogue rebuild`"),
    Store("conservation", "conservation.sqlite", fill_conservation, "run `shuying repair reindex`"),
    Store("search", "search.sqlite", fill_search, "delete it: search then works again", search.SearchError),
    Store("tokens", "auth.sqlite", fill_tokens, "make new tokens with `shuying token create`", TokenError),
    Store("accounts", "staff.sqlite", fill_accounts, "make the accounts again with `shuying user add`"),
]


def random_bytes(path: Path) -> None:
    path.write_bytes(random.Random(7).randbytes(path.stat().st_size))


def truncated(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def bad_pages(path: Path) -> None:
    """Keep the header and schema page, overwrite the table pages: it opens, then the query fails."""
    data = bytearray(path.read_bytes())
    data[2 * PAGE:] = random.Random(7).randbytes(len(data) - 2 * PAGE)
    path.write_bytes(bytes(data))


@pytest.fixture(params=STORES, ids=lambda s: s.name)
def store(request) -> Store:
    return request.param


@pytest.mark.parametrize("damage", [random_bytes, truncated, bad_pages])
def test_a_damaged_file_is_one_database_error_naming_it_and_the_remedy(tmp_path, store, damage):
    path = tmp_path / store.file
    read = store.fill(path)
    assert read()  # the filled store reads back before it is damaged
    gc.collect()  # a TokenStore keeps its thread's connection until collected; the last close folds in the WAL
    assert not Path(f"{path}-wal").exists() and path.stat().st_size > 6 * PAGE
    damage(path)

    with pytest.raises(DatabaseError) as caught:
        read()

    message = str(caught.value)
    assert message.startswith(f"{path}: ") and store.remedy in message and "\n" not in message
    assert "damaged" in message or "not an SQLite database" in message
    assert isinstance(caught.value, store.also)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__  # no sqlite3 chain shown
    assert caught.value.exit_code is ExitCode.FAILED


def test_a_zero_byte_catalogue_says_it_lacks_its_tables(tmp_path):
    path = tmp_path / "catalogue.sqlite"
    path.touch()

    with pytest.raises(DatabaseError, match=r"the catalogue lacks its tables: the file is empty .*"
                                            r"run `shuying catalogue rebuild`"):
        Catalogue(str(path)).versions()


def test_zero_byte_files_of_the_other_stores_are_empty_stores(tmp_path):
    """They make their tables on every open, so an empty file is an empty store, not an error."""
    for name in ("conservation.sqlite", "search.sqlite", "auth.sqlite", "staff.sqlite"):
        (tmp_path / name).touch()
    assert RecordStore(tmp_path / "conservation.sqlite").next_id(2025) == "CR-2025-0001"
    assert search.search(tmp_path / "search.sqlite", "學而") == []
    assert TokenStore(tmp_path / "auth.sqlite").tokens() == []
    assert AccountStore(tmp_path / "staff.sqlite").accounts() == []


def test_a_directory_in_place_of_the_file_cannot_be_opened(tmp_path, store):
    path = tmp_path / store.file
    path.mkdir()

    with pytest.raises(DatabaseError, match=rf"^{path}: cannot open .*check that its folder exists"):
        store.fill(path)


def test_a_locked_database_says_try_again_and_could_not_run(tmp_path):
    db = Database(tmp_path / "x.sqlite", "the test store", "rebuild it", timeout=0.1, isolation_level=None,
                  schema="CREATE TABLE IF NOT EXISTS t (x TEXT);")
    holder = connect(db)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(DatabaseError) as caught, session(db, begin="IMMEDIATE"):
            pass
    finally:
        holder.close()

    assert str(caught.value) == (f"{db.path}: the test store is locked: another process kept it busy for more "
                                 "than 0.1 s (database is locked); try again when that process is done")
    assert caught.value.exit_code is ExitCode.COULD_NOT_RUN


def test_a_constraint_violation_is_the_callers_logic_not_a_damaged_file(tmp_path):
    db = Database(tmp_path / "x.sqlite", "the test store", "rebuild it",
                  schema="CREATE TABLE IF NOT EXISTS t (x TEXT PRIMARY KEY);")
    with pytest.raises(sqlite3.IntegrityError), session(db) as conn:
        conn.executemany("INSERT INTO t VALUES (?)", [("a",), ("a",)])
    with session(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM t").fetchone() == (0,)  # rolled back


@pytest.fixture
def small_mount(tmp_path) -> Iterator[Path]:
    folder = tmp_path / "small"
    folder.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)], capture_output=True,
                          check=False)
    if done.returncode:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {done.stderr.decode().strip()}")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


def test_a_full_disk_and_a_read_only_file_system_are_named(small_mount):
    db = Database(small_mount / "x.sqlite", "the test store", "rebuild it", isolation_level=None,
                  pragmas=("journal_mode = WAL",), schema="CREATE TABLE IF NOT EXISTS t (x TEXT);")
    with pytest.raises(DatabaseError, match=r"the test store cannot grow: its disk is full \(database or disk is "
                                            r"full\); free space on that disk and try again$"), \
            session(db, begin="IMMEDIATE") as conn:
        conn.executemany("INSERT INTO t VALUES (?)", [("x" * 4000,)] * 100)

    subprocess.run(["mount", "-o", "remount,ro", str(small_mount)], check=True)
    with pytest.raises(DatabaseError, match=r"the test store cannot be written \(attempt to write a readonly "
                                            r"database\); make the file, its folder and its file system writable"), \
            session(db, begin="IMMEDIATE") as conn:
        conn.execute("INSERT INTO t VALUES ('x')")


# The command line: one `Error:` line, no traceback.

def shuying(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHUYING_")}
    return subprocess.run([str(SHUYING), "--home", str(home), *args], capture_output=True, text=True,
                          env=env, timeout=120, check=False)


def assert_one_error_line(done: subprocess.CompletedProcess, *expected: str) -> None:
    assert done.returncode == ExitCode.FAILED, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "Traceback" not in done.stderr, done.stderr
    assert all(text in errors[0] for text in expected), errors[0]


def test_status_on_a_damaged_catalogue_says_rebuild_and_the_rebuild_brings_it_back(tmp_path):
    home = tmp_path / "home"
    ingest_bag(load_settings(environ={}, home=str(home)), "book-a", sample_files(1))
    random_bytes(home / "catalogue.sqlite")

    assert_one_error_line(shuying(home, "status"), f"{home / 'catalogue.sqlite'}: the catalogue is not an SQLite "
                                                   "database", "run `shuying catalogue rebuild`")

    rebuilt = shuying(home, "catalogue", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    status = shuying(home, "status")
    assert status.returncode == 0 and "book-a" in status.stdout, status.stderr


def test_token_list_and_search_on_damaged_files_are_one_error_line(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    for name in ("auth.sqlite", "search.sqlite"):
        (home / name).write_bytes(random.Random(7).randbytes(3 * PAGE))

    assert_one_error_line(shuying(home, "token", "list"), str(home / "auth.sqlite"),
                          "`shuying token create`")
    assert_one_error_line(shuying(home, "search", "學而"), str(home / "search.sqlite"), "delete it")
