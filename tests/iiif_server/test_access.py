"""Access tiers: no request parameters get anonymous users more than the reduced image of a restricted page.

The proof uses twin pages. ``twin-a`` is random noise; ``twin-b`` is the same noise with
the four pixels of every 2x2 block rotated. The two differ in every full-size pixel
but have identical 2x2 means, so every pyramid level from factor 2 down is the same.
With ``restricted_max_size`` 500 the reduced view of a 1024x768 page (500x375) is made
from those identical levels. So an anonymous response that differs between the twins
carries full-resolution detail: a leak. Staff responses for the same requests must
differ, or the test would prove nothing.
"""

from __future__ import annotations

import itertools
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import pyvips
from starlette.testclient import TestClient

from iiif_server.app import create_app
from iiif_server.config import ServerOptions
from iiif_server.tokens import TokenStore
from pipeline.access import write_pyramid
from storage_config.settings import Settings
from tests.iiif_server.helpers import decode_rgb, write_access

WIDTH, HEIGHT = 1024, 768
REDUCED = (500, 375)  # 1024x768 with a 500 px long edge
REGIONS = ["full", "square", "0,0,256,256", "256,256,256,256", "100,100,37,41", "0,0,1,1", "511,383,2,2",
           "pct:0,0,25,25", "pct:10.5,20.25,3.3,4.4", "768,512,256,256", "1000,700,500,500", "pct:50,50,50,50"]
SIZES = ["max", "^max", "256,", ",256", "64,64", "!256,256", "pct:100", "pct:50", "^pct:400", "^1000,",
         "^!2000,2000", "1,1", "^1024,768", "500,375", "^,768", "pct:12.5"]
TRANSFORMS = ["0/default.png", "90/default.png", "180/gray.png", "270/bitonal.png", "22.5/default.png",
              "!0/color.webp", "!90/default.tif", "0/default.jpg", "359.9/gray.jpg"]


def twin_pixels() -> tuple[np.ndarray, np.ndarray]:
    a = np.random.default_rng(7).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    b = a.copy()
    b[0::2, 0::2], b[0::2, 1::2] = a[0::2, 1::2], a[1::2, 1::2]
    b[1::2, 1::2], b[1::2, 0::2] = a[1::2, 0::2], a[0::2, 0::2]
    return a, b


def publish_twins(publish_dir: Path, access_level: str) -> None:
    for name, pixels in zip(("twin-a", "twin-b"), twin_pixels()):
        folder = publish_dir / name
        (folder / "images").mkdir(parents=True)
        write_pyramid(pyvips.Image.new_from_array(pixels, interpretation="srgb"), folder / "images" / "p0001.tif")
        (folder / "manifest.json").write_text(json.dumps({"id": name, "label": {"en": [name]}}), encoding="utf-8")
        (folder / "alto").mkdir()
        (folder / "alto" / "p0001.xml").write_text("<alto/>", encoding="utf-8")
        write_access(folder, access_level)


@pytest.fixture
def restricted_options(tmp_path: Path) -> ServerOptions:
    return ServerOptions(cache_dir=tmp_path / "cache", restricted_max_size=500)


@pytest.fixture
def tokens(settings: Settings, restricted_options: ServerOptions) -> TokenStore:
    return TokenStore(restricted_options.auth_path(settings.home))


@pytest.fixture
def staff_token(tokens: TokenStore) -> str:
    return tokens.create("wang.li", 3600).secret


@pytest.fixture(scope="module")
def twins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The twin pages, published once per module and copied into each test's home."""
    publish_dir = tmp_path_factory.mktemp("twins")
    publish_twins(publish_dir, "restricted")
    return publish_dir


@pytest.fixture
def client(settings: Settings, restricted_options: ServerOptions, twins: Path) -> Iterator[TestClient]:
    shutil.copytree(twins, settings.publish_dir, dirs_exist_ok=True)
    with TestClient(create_app(settings, restricted_options), raise_server_exceptions=False) as test_client:
        yield test_client


def fetch(client: TestClient, item: str, path: str, token: str = "", **headers: str):
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return client.get(f"/iiif/3/{item}~p0001/{path}", headers=headers)


def assert_no_leak(client: TestClient, paths: list[str]) -> int:
    """Compare anonymous twin responses for every path; return how many were images."""
    served = 0
    for path in paths:
        a, b = fetch(client, "twin-a", path), fetch(client, "twin-b", path)
        assert a.status_code == b.status_code, path
        assert a.status_code in (200, 400), (path, a.text)
        if a.status_code == 200:
            served += 1
            assert a.content == b.content, f"anonymous {path} shows full-resolution detail"
    return served


