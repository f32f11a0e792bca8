"""bench/cartoon_look.py: a flat-colour, dark-outline look made per frame from a plate."""
import numpy as np

from bench.cartoon_look import COLOURS, OUTLINE, cartoon


def test_cartoon_flattens_colour_and_outlines_edges():
    rng = np.random.default_rng(0)
    ys, xs = np.mgrid[0:64, 0:96]
    frame = np.where((xs < 48)[..., None], (200, 180, 40), (30, 60, 160)).astype(np.float32)
    frame += 20 * np.sin(ys / 7.0)[..., None] + rng.normal(0, 6, frame.shape)  # shading and grain
    out = cartoon(np.clip(frame, 0, 255).astype(np.uint8))
    colours = {tuple(c) for c in out.reshape(-1, 3)}
    assert len(colours) <= COLOURS + 1  # the palette and the outline grey
    assert (out[:, 45:51] == OUTLINE).all(axis=2).any(axis=1).mean() > 0.9  # a dark line along the edge
    assert (out[:, 10:30] == OUTLINE).all(axis=2).mean() < 0.2  # not over the flat areas
