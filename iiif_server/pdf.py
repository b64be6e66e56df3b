"""PDF download of a run of leaves: ``/iiif/{item_id}/pdf?from=<leaf>&to=<leaf>``.

Each leaf is the page image with its OCR text as an invisible, searchable layer
(:mod:`pipeline.pdf`), in the manifest's reading order. ``from`` and ``to`` each name
a leaf by page id (``p0003``, ``p0002r``) or by its label in the manifest (``卷一 葉二上``);
a page id wins when a label happens to spell one. Either may be left out (or empty): from
the first leaf, to the last. Both ends are included, and at most :data:`MAX_LEAVES`
leaves go into one PDF.

Access follows the image route exactly (:meth:`AccessPolicy.decide`): a hidden item is
404 like one that does not exist; a reduced grant gets each image planned by
:func:`~iiif_server.geometry.plan_reduced`, the same code that serves the Image API, so
no PDF carries more pixels than the image route would give the same requester. The text
layer stays: the restricted tier allows text. Full grants get images of at most
:data:`PDF_MAX_SIZE` px on the long edge. A PDF is a heavy render: it waits for a slot
of its own :class:`~iiif_server.image_service.RenderGate` (``heavy_renders`` at once,
``heavy_queue`` waiting, the rest 503) and is built in a worker thread.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from anyio import to_thread
from starlette.requests import Request
from starlette.responses import Response

from iiif_server.access import AccessPolicy, Decision, Grant, private_headers
from iiif_server.config import ServerOptions
from iiif_server.errors import BadRequest, NotFound, Unavailable
from iiif_server.geometry import (
    Dimensions,
    Pyramid,
    RenderPlan,
    image_limits,
    plan_reduced,
    plan_render,
    reduced_size,
)
from iiif_server.headers import caching_headers, entity_tag, is_not_modified
from iiif_server.image_request import parse_image_request
from iiif_server.image_service import RenderGate
from iiif_server.presentation import ManifestCache
from iiif_server.published import PAGE_ID, PageRef, PublishedStore, SourceFile, missing
from iiif_server.render import Renderer
from pipeline.pdf import PdfError, PdfLine, PdfMetadata, PdfPage, cjk_font, write_pdf
from pipeline.pdf_text import AltoTextError, read_alto_lines

log = logging.getLogger(__name__)

MAX_LEAVES = 50  # per PDF: about 25 s of rendering and 30 MB at PDF_MAX_SIZE
PDF_MAX_SIZE = 2000  # px on the long edge of a page image for full grants (about 230 dpi on a 22 cm leaf)
PAGE_DPI = 300  # a page of the access image's pixels is this many pixels to the inch (its size in points)
MAX_PARAMETER = 200  # characters of from= or to=: a label is far shorter
MEDIA_TYPE = "application/pdf"
PDF_VERSION = "1"  # bump when the PDF changes in a way that makes earlier ETags wrong
PERSISTENT_ID_LABEL = "Persistent identifier"  # pipeline.manifest's metadata row
CREATOR_LABEL = "Creator"


@dataclass(frozen=True)
class Leaf:
    """A canvas of the manifest: its page id and its label."""

    page_id: str
    label: str


@dataclass(frozen=True)
class Sources:
    """The published files one leaf of the PDF is made from (no ALTO: a page without text)."""

    leaf: Leaf
    image: SourceFile
    alto: SourceFile | None


class PdfService:
    """Answer ``/iiif/{item_id}/pdf`` with the PDF of a run of leaves."""

    def __init__(self, store: PublishedStore, manifests: ManifestCache, policy: AccessPolicy,
                 renderer: Renderer, options: ServerOptions) -> None:
        self.store = store
        self.manifests = manifests
        self.policy = policy
        self.renderer = renderer
        self.options = options
        self._gate = RenderGate(options.heavy_renders, options.heavy_queue)

    async def download(self, request: Request) -> Response:
        """Return the PDF of the leaves from= … to= of the item, as an attachment."""
        item_id = request.path_params["item_id"]
        self.store.check_item(item_id)
        decision = self.policy.decide(request, item_id)
        if decision.grant is Grant.HIDDEN:
            raise missing(item_id, "pdf")  # exactly what an item that does not exist gets
        manifest_source = self.store.manifest(item_id)
        manifest = await to_thread.run_sync(self.manifests.load, manifest_source)
        leaves = choose_leaves(manifest_leaves(manifest), request.query_params.multi_items())
        sources = [self._sources(item_id, leaf) for leaf in leaves]
        headers = self._headers(item_id, manifest_source, sources, decision)
        if is_not_modified(request.headers, headers["ETag"], _newest(manifest_source, sources)):
            return Response(status_code=304, headers=headers)
        metadata = pdf_metadata(manifest, item_id, leaves)
        await to_thread.run_sync(self._check_font)  # the first call loads the font (0.2 s)
        async with self._gate.slot():
            data = await to_thread.run_sync(self._build, item_id, sources, decision, metadata)
        return Response(data, media_type=MEDIA_TYPE, headers=headers)

    @staticmethod
    def _check_font() -> None:
        """Refuse with 503 (not 500) on a machine without the CJK font: the server is not set up for PDFs."""
        try:
            cjk_font()
        except PdfError as exc:
            raise Unavailable(f"PDF download is not available on this server: {exc}") from None

    def _sources(self, item_id: str, leaf: Leaf) -> Sources:
        image = self.store.page_image(PageRef(item_id, leaf.page_id))
        try:
            alto = self.store.alto(item_id, leaf.page_id)
        except NotFound:
            alto = None
        return Sources(leaf, image, alto)

    def _headers(self, item_id: str, manifest: SourceFile, sources: list[Sources],
                 decision: Decision) -> dict[str, str]:
        versions = [(s.image.version, s.alto.version if s.alto else None) for s in sources]
        reduced = self.options.restricted_max_size if decision.grant is Grant.REDUCED else None
        etag = entity_tag("pdf", PDF_VERSION, manifest.version, versions, reduced, PDF_MAX_SIZE, PAGE_DPI,
                          self.renderer.encoding)
        headers = {**caching_headers(etag, _newest(manifest, sources), self.options.max_age),
                   "Content-Disposition": f'attachment; filename="{pdf_filename(item_id, sources)}"'}
        return private_headers(headers, self.options.max_age) if decision.personal else headers

    def _build(self, item_id: str, sources: list[Sources], decision: Decision, metadata: PdfMetadata) -> bytes:
        out = io.BytesIO()
        pages = (self._page(item_id, s, decision.grant) for s in sources)  # rendered one at a time
        write_pdf(out, pages, metadata)
        return out.getvalue()

    def _page(self, item_id: str, sources: Sources, grant: Grant) -> PdfPage:
        """Render one leaf's image as the requester may see it, and read its text."""
        image = sources.image
        pyramid = self.renderer.probe(image.path, image.version)
        reduced = reduced_size(pyramid.dimensions, self.options.restricted_max_size) \
            if grant is Grant.REDUCED else None
        plan = self._plan(PageRef(item_id, sources.leaf.page_id).identifier, pyramid, reduced)
        jpeg = self.renderer.render(image.path, image.version, plan)
        width, height = pyramid.width, pyramid.height
        return PdfPage(jpeg, width * 72 / PAGE_DPI, height * 72 / PAGE_DPI, (width, height),
                       self._lines(sources.alto), sources.leaf.label)

    def _plan(self, identifier: str, pyramid: Pyramid, reduced: Dimensions | None) -> RenderPlan:
        """Plan the whole page as the Image API would for ``full/!N,N/0/default.jpg`` (or ``max``)."""
        view = reduced or pyramid.dimensions
        size = "max" if max(view.width, view.height) <= PDF_MAX_SIZE else f"!{PDF_MAX_SIZE},{PDF_MAX_SIZE}"
        request = parse_image_request(identifier, "full", size, "0", "default.jpg")
        if reduced is None:
            return plan_render(request, pyramid, image_limits(self.options.limits, pyramid.dimensions,
                                                              self.options.max_upscale))
        return plan_reduced(request, pyramid, self.options.limits, reduced)

    @staticmethod
    def _lines(alto: SourceFile | None) -> tuple[PdfLine, ...]:
        if alto is None:
            return ()
        try:
            return read_alto_lines(alto.path)
        except AltoTextError as exc:
            log.warning("%s; its page goes into the PDF without text", exc)
            return ()