def test_every_region_and_size_is_served_from_the_reduced_image_only(client: TestClient) -> None:
    paths = [f"{region}/{size}/0/default.png" for region, size in itertools.product(REGIONS, SIZES)]
    served = assert_no_leak(client, paths)
    assert served >= len(paths) // 2  # many are answered (the rest exceed the reduced size: 400)


def test_every_rotation_quality_and_format_is_served_from_the_reduced_image_only(client: TestClient) -> None:
    paths = [f"{region}/{size}/{transform}" for region, size, transform in
             itertools.product(["full", "0,0,256,256", "300,200,64,48"], ["max", "!64,64", "^300,"], TRANSFORMS)]
    assert assert_no_leak(client, paths) == len(paths)


def test_staff_get_the_full_resolution_for_the_same_requests(client: TestClient, staff_token: str) -> None:
    # The twins differ at full size, so identical anonymous answers above mean something.
    for path in ["0,0,256,256/256,/0/default.png", "full/max/0/default.png", "100,100,37,41/max/90/gray.png"]:
        a, b = fetch(client, "twin-a", path, staff_token), fetch(client, "twin-b", path, staff_token)
        assert a.status_code == b.status_code == 200
        assert a.content != b.content, path


def test_anonymous_outputs_never_exceed_the_reduced_size(client: TestClient) -> None:
    for region, size in itertools.product(REGIONS, SIZES):
        response = fetch(client, "twin-a", f"{region}/{size}/0/default.png")
        if response.status_code == 200:
            image = decode_rgb(response.content)
            assert image.width <= REDUCED[0] and image.height <= REDUCED[1], (region, size)
    full = decode_rgb(fetch(client, "twin-a", "full/max/0/default.png").content)
    assert (full.width, full.height) == REDUCED
    tile = decode_rgb(fetch(client, "twin-a", "0,0,256,256/max/0/default.png").content)
    assert (tile.width, tile.height) == (125, 125)  # the region at the reduced resolution


def test_a_full_size_tile_cached_for_staff_is_never_served_to_anonymous(client: TestClient, staff_token: str,
                                                                          restricted_options: ServerOptions) -> None:
    paths = [f"{region}/{size}/0/default.jpg" for region in ("0,0,256,256", "full", "512,256,256,256")
             for size in ("256,", "max", "pct:100")]
    staff = {path: fetch(client, "twin-a", path, staff_token) for path in paths}
    assert all(r.status_code == 200 for r in staff.values())
    # Rendered ones are now on disk and in memory; stored tiles (0,0,256,256/256,) in memory.
    assert len([p for p in restricted_options.cache_dir.rglob("*") if p.is_file()]) == 2  # full/256, and full/max
    assert assert_no_leak(client, paths) == len(paths) - 1  # full/pct:100 is larger than the reduced image
    for path, response in staff.items():
        anonymous = fetch(client, "twin-a", path)
        if path != "full/pct:100/0/default.jpg":
            assert anonymous.headers["etag"] != response.headers["etag"]
            assert anonymous.content != response.content


def test_a_staff_etag_does_not_revalidate_an_anonymous_request(client: TestClient, staff_token: str) -> None:
    staff = fetch(client, "twin-a", "0,0,256,256/256,/0/default.jpg", staff_token)
    anonymous = fetch(client, "twin-a", "0,0,256,256/256,/0/default.jpg", **{"If-None-Match": staff.headers["etag"]})
    assert anonymous.status_code == 200
    assert anonymous.headers["etag"] != staff.headers["etag"]
    again = fetch(client, "twin-a", "0,0,256,256/256,/0/default.jpg", **{"If-None-Match": anonymous.headers["etag"]})
    assert again.status_code == 304


def test_info_json_advertises_the_reduced_limits_to_anonymous_users(client: TestClient) -> None:
    info = fetch(client, "twin-a", "info.json").json()
    assert (info["width"], info["height"]) == (WIDTH, HEIGHT)  # canvas coordinates stay full size
    assert (info["maxWidth"], info["maxHeight"], info["maxArea"]) == (500, 375, 500 * 375)
    assert info["sizes"][-1] == {"width": 500, "height": 375}
    assert all(s["width"] <= 500 and s["height"] <= 375 for s in info["sizes"])
    assert info["tiles"] == [{"width": 256, "scaleFactors": [4]}]  # 256 px at factor 4 is 1024 px: coarser than 500
    probe = info["service"][0]
    assert probe["type"] == "AuthProbeService2"
    assert probe["id"] == "http://127.0.0.1:8182/auth/probe/twin-a~p0001"
    access = probe["service"][0]
    assert (access["type"], access["profile"]) == ("AuthAccessService2", "active")
    assert {s["type"] for s in access["service"]} == {"AuthAccessTokenService2", "AuthLogoutService2"}


