"""Ingest one capture batch: validate → checksum → per page QC, derivative, OCR → METS → AIP →
storage → IIIF manifest.

Each task reads its inputs, calls pipeline/ functions and writes one output atomically;
``complete()`` is "the output exists, made with the settings in effect now" (its stamp,
workflows/identity.py), so a killed run re-runs only what was unfinished, and a changed
setting re-runs the tasks whose output it changes and everything made from them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import luigi

from pipeline import access, clock, images, ocr, qc
from pipeline.atomic import atomic_path, write_bytes_atomic, write_json_atomic
from pipeline.batch import Batch, Leaf, PageType
from pipeline.checksums import digest_file, verify_file
from pipeline.derivative import make_leaf_image
from pipeline.errors import BatchError
from pipeline.intake import duplicate_problems, language_problems, master_problems
from pipeline.ocr.engines import page_override
from pipeline.ocr.review import page_summary, review_list
from workflows import events
from workflows.base import PageTask, ShuyingTask, read_json
from workflows.layout import ItemLayout
from workflows.masters import check_masters_unchanged
from workflows.package import (
    assemble_aip,
    build_item_mets,
    index_item,
    item_entities,
    master_digests,
    publish_item,
    store_aip,
    with_settings,
)
from workflows.qc_run import write_batch_qc, write_ocr_contact_sheet

# Page types that carry no text worth recognising.
NO_OCR_TYPES = frozenset({PageType.COLOUR_TARGET, PageType.SPINE})
QC_PARAMS = ("qc_profile", "accept_warnings", "qc_overrides", "qc_operator", "qc_reason")


class QcGateParams:
    """The QC profile and what a person let through the QC gate, passed from IngestBatch to BatchQC.

    All of them change an output (qc.json: its findings, or the gate's record of who let
    what through, which METS carries), so all are significant.
    """

    qc_profile = luigi.Parameter(default="", description="QC profile name or file; '' = by the batch's material type.")
    accept_warnings = luigi.BoolParameter(default=False, description="Let QC warnings through the gate.")
    qc_overrides = luigi.ListParameter(default=(), description="PAGE:CHECK findings let through the gate.")
    qc_operator = luigi.Parameter(default="", description="Who let QC findings through.")
    qc_reason = luigi.Parameter(default="", description="Why they were let through.")

    def qc_params(self) -> dict:
        """Return the QC parameters, to pass on to required tasks."""
        return {name: getattr(self, name) for name in QC_PARAMS}

    def qc_request(self) -> qc.GateRequest:
        return qc.GateRequest(bool(self.accept_warnings), tuple(self.qc_overrides),
                              str(self.qc_operator), str(self.qc_reason))

    def profile(self, batch: Batch) -> qc.Profile:
        """The profile in effect: --profile, else batch.json capture.qc_profile, else by material."""
        return qc.resolve_profile(self.qc_profile, batch.material_type.value, batch_profile=batch.capture.qc_profile)

    def gate_settings(self) -> dict[str, str]:
        """What a person let through the gate, as identity settings."""
        return {"accept_warnings": "yes" if self.accept_warnings else "no",
                "qc_overrides": ", ".join(sorted(self.qc_overrides)), "qc_operator": str(self.qc_operator),
                "qc_reason": str(self.qc_reason)}


def profile_settings(profile: qc.Profile) -> dict[str, str]:
    """A profile as identity settings: its name, and a digest of what it judges by (an edited file differs)."""
    judged = json.dumps({"thresholds": profile.thresholds(), "summary": profile.as_dict()},
                        sort_keys=True, ensure_ascii=False, default=str)
    return {"qc_profile": profile.name, "qc_profile_digest": hashlib.sha256(judged.encode("utf-8")).hexdigest()[:12]}


def item_settings(task: ShuyingTask) -> dict[str, str]:
    """The holding institution and persistent identifier the item gets (batch.json's, else the settings')."""
    batch = with_settings(task.batch(), organization=task.organization, persistent_id=task.persistent_id)
    return {"organization": batch.source_organization, "persistent_id": batch.persistent_id}


class ValidateBatch(ShuyingTask):
    """Check batch.json and every image; list every problem at once."""

    def product(self) -> luigi.LocalTarget:
        return luigi.LocalTarget(str(self.layout.validation))

    def execute(self) -> None:
        batch = self.batch()
        problems = language_problems(batch) + master_problems(batch, max_pixels=self.max_megapixels * 1_000_000)
        if problems:
            raise BatchError(problems)
        write_json_atomic(self.layout.validation, {
            # The capture folder: audit repair may heal a master from its original (workflows/repair_sources.py).
            "item_id": batch.item_id, "batch_dir": str(batch.root.absolute()), "pages": len(batch.pages), "problems": [],
            "event": events.validation(batch).as_dict(),
        })


class ChecksumMasters(ShuyingTask):
    """Compute SHA-256 and SHA-512 of every master, once; all later steps verify against these."""

    def requires(self) -> ValidateBatch:
        return ValidateBatch(**self.shared())

    def product(self) -> luigi.LocalTarget:
        return luigi.LocalTarget(str(self.layout.checksums))

    def execute(self) -> None:
        batch = self.batch()
        digests = {page.page_id: digest_file(batch.master_path(page)) for page in batch.pages}
        problems = duplicate_problems(batch, digests)
        if problems:
            raise BatchError(problems)
        write_json_atomic(self.layout.checksums, {
            # mtime_ns lets a re-run notice a replaced file cheaply (workflows/masters.py).
            "masters": {page.page_id: {"file": page.file, **digests[page.page_id].as_dict(),
                                       "mtime_ns": batch.master_path(page).stat().st_mtime_ns}
                        for page in batch.pages},
            "event": events.digest_calculation(batch).as_dict(),
        })


class PageQC(QcGateParams, PageTask):
    """Measure one page against the QC profile."""

    def requires(self) -> ChecksumMasters:
        return ChecksumMasters(**self.shared())

    def product(self) -> luigi.LocalTarget:
        return luigi.LocalTarget(str(self.layout.page_qc(self.page_id)))

    def identity_settings(self) -> dict[str, str]:
        return profile_settings(self.profile(self.batch()))

    def execute(self) -> None:
        batch, page = self.batch(), self.page()
        # QC only measures, so the bytes are not hashed again here (Derivative and BuildAip
        # do, before and after); size and mtime against checksums.json catch a replaced file.
        check_masters_unchanged(batch, self.layout, [page])
        result = qc.check_page(batch.master_path(page), page_id=page.page_id,
                               declared_ppi=batch.capture.declared_ppi, page_type=page.page_type.value,
                               split=page.split, profile=self.profile(batch))
        check_masters_unchanged(batch, self.layout, [page])
        write_json_atomic(self.layout.page_qc(self.page_id), result.as_dict())


class Derivative(PageTask):
    """Turn upright, deskew and crop the master into a pyramidal access image (the master is only read).

    ``page_id`` names a leaf: a whole master (p0003) or one side of a two-leaf master (p0003r).
    """

    def requires(self) -> ChecksumMasters:
        return ChecksumMasters(**self.shared())

    def product(self) -> luigi.LocalTarget:
        return luigi.LocalTarget(str(self.layout.derivative(self.page_id)))

    def execute(self) -> None:
        batch = self.batch()
        leaf = batch.leaf(self.page_id)
        master = batch.master_path(leaf.master)
        expected = master_digests(self.layout)[leaf.master.page_id]
        verify_file(master, expected, name=leaf.file)  # process exactly the bytes we checksummed
        # Pages that are not read (colour targets, spines) are left the way they were shot.
        made = make_leaf_image(images.load_page(master, sequential=False), leaf,
                               kept_as_shot=leaf.page_type in NO_OCR_TYPES)
        with atomic_path(self.layout.derivative(self.page_id), directory=True) as tmp:
            access.write_pyramid(made.image, tmp / "access.tif")
            info = {"width": made.width, "height": made.height, "angle": made.estimate.angle,
                    "angle_applied": made.deskewed.angle_applied, "confidence": made.estimate.confidence,
                    "method": made.estimate.method, "affine": list(made.affine),
                    "orientation": made.orientation.as_dict(), "crop": made.crop_record(),
                    "master": leaf.master.page_id, "split": made.split_record(),
                    "master_region": [list(corner) for corner in made.master_region()],
                    "event": events.derivative(batch, leaf, made).as_dict()}
            (tmp / "deskew.json").write_text(json.dumps(info, ensure_ascii=False, indent=2), encoding="utf-8")
        verify_file(master, expected, name=leaf.file)


class Ocr(PageTask):
    """Recognise the text of one page, in the pixel space of its access image."""

    def requires(self) -> Derivative:
        return Derivative(**self.shared(), page_id=self.page_id)

    def product(self) -> luigi.LocalTarget:
        return luigi.LocalTarget(str(self.layout.ocr(self.page_id)))

    def identity_settings(self) -> dict[str, str]:
        # The engine that reads the page, not the one asked for: auto and the engine it picks are one.
        batch = self.batch()
        page = batch.leaf(self.page_id)
        if page.page_type in NO_OCR_TYPES:
            return {}
        return {"ocr_engine": page_plan(batch, page, str(self.ocr_engine)).engine.value}

    def execute(self) -> None:
        batch = self.batch()
        page = batch.leaf(self.page_id)
        plan = page_plan(batch, page, str(self.ocr_engine))
        access_image = self.layout.derivative(self.page_id) / "access.tif"
        with atomic_path(self.layout.ocr(self.page_id), directory=True) as tmp:
            if page.page_type in NO_OCR_TYPES:
                (tmp / "ocr.json").write_text(json.dumps({"skipped": page.page_type.value}), encoding="utf-8")
                return
            engine = plan.engine_ready()
            pixels = images.to_numpy(images.load_page(access_image))
            result = ocr.recognise_page(pixels, lang=plan.lang, vertical=plan.vertical, timeout=self.ocr_timeout,
                                        page=page.file, engine=engine, script=plan.script, layout=plan.layout)
            alto = ocr.to_alto(result, image_file=f"images/{page.page_id}.tif", now=clock.now(), page_number=page.order)
            alto.write(str(tmp / "alto.xml"), xml_declaration=True, encoding="UTF-8", pretty_print=True)
            (tmp / "text.txt").write_text(ocr.to_text(result), encoding="utf-8")
            summary = {**page_summary(result), "engine": result.engine, "language": plan.lang,
                       "event": events.ocr(batch, page, result).as_dict(),
                       # Digests computed once, here, and carried into the AIP.
                       "files": {name: digest_file(tmp / name).as_dict() for name in ("alto.xml", "text.txt")}}
            (tmp / "ocr.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")


def page_plan(batch: Batch, page: Leaf, requested: str) -> ocr.OcrPlan:
    """Return how ``page`` is read: ``requested`` (--ocr-engine) beats the page's batch.json ocr_engine."""
    return ocr.plan_ocr(batch.languages, batch.script_direction.value, batch.material_type.value,
                        override=page_override(requested, page.ocr_engine))


