"""Server options beyond :class:`~storage_config.settings.Settings`, declared once with defaults and help.

They are set in the ``[server]`` table of the settings file and by ``SHUYING_SERVER_<NAME>``
variables (read by storage_config/settings.py, which hands them over raw); this module
checks them against the fields' types, and ``serve``'s flags win over both.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, get_type_hints

from iiif_server.geometry import Limits
from storage_config.settings import (
    COMMAND_LINE,
    DEFAULT,
    SETTINGS,
    RawValue,
    SettingRow,
    Settings,
    SettingsError,
    env_name,
    table_values,
)

SERVER_TABLE = "server"

VIEWER_DIR = Path(__file__).resolve().parent / "viewer"


@dataclass(frozen=True)
class ServerOptions:
    """How the IIIF server renders, limits, caches and presents; every field has a safe default."""

    cache_dir: Path | None = None  # default: <home>/cache/iiif
    cache_max_bytes: int = 2 * 1024**3
    memory_cache_bytes: int = 64 * 1024**2  # per server process
    lookup_ttl: float = 1.0  # seconds a resolved file or access level is reused
    # 16383 is WebP's largest side; 100 MP keeps one full-size render well under 1 GB of memory.
    max_width: int = 16383
    max_height: int = 16383
    max_area: int = 100_000_000
    max_upscale: float = 1.0  # outputs at most this many times the image's size (each side)
    heavy_area: int = 4_000_000  # outputs larger than this (pixels) are heavy renders
    heavy_renders: int = 1  # heavy renders at once per server process
    heavy_queue: int = 2  # heavy requests waiting per process; more get 503 with Retry-After
    jpeg_quality: int = 85
    max_age: int = 3600  # Cache-Control max-age (s): republished pages show up within an hour
    vips_concurrency: int = 1
    render_threads: int = 4  # renders at once per server process; more only contend for the cores
    viewer_language: str = "zh-TW"  # Mirador's code for 中文(繁體)
    mirador_js: Path = VIEWER_DIR / "node_modules" / "mirador" / "dist" / "mirador.min.js"
    restricted_max_size: int = 1000
    auth_db: Path | None = None  # default: <home>/auth.sqlite
    session_lifetime: int = 12 * 3600
    viewer_token_lifetime: int = 3600
    token_origins: tuple[str, ...] = ()  # besides base_url's own origin
    search_db: Path | None = None  # default: <home>/search.sqlite, where ingest indexes OCR text
    max_search_hits: int = 1000
    workers: int = 1  # server processes; `serve --workers` wins

    @property
    def limits(self) -> Limits:
        return Limits(self.max_width, self.max_height, self.max_area)

    def cache_root(self, home: Path) -> Path:
        """Return the derivative cache folder for a Shuying home."""
        return Path(self.cache_dir) if self.cache_dir else Path(home) / "cache" / "iiif"

    def search_path(self, home: Path) -> Path:
        """Return the full-text index of a Shuying home."""
        return Path(self.search_db) if self.search_db else Path(home) / "search.sqlite"

    def auth_path(self, home: Path) -> Path:
        """Return the token database of a Shuying home."""
        return Path(self.auth_db) if self.auth_db else Path(home) / "auth.sqlite"


OPTION_HELP = {
    "cache_dir": "Folder of the rendered-image cache (default <home>/cache/iiif).",
    "cache_max_bytes": "Bytes the rendered-image cache is kept under (2 GiB); 0 turns caching off.",
    "memory_cache_bytes": "Bytes of rendered images each server process keeps in memory (64 MiB); 0 turns it off.",
    "lookup_ttl": "Seconds a resolved published file or access level is reused before looking again.",
    "max_width": "Widest output served (maxWidth in info.json, never above the image times max_upscale).",
    "max_height": "Tallest output served (maxHeight in info.json, never above the image times max_upscale).",
    "max_area": "Largest output area in pixels (maxArea in info.json), after rotation.",
    "max_upscale": "How many times an image's own size (each side) an output may be; 1 = no upscaling beyond it.",
    "heavy_area": "Output area (pixels) above which a render counts as heavy and waits for a heavy slot.",
    "heavy_renders": "Heavy renders each server process runs at once (each holds its whole output in memory).",
    "heavy_queue": "Heavy requests each process lets wait; more are refused with 503 and Retry-After.",
    "jpeg_quality": "JPEG quality of rendered images.",
    "max_age": "Seconds browsers and proxies may reuse a response (Cache-Control).",
    "vips_concurrency": "libvips threads per render (one is fastest for tiles).",
    "render_threads": "Images each server process renders at once.",
    "viewer_language": "Mirador's interface language when the browser asks for none we have.",
    "mirador_js": "The Mirador 4 UMD bundle installed by `npm ci --prefix iiif_server/viewer` (a wheel "
                  "built after it carries the bundle).",
    "restricted_max_size": "Longest edge in pixels anonymous users see of a restricted item's pages.",
    "auth_db": "Staff token database (default <home>/auth.sqlite).",
    "session_lifetime": "Seconds a staff login (cookie) lasts, at most as long as the token used.",
    "viewer_token_lifetime": "Seconds an access token handed to a viewer lasts.",
    "token_origins": "Web origins besides base_url's that may receive viewer access tokens.",
    "search_db": "Full-text index searched by the Content Search services (default <home>/search.sqlite).",
    "max_search_hits": "Most hits one search returns.",
    "workers": "Server processes sharing the port, one per core (`serve --workers` wins).",
}

# What each field's type accepts, as error messages and docs/iiif-server.md say it.
EXPECTED: dict[Any, str] = {
    int: "a whole number",
    float: "a number",
    str: "text",
    Path: "a path",
    Path | None: 'a path ("" for the default)',
    tuple[str, ...]: "a list of text (in a variable: comma-separated)",
}
AT_LEAST_ONE = ("max_width", "max_height", "max_area", "max_upscale", "heavy_renders", "jpeg_quality",
                "vips_concurrency", "render_threads", "restricted_max_size", "session_lifetime",
                "viewer_token_lifetime", "max_search_hits", "workers")  # other numbers: at least 0
AT_MOST = {"jpeg_quality": 100, "workers": 64}
# Defaults that depend on the home folder or the checkout, as docs show them.
DEFAULT_SHOWN = {"cache_dir": "<home>/cache/iiif", "auth_db": "<home>/auth.sqlite",
                 "search_db": "<home>/search.sqlite", "token_origins": "none",
                 "mirador_js": "iiif_server/viewer/node_modules/mirador/dist/mirador.min.js"}


def load_server_options(settings: Settings, **overrides: Any) -> ServerOptions:
    """Return the options in effect: defaults < ``[server]`` < ``SHUYING_SERVER_*`` < ``overrides``.

    ``overrides`` are command-line flags (``serve --workers``); None means the flag was not given.
    """
    return ServerOptions(**{name: value for name, (value, _source) in _chosen(settings, overrides).items()})


def effective_server_options(settings: Settings, **overrides: Any) -> list[SettingRow]:
    """Return every option's value in effect and its source, for `shuying config show`."""
    chosen = _chosen(settings, overrides)
    options = ServerOptions(**{name: value for name, (value, _source) in chosen.items()})
    derived = {"cache_dir": options.cache_root, "auth_db": options.auth_path, "search_db": options.search_path}
    return [SettingRow(f.name, derived[f.name](settings.home) if f.name in derived else getattr(options, f.name),
                       chosen.get(f.name, (None, DEFAULT))[1], OPTION_HELP[f.name]) for f in fields(ServerOptions)]


