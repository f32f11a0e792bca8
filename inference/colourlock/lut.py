"""3D LUTs: sample a transform on a grid, apply (trilinear/tetrahedral), read/write .cube.

A LUT is a ``(N, N, N, 3)`` float array indexed ``[r, g, b]`` over the cube
``domain_min..domain_max`` per channel. ``.cube`` files are the Iridas/Resolve text format
(``LUT_3D_SIZE``, ``DOMAIN_MIN``, ``DOMAIN_MAX``, one ``r g b`` line per grid point, red
varying fastest), which Nuke's OCIOFileTransform reads through OpenColorIO.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import PyOpenColorIO as ocio


@dataclass
class Lut3D:
    table: np.ndarray                      # (N, N, N, 3), indexed [r, g, b]
    domain_min: np.ndarray = field(default_factory=lambda: np.zeros(3))
    domain_max: np.ndarray = field(default_factory=lambda: np.ones(3))

    def __post_init__(self):
        self.table = np.asarray(self.table, dtype=np.float64)
        n = self.table.shape[0]
        if self.table.shape != (n, n, n, 3) or n < 2:
            raise ValueError(f"LUT table must be (N, N, N, 3) with N >= 2, got {self.table.shape}")
        self.domain_min = np.broadcast_to(np.asarray(self.domain_min, np.float64), (3,)).copy()
        self.domain_max = np.broadcast_to(np.asarray(self.domain_max, np.float64), (3,)).copy()
        if np.any(self.domain_max <= self.domain_min):
            raise ValueError("LUT domain_max must exceed domain_min in every channel")

    @property
    def size(self) -> int:
        return self.table.shape[0]

    def grid(self) -> np.ndarray:
        """The input colours of the grid points, ``(N, N, N, 3)`` indexed [r, g, b]."""
        return lattice(self.size, self.domain_min, self.domain_max)

    def apply(self, rgb, interpolation: str = "tetrahedral") -> np.ndarray:
        return apply_lut(self, rgb, interpolation)


def lattice(size: int, domain_min=0.0, domain_max=1.0) -> np.ndarray:
    lo = np.broadcast_to(np.asarray(domain_min, np.float64), (3,))
    hi = np.broadcast_to(np.asarray(domain_max, np.float64), (3,))
    axes = [np.linspace(lo[c], hi[c], size) for c in range(3)]
    r, g, b = np.meshgrid(*axes, indexing="ij")
    return np.stack([r, g, b], axis=-1)


def sample_transform(fn: Callable[[np.ndarray], np.ndarray], size: int = 33,
                     domain_min=0.0, domain_max=1.0) -> Lut3D:
    """Bake ``fn`` (maps ``(M, 3)`` RGB to ``(M, 3)``) into a ``size``^3 LUT."""
    grid = lattice(size, domain_min, domain_max)
    out = np.asarray(fn(grid.reshape(-1, 3)), dtype=np.float64).reshape(grid.shape)
    return Lut3D(out, domain_min, domain_max)


def apply_lut(lut: Lut3D, rgb, interpolation: str = "tetrahedral") -> np.ndarray:
    """Apply ``lut`` to ``(..., 3)`` colours (inputs clamped to the domain, as OCIO does)."""
    rgb = np.asarray(rgb)
    shape, dtype = rgb.shape, (rgb.dtype if rgb.dtype.kind == "f" else np.float32)
    x = rgb.reshape(-1, 3).astype(np.float64)
    n = lut.size
    t = (x - lut.domain_min) / (lut.domain_max - lut.domain_min) * (n - 1)
    t = np.clip(t, 0.0, n - 1)
    i0 = np.minimum(np.floor(t).astype(np.int64), n - 2)
    f = t - i0
    table = lut.table

    def corner(dr, dg, db):
        return table[i0[:, 0] + dr, i0[:, 1] + dg, i0[:, 2] + db]

    if interpolation == "trilinear":
        fr, fg, fb = f[:, 0:1], f[:, 1:2], f[:, 2:3]
        c00 = corner(0, 0, 0) * (1 - fr) + corner(1, 0, 0) * fr
        c10 = corner(0, 1, 0) * (1 - fr) + corner(1, 1, 0) * fr
        c01 = corner(0, 0, 1) * (1 - fr) + corner(1, 0, 1) * fr
        c11 = corner(0, 1, 1) * (1 - fr) + corner(1, 1, 1) * fr
        c0 = c00 * (1 - fg) + c10 * fg
        c1 = c01 * (1 - fg) + c11 * fg
        out = c0 * (1 - fb) + c1 * fb
    elif interpolation == "tetrahedral":
        order = np.argsort(-f, axis=1, kind="stable")           # largest fraction first
        fs = np.take_along_axis(f, order, axis=1)
        step = np.eye(3, dtype=np.int64)
        v1 = i0 + step[order[:, 0]]
        v2 = v1 + step[order[:, 1]]
        p0 = corner(0, 0, 0)
        p1 = table[v1[:, 0], v1[:, 1], v1[:, 2]]
        p2 = table[v2[:, 0], v2[:, 1], v2[:, 2]]
        p3 = corner(1, 1, 1)
        out = ((1 - fs[:, 0:1]) * p0 + (fs[:, 0:1] - fs[:, 1:2]) * p1
               + (fs[:, 1:2] - fs[:, 2:3]) * p2 + fs[:, 2:3] * p3)
    else:
        raise ValueError(f"interpolation must be 'trilinear' or 'tetrahedral', got {interpolation!r}")
    return out.reshape(shape).astype(dtype, copy=False)


def write_cube(path: str | os.PathLike, lut: Lut3D, title: str = "ColourLock") -> Path:
    """Write ``lut`` as an Iridas/Resolve ``.cube`` (red fastest); atomic replace."""
    path = Path(path)
    n = lut.size
    lines = [f'TITLE "{title}"', f"LUT_3D_SIZE {n}",
             "DOMAIN_MIN " + " ".join(f"{v:.10g}" for v in lut.domain_min),
             "DOMAIN_MAX " + " ".join(f"{v:.10g}" for v in lut.domain_max)]
    # Row order: blue slowest, red fastest -> iterate table transposed to [b, g, r].
    rows = np.transpose(lut.table, (2, 1, 0, 3)).reshape(-1, 3)
    lines.extend(f"{r:.8f} {g:.8f} {b:.8f}" for r, g, b in rows)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, path)
    return path


def read_cube(path: str | os.PathLike) -> Lut3D:
    """Read a 3D ``.cube`` written by :func:`write_cube` (or any Iridas/Resolve 3D cube)."""
    size, lo, hi, rows = None, np.zeros(3), np.ones(3), []
    for raw in Path(path).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key = line.split()[0]
        if key == "LUT_3D_SIZE":
            size = int(line.split()[1])
        elif key == "DOMAIN_MIN":
            lo = np.array([float(v) for v in line.split()[1:4]])
        elif key == "DOMAIN_MAX":
            hi = np.array([float(v) for v in line.split()[1:4]])
        elif key[0].isalpha():
            continue
        else:
            rows.append([float(v) for v in line.split()[:3]])
    if size is None or len(rows) != size ** 3:
        raise ValueError(f"{path}: not a 3D .cube (LUT_3D_SIZE {size}, {len(rows)} rows)")
    table = np.transpose(np.asarray(rows).reshape(size, size, size, 3), (2, 1, 0, 3))
    return Lut3D(table, lo, hi)


def ocio_processor(cube_path: str | os.PathLike, interpolation: str = "tetrahedral") -> ocio.CPUProcessor:
    """An OCIO CPU processor applying the .cube file, as Nuke's OCIOFileTransform does."""
    interp = {"tetrahedral": ocio.INTERP_TETRAHEDRAL, "trilinear": ocio.INTERP_LINEAR,
              "linear": ocio.INTERP_LINEAR}[interpolation]
    transform = ocio.FileTransform(src=str(Path(cube_path).resolve()), interpolation=interp,
                                   direction=ocio.TRANSFORM_DIR_FORWARD)
    config = ocio.Config.CreateRaw()
    return config.getProcessor(transform).getDefaultCPUProcessor()


