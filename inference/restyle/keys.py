"""The painted keyframes: how several share a frame (the weights of their looks)."""
from __future__ import annotations


def key_weights(frame: int, key_frames: list[int]) -> list[tuple[int, float]]:
    """(key index, weight) pairs for ``frame``: the nearest key outside the keyed span,
    a linear crossfade between the two keys around it inside, so there is no pop at a switch."""
    if frame <= key_frames[0]:
        return [(0, 1.0)]
    if frame >= key_frames[-1]:
        return [(len(key_frames) - 1, 1.0)]
    after = next(i for i, k in enumerate(key_frames) if k >= frame)
    if key_frames[after] == frame:
        return [(after, 1.0)]
    before = after - 1
    w = (key_frames[after] - frame) / (key_frames[after] - key_frames[before])
    return [(before, w), (after, 1.0 - w)]
