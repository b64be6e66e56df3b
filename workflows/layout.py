"""The one place that knows where each output of an ingest lives.

    <work>/<item>/validation.json           ValidateBatch
    <work>/<item>/checksums.json            ChecksumMasters (SHA-256 + SHA-512, first)
    <work>/<item>/pages/<page>/qc.json      PageQC
    <work>/<item>/pages/<page>/derivative/  Derivative: access.tif (pyramid), deskew.json
    <work>/<item>/pages/<page>/ocr/         Ocr: alto.xml, text.txt, ocr.json
    <work>/<item>/qc.json                   BatchQC (and qc.html, the contact sheet)
    <work>/<item>/ocr-review.json           OcrReview: pages whose OCR needs review (qc.html redrawn)
    <work>/<item>/mets.xml                  BuildMets
    <work>/<item>/aip/<item>.v1/            BuildAip (a complete, validated bag)
    <work>/<item>/stored.json               StoreAip (after a reshoot: the version holding the new masters)
    <work>/<item>/reshoots.json             shuying reshoot: every replaced master, who and why
    <publish>/<item>/                       PublishManifest: manifest.json, images/<page>.tif
    <work>/<item>/identity/<task>.<digest>.json  the settings each output was made with (workflows/identity.py)
    <work>/<item>/journal.log               one line per task start/success/failure (and why a task re-ran)
    <work>/<item>/failures/<task>.json      why a task last failed (removed on success)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

AIP_VERSION = 1


@dataclass(frozen=True)
class ItemLayout:
    work_root: Path
    publish_root: Path
    item_id: str

    @property
    def work(self) -> Path:
        return self.work_root / self.item_id

    @property
    def validation(self) -> Path:
        return self.work / "validation.json"

    @property
    def checksums(self) -> Path:
        return self.work / "checksums.json"

    def page_dir(self, page_id: str) -> Path:
        return self.work / "pages" / page_id

    def page_qc(self, page_id: str) -> Path:
        return self.page_dir(page_id) / "qc.json"

    def derivative(self, page_id: str) -> Path:
        return self.page_dir(page_id) / "derivative"

    def ocr(self, page_id: str) -> Path:
        return self.page_dir(page_id) / "ocr"

    @property
    def batch_qc(self) -> Path:
        return self.work / "qc.json"

    @property
    def ocr_review(self) -> Path:
        return self.work / "ocr-review.json"

    @property
    def mets(self) -> Path:
        return self.work / "mets.xml"

    @property
    def aip_name(self) -> str:
        return f"{self.item_id}.v{AIP_VERSION}"

    @property
    def aip(self) -> Path:
        return self.work / "aip" / self.aip_name

    @property
    def aip_key(self) -> str:
        """Where the AIP lives inside every storage location."""
        return f"aips/{self.item_id}/{self.aip_name}"

    @property
    def reshoots(self) -> Path:
        """Every reshoot of the item (workflows/reshoot.py): replaced and new master digests, who, why."""
        return self.work / "reshoots.json"

    @property
    def stored(self) -> Path:
        return self.work / "stored.json"

    @property
    def publish(self) -> Path:
        return self.publish_root / self.item_id

    @property
    def manifest(self) -> Path:
        return self.publish / "manifest.json"

    @property
    def journal(self) -> Path:
        return self.work / "journal.log"

    @property
    def failures(self) -> Path:
        return self.work / "failures"

    @property
    def identity(self) -> Path:
        """The stamps naming the settings each task's output was made with (workflows/identity.py)."""
        return self.work / "identity"

    @property
    def request(self) -> Path:
        """The output-changing options of the last ingest run (workflows/run.py), reused by bare re-runs."""
        return self.work / "ingest-request.json"
