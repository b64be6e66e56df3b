"""An ingested AIP as a peer archive reads it: PRONOM formats, UUIDs, a persistent id, a logical
structMap, and no server address anywhere inside the package."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from lxml import etree

from pipeline.formats import identify
from pipeline.validation import json_errors, xml_errors
from pipeline.xmlns import NAMESPACES

pytestmark = pytest.mark.slow
SHUYING = [sys.executable, "-c", "import cli; cli.main()"]
NS = NAMESPACES


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pipeline.sample_book import write_sample_batch

    root = tmp_path_factory.mktemp("peers")
    batch = write_sample_batch(root / "batch", pages=5, width=900, height=1300, item_id="peer-book")
    home = root / "home"
    env = {**os.environ, "SHUYING_PERSISTENT_ID": "ark:/12345/{item_id}", "SHUYING_BASE_URL": "http://127.0.0.1:8999"}
    run = subprocess.run([*SHUYING, "--home", str(home), "ingest", str(batch)], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    return home


def stored_aip(home: Path) -> Path:
    return home / "storage/primary/aips/peer-book/peer-book.v1"


def test_no_file_in_the_aip_names_the_server(ingested: Path) -> None:
    aip = stored_aip(ingested)
    naming = [p.relative_to(aip).as_posix() for p in aip.rglob("*")
              if p.is_file() and (b"127.0.0.1" in p.read_bytes() or b":8999" in p.read_bytes())]
    assert naming == []
    # The published manifest, outside the AIP, does use the base URL.
    manifest = json.loads((ingested / "publish/peer-book/manifest.json").read_text(encoding="utf-8"))
    assert manifest["id"].startswith("http://127.0.0.1:8999/")


def test_mets_names_the_item_by_its_ark_and_validates(ingested: Path) -> None:
    mets = etree.parse(str(stored_aip(ingested) / "data/mets.xml"))
    assert xml_errors(mets, "mets") == []
    assert mets.getroot().get("OBJID") == "ark:/12345/peer-book"
    assert mets.findtext(".//mods:identifier[@type='ark']", namespaces=NS) == "ark:/12345/peer-book"
    manifest = json.loads((ingested / "publish/peer-book/manifest.json").read_text(encoding="utf-8"))
    values = {m["label"]["en"][0]: m["value"] for m in manifest["metadata"]}
    assert values["Persistent identifier"] == {"none": ["ark:/12345/peer-book"]}


def test_every_file_of_the_aip_carries_its_pronom_format_and_a_uuid(ingested: Path) -> None:
    aip = stored_aip(ingested)
    mets = etree.parse(str(aip / "data/mets.xml"))
    files = mets.findall(".//mets:fileSec//mets:file", NS)
    hrefs = {f.find("mets:FLocat", NS).get(f"{{{NS['xlink']}}}href") for f in files}
    payload = {p.relative_to(aip / "data").as_posix() for p in (aip / "data").rglob("*") if p.is_file()}
    assert hrefs == payload - {"mets.xml"}  # every file but METS itself is described
    for element in files:
        href = element.find("mets:FLocat", NS).get(f"{{{NS['xlink']}}}href")
        tech = mets.find(f".//mets:techMD[@ID='{element.get('ADMID')}']", NS)
        puid = tech.findtext(".//premis:formatRegistryKey", namespaces=NS)
        if (aip / "data" / href).stat().st_size == 0:  # the cover's empty OCR text: no bytes, no format
            assert puid is None, href
        else:
            assert puid == identify(aip / "data" / href).puid and puid, href
        value = tech.findtext(".//premis:objectIdentifier[premis:objectIdentifierType='UUID']/"
                              "premis:objectIdentifierValue", namespaces=NS)
        uuid.UUID(value)
    event = [e for e in mets.iter(f"{{{NS['premis']}}}event")
             if e.findtext("premis:eventType", namespaces=NS) == "format identification"]
    assert len(event) == 1
    assert "fido" in event[0].findtext(".//premis:eventDetail", namespaces=NS)
    agents = {a.findtext("premis:agentName", namespaces=NS) for a in mets.iter(f"{{{NS['premis']}}}agent")}
    assert "fido" in agents


def test_the_logical_structure_is_in_mets_and_in_the_manifest_ranges(ingested: Path) -> None:
    mets = etree.parse(str(stored_aip(ingested) / "data/mets.xml"))
    labels = mets.xpath("//mets:structMap[@TYPE='LOGICAL']//mets:div/@LABEL", namespaces=NS)
    assert labels == ["論語十卷", "第一冊", "卷一", "學而第一", "為政第二"]
    manifest = json.loads((ingested / "publish/peer-book/manifest.json").read_text(encoding="utf-8"))
    assert json_errors(manifest, "iiif-presentation-3.0") == []
    (juan,) = manifest["structures"]
    assert [r["label"]["zh-Hant"][0] for r in juan["items"]] == ["學而第一", "為政第二"]
    assert juan["id"].endswith("/range/LOG_0002")
    assert mets.xpath("//mets:structMap[@TYPE='LOGICAL']//mets:div[@LABEL='卷一']/@ID", namespaces=NS) == ["LOG_0002"]