def ocr_is_current(layout: ItemLayout, batch: Batch, page: Leaf, requested: str) -> bool:
    """True when the page's ocr.json exists and was read by the engine ``requested`` now chooses."""
    record_path = layout.ocr(page.page_id) / "ocr.json"
    if not record_path.is_file():
        return False
    record = read_json(record_path)
    return "skipped" in record or record.get("engine") == page_plan(batch, page, requested).engine.value


class BatchQC(QcGateParams, ShuyingTask):
    """Add the batch checks, write qc.html and, if the QC gate lets the batch on, qc.json."""

    def requires(self) -> list[PageQC]:
        return [PageQC(**self.shared(), **self.qc_params(), page_id=p.page_id) for p in self.batch().pages]

    def product(self) -> luigi.LocalTarget:
        return luigi.LocalTarget(str(self.layout.batch_qc))

    def identity_settings(self) -> dict[str, str]:
        return {**profile_settings(self.profile(self.batch())), **self.gate_settings()}

    def execute(self) -> None:
        batch = self.batch()
        pages = [qc.PageQC.from_dict(read_json(self.layout.page_qc(p.page_id))) for p in batch.pages]
        write_batch_qc(batch, pages, self.profile(batch), self.qc_request(), json_path=self.layout.batch_qc)


class OcrReview(QcGateParams, ShuyingTask):
    """List the pages whose OCR needs review (ocr-review.json) and redraw qc.html with them."""

    def requires(self) -> dict:
        return {"qc": BatchQC(**self.shared(), **self.qc_params()),
                "ocr": [Ocr(**self.shared(), page_id=p.page_id) for p in self.batch().leaves]}

    def product(self) -> luigi.LocalTarget:
        return luigi.LocalTarget(str(self.layout.ocr_review))

    def execute(self) -> None:
        batch = self.batch()
        records = {p.page_id: read_json(self.layout.ocr(p.page_id) / "ocr.json") for p in batch.leaves}
        # review_list reads page_id, file and label, which a Leaf has too (its annotation says Page).
        review = {"item_id": batch.item_id, **review_list(batch.leaves, records)}
        pages = [qc.PageQC.from_dict(read_json(self.layout.page_qc(p.page_id))) for p in batch.pages]
        write_ocr_contact_sheet(batch, read_json(self.layout.batch_qc), pages, review,
                                html_path=self.layout.batch_qc.with_name("qc.html"))
        write_json_atomic(self.layout.ocr_review, review)