def manifest_leaves(manifest: Mapping[str, Any]) -> list[Leaf]:
    """Return the manifest's canvases in reading order as leaves (page id: the canvas id's last segment)."""
    leaves = []
    items = manifest.get("items") if isinstance(manifest, Mapping) else None  # a manifest that is not an object
    for canvas in items if isinstance(items, list) else ():
        page_id = str(canvas.get("id", "")).rstrip("/").rsplit("/", 1)[-1] if isinstance(canvas, dict) else ""
        if PAGE_ID.fullmatch(page_id):
            leaves.append(Leaf(page_id, first_value(canvas.get("label")) or page_id))
    return leaves


def choose_leaves(leaves: list[Leaf], params: Sequence[tuple[str, str]]) -> list[Leaf]:
    """Return the leaves from ``from`` to ``to`` (both included), or say in a 400 what is wrong with them."""
    if not leaves:
        raise NotFound("the item has no pages to put in a PDF")
    first = _position(leaves, _parameter(params, "from"), "from", 0)
    last = _position(leaves, _parameter(params, "to"), "to", len(leaves) - 1)
    if last < first:
        raise BadRequest(f"to={leaves[last].page_id} comes before from={leaves[first].page_id} in reading order; "
                         "give the earlier leaf as from", "to")
    count = last - first + 1
    if count > MAX_LEAVES:
        raise BadRequest(f"{leaves[first].page_id} to {leaves[last].page_id} is {count} leaves; a PDF holds at "
                         f"most {MAX_LEAVES}: ask for a shorter run with from= and to=", "to")
    return leaves[first:last + 1]