def test_every_size_and_tile_in_anonymous_info_json_is_served_without_a_leak(client: TestClient) -> None:
    info = fetch(client, "twin-a", "info.json").json()
    paths = [f"full/{s['width']},{s['height']}/0/default.png" for s in info["sizes"]]
    tile = info["tiles"][0]["width"]
    for factor in [*info["tiles"][0]["scaleFactors"], 1, 2]:  # and the factors not offered
        span = tile * factor
        for x, y in itertools.product(range(0, WIDTH, span), range(0, HEIGHT, span)):
            w, h = min(span, WIDTH - x), min(span, HEIGHT - y)
            paths.append(f"{x},{y},{w},{h}/{-(-w // factor)},/0/default.png")
    assert assert_no_leak(client, paths) == len(paths)


def test_staff_info_json_is_full_and_private(client: TestClient, staff_token: str) -> None:
    response = fetch(client, "twin-a", "info.json", staff_token)
    info = response.json()
    assert info["tiles"] == [{"width": 256, "scaleFactors": [1, 2, 4]}]
    assert info["maxWidth"] == WIDTH  # the full page, not upscaled (max_upscale 1)
    assert "AuthProbeService2" == info["service"][0]["type"]  # so staff can find the logout service
    assert response.headers["cache-control"].startswith("private")


@pytest.mark.parametrize("path", ["info.json", "full/max/0/default.jpg"])
def test_responses_that_depend_on_the_requester_are_private(client: TestClient, path: str) -> None:
    response = fetch(client, "twin-a", path)
    assert response.headers["cache-control"] == "private, max-age=3600"
    assert "Authorization" in response.headers["vary"] and "Cookie" in response.headers["vary"]


@pytest.mark.parametrize("credentials", [{"Authorization": "Bearer shy_forged"}, {"Authorization": "Basic d2FuZzp4"},
                                         {"Authorization": "Bearer"}, {"Cookie": "shuying_session=shy_forged"}])
def test_forged_credentials_get_the_anonymous_view(client: TestClient, credentials: dict[str, str]) -> None:
    response = fetch(client, "twin-a", "full/max/0/default.png", **credentials)
    assert response.status_code == 200
    assert (decode_rgb(response.content).width, decode_rgb(response.content).height) == REDUCED


def test_revoked_and_expired_tokens_get_the_anonymous_view(client: TestClient, tokens: TokenStore) -> None:
    revoked = tokens.create("wang.li", 3600)
    tokens.revoke(revoked.record.id)
    expired = TokenStore(tokens.path, clock=lambda: 0.0).create("wang.li", 60)  # expired in 1970
    for secret in (revoked.secret, expired.secret):
        image = decode_rgb(fetch(client, "twin-a", "full/max/0/default.png", secret).content)
        assert (image.width, image.height) == REDUCED


def test_restricted_text_and_metadata_stay_public(client: TestClient) -> None:
    assert client.get("/iiif/twin-a/manifest.json").status_code == 200
    assert client.get("/iiif/twin-a/alto/p0001.xml").status_code == 200
    assert "twin-a" in client.get("/iiif/collection.json").text


def test_image_api_2_urls_give_no_pixels(client: TestClient) -> None:
    for path in ["/iiif/2/twin-a~p0001/full/full/0/default.jpg", "/iiif/2/twin-a~p0001/0,0,256,256/256,/0/native.jpg"]:
        assert client.get(path).status_code == 404


def test_small_restricted_pages_are_served_whole(settings: Settings, tmp_path: Path) -> None:
    # A page no larger than the restricted size has nothing to hide.
    from tests.iiif_server.helpers import publish_grid

    publish_grid(settings.publish_dir, "small", "p0001", 400, 300, access_level="restricted")
    with TestClient(create_app(settings, ServerOptions(cache_dir=tmp_path / "c", restricted_max_size=500))) as client:
        info = client.get("/iiif/3/small~p0001/info.json").json()
        assert info["tiles"][0]["scaleFactors"][0] == 1
        image = decode_rgb(client.get("/iiif/3/small~p0001/full/max/0/default.png").content)
        assert (image.width, image.height) == (400, 300)


def test_max_and_upscaled_max_give_the_same_reduced_size(settings: Settings, tmp_path: Path) -> None:
    # 1400x1990 reduces to 703x1000; ^max once came out 703x999 from a second rounding of full-size pixels.
    folder = settings.publish_dir / "tall"
    (folder / "images").mkdir(parents=True)
    write_pyramid((pyvips.Image.black(1400, 1990, bands=3) + 200).cast("uchar"), folder / "images" / "p0001.tif")
    write_access(folder, "restricted")
    with TestClient(create_app(settings, ServerOptions(cache_dir=tmp_path / "c", restricted_max_size=1000))) as client:
        for size in ("max", "^max"):
            response = client.get(f"/iiif/3/tall~p0001/full/{size}/0/default.png")
            image = decode_rgb(response.content)
            assert (image.width, image.height) == (703, 1000), size
