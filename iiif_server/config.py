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
    # 16383 is WebP's largest side; 100 MP keeps one full-size render well under 1 GB of memory.
    max_width: int = 16383
    max_height: int = 16383
    max_area: int = 100_000_000
    jpeg_quality: int = 85
    max_age: int = 3600  # Cache-Control max-age (s): republished pages show up within an hour
    vips_concurrency: int = 1
    viewer_language: str = "zh-TW"  # Mirador's code for 中文(繁體)
    mirador_js: Path = VIEWER_DIR / "node_modules" / "mirador" / "dist" / "mirador.min.js"

    @property
    def limits(self) -> Limits:
        return Limits(self.max_width, self.max_height, self.max_area)

    def cache_root(self, home: Path) -> Path:
        """Return the derivative cache folder for a Shuying home."""
        return Path(self.cache_dir) if self.cache_dir else Path(home) / "cache" / "iiif"


OPTION_HELP = {
    "cache_dir": "Folder of the rendered-image cache (default <home>/cache/iiif).",
    "cache_max_bytes": "Size the rendered-image cache is kept under; 0 turns caching off.",
    "max_width": "Widest output served (maxWidth in info.json).",
    "max_height": "Tallest output served (maxHeight in info.json).",
    "max_area": "Largest output area in pixels (maxArea in info.json).",
    "jpeg_quality": "JPEG quality of rendered images.",
    "max_age": "Seconds browsers and proxies may reuse a response (Cache-Control).",
    "vips_concurrency": "libvips threads per render (one is fastest for tiles).",
    "viewer_language": "Mirador's interface language when the browser asks for none we have.",
    "mirador_js": "The Mirador 4 UMD bundle installed by `npm ci --prefix iiif_server/viewer`.",
}
