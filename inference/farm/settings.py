"""The farm's defaults for a shot's jobs, written once (``restyle submit``'s help and the shot read
them). Imports nothing: the CLI reads it at start-up."""
from __future__ import annotations

# Frames per farm task. A render task's process start and handles cost about 11 s on an H100 at 2K
# whatever its length (bench/results/farm_chunks.json: 0.68 fps in tasks of 8, 5.6 in tasks of 96).
DEFAULT_CHUNK_SIZE = 64
DEFAULT_PRIORITY = 50  # Deadline and OpenCue job priority, 0-100
