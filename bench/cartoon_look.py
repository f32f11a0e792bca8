"""A flat-colour, dark-outline cartoon look made frame by frame from a plate (OpenCV), as a
frame-by-frame styliser would make it: the per-frame references of a look the shared material
lacks (its G'MIC looks are painterly, pencil and kuwahara), for checking the restyle on it.

Per frame: four bilateral filters (9 px, colour sigma 40, space sigma 7), the colours quantised to
8 by k-means (k-means++ seeding, 2 attempts: per frame, so the palette flickers as a per-frame
paint-over's does), and dark outlines (grey 20) where an adaptive mean threshold (block 9, C 5) of the
median-blurred (5 px) grey plate is below its neighbourhood.

    python -m bench.cartoon_look --plate ../shared/data/live_bikes_shot2/bikes_shot2.####.png \\
        --out .cache/cartoon/bikes_shot2_cartoon.####.png
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from inference.sequence import SequencePattern

COLOURS = 8
OUTLINE = 20  # 8-bit grey of the outlines


def cartoon(bgr: np.ndarray) -> np.ndarray:
    """The cartoon look of one 8-bit BGR frame (as cv2 reads it)."""
    smooth = bgr
    for _ in range(4):
        smooth = cv2.bilateralFilter(smooth, 9, 40, 7)
    pixels = smooth.reshape(-1, 3).astype(np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 10, 1.0)
    _, labels, centres = cv2.kmeans(pixels, COLOURS, None, criteria, 2, cv2.KMEANS_PP_CENTERS)
    flat = centres.astype(np.uint8)[labels.flatten()].reshape(bgr.shape)
    grey = cv2.medianBlur(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), 5)
    edges = cv2.adaptiveThreshold(grey, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, 9, 5)
    return np.where(edges[..., None] > 0, flat, np.uint8(OUTLINE))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plate", required=True, help="the plate's 8-bit PNG frames, name.####.png")
    parser.add_argument("--out", required=True, help="where the look's frames go, name.####.png")
    args = parser.parse_args()
    plate, out = SequencePattern.parse(args.plate), SequencePattern.parse(args.out)
    Path(out.path(0)).parent.mkdir(parents=True, exist_ok=True)
    for frame in plate.existing_frames():
        cv2.imwrite(out.path(frame), cartoon(cv2.imread(plate.path(frame))))
    print(f"wrote {len(plate.existing_frames())} frames to {out}")


if __name__ == "__main__":
    main()
