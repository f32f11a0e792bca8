"""Where a restyle model runs: onnxruntime (TensorRT -> CUDA -> CPU) or torch (CUDA, fp16).

Every backend takes (B, C, H, W) float32 arrays in the working encoding and returns
(B, 3, H, W) float32 (``run``); ``run_tensor`` does the same on torch tensors, on the device
when the backend runs on a GPU (onnxruntime through IO binding on torch's buffers, shared by
DLPack), so a render keeps its frames on the GPU between stages with either backend.
Each provider that cannot be used is logged with the reason, and the next one is tried, so a
farm log always says what actually ran. The settings each provider gets: :mod:`.ort_options`.
``auto`` picks by :data:`AUTO_ORDER` (docs/backends.md).
"""
from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, Callable, Protocol

import numpy as np
import torch

from ..errors import UsageError
from . import ort_options
from .model_file import RestyleModel, model_dtype
from .ort_options import CPU, CUDA, GPU_PROVIDERS, TENSORRT, SessionPlan

ORT_PROVIDERS = ort_options.ORDER
_MISSING_HINT = {
    TENSORRT: "install the 'tensorrt' extra (onnxruntime-gpu with TensorRT 10) on a machine with CUDA",
    CUDA: "install the 'gpu' extra (onnxruntime-gpu) instead of 'cpu' on a machine with CUDA",
}
BACKENDS = ("auto", "onnxruntime", "torch")
INSTALL_HINT = ("onnxruntime is not installed: install exactly one runtime with the project, "
                "pip install '.[cpu]' (onnxruntime, CPU) or pip install '.[gpu]' (onnxruntime-gpu; "
                "'.[tensorrt]' adds TensorRT); never both (docs/backends.md)")

# ``--backend auto``, best first, by measured speed (bench/README.md, Restyle speed and Backends).
# Only measured paths rank above others; onnxruntime's GPU providers have not run on a GPU in this
# project, so auto takes them only where torch has no CUDA device (ask for them with --backend onnxruntime).
AUTO_ORDER = (
    ("torch", "cuda", "torch CUDA fp16: the fastest path measured (410 fps at 2048x1080 on an H100, "
                      "bench/README.md, Restyle speed)"),
    ("onnxruntime", "gpu", "onnxruntime with {providers}: torch sees no CUDA device here; this path's speed "
                           "is unmeasured (bench/README.md, Backends)"),
    ("onnxruntime", "cpu", "no GPU runtime (torch sees no CUDA device, onnxruntime has no CUDA/TensorRT "
                           "provider): onnxruntime on the CPU, measured faster than torch on the CPU "
                           "(bench/README.md, Backends)"),
)

_ORT: ModuleType | None = None


def onnxruntime_module() -> ModuleType:
    """``onnxruntime`` (from whichever of the cpu/gpu extras is installed).

    Raises:
        UsageError: neither is installed; the message names the extras.
    """
    global _ORT
    if _ORT is None:
        try:
            _ORT = importlib.import_module("onnxruntime")
        except ImportError:
            raise UsageError(INSTALL_HINT) from None
    return _ORT


class Backend(Protocol):
    name: str
    dtype: str

    def run(self, batch: np.ndarray) -> np.ndarray: ...


def auto_choice(torch_cuda: bool, ort_providers: list[str] | tuple[str, ...]) -> tuple[str, str]:
    """``(backend, reason)`` that ``--backend auto`` picks, by :data:`AUTO_ORDER`."""
    gpu = [p for p in GPU_PROVIDERS if p in ort_providers]
    if torch_cuda:
        backend, _, reason = AUTO_ORDER[0]
        if gpu:
            reason += f"; onnxruntime also has {', '.join(gpu)} (unmeasured here: --backend onnxruntime to use it)"
        return backend, reason
    if gpu:
        return AUTO_ORDER[1][0], AUTO_ORDER[1][2].format(providers=", ".join(gpu))
    return AUTO_ORDER[2][0], AUTO_ORDER[2][2]


