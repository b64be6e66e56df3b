"""The access derivative of a master: turned upright, deskewed and cropped to the page.

The master is only read. Skew is estimated on the upright page; the page is found on a
small deskewed copy (the ground round the page, a colour target beside it and a spine
shadow are left out, see :mod:`pipeline.crop`); the full-size page is rotated once, and
the crop only chooses which part of the rotated image is computed and kept. ``affine``
maps master pixels to derivative pixels through all three steps, so OCR coordinates
and regions can be traced back to the master.

A master that shows two leaves (an open book, an uncut double leaf) is made into the
access image of the whole spread first; :func:`split_leaf` then keeps one side of it,
cut at the fold found by :mod:`pipeline.split` on a small copy (or where batch.json
says), so each leaf is still one resampling of the master.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyvips

from pipeline.batch import Leaf, Side
from pipeline.crop import PageCrop, find_page
from pipeline.deskew import Affine, DeskewResult, SkewEstimate, deskew, estimate_skew
from pipeline.errors import ImageError
from pipeline.images import to_numpy, to_srgb8
from pipeline.orientation import Orientation, compose, turn_affine, upright
from pipeline.split import Split, find_split

CROP_LONG_SIDE = 1000  # px; the page is found on a copy this size (pipeline.crop works at this size)


@dataclass(frozen=True)
class AccessImage:
    """The derivative's pixels (lazy) and every step that made them from the master."""

    image: pyvips.Image
    orientation: Orientation
    estimate: SkewEstimate
    deskewed: DeskewResult  # before cropping
    crop: PageCrop | None  # None: cropping was not tried (colour targets, spines)
    affine: Affine  # master pixel -> derivative pixel
    side: Side = Side.WHOLE  # the part of a two-leaf master this image shows
    split: Split | None = None  # where the spread was cut (spread pixels, before split_leaf kept one side)

    @property
    def width(self) -> int:
        return self.image.width

    @property
    def height(self) -> int:
        return self.image.height

    def crop_record(self) -> dict[str, object]:
        """What deskew.json says about the crop."""
        if self.crop is None:
            return {"applied": False, "note": "not cropped: page type is not cropped"}
        crop = self.crop
        return {"applied": crop.box is not None, "box": list(crop.box) if crop.box else None,
                "page_box": list(crop.page_box) if crop.page_box else None, "ground": crop.ground,
                "confidence": round(crop.confidence, 3), "note": crop.note,
                "deskewed_size": [self.deskewed.width, self.deskewed.height]}

    def split_record(self) -> dict[str, object] | None:
        """What deskew.json says about the leaf cut out of a two-leaf master (None: a whole master)."""
        if self.split is None:
            return None
        return {"side": self.side.value, "x": int(self.split.x), "method": self.split.method,
                "confidence": round(float(self.split.confidence), 3), "note": self.split.note}

    def master_region(self) -> list[tuple[float, float]]:
        """The derivative's corners in master pixels, clockwise from top left (a rotated rectangle)."""
        a, b, c, d, e, f = self.affine
        det = a * e - b * d
        corners = ((0.0, 0.0), (self.width, 0.0), (self.width, self.height), (0.0, self.height))
        return [(round((e * (x - c) - b * (y - f)) / det, 1), round((a * (y - f) - d * (x - c)) / det, 1))
                for x, y in corners]


def make_access_image(master: pyvips.Image, *, turn_upright: bool = True, crop: bool = True) -> AccessImage:
    """Turn ``master`` upright, deskew it and crop it to the page, in one resampling.

    ``turn_upright`` and ``crop`` are off for pages that are kept as shot (colour
    targets, spines). A page without a clear edge is left uncropped; ``crop.note`` says why.
    """
    image, orientation = (upright(master) if turn_upright
                          else (master, Orientation(0, 0.0, note="not checked: page is not read")))
    estimate = estimate_skew(image)
    result = deskew(image, estimate)
    affine = compose(result.affine, turn_affine(orientation.turn, master.width, master.height))
    if not crop:
        return AccessImage(result.image, orientation, estimate, result, None, affine)
    found = locate_page(image, estimate, result)
    if found.box is None:
        return AccessImage(result.image, orientation, estimate, result, found, affine)
    left, top, width, height = found.box
    cropped = result.image.crop(left, top, width, height)
    affine = compose((1.0, 0.0, -float(left), 0.0, 1.0, -float(top)), affine)
    return AccessImage(cropped, orientation, estimate, result, found, affine)


def make_leaf_image(master: pyvips.Image, leaf: Leaf, *, kept_as_shot: bool = False) -> AccessImage:
    """The access image of one leaf; a two-leaf master is deskewed and cropped whole, then cut.

    ``kept_as_shot`` pages (colour targets, spines) are neither turned nor cropped.
    """
    made = make_access_image(master, turn_upright=not kept_as_shot, crop=not kept_as_shot)
    if leaf.side is Side.WHOLE:
        return made
    given = leaf.master.split_x
    split = (locate_split(made.image) if given is None
             else given_split(made, given, master.height, name=leaf.file))
    return split_leaf(made, split, leaf.side)


def locate_page(image: pyvips.Image, estimate: SkewEstimate, result: DeskewResult) -> PageCrop:
    """Find the page on a small copy of ``image`` deskewed as ``result`` was; return it in ``result``'s pixels."""
    scale = min(1.0, CROP_LONG_SIDE / max(image.width, image.height))
    small = image.resize(scale, kernel="linear") if scale < 1 else image
    pixels = to_numpy(to_srgb8(small))
    # Corners opened by the rotation are filled with the ground round the page, not paper.
    preview = deskew(small, estimate, background=border_colour(pixels))
    pixels = to_numpy(to_srgb8(preview.image))
    found = find_page(pixels[..., :3])
    return found.scaled(result.width / preview.width, result.width, result.height)


def border_colour(pixels: np.ndarray) -> list[float]:
    """Return the median colour of the image's outermost ring: the ground, where there is one."""
    ring = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    return [float(v) for v in np.median(ring, axis=0)]


def locate_split(image: pyvips.Image) -> Split:
    """Find where a spread's access image divides into two leaves (on a small copy, in ``image``'s pixels)."""
    scale = min(1.0, CROP_LONG_SIDE / max(image.width, image.height))
    small = image.resize(scale, kernel="linear") if scale < 1 else image
    return find_split(to_numpy(to_srgb8(small))[..., :3]).scaled(image.width / small.width, image.width)


def given_split(made: AccessImage, master_x: int, master_height: int, *, name: str) -> Split:
    """The cut batch.json gives at column ``master_x`` of the master ``name``, in ``made``'s pixels."""
    a, b, c, _d, _e, _f = made.affine
    x = round(a * master_x + b * master_height / 2 + c)
    if not 0 < x < made.width:
        raise ImageError(name, f"split x={master_x} does not fall inside the page found in the image",
                         hint="give x as a column of the master, between the two leaves, or use split: auto")
    return Split(x, "given", 1.0, f"cut at column {master_x} of the master, as batch.json says")


def split_leaf(made: AccessImage, split: Split, side: Side) -> AccessImage:
    """Keep one leaf of a spread's access image: left of ``split.x`` or from it rightwards."""
    cut = int(split.x)
    left = cut if side is Side.RIGHT else 0
    width = made.width - cut if side is Side.RIGHT else cut
    cropped = made.image.crop(left, 0, width, made.height)
    affine = compose((1.0, 0.0, -float(left), 0.0, 1.0, 0.0), made.affine)
    return AccessImage(cropped, made.orientation, made.estimate, made.deskewed, made.crop, affine, side, split)