def options_table() -> str:
    """Return the Markdown table of every option that docs/iiif-server.md shows (a test keeps them equal)."""
    hints = get_type_hints(ServerOptions)
    rows = [f"| `{f.name}` | `{DEFAULT_SHOWN.get(f.name, f.default)}` | `{env_name(f.name, SERVER_TABLE)}` "
            f"| {EXPECTED[hints[f.name]]} | {OPTION_HELP[f.name]} |" for f in fields(ServerOptions)]
    return "\n".join(["| option | default | variable | type | what |", "|---|---|---|---|---|", *rows])


def _chosen(settings: Settings, overrides: dict[str, Any]) -> dict[str, tuple[Any, str]]:
    """Return name → (value, source) of every option set somewhere, later sources winning."""
    given = [RawValue(SERVER_TABLE, key, value, COMMAND_LINE) for key, value in overrides.items() if value is not None]
    raw = [*table_values(settings, SERVER_TABLE), *given]
    _refuse_unknown(raw)
    hints = get_type_hints(ServerOptions)
    return {r.key: (_checked(r, hints[r.key]), r.source) for r in raw}


def _refuse_unknown(raw: Iterable[RawValue]) -> None:
    known = [f.name for f in fields(ServerOptions)]
    by_source: dict[str, list[str]] = {}
    for r in raw:
        if r.key not in known:
            by_source.setdefault(r.source, []).append(r.key)
    for source, unknown in by_source.items():
        top_level = [key for key in unknown if key in {s.name for s in SETTINGS}]
        hint = f" ({', '.join(top_level)}: a top-level setting, to put above the [server] line)" if top_level else ""
        raise SettingsError(f"{source}: unknown server option(s) {', '.join(unknown)}{hint}; "
                            f"known: {', '.join(known)}")


def _checked(raw: RawValue, hint: Any) -> Any:
    """Return ``raw.value`` as the field's type, within its bounds; else say where it came from and what it takes."""
    try:
        value = PARSERS[hint](raw.value)
    except (TypeError, ValueError):
        raise SettingsError(f"{raw.source}: server option {raw.key} must be {EXPECTED[hint]}, "
                            f"got {raw.value!r}") from None
    if isinstance(value, int | float):
        least, most = (1 if raw.key in AT_LEAST_ONE else 0), AT_MOST.get(raw.key)
        if value < least or (most is not None and value > most):
            bounds = f"from {least} to {most}" if most is not None else f"at least {least}"
            raise SettingsError(f"{raw.source}: server option {raw.key} must be {bounds}, got {raw.value!r}")
    return value


def _whole(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(value)
    return int(value.strip()) if isinstance(value, str) else value


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(value)
    number = float(value.strip() if isinstance(value, str) else value)
    if not math.isfinite(number):
        raise ValueError(value)
    return number


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(value)
    return value


def _path(value: Any) -> Path:
    if not isinstance(value, str | os.PathLike) or not str(value).strip():
        raise TypeError(value)
    return Path(value).expanduser().absolute()


def _optional_path(value: Any) -> Path | None:
    return None if value == "" else _path(value)


def _texts(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value):
        raise TypeError(value)
    return tuple(item.strip() for item in value if item.strip())


PARSERS: dict[Any, Callable[[Any], Any]] = {
    int: _whole, float: _number, str: _text, Path: _path, Path | None: _optional_path, tuple[str, ...]: _texts,
}