class OrtBackend:
    """onnxruntime session over the providers this build and machine have, best first.

    ``available`` (default: onnxruntime's own list) and ``session_factory`` (default
    ``onnxruntime.InferenceSession``) are there to exercise every path on any machine. With
    TensorRT in the chain and no ``frame_size`` given, the session is made at the first call,
    when the shot's frame size (the optimisation profile) is known.
    """

    def __init__(self, model: RestyleModel, log: Callable[[str], None] = print,
                 providers: tuple[str, ...] = ORT_PROVIDERS, threads: int | None = None, *,
                 dtype: str = "auto", available: list[str] | None = None,
                 session_factory: Callable[..., Any] | None = None, frame_size: tuple[int, int] | None = None,
                 batch: int = 4, cache_root=None):
        self._ort = onnxruntime_module()
        self.log = log
        have = list(self._ort.get_available_providers() if available is None else available)
        self.chain: list[str] = []
        for provider in providers:
            if provider in have:
                self.chain.append(provider)
            else:
                log(f"onnxruntime: {provider} not available in this build "
                    f"({_MISSING_HINT.get(provider, 'not installed')}); trying the next")
        if not self.chain:
            self.chain = [CPU]
        self.model, self.threads = model, threads
        self.model_dtype = model_dtype(model)
        self.fp16 = dtype == "fp16" or (dtype == "auto" and self.model_dtype == "fp16") or (
            dtype == "auto" and TENSORRT in self.chain)
        self.session_factory = session_factory or self._ort.InferenceSession
        self.batch = batch * (2 if len(model.key_frames) > 1 else 1)  # blended frames: two inputs each
        self.cache_root = ort_options.cache_root(model.path) if cache_root is None else cache_root
        self.session, self.max_batch, self.profile = None, None, None
        self.name, self.dtype = f"onnxruntime:{self.chain[0]}", self.model_dtype
        self.device = self._device(self.chain[0])  # where run_tensor's output lives (set again once open)
        if TENSORRT in self.chain and frame_size is None:
            log("onnxruntime: TensorRT's engine is made for the shot's frame size at the first frame")
        else:
            self._open(frame_size or (64, 64))

    @property
    def keeps_frames_on_device(self) -> bool:
        """True when the session runs on a GPU: the render then hands frames over on the device."""
        return self.device.type == "cuda"

    def plan(self, frame_size: tuple[int, int], device_id: int = 0) -> SessionPlan:
        multiple = int(self.model.meta["size_multiple"])
        height, width = (-(-side // multiple) * multiple for side in frame_size)
        gpu = TENSORRT in self.chain
        return SessionPlan(model_digest=self.model.meta["graph_sha256"], cache_root=self.cache_root,
                           channels=len(self.model.meta["input_channels"]), height=height, width=width,
                           batch=self.batch, multiple=multiple,
                           gpu_name=ort_options.gpu_name(device_id) if gpu else "unknown-gpu",
                           tensorrt_version=ort_options.tensorrt_version() if gpu else "unknown",
                           onnxruntime_version=self._ort.__version__, device_id=device_id, fp16=self.fp16)

    def _open(self, frame_size: tuple[int, int]) -> None:
        options = self._ort.SessionOptions()
        if self.threads:
            options.intra_op_num_threads = self.threads
        options.log_severity_level = 3
        plan = self.plan(frame_size)
        serialized = self.model.proto.SerializeToString()
        candidates = list(self.chain)
        while True:
            specs = ort_options.provider_chain(candidates, plan)
            try:
                if candidates[0] == TENSORRT:
                    folder = ort_options.engine_folder(plan)
                    with ort_options.engine_lock(folder, self.log):
                        session = self._session(serialized, options, specs)
                        if TENSORRT in session.get_providers():  # build (or load) the engine while locked
                            self._warm_up(session, plan)
                            self.log(f"onnxruntime: TensorRT engine and timing cache in {folder}")
                else:
                    session = self._session(serialized, options, specs)
            except Exception as exc:  # noqa: BLE001 - a provider that cannot start: say why, try the next
                if len(candidates) == 1:
                    raise
                self.log(f"onnxruntime: {candidates[0]} failed to initialise ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0][:300] if str(exc) else ''}); falling back to {candidates[1]}")
                candidates.pop(0)
                continue
            break
        active = session.get_providers()
        for provider in candidates:
            if provider not in active:
                self.log(f"onnxruntime: {provider} failed to initialise on this machine; falling back")
        self.session, self.providers = session, [p for p in candidates if p in active]
        # TensorRT's profile ends at plan.batch inputs: a bigger call (--batch above the default)
        # goes through in pieces of that many
        self.max_batch = plan.batch if TENSORRT in self.providers else None
        self.profile = (plan.height, plan.width) if TENSORRT in self.providers else None
        first = self.providers[0] if self.providers else active[0]
        self.name = f"onnxruntime:{first}"
        self.device = self._device(first, plan.device_id)
        self.dtype = "fp16" if self.model_dtype == "fp16" or (first == TENSORRT and self.fp16) else "fp32"
        self.log(f"onnxruntime: running on {', '.join(self.providers or active)} ({self.dtype})")

    @staticmethod
    def _device(provider: str, device_id: int = 0) -> torch.device:
        """The torch device whose buffers the session reads and writes: the GPU for a GPU
        provider when torch has CUDA (else onnxruntime copies host buffers itself)."""
        on_gpu = provider in GPU_PROVIDERS and torch.cuda.is_available()
        return torch.device("cuda", device_id) if on_gpu else torch.device("cpu")

    def _session(self, serialized: bytes, options, specs):
        session = self.session_factory(serialized, options, providers=specs, enable_fallback=0)
        if hasattr(session, "disable_fallback"):
            session.disable_fallback()  # no silent switch to the CPU mid-render: a failed call fails the task
        return session

    def _warm_up(self, session, plan: SessionPlan) -> None:
        x = np.zeros((plan.batch, plan.channels, plan.height, plan.width), np.float32)
        session.run(None, {"input": x})

    def _ensure(self, shape: tuple[int, ...]) -> None:
        """A session for inputs of ``shape``: made at the first call; with TensorRT, made again
        (a new engine, cached beside the first) for a frame or tile larger than its profile
        (``--tile``'s inner tiles read a margin on both sides, so they outgrow the first, top-left one)."""
        if self.session is None:
            self._open((shape[-2], shape[-1]))
        elif self.profile and (shape[-2] > self.profile[0] or shape[-1] > self.profile[1]):
            size = (max(shape[-2], self.profile[0]), max(shape[-1], self.profile[1]))
            self.log(f"onnxruntime: input {shape[-1]}x{shape[-2]} is larger than TensorRT's profile "
                     f"({self.profile[1]}x{self.profile[0]}); making the engine for {size[1]}x{size[0]}")
            self._open(size)

    def _pieces(self, n: int) -> list[slice]:
        step = self.max_batch or n
        return [slice(i, min(n, i + step)) for i in range(0, n, step)]

    def run(self, batch: np.ndarray) -> np.ndarray:
        self._ensure(batch.shape)
        outs = [self.session.run(None, {"input": np.ascontiguousarray(batch[piece], np.float32)})[0]
                for piece in self._pieces(batch.shape[0])]
        return outs[0] if len(outs) == 1 else np.concatenate(outs)

    def run_tensor(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, 3, H, W) float32 on this backend's device: onnxruntime reads the
        input and writes the output in torch's own buffers (IO binding, OrtValues made from the
        tensors by DLPack), so nothing goes through the host. The output is on ``x``'s device (a
        copy only where the session fell back to the CPU after the render put frames on the GPU)."""
        self._ensure(tuple(x.shape))
        pieces = self._pieces(x.shape[0])
        if len(pieces) > 1:
            return torch.cat([self.run_tensor(x[piece]) for piece in pieces])
        given = x.device
        x = x.to(self.device, torch.float32).contiguous()
        out = torch.empty((x.shape[0], len(self.model.meta["output_channels"]), x.shape[2], x.shape[3]),
                          dtype=torch.float32, device=self.device)
        binding = self.session.io_binding()
        binding.bind_ortvalue_input("input", self._ort.OrtValue.from_dlpack(x))
        binding.bind_ortvalue_output("output", self._ort.OrtValue.from_dlpack(out))
        if self.device.type == "cuda":
            torch.cuda.current_stream(self.device).synchronize()  # the input is written before onnxruntime reads it
        self.session.run_with_iobinding(binding)
        return out.to(given)


class TorchBackend:
    """The network rebuilt in torch from the ONNX weights; channels-last, fp16 on CUDA."""

    keeps_frames_on_device = True  # its tensors stay where it runs (the CPU too)

    def __init__(self, model: RestyleModel, device: str = "cuda", dtype: str = "auto"):
        if device == "cuda" and not torch.cuda.is_available():
            raise UsageError("torch backend on CUDA requested but torch sees no CUDA device")
        self.device = torch.device(device)
        self.dtype = dtype if dtype != "auto" else ("fp16" if self.device.type == "cuda" else "fp32")
        self.torch_dtype = torch.float16 if self.dtype == "fp16" else torch.float32
        self.net = model.torch_module().to(self.device, self.torch_dtype).to(memory_format=torch.channels_last)
        if self.device.type == "cuda":
            # cuDNN's autotuner picks convolution algorithms by timing, so two processes (a farm
            # task and its retry, two chunks) could round differently; fixed choices keep frames identical.
            torch.backends.cudnn.benchmark = False
            torch.backends.cudnn.deterministic = True
        self.name = f"torch:{self.device.type}"

    @torch.inference_mode()
    def run_tensor(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) on the device -> (B, 3, H, W) on the device, in the backend's dtype."""
        x = x.to(self.device, self.torch_dtype, non_blocking=True)
        return self.net(x.contiguous(memory_format=torch.channels_last))

    def run(self, batch: np.ndarray) -> np.ndarray:
        out = self.run_tensor(torch.from_numpy(np.ascontiguousarray(batch, np.float32)))
        return out.float().cpu().numpy()


