"""Server options beyond :class:`~storage_config.settings.Settings`, declared once with defaults and help."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from iiif_server.geometry import Limits

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
    "cache_max_bytes": "Size the rendered-image cache is kept under; 0 turns caching off.",
    "memory_cache_bytes": "Rendered images each server process keeps in memory; 0 turns it off.",
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
    "mirador_js": "The Mirador 4 UMD bundle installed by `npm ci --prefix iiif_server/viewer`.",
    "restricted_max_size": "Longest edge in pixels anonymous users see of a restricted item's pages.",
    "auth_db": "Staff token database (default <home>/auth.sqlite).",
    "session_lifetime": "Seconds a staff login (cookie) lasts, at most as long as the token used.",
    "viewer_token_lifetime": "Seconds an access token handed to a viewer lasts.",
    "token_origins": "Web origins besides base_url's that may receive viewer access tokens.",
    "search_db": "Full-text index searched by the Content Search services (default <home>/search.sqlite).",
    "max_search_hits": "Most hits one search returns.",
}
