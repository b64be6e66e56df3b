"""Settings, declared once with defaults and help, loaded once by the CLI.

Order of precedence: built-in defaults < ``shuying.toml`` (``--config`` or
``$SHUYING_HOME/shuying.toml``) < ``SHUYING_*`` environment variables < command-line
flags. Nothing else in Shuying reads the environment.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pipeline.errors import ShuyingError
from pipeline.identifiers import check_template

PACKAGED_STORAGE_CONFIG = Path(__file__).resolve().parent / "storage.toml"


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
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

    @property
    def work_dir(self) -> Path:
        return self.home / "work"

    @property
    def publish_dir(self) -> Path:
        return self.home / "publish"

    def with_overrides(self, **values: Any) -> Settings:
        return _coerce(replace(self, **{k: v for k, v in values.items() if v is not None}))


def load_settings(config_file: Path | None = None, environ: Mapping[str, str] | None = None,
                  **overrides: Any) -> Settings:
    """Build Settings from defaults, a TOML file, ``SHUYING_*`` variables and overrides."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {s.name: s.default for s in SETTINGS}
    values.update({k: v for k, v in _env_values(environ).items() if k == "home"})
    # A --home flag names the folder whose shuying.toml is read, as SHUYING_HOME does.
    if overrides.get("home") is not None:
        values["home"] = overrides["home"]
    path = config_file or Path(values["home"]) / "shuying.toml"
    if config_file or path.is_file():
        values.update(_file_values(path))
    values.update(_env_values(environ))
    values.update({k: v for k, v in overrides.items() if v is not None})
    return _coerce(Settings(**values))


def _env_values(environ: Mapping[str, str]) -> dict[str, str]:
    known = {s.name for s in SETTINGS}
    return {key[8:].lower(): value for key, value in environ.items()
            if key.startswith("SHUYING_") and key[8:].lower() in known}


def _file_values(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ShuyingError(f"{path}: cannot read settings: {exc}") from None
    known = {s.name for s in SETTINGS}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ShuyingError(f"{path}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return data


def _coerce(settings: Settings) -> Settings:
    home = Path(settings.home).expanduser().absolute()
    storage = Path(settings.storage_config) if str(settings.storage_config) else PACKAGED_STORAGE_CONFIG
    return Settings(
        home=home,
        storage_config=storage.expanduser().absolute(),
        base_url=str(settings.base_url).rstrip("/"),
        organization=str(settings.organization),
        persistent_id=_template(str(settings.persistent_id)),
        ocr_timeout=int(settings.ocr_timeout),
        max_megapixels=int(settings.max_megapixels),
    )


def _template(value: str) -> str:
    try:
        return check_template(value)
    except ValueError as exc:
        raise ShuyingError(f"setting persistent_id: {exc}") from None


def describe_settings() -> list[tuple[str, Any, str]]:
    """Return (name, default, help) for every setting, for `--help` and docs."""
    return [(s.name, s.default, s.help) for s in SETTINGS]
