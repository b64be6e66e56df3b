"""storage.toml: the packaged example, and every mistake answered with a message that names the fix."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pipeline.errors import StorageError
from pipeline.validation import json_errors
from storage_config.locations import BackendKind, Role, load_storage_config
from storage_config.settings import PACKAGED_STORAGE_CONFIG

FS = '[[location]]\nname = "{name}"\nbackend = "filesystem"\nrole = "{role}"\npath = "{path}"\n'


def load(tmp_path: Path, text: str):
    config = tmp_path / "storage.toml"
    config.write_text(text, encoding="utf-8")
    return load_storage_config(config, home=tmp_path / "home")


def test_packaged_config_is_valid_and_expands_home(tmp_path):
    config = load_storage_config(PACKAGED_STORAGE_CONFIG, home=tmp_path)

    assert [(loc.name, loc.backend, loc.role, loc.path) for loc in config.locations] == [
        ("primary", BackendKind.FILESYSTEM, Role.PRIMARY, tmp_path / "storage/primary")]
    assert config.catalogue_url == f"{tmp_path}/catalogue.sqlite"
    assert config.policy.min_copies == 1


def test_commented_s3_example_in_packaged_config_is_valid(tmp_path):
    text = PACKAGED_STORAGE_CONFIG.read_text(encoding="utf-8")
    block = text[text.index("# [[location]]"):]
    config = load(tmp_path, text + "\n" + "\n".join(line[2:] for line in block.splitlines() if line.startswith("# ")))

    s3 = config.location("offsite")
    assert (s3.backend, s3.offsite, s3.s3.bucket, s3.s3.profile) == (BackendKind.S3, True, "shuying-aips", "shuying")
    assert s3.describe() == "s3://shuying-aips/library/ at https://s3.example.org"


@pytest.mark.parametrize("text, message", [
    (FS.format(name="a", role="primary", path="/x").replace("filesystem", "ftp"),
     r"location\[0\] \(a\): unknown backend 'ftp'; known: filesystem, s3"),
    (FS.format(name="a", role="primary", path="/x") + FS.format(name="a", role="replica", path="/y"),
     r"duplicate location name\(s\): a \(names must be unique\)"),
    ('[[location]]\nname = "a"\nbackend = "filesystem"\nrole = "primary"\n',
     r"location\[0\] \(a\): a filesystem location needs path = "),
    (FS.format(name="a", role="primary", path="/x") + '[[location]]\nname = "b"\nbackend = "s3"\nrole = "replica"\n',
     r"location\[1\] \(b\): a s3 location needs bucket = "),
    (FS.format(name="a", role="primary", path="/x") + '[[location]]\nname = "b"\nbackend = "s3"\nrole = "replica"\n'
     'bucket = "bkt"\naws_secret_access_key = "hunter2"\n',
     r"aws_secret_access_key must not be in storage.toml; put credentials in the environment"),
    (FS.format(name="a", role="replica", path="/x"), 'no location has role = "primary"'),
    (FS.format(name="a", role="primary", path="/x").replace('role = "primary"', 'role = "main"'),
     r"location\[0\]\.role: 'main' is not one of \['primary', 'replica'\]"),
    (FS.format(name="a", role="primary", path="/x") + 'colour = "blue"\n',
     r"location\[0\]: Additional properties are not allowed \('colour' was unexpected\)"),
    ("[policy]\nmin_copies = 2\n\n" + FS.format(name="a", role="primary", path="/x"),
     r"policy.min_copies = 2 but only 1 location\(s\) are defined"),
    ("[policy]\noffsite_copies = 1\n\n" + FS.format(name="a", role="primary", path="/x"),
     r"policy.offsite_copies = 1 but only 0 location\(s\) have offsite = true"),
    ("", r"no \[\[location\]\] defined"),
    ("[[location]\n", "cannot read storage locations"),
])
def test_bad_configs_name_the_problem(tmp_path, text, message):
    with pytest.raises(StorageError, match=message) as info:
        load(tmp_path, text)
    assert str(info.value).startswith(str(tmp_path / "storage.toml"))


def test_unknown_location_name_lists_the_known_ones(tmp_path):
    config = load(tmp_path, FS.format(name="a", role="primary", path="/x"))
    with pytest.raises(StorageError, match="no location named 'b'; known: a"):
        config.location("b")


def test_schema_accepts_what_the_loader_accepts(tmp_path):
    import tomllib

    assert json_errors(tomllib.loads(PACKAGED_STORAGE_CONFIG.read_text(encoding="utf-8")), "storage") == []


def test_missing_location_folder_is_not_created_unless_allowed(tmp_path):
    config = load(tmp_path, FS.format(name="nas", role="primary", path=tmp_path / "mnt/nas") + "create = false\n")
    backend = config.location("nas").open_backend()

    with pytest.raises(StorageError, match=r"nas: .*/mnt/nas does not exist \(mount or create it, or set "
                                           r"create = true for this location in storage.toml\)"):
        backend.check_writable()
    assert not (tmp_path / "mnt").exists()


def test_read_only_location_is_refused_with_the_reason(tmp_path, readonly_mount):
    config = load(tmp_path, FS.format(name="ro", role="primary", path=readonly_mount))

    with pytest.raises(StorageError, match=r"ro: .* is not writable: Read-only file system"):
        config.location("ro").open_backend().check_writable()


@pytest.fixture
def readonly_mount(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", str(folder)], capture_output=True,
                          check=False)
    if done.returncode:
        pytest.skip(f"cannot mount a read-only tmpfs here (needs root): {done.stderr.decode().strip()}")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)