def select_backend(model: RestyleModel, backend: str = "auto", device: str = "auto",
                   dtype: str = "auto", log: Callable[[str], None] = print, *,
                   available: list[str] | None = None, torch_cuda: bool | None = None,
                   session_factory: Callable[..., Any] | None = None) -> Backend:
    """The backend for ``--backend``/``--device``/``--dtype``; ``auto`` by :func:`auto_choice`,
    logged with its reason. ``available``/``torch_cuda``/``session_factory`` stand in for the
    machine (tests)."""
    if backend not in BACKENDS:
        raise UsageError(f"--backend {backend}: choose from {', '.join(BACKENDS)}")
    torch_cuda = torch.cuda.is_available() if torch_cuda is None else torch_cuda
    if device == "cpu":
        return TorchBackend(model, "cpu", "fp32") if backend == "torch" else OrtBackend(
            model, log, providers=(CPU,), available=available, session_factory=session_factory)
    if backend == "auto":
        have = list(onnxruntime_module().get_available_providers() if available is None else available)
        backend, reason = auto_choice(torch_cuda, have)
        log(f"--backend auto: {backend} ({reason})")
    if backend == "torch":
        return TorchBackend(model, "cuda" if torch_cuda else "cpu", dtype)
    return OrtBackend(model, log, dtype=dtype, available=available, session_factory=session_factory)
