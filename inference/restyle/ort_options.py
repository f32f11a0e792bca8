"""onnxruntime's execution-provider settings for a restyle model, as pure functions.

:func:`provider_chain` turns what a session depends on (the providers this build has, the model's
graph digest, the engine cache folder, the shot's frame size, the GPU's name, the TensorRT and
onnxruntime versions, the precision) into the ``providers`` list ``InferenceSession`` takes, best
first. Option names are those of onnxruntime's TensorRT and CUDA execution-provider documentation
(onnxruntime.ai/docs/execution-providers/TensorRT-ExecutionProvider.html and
CUDA-ExecutionProvider.html); they were checked against the documentation, not run on a GPU here
(docs/backends.md).

- TensorRT: fp16 kernels (``trt_fp16_enable``; fp32 with ``--dtype fp32``); the built engine and
  the builder's timing cache kept in :func:`engine_folder`, a folder keyed by the model's graph
  digest, the GPU, and the TensorRT and onnxruntime versions, so a farm task loads the engine the
  first task built instead of rebuilding it (minutes), and a new GPU, driver stack or model never
  picks up a stale one; one optimisation profile covering every input the render sends
  (:func:`profile_shapes`). :func:`engine_lock` serialises the build between tasks that start at
  once: the second waits and then loads the first one's engine, so every chunk of a shot runs the
  same engine (TensorRT picks kernels by timing them, so two separate builds may differ).
- CUDA: ``cudnn_conv_algo_search=DEFAULT``: always cuDNN's implicit-precomputed GEMM, never a
  timed search (EXHAUSTIVE, onnxruntime's default, times the algorithms in each process: two
  tasks may pick different ones and round differently) nor a heuristic ranking (HEURISTIC may
  rank algorithms differently for a chunk's last, smaller batch). The torch backend keeps cuDNN
  from autotuning for the same reason.
"""
from __future__ import annotations

import errno
import fcntl
import os
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

TENSORRT = "TensorrtExecutionProvider"
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
ORDER = (TENSORRT, CUDA, CPU)
GPU_PROVIDERS = (TENSORRT, CUDA)
CONV_ALGO_SEARCH = "DEFAULT"
ENGINE_CACHE_ENV = "RESTYLE_ENGINE_CACHE"
LOCK_NAME = ".build.lock"


@dataclass(frozen=True)
class SessionPlan:
    """Everything the provider options depend on (nothing read from the machine here)."""

    model_digest: str          # the graph's SHA-256 (``graph_sha256`` in the model's metadata)
    cache_root: Path           # where engine folders live (:func:`cache_root`)
    channels: int              # network input channels
    height: int                # padded frame height the render sends (a multiple of the size multiple)
    width: int
    batch: int = 4             # most inputs in one call
    multiple: int = 4          # the network's size multiple (smallest tile side)
    gpu_name: str = "unknown-gpu"
    tensorrt_version: str = "unknown"
    onnxruntime_version: str = "unknown"
    device_id: int = 0
    fp16: bool = True


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-").lower() or "unknown"


def engine_key(plan: SessionPlan) -> str:
    """``<digest[:16]>/<gpu>_trt<version>_ort<version>_<fp16|fp32>``: what an engine is valid for."""
    precision = "fp16" if plan.fp16 else "fp32"
    return (f"{plan.model_digest[:16]}/{_slug(plan.gpu_name)}_trt{_slug(plan.tensorrt_version)}"
            f"_ort{_slug(plan.onnxruntime_version)}_{precision}")


def engine_folder(plan: SessionPlan) -> Path:
    return plan.cache_root / engine_key(plan)


def profile_shapes(plan: SessionPlan) -> dict[str, str]:
    """One TensorRT optimisation profile for the ``input`` tensor: from one ``multiple``-pixel
    square (the smallest tile the out-of-memory fallback or ``--tile`` sends) to ``batch`` whole
    padded frames, tuned for the whole frames (the render's usual call)."""
    c, h, w, b, m = plan.channels, plan.height, plan.width, plan.batch, plan.multiple
    return {"trt_profile_min_shapes": f"input:1x{c}x{min(m, h)}x{min(m, w)}",
            "trt_profile_opt_shapes": f"input:{b}x{c}x{h}x{w}",
            "trt_profile_max_shapes": f"input:{b}x{c}x{h}x{w}"}


def tensorrt_options(plan: SessionPlan) -> dict[str, str]:
    folder = str(engine_folder(plan))
    return {"device_id": str(plan.device_id),
            "trt_fp16_enable": str(plan.fp16),
            "trt_engine_cache_enable": "True",
            "trt_engine_cache_path": folder,
            "trt_timing_cache_enable": "True",
            "trt_timing_cache_path": folder,
            **profile_shapes(plan)}


def cuda_options(plan: SessionPlan) -> dict[str, str]:
    return {"device_id": str(plan.device_id), "cudnn_conv_algo_search": CONV_ALGO_SEARCH}


def provider_chain(providers: list[str] | tuple[str, ...], plan: SessionPlan) -> list[tuple[str, dict[str, str]]]:
    """``InferenceSession(providers=...)`` for ``providers`` (those to use, best first), with the
    options each takes for ``plan``; the CPU provider keeps its defaults."""
    build = {TENSORRT: tensorrt_options, CUDA: cuda_options}
    return [(name, build[name](plan) if name in build else {}) for name in providers]


def cache_root(model_path: str | os.PathLike | None, environ: dict[str, str] | None = None) -> Path:
    """Where engine folders go: ``$RESTYLE_ENGINE_CACHE``, else ``.restyle_engines`` beside the
    model (shared storage on a farm, so every task of every shot with that model reuses one
    engine), else ``~/.cache/restyle/engines`` when the model's folder cannot be written."""
    environ = os.environ if environ is None else environ
    if environ.get(ENGINE_CACHE_ENV):
        return Path(environ[ENGINE_CACHE_ENV])
    if model_path is not None:
        beside = Path(model_path).resolve().parent
        if os.access(beside, os.W_OK):
            return beside / ".restyle_engines"
    return Path(environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "restyle" / "engines"


@contextmanager
def engine_lock(folder: Path, log: Callable[[str], None] = lambda _: None) -> Iterator[None]:
    """Hold ``folder``'s build lock (created with the folder): one process at a time builds or
    loads the engine there; the others wait, saying so, then load what it wrote. POSIX record
    locks (``lockf``), which NFS carries between hosts; released if the process dies."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK_NAME, "a+b") as handle:
        try:
            fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EACCES, errno.EAGAIN):
                raise
            log(f"onnxruntime: another task is building the TensorRT engine in {folder}; waiting for it")
            start = time.monotonic()
            fcntl.lockf(handle, fcntl.LOCK_EX)
            log(f"onnxruntime: waited {time.monotonic() - start:.1f} s; loading the engine it built")
        try:
            yield
        finally:
            fcntl.lockf(handle, fcntl.LOCK_UN)


def gpu_name(device_id: int = 0) -> str:
    """The CUDA device's name as torch reports it (``unknown-gpu`` without CUDA)."""
    import torch

    return torch.cuda.get_device_name(device_id) if torch.cuda.is_available() else "unknown-gpu"


def tensorrt_version() -> str:
    """The ``tensorrt`` Python package's version (``unknown`` if absent). Importing it also loads
    the TensorRT libraries of the pip wheels into the process, where onnxruntime's TensorRT
    provider finds them."""
    try:
        import tensorrt  # type: ignore[import-not-found]
    except Exception:  # noqa: BLE001 - absent or broken: the provider may still find system libraries
        return "unknown"
    return str(getattr(tensorrt, "__version__", "unknown"))