def _parameter(params: Sequence[tuple[str, str]], name: str) -> str:
    values = [value for key, value in params if key == name]
    if len(values) > 1:
        raise BadRequest(f"given {len(values)} times; give it once", name)
    value = values[0].strip() if values else ""
    if len(value) > MAX_PARAMETER:
        raise BadRequest(f"is {len(value)} characters long; a page id or leaf label is at most {MAX_PARAMETER}",
                         name)
    return value


def _position(leaves: list[Leaf], value: str, name: str, default: int) -> int:
    """Return the index of the leaf ``value`` names: a page id, else a label that names one leaf only."""
    if not value:
        return default
    for index, leaf in enumerate(leaves):
        if leaf.page_id == value:
            return index
    labelled = [index for index, leaf in enumerate(leaves) if leaf.label == value]
    if len(labelled) > 1:
        raise BadRequest(f"the label {value!r} names {len(labelled)} leaves; give a page id "
                         f"({', '.join(leaves[i].page_id for i in labelled[:5])})", name)
    if not labelled:
        shown = value if len(value) <= 40 else value[:40] + "…"
        raise BadRequest(f"no leaf of this item has the page id or label {shown!r} (page ids run "
                         f"{leaves[0].page_id} to {leaves[-1].page_id})", name)
    return labelled[0]


def pdf_filename(item_id: str, sources: list[Sources]) -> str:
    """Return ``<item>-<first page id>-<last page id>.pdf`` (ASCII only: ids are checked patterns)."""
    return f"{item_id}-{sources[0].leaf.page_id}-{sources[-1].leaf.page_id}.pdf"


def pdf_metadata(manifest: Mapping[str, Any], item_id: str, leaves: list[Leaf]) -> PdfMetadata:
    """Return the PDF's title, subject (item, leaves, persistent id), author and language from the manifest."""
    label = manifest.get("label")
    title = first_value(label) or item_id
    pid = metadata_value(manifest, PERSISTENT_ID_LABEL)
    run = leaves[0].label if len(leaves) == 1 else f"{leaves[0].label} – {leaves[-1].label}"
    subject = f"{item_id}: {run}" + (f"; {pid}" if pid else "")
    language = next((key for key in label if key != "none"), "") if isinstance(label, dict) else ""
    return PdfMetadata(title=title, subject=subject, author=metadata_value(manifest, CREATOR_LABEL),
                       keywords=tuple(k for k in (item_id, pid) if k), language=language,
                       right_to_left=manifest.get("viewingDirection") == "right-to-left")


def metadata_value(manifest: Mapping[str, Any], english_label: str) -> str:
    """Return the value of the manifest's metadata row whose English label is ``english_label``, or ''."""
    for row in manifest.get("metadata") or ():
        if isinstance(row, dict) and english_label in ((row.get("label") or {}).get("en") or ()):
            return first_value(row.get("value"))
    return ""


def first_value(language_map: Any) -> str:
    """Return the first string of a IIIF language map (zh-Hant first), or ''."""
    if not isinstance(language_map, dict) or not language_map:
        return ""
    values = language_map.get("zh-Hant") or next(iter(language_map.values()))
    return str(values[0]) if isinstance(values, list) and values else ""


def _newest(manifest: SourceFile, sources: list[Sources]) -> float:
    times = [manifest.mtime, *(s.image.mtime for s in sources), *(s.alto.mtime for s in sources if s.alto)]
    return max(times)