class BuildMets(QcGateParams, ShuyingTask):
    """Write the item's METS (MODS + PREMIS) and validate it against the official XSDs."""

    def requires(self) -> dict:
        pages = self.batch().leaves
        return {
            "checksums": ChecksumMasters(**self.shared()),
            "qc": BatchQC(**self.shared(), **self.qc_params()),
            "ocr": [Ocr(**self.shared(), page_id=p.page_id) for p in pages],
        }

    def product(self) -> luigi.LocalTarget:
        return luigi.LocalTarget(str(self.layout.mets))

    def identity_settings(self) -> dict[str, str]:
        return item_settings(self)

    def execute(self) -> None:
        mets = build_item_mets(self.batch(), self.layout, organization=self.organization,
                               persistent_id=self.persistent_id)
        write_bytes_atomic(self.layout.mets, mets)


class BuildAip(QcGateParams, ShuyingTask):
    """Assemble and validate the BagIt AIP in the work area."""

    def requires(self) -> BuildMets:
        return BuildMets(**self.shared(), **self.qc_params())

    def product(self) -> luigi.LocalTarget:
        return luigi.LocalTarget(str(self.layout.aip))

    def identity_settings(self) -> dict[str, str]:
        return {"organization": item_settings(self)["organization"]}  # bag-info.txt Source-Organization

    def execute(self) -> None:
        assemble_aip(self.batch(), self.layout, organization=self.organization)


