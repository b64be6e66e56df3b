"""PREMIS events for each ingest step, naming the software (and version) that did it."""

from __future__ import annotations

import platform
import ssl

import cv2
import pyvips

from pipeline.batch import Batch, Leaf
from pipeline.clock import now_iso
from pipeline.derivative import AccessImage
from pipeline.formats import identification_tool
from pipeline.mets import shuying_agent
from pipeline.ocr import OcrPage
from pipeline.premis import Agent, AgentType, Event, EventType, Outcome
from pipeline.qc_report import gate_summary, summary_line


def libvips_agent() -> Agent:
    return Agent("libvips", AgentType.SOFTWARE, f"{pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}")


def opencv_agent() -> Agent:
    return Agent("opencv", AgentType.SOFTWARE, cv2.__version__)


def hashlib_agent() -> Agent:
    return Agent("python-hashlib", AgentType.SOFTWARE, f"{platform.python_version()} ({ssl.OPENSSL_VERSION})")


def _page_ids(batch: Batch) -> tuple[str, ...]:
    return tuple(p.page_id for p in batch.pages)


def capture(batch: Batch) -> Event:
    """The capture at the camera station, as the batch describes it."""
    c = batch.capture
    detail = "; ".join(f"{k}: {v}" for k, v in (
        ("station", c.station_id), ("camera", c.camera), ("lens", c.lens), ("lighting", c.lighting),
        ("declared ppi", c.declared_ppi)) if v)
    operator = Agent(c.operator, AgentType.PERSON, role="implementer")
    return Event(EventType.CAPTURE, c.capture_date or now_iso(), detail, Outcome.SUCCESS,
                 agents=(operator,), object_ids=_page_ids(batch))


def validation(batch: Batch) -> Event:
    return Event(EventType.VALIDATION, now_iso(),
                 "batch.json checked against batch.schema.json; every master probed and fully decoded",
                 Outcome.SUCCESS, agents=(shuying_agent(), libvips_agent()), object_ids=_page_ids(batch))


def digest_calculation(batch: Batch) -> Event:
    return Event(EventType.MESSAGE_DIGEST_CALCULATION, now_iso(), "SHA-256 and SHA-512 of every master, in one read",
                 Outcome.SUCCESS, agents=(shuying_agent(), hashlib_agent()), object_ids=_page_ids(batch))


def quality_control(batch: Batch, report: dict) -> Event:
    """QC of the batch; a person who let findings through the gate is named as authorizer, with why."""
    outcome = {"pass": Outcome.SUCCESS, "warn": Outcome.WARNING, "fail": Outcome.FAILURE}[report["status"]]
    agents = [shuying_agent(), opencv_agent(), libvips_agent()]
    detail = summary_line(report)
    let_through = gate_summary(report.get("gate", {}))
    if let_through:
        agents.append(Agent(report["gate"]["operator"], AgentType.PERSON, role="authorizer"))
        detail = f"{detail}; {let_through}"
    return Event(EventType.VALIDATION, now_iso(), f"image quality control (profile {report['profile']['name']})",
                 outcome, detail, agents=tuple(agents), object_ids=_page_ids(batch))


def derivative(batch: Batch, page: Leaf, made: AccessImage) -> Event:
    """The creation of the access derivative: turn, deskew and crop, with their parameters."""
    orientation, estimate, deskewed = made.orientation, made.estimate, made.deskewed
    turned = (f"turned {orientation.turn} deg clockwise (Tesseract OSD, confidence {orientation.confidence:.1f}), "
              if orientation.turn else "")
    detail = (f"access derivative: {turned}deskew estimated {estimate.angle:+.3f} deg (confidence "
              f"{estimate.confidence:.2f}, method {estimate.method}), rotated by {-deskewed.angle_applied:+.3f} deg, "
              f"bicubic, {_crop_detail(made)}{_split_detail(made)}, {made.width}x{made.height} px, "
              "pyramidal TIFF JPEG Q85; "
              "master not modified")
    return Event(EventType.CREATION, now_iso(), detail, Outcome.SUCCESS,
                 agents=(shuying_agent(), libvips_agent()), object_ids=(page.page_id,))


def _crop_detail(made: AccessImage) -> str:
    if made.crop is None:
        return "not cropped (page kept as shot)"
    if made.crop.box is None:
        return f"not cropped: {made.crop.note}"
    left, top, width, height = made.crop.box
    corners = " ".join(f"{x:g},{y:g}" for x, y in made.master_region())
    return (f"cropped to the page ({made.crop.ground} ground, confidence {made.crop.confidence:.2f}): box "
            f"x={left} y={top} w={width} h={height} of the deskewed {made.deskewed.width}x{made.deskewed.height} px, "
            f"master region {corners}")


def _split_detail(made: AccessImage) -> str:
    if made.split is None:
        return ""
    split = made.split
    return (f", {made.side.value} leaf of a two-leaf image cut at x={split.x} of the cropped spread "
            f"({split.method}, confidence {split.confidence:.2f}: {split.note})")


def ocr(batch: Batch, page: Leaf, result: OcrPage) -> Event:
    params = " ".join(f"{k}={v}" for k, v in sorted(result.parameters.items()))
    detail = (f"OCR: {result.engine} {result.engine_version}, model {result.language}, {params}; "
              f"ALTO coordinates in access-derivative pixels")
    engine = Agent(result.engine, AgentType.SOFTWARE, result.engine_version)
    review = "; needs OCR review" if result.needs_review() else ""
    return Event(EventType.CREATION, now_iso(), detail, Outcome.SUCCESS,
                 f"{len(result.lines)} lines, mean confidence {result.mean_confidence:.2f}{review}",
                 agents=(shuying_agent(), engine), object_ids=(page.page_id,))


def format_identification(object_ids: tuple[str, ...], unknown: tuple[str, ...]) -> Event:
    """Every payload file identified against PRONOM; files matching no signature are named."""
    tool = identification_tool()
    agent = Agent(tool.name, AgentType.SOFTWARE, tool.version)
    outcome = Outcome.WARNING if unknown else Outcome.SUCCESS
    note = f"no PRONOM format for {', '.join(unknown)}" if unknown else f"{len(object_ids)} files identified"
    return Event(EventType.FORMAT_IDENTIFICATION, now_iso(), f"PRONOM identification by {tool.describe()}",
                 outcome, note, agents=(shuying_agent(), agent), object_ids=object_ids)


def package_creation(batch: Batch) -> Event:
    return Event(EventType.INFORMATION_PACKAGE_CREATION, now_iso(),
                 "AIP assembled as a BagIt 1.0 bag (SHA-256 and SHA-512 manifests) for storage",
                 Outcome.SUCCESS, agents=(shuying_agent(),), object_ids=_page_ids(batch))


