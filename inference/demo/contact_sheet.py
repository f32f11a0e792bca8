"""A labelled contact sheet of sequences, written as an sRGB PNG (OpenImageIO)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
import OpenImageIO as oiio

from ..colour import WORKING_ENCODING
from ..image import Image, write_image

LABEL_HEIGHT = 22
GAP = 6


def motion_to_rgb(uv: np.ndarray, scale: float | None = None) -> np.ndarray:
    """Visualise ``(H, W, 2)`` vectors: hue = direction, brightness = speed."""
    speed, angle = cv2.cartToPolar(np.ascontiguousarray(uv[..., 0]), np.ascontiguousarray(uv[..., 1]),
                                   angleInDegrees=True)
    scale = scale or max(float(speed.max()), 1e-6)
    hsv = np.stack([angle, np.ones_like(speed), np.clip(speed / scale, 0, 1)], axis=-1)
    return cv2.cvtColor(hsv.astype(np.float32), cv2.COLOR_HSV2RGB)


def _label(tile: np.ndarray, text: str) -> np.ndarray:
    """Return ``tile`` with a strip holding ``text`` above it."""
    height, width = tile.shape[:2]
    buf = oiio.ImageBuf(oiio.ImageSpec(width, LABEL_HEIGHT, 3, "float"))
    oiio.ImageBufAlgo.render_text(buf, 4, LABEL_HEIGHT - 6, text, 14, "DroidSans", (0.9, 0.9, 0.9))
    return np.concatenate([buf.get_pixels(oiio.FLOAT), tile], axis=0)


def contact_sheet(rows: Sequence[tuple[str, Sequence[tuple[str, np.ndarray]]]], path: Path,
                  tile_width: int = 240) -> Path:
    """Write rows of ``(row label, [(tile label, sRGB array)])`` as one PNG; return its path."""
    rendered_rows = []
    for row_label, tiles in rows:
        cells = []
        for label, srgb in tiles:
            height = int(round(srgb.shape[0] * tile_width / srgb.shape[1]))
            buf = oiio.ImageBuf(np.ascontiguousarray(np.clip(srgb, 0, 1).astype(np.float32)))
            small = oiio.ImageBufAlgo.resize(buf, roi=oiio.ROI(0, tile_width, 0, height, 0, 1, 0, 3))
            cells.append(_label(small.get_pixels(oiio.FLOAT), f"{row_label} {label}"))
        rendered_rows.append(cells)
    cell_h = max(c.shape[0] for cells in rendered_rows for c in cells)
    columns = max(len(cells) for cells in rendered_rows)
    sheet = np.full((GAP + len(rendered_rows) * (cell_h + GAP), GAP + columns * (tile_width + GAP), 3),
                    0.12, np.float32)
    for r, cells in enumerate(rendered_rows):
        for c, cell in enumerate(cells):
            y, x = GAP + r * (cell_h + GAP), GAP + c * (tile_width + GAP)
            sheet[y:y + cell.shape[0], x:x + cell.shape[1]] = cell
    write_image(path, Image.from_array(sheet, ("R", "G", "B")), colourspace=WORKING_ENCODING)  # sRGB tiles
    return path
