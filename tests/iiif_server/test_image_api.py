"""The Image API over HTTP (in-process): info.json, images, redirects, headers, 304s and error shape."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace

import pytest
import pyvips
from starlette.testclient import TestClient

from iiif_server.app import create_app
from iiif_server.config import ServerOptions
from iiif_server.geometry import Level, Limits, Pyramid
from iiif_server.image_request import Format
from iiif_server.info import PROFILE_URI, build_info
from iiif_server.render import writable_formats
from storage_config.settings import Settings
from tests.iiif_server.helpers import (
    cell_colour,
    close,
    decode_rgb,
    mean_colour,
    write_access,
)

BASE = "http://127.0.0.1:8182"
WEBP = pytest.mark.skipif(Format.WEBP not in writable_formats(), reason="this libvips cannot write WebP")
ERROR_BODY = re.compile(r"^(400|403|404|405|414|500|503) [A-Za-z -]+: .+\n$")


def test_info_json_describes_the_pyramid(client: TestClient, grid: str) -> None:
    response = client.get(f"/iiif/3/{grid}/info.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == 'application/ld+json;profile="http://iiif.io/api/image/3/context.json"'
    info = response.json()
    assert list(info)[:3] == ["@context", "id", "type"]
    assert info["@context"] == "http://iiif.io/api/image/3/context.json"
    assert info["id"] == f"{BASE}/iiif/3/{grid}"
    assert (info["type"], info["protocol"], info["profile"]) == ("ImageService3", "http://iiif.io/api/image", "level2")
    assert (info["width"], info["height"]) == (1000, 700)
    assert (info["maxWidth"], info["maxHeight"], info["maxArea"]) == (1000, 700, 700_000)  # the image itself: no upscaling
    assert info["sizes"] == [{"width": 250, "height": 175}, {"width": 500, "height": 350},
                             {"width": 1000, "height": 700}]
    assert info["tiles"] == [{"width": 256, "scaleFactors": [1, 2, 4]}]
    assert set(info["extraQualities"]) == {"color", "gray", "bitonal"}
    assert "webp" in info["extraFormats"] and "sizeUpscaling" in info["extraFeatures"]
    assert info["partOf"] == [{"id": f"{BASE}/iiif/grid-item/manifest.json", "type": "Manifest"}]


def test_info_json_as_plain_json_when_only_that_is_accepted(client: TestClient, grid: str) -> None:
    response = client.get(f"/iiif/3/{grid}/info.json", headers={"Accept": "application/json"})
    assert response.headers["content-type"] == "application/json"
    assert response.headers["vary"] == "Accept"
    both = client.get(f"/iiif/3/{grid}/info.json", headers={"Accept": "application/ld+json, application/json"})
    assert both.headers["content-type"].startswith("application/ld+json")


def test_base_uri_redirects_to_info_json_with_303(client: TestClient, grid: str) -> None:
    response = client.get(f"/iiif/3/{grid}", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"{BASE}/iiif/3/{grid}/info.json"


def test_image_response_headers(client: TestClient, grid: str) -> None:
    response = client.get(f"/iiif/3/{grid}/pct:10,0,20,20/100,/0/default.jpg")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["link"] == (f'<{BASE}/iiif/3/{grid}/100,0,200,140/100,70/0/default.jpg>;rel="canonical", '
                                        f'<{PROFILE_URI}>;rel="profile"')
    assert response.headers["cache-control"] == "public, max-age=3600"
    assert re.fullmatch(r'"[0-9a-f]{32}"', response.headers["etag"])
    assert response.headers["last-modified"].endswith(" GMT")
    image = decode_rgb(response.content)
    assert (image.width, image.height) == (100, 70)
    assert close(mean_colour(image, 10, 10, 30, 30), cell_colour(1, 0))


def test_percent_encoded_parameters_are_decoded(client: TestClient, grid: str) -> None:
    plain = client.get(f"/iiif/3/{grid}/full/!100,100/0/default.png")
    encoded = client.get(f"/iiif/3/{grid.replace('-', '%2D')}/full/%21100%2C100/0/default.png")
    assert encoded.status_code == 200
    assert encoded.content == plain.content


def test_equivalent_requests_share_etag_and_cache_entry(client: TestClient, grid: str, options) -> None:
    a = client.get(f"/iiif/3/{grid}/full/max/0/default.jpg")
    b = client.get(f"/iiif/3/{grid}/0,0,1000,700/1000,/0/default.jpg")
    assert a.headers["etag"] == b.headers["etag"]
    assert a.content == b.content
    entries = [p for p in options.cache_dir.rglob("*") if p.is_file()]
    assert len(entries) == 1


def test_conditional_requests_get_304(client: TestClient, grid: str) -> None:
    url = f"/iiif/3/{grid}/full/200,/0/default.jpg"
    first = client.get(url)
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    assert client.get(url, headers={"If-None-Match": f'W/{etag}, "other"'}).status_code == 304
    assert client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
    assert client.get(url, headers={"If-Modified-Since": modified}).status_code == 304
    assert client.get(url, headers={"If-Modified-Since": "Thu, 01 Jan 1970 00:00:00 GMT"}).status_code == 200
    assert client.get(url, headers={"If-Modified-Since": "yesterday"}).status_code == 200
    info = client.get(f"/iiif/3/{grid}/info.json")
    not_modified = client.get(f"/iiif/3/{grid}/info.json", headers={"If-None-Match": info.headers["etag"]})
    assert not_modified.status_code == 304 and not_modified.content == b""


def test_republishing_changes_the_etag(client: TestClient, grid: str, settings) -> None:
    url = f"/iiif/3/{grid}/full/100,/0/default.jpg"
    before = client.get(url).headers["etag"]
    from tests.iiif_server.helpers import publish_grid

    publish_grid(settings.publish_dir, "grid-item", "p0001", 1000, 700)  # rewritten: new inode and mtime
    assert client.get(url).headers["etag"] != before


@pytest.mark.parametrize("path, status, fragment", [
    ("/iiif/3/{id}/full/full/0/default.jpg", 400, "size: 'full' is not max"),
    ("/iiif/3/{id}/full/2000,/0/default.jpg", 400, "prefix the size with ^ to upscale"),
    ("/iiif/3/{id}/full/^5000,/0/default.jpg", 400, "exceeds this server's limits"),
    ("/iiif/3/{id}/2000,0,10,10/max/0/default.jpg", 400, "region starts outside"),
    ("/iiif/3/{id}/full/max/45x/default.jpg", 400, "rotation: '45x'"),
    ("/iiif/3/{id}/full/max/0/native.jpg", 400, "quality: 'native'"),
    ("/iiif/3/{id}/full/max/0/default.jp2", 400, "format: 'jp2' is not supported"),
    ("/iiif/3/{id}/full/max/0/default", 400, "has no .format suffix"),
    ("/iiif/3/grid-item~p0002/full/max/0/default.jpg", 404, "404 Not Found: not found\n"),
    ("/iiif/3/grid-item/full/max/0/default.jpg", 404, "identifier: no image 'grid-item'"),
    ("/iiif/3/nothing~p0001/info.json", 404, "404 Not Found: not found\n"),
    ("/iiif/3/{id}/full/max/0", 404, "not an Image API 3.0 path"),
    ("/iiif/3/{id}/info.json/extra", 404, "not an Image API 3.0 path"),
    ("/nowhere", 404, "404 Not Found: not found\n"),
])
def test_errors_have_one_shape_and_a_message(client: TestClient, grid: str, path: str, status: int,
                                             fragment: str) -> None:
    response = client.get(path.format(id=grid))
    assert response.status_code == status
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["access-control-allow-origin"] == "*"
    assert ERROR_BODY.match(response.text), response.text
    assert fragment in response.text


def test_unsupported_method_is_405_in_the_same_shape(client: TestClient, grid: str) -> None:
    response = client.post(f"/iiif/3/{grid}/info.json")
    assert response.status_code == 405
    assert ERROR_BODY.match(response.text)


def test_cors_preflight(client: TestClient, grid: str) -> None:
    response = client.options(f"/iiif/3/{grid}/info.json", headers={
        "Origin": "https://viewer.example", "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "Authorization"})
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["access-control-allow-headers"] == "Authorization"
    assert "GET" in response.headers["access-control-allow-methods"]


def test_head_returns_headers_without_body(client: TestClient, grid: str) -> None:
    response = client.head(f"/iiif/3/{grid}/full/50,/0/default.jpg")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert response.content == b""


def test_a_broken_published_file_is_a_logged_500_not_a_traceback(client: TestClient, settings, caplog) -> None:
    broken = settings.publish_dir / "broken" / "images" / "p0001.tif"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"II*\x00 not really a tiff")
    write_access(broken.parents[1], "public")
    response = client.get("/iiif/3/broken~p0001/info.json")
    assert response.status_code == 500
    assert response.text == "500 Internal Server Error: the server could not produce this resource; the error was logged\n"
    assert "Traceback" not in response.text
    assert any("broken" in record.getMessage() for record in caplog.records)


def test_info_json_is_valid_json_with_integer_sizes(client: TestClient, grid: str) -> None:
    info = json.loads(client.get(f"/iiif/3/{grid}/info.json").content)
    assert all(isinstance(s["width"], int) and isinstance(s["height"], int) for s in info["sizes"])


def test_info_json_links_its_manifest_only_when_there_is_one(client: TestClient, grid: str, settings) -> None:
    (settings.publish_dir / "grid-item" / "manifest.json").unlink()
    info = client.get(f"/iiif/3/{grid}/info.json").json()
    assert "partOf" not in info


@pytest.mark.parametrize("path", [
    "/iiif/3/grid-item~p0002/info.json",
    "/iiif/3/grid-item~p0002/full/max/0/default.jpg",
    "/iiif/grid-item/alto/p0002.xml",
    "/iiif/nothing/manifest.json",
    "/iiif/3/nothing~p0001/full/max/0/default.jpg",
])
def test_not_found_names_no_internal_path(client: TestClient, grid: str, path: str) -> None:
    response = client.get(path)
    assert (response.status_code, response.text) == (404, "404 Not Found: not found\n")


@pytest.fixture
def upscaling(settings: Settings, options: ServerOptions, grid: str) -> Iterator[TestClient]:
    """A server that lets outputs be twice the image's size (max_upscale 2), as the validator's size_up needs."""
    with TestClient(create_app(settings, replace(options, max_upscale=2.0)), raise_server_exceptions=False) as client:
        yield client


def image_size(client: TestClient, path: str) -> tuple[int, int]:
    response = client.get(path)
    assert response.status_code == 200, response.text
    image = decode_rgb(response.content)
    return image.width, image.height


def test_upscaled_max_is_what_info_json_states_and_no_enlargement(upscaling: TestClient, grid: str) -> None:
    """Before: with max_upscale 2 (or 10), full/^max of a 1000 px image came back 2000 (or 10000) px."""
    info = upscaling.get(f"/iiif/3/{grid}/info.json").json()
    assert (info["maxWidth"], info["maxHeight"], info["maxArea"]) == (1000, 700, 700_000)  # the image, not 2x
    assert image_size(upscaling, f"/iiif/3/{grid}/full/^max/0/default.jpg") == (1000, 700)
    assert image_size(upscaling, f"/iiif/3/{grid}/full/max/0/default.jpg") == (1000, 700)
    # A region ^max fills the stated limits: upscaled, and no larger than the image.
    assert image_size(upscaling, f"/iiif/3/{grid}/0,0,500,350/^max/0/default.jpg") == (1000, 700)
    # Explicit upscaling up to max_upscale is served beyond what is stated (§5.3 allows it).
    assert image_size(upscaling, f"/iiif/3/{grid}/full/^2000,/0/default.jpg") == (2000, 1400)
    link = upscaling.get(f"/iiif/3/{grid}/full/^1000,/0/default.jpg").headers["link"]
    assert f"/iiif/3/{grid}/full/max/0/default.jpg>;rel=\"canonical\"" in link


@pytest.mark.parametrize("size, expected", [
    ("^1500,", (1500, 1050)),
    ("^,1050", (1500, 1050)),
    ("^1800,900", (1800, 900)),
    ("^pct:150", (1500, 1050)),
    ("^!2000,500", (714, 500)),
    ("^!3000,3000", (2000, 1400)),  # confined by the limits, not refused
    ("^50,", (50, 35)),  # ^ allows upscaling; it does not require it
])
def test_every_upscaling_form_over_http(upscaling: TestClient, grid: str, size: str,
                                        expected: tuple[int, int]) -> None:
    assert image_size(upscaling, f"/iiif/3/{grid}/full/{size}/0/default.png") == expected


@pytest.mark.parametrize("size, fragment", [
    ("1500,", "prefix the size with ^ to upscale"),
    (",701", "prefix the size with ^ to upscale"),
    ("1000,701", "prefix the size with ^ to upscale"),
    ("!3000,3000", "prefix the size with ^ to upscale"),
    ("pct:150", "prefix it with ^ to upscale"),
    ("^2001,", "exceeds this server's limits (maxWidth 2000, maxHeight 1400, maxArea 2800000)"),
    ("^pct:201", "exceeds this server's limits"),
])
def test_upscaling_without_caret_or_past_the_limits_is_400(upscaling: TestClient, grid: str, size: str,
                                                           fragment: str) -> None:
    response = upscaling.get(f"/iiif/3/{grid}/full/{size}/0/default.jpg")
    assert response.status_code == 400
    assert fragment in response.text


@WEBP
def test_webp_is_served_as_webp(client: TestClient, grid: str) -> None:
    response = client.get(f"/iiif/3/{grid}/full/300,/90/default.webp")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/webp"
    assert response.content[8:12] == b"WEBP"  # what the validator's format_webp looks at
    image = pyvips.Image.new_from_buffer(response.content, "")
    assert image.get("vips-loader") == "webpload_buffer"
    assert (image.width, image.height) == (210, 300)
    assert close(mean_colour(image, 200, 5, 5, 5), cell_colour(0, 0))  # rotated clockwise: top-left is top-right


def test_info_json_offers_exactly_the_extra_formats_libvips_writes(client: TestClient, grid: str) -> None:
    info = client.get(f"/iiif/3/{grid}/info.json").json()
    writable = writable_formats()
    assert info["extraFormats"] == [f for f in ("webp", "tif", "gif") if Format(f) in writable]


def test_info_json_leaves_out_a_format_the_renderer_cannot_write() -> None:
    pyramid = Pyramid(100, 100, (Level(0, 1, 100, 100),))
    info = build_info("http://x/iiif/3/a~p1", pyramid, Limits(100, 100, 10_000), tile_size=256,
                      formats=frozenset({Format.JPG, Format.PNG, Format.TIF}))
    assert info["extraFormats"] == ["tif"]
    assert "sizeUpscaling" in info["extraFeatures"] and info["maxWidth"] == 100  # §5.7: upscaling states maxWidth


@pytest.mark.parametrize("size, first, second, expected", [
    ("^max", {}, {"max_height": 350}, [(1000, 700), (500, 350)]),
    ("max", {}, {"max_width": 500}, [(1000, 700), (500, 350)]),
])
def test_max_follows_the_limits_in_effect_not_an_earlier_cached_render(settings: Settings, options: ServerOptions,
                                                                       grid: str, size: str,
                                                                       first: dict[str, float],
                                                                       second: dict[str, float],
                                                                       expected: list[tuple[int, int]]) -> None:
    # The canonical URL of max and ^max is the same whatever the limits: the cache key must not be.
    path = f"/iiif/3/{grid}/full/{size}/0/default.jpg"
    sizes, etags = [], []
    for changes in (first, second):  # one cache folder, as across a restart with new settings
        with TestClient(create_app(settings, replace(options, **changes))) as server:
            sizes.append(image_size(server, path))
            etags.append(server.get(path).headers["etag"])
    assert sizes == expected
    assert etags[0] != etags[1]
