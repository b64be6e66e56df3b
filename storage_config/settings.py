"""Settings, declared once with defaults and help, loaded once by the CLI.

Order of precedence: built-in defaults < ``shuying.toml`` (``--config`` or
``$SHUYING_HOME/shuying.toml``) < ``SHUYING_*`` environment variables < command-line
flags. Nothing else in Shuying reads the environment: the tables of the settings file
that belong to another package (``[server]``, read by ``iiif_server/config.py``) are
read here too, with their ``SHUYING_<TABLE>_<KEY>`` variables, and handed over raw with
where each value came from (:func:`table_values`). Each value's source is kept, for
error messages and `shuying config show`.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pipeline.errors import ExitCode, ShuyingError
from pipeline.identifiers import check_template

PACKAGED_STORAGE_CONFIG = Path(__file__).resolve().parent / "storage.toml"
DEFAULT = "default"
COMMAND_LINE = "command line"
ENV_PREFIX = "SHUYING_"
# Tables of shuying.toml owned by other packages; no Setting may be named "<table>_…"
# (SHUYING_SERVER_WORKERS must be read as [server] workers, never as a setting).
TABLES = ("server",)


class SettingsError(ShuyingError):
    """A settings file or a ``SHUYING_*`` variable holds a value that cannot be used; nothing has run."""

    exit_code = ExitCode.USAGE


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str


@dataclass(frozen=True)
class RawValue:
    """One value of a table as read, before the package owning the table checks it."""

    table: str
    key: str
    value: Any
    source: str  # the settings file's path or the environment variable's name


@dataclass(frozen=True)
class SettingRow:
    """One line of `shuying config show`: a setting, its effective value and where that came from."""

    name: str
    value: Any
    source: str  # "default", the settings file's path, the variable's name or "command line"
    help: str


SETTINGS = (
    Setting("home", "shuying-data", "Folder for work files, storage and publish areas (embedded defaults)."),
    Setting("storage_config", "", "Storage locations file; default: the packaged storage_config/storage.toml."),
    Setting("base_url", "http://127.0.0.1:8182", "Public base URL of the IIIF server, used in manifests."),
    Setting("organization", "", "Holding institution for METS and bag-info when a batch names none."),
    Setting("persistent_id", "urn:uuid:{uuid}",
            "Template of an item's persistent identifier, with {item_id} and {uuid}: e.g. ark:/12345/{item_id} "
            "or https://hdl.handle.net/20.500.12345/{item_id}; a batch's item.persistent_id wins."),
    Setting("ocr_timeout", 300, "Seconds before Tesseract is stopped on one page."),
    Setting("max_megapixels", 300, "Largest image accepted as a master (decompression-bomb guard)."),
)


@dataclass(frozen=True)
class Settings:
    home: Path
    storage_config: Path
    base_url: str
    organization: str
    persistent_id: str
    ocr_timeout: int
    max_megapixels: int
    # Where things came from, not what they are: left out of equality and repr.
    config_file: Path | None = field(default=None, compare=False, repr=False)  # the settings file read, if any
    sources: tuple[tuple[str, str], ...] = field(default=(), compare=False, repr=False)
    tables: tuple[RawValue, ...] = field(default=(), compare=False, repr=False)

    @property
    def work_dir(self) -> Path:
        return self.home / "work"

    @property
    def publish_dir(self) -> Path:
        return self.home / "publish"

    def source(self, name: str) -> str:
        """Return where setting ``name`` came from: "default", a file, a variable or "command line"."""
        return dict(self.sources).get(name, DEFAULT)

    def with_overrides(self, **values: Any) -> Settings:
        given = {k: v for k, v in values.items() if v is not None}
        sources = {**dict(self.sources), **dict.fromkeys(given, COMMAND_LINE)}
        return _coerce(replace(self, **given, sources=tuple(sources.items())))


def load_settings(config_file: Path | None = None, environ: Mapping[str, str] | None = None,
                  **overrides: Any) -> Settings:
    """Build Settings from defaults, a TOML file, ``SHUYING_*`` variables and overrides."""
    environ = os.environ if environ is None else environ
    chosen: dict[str, tuple[Any, str]] = {s.name: (s.default, DEFAULT) for s in SETTINGS}
    env = _env_values(environ)
    given = {k: (v, COMMAND_LINE) for k, v in overrides.items() if v is not None}
    # A --home flag names the folder whose shuying.toml is read, as SHUYING_HOME does.
    home = given.get("home") or env.get("home") or chosen["home"]
    path = Path(config_file) if config_file else Path(home[0]) / "shuying.toml"
    read = config_file is not None or path.is_file()
    data = _read_file(path) if read else {}
    shown = str(path.absolute())
    chosen.update({k: (v, shown) for k, v in data.items() if k not in TABLES})
    chosen.update(env)
    chosen.update(given)
    values = {k: value for k, (value, _source) in chosen.items()}
    return _coerce(Settings(**values, config_file=path.absolute() if read else None,
                            sources=tuple((k, source) for k, (_value, source) in chosen.items()),
                            tables=_file_tables(path, shown, data) + _env_tables(environ)))


def env_name(key: str, table: str = "") -> str:
    """Return the environment variable that sets ``key`` (of ``table``): SHUYING_BASE_URL, SHUYING_SERVER_WORKERS."""
    return f"{ENV_PREFIX}{table.upper() + '_' if table else ''}{key.upper()}"


def table_values(settings: Settings, table: str) -> list[RawValue]:
    """Return the raw values of ``table``, file first, then environment: later ones win."""
    return [raw for raw in settings.tables if raw.table == table]


def _env_values(environ: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    known = {s.name for s in SETTINGS}
    return {key[len(ENV_PREFIX):].lower(): (value, key) for key, value in environ.items()
            if key.startswith(ENV_PREFIX) and key[len(ENV_PREFIX):].lower() in known}


def _env_tables(environ: Mapping[str, str]) -> tuple[RawValue, ...]:
    found = []
    for table in TABLES:
        prefix = env_name("", table)
        found += [RawValue(table, key[len(prefix):].lower(), value, key)
                  for key, value in sorted(environ.items()) if key.startswith(prefix) and len(key) > len(prefix)]
    return tuple(found)


def _file_tables(path: Path, shown: str, data: Mapping[str, Any]) -> tuple[RawValue, ...]:
    found = []
    for table in TABLES:
        values = data.get(table, {})
        if not isinstance(values, dict):
            raise SettingsError(f"{path}: {table} must be a table ([{table}] followed by key = value lines), "
                                f"got {values!r}")
        found += [RawValue(table, key, tuple(value) if isinstance(value, list) else value, shown)
                  for key, value in values.items()]
    return tuple(found)


def _read_file(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path}: cannot read settings: {exc}") from None
    known = [s.name for s in SETTINGS]
    unknown = sorted(set(data) - set(known) - set(TABLES))
    if unknown:
        raise SettingsError(f"{path}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))} "
                            f"and the table(s) {', '.join(f'[{t}]' for t in TABLES)}")
    return data


def _coerce(settings: Settings) -> Settings:
    def whole(name: str) -> int:
        return _whole_number(getattr(settings, name), name, settings.source(name))

    def text(name: str) -> str:
        return _text(getattr(settings, name), name, settings.source(name))

    given = settings.storage_config
    storage = _path(given, "storage_config", settings.source("storage_config")) if str(given) else PACKAGED_STORAGE_CONFIG
    return replace(
        settings,
        home=_path(settings.home, "home", settings.source("home")).expanduser().absolute(),
        storage_config=storage.expanduser().absolute(),
        base_url=text("base_url").rstrip("/"),
        organization=text("organization"),
        persistent_id=_template(text("persistent_id"), settings.source("persistent_id")),
        ocr_timeout=whole("ocr_timeout"),
        max_megapixels=whole("max_megapixels"),
    )


def _whole_number(value: Any, name: str, source: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise SettingsError(f"{source}: {name} must be a whole number, got {value!r}")


def _text(value: Any, name: str, source: str) -> str:
    if not isinstance(value, str):
        raise SettingsError(f"{source}: {name} must be text (a quoted TOML string), got {value!r}")
    return value


def _path(value: Any, name: str, source: str) -> Path:
    if not isinstance(value, str | os.PathLike):
        raise SettingsError(f"{source}: {name} must be a path (a quoted TOML string), got {value!r}")
    return Path(value)


def _template(value: str, source: str) -> str:
    try:
        return check_template(value)
    except ValueError as exc:
        raise SettingsError(f"{source}: setting persistent_id: {exc}") from None


def describe_settings() -> list[tuple[str, Any, str]]:
    """Return (name, default, help) for every setting, for `--help` and docs."""
    return [(s.name, s.default, s.help) for s in SETTINGS]


def effective_settings(settings: Settings) -> list[SettingRow]:
    """Return every setting's value in effect and its source, for `shuying config show`."""
    return [SettingRow(s.name, getattr(settings, s.name), settings.source(s.name), s.help) for s in SETTINGS]