def apply_cube_ocio(cube_path: str | os.PathLike, rgb, interpolation: str = "tetrahedral") -> np.ndarray:
    """Apply a .cube file to ``(..., 3)`` colours through OpenColorIO (float32 out)."""
    rgb = np.asarray(rgb, dtype=np.float32)
    shape = rgb.shape
    pix = np.ascontiguousarray(rgb.reshape(-1, 1, 3)).copy()
    ocio_processor(cube_path, interpolation).applyRGB(pix)
    return pix.reshape(shape)


FRAME_VARIABLE = "COLOURLOCK_FRAME"  # OCIO context variable holding the 4-digit frame number


def ocio_look_snippet(cube_name: str, process_space: str, name: str = "ColourLock") -> str:
    """A Look for a show config's ``looks:`` section that applies the per-frame .cube files.

    ``cube_name`` is relative to the config's search path and may hold ``$COLOURLOCK_FRAME``;
    OCIO converts to ``process_space`` (the encoding the LUTs were fitted in), applies the cube
    and converts back, so Nuke's OCIOLookTransform applies it to scene-linear frames; trilinear,
    as the engine applies LUTs (exact for the affine-only cubes either way). In Nuke,
    set the node's context variable COLOURLOCK_FRAME to ``[format %04d [frame]]``.
    """
    return (f"  - !<Look>\n"
            f"    name: {name}\n"
            f"    process_space: {process_space}\n"
            f"    description: ColourLock per-frame correction (context variable {FRAME_VARIABLE} = frame)\n"
            f"    transform: !<FileTransform> {{src: {cube_name}, interpolation: linear}}\n")
