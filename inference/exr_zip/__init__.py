"""The engine's own coder for ZIP/ZIPS scanline EXRs: nvCOMP on a GPU, zlib as its CPU twin
(docs: README, Sequences; bench/README.md, I/O)."""
from .coder import Decoded, ZipCoder, cpu_twin, gpu_coder

__all__ = ["Decoded", "ZipCoder", "cpu_twin", "gpu_coder"]