class StoreAip(QcGateParams, ShuyingTask):
    """Copy the AIP to every primary location, verified by reading it back."""

    def requires(self) -> BuildAip:
        return BuildAip(**self.shared(), **self.qc_params())

    def product(self) -> luigi.LocalTarget:
        return luigi.LocalTarget(str(self.layout.stored))

    def execute(self) -> None:
        record = store_aip(self.batch(), self.layout, Path(self.storage_config), home=Path(self.home))
        write_json_atomic(self.layout.stored, record)


class PublishManifest(QcGateParams, ShuyingTask):
    """Publish access images and the IIIF manifest once the AIP is safely stored."""

    def requires(self) -> dict:
        return {"stored": StoreAip(**self.shared(), **self.qc_params())}

    def product(self) -> luigi.LocalTarget:
        return luigi.LocalTarget(str(self.layout.manifest))

    def product_complete(self) -> bool:
        # Published *and* stored: with work/ removed, a manifest alone must not pass for an ingest.
        return self.layout.manifest.exists() and self.layout.stored.exists()

    def identity_settings(self) -> dict[str, str]:
        # The tier is published (access.json), so a new one in batch.json republishes the item.
        return {"base_url": str(self.base_url), "persistent_id": item_settings(self)["persistent_id"],
                "access_level": self.batch().access_level.value}

    def execute(self) -> None:
        batch = self.batch()
        # Index first: if publishing fails, the re-run indexes again (replacing the item).
        entities = item_entities(batch, self.layout)  # found once, for the index and the annotation pages
        index_item(batch, self.layout, home=Path(self.home), entities=entities)
        publish_item(batch, self.layout, base_url=self.base_url, persistent_id=self.persistent_id,
                     entities=entities, home=Path(self.home))


class IngestBatch(QcGateParams, luigi.WrapperTask):
    """Everything for one batch; ``shuying ingest`` builds this."""

    batch_dir = ShuyingTask.batch_dir
    work_root = ShuyingTask.work_root
    publish_root = ShuyingTask.publish_root
    storage_config = ShuyingTask.storage_config
    home = ShuyingTask.home
    base_url = ShuyingTask.base_url
    organization = ShuyingTask.organization
    persistent_id = ShuyingTask.persistent_id
    ocr_timeout = ShuyingTask.ocr_timeout
    ocr_engine = ShuyingTask.ocr_engine
    max_megapixels = ShuyingTask.max_megapixels

    def requires(self) -> list[luigi.Task]:
        params = {name: getattr(self, name) for name, _ in self.get_params()}
        # The OCR review does not wait for storage: a technician gets it even if storing fails.
        return [PublishManifest(**params), OcrReview(**params)]
