"""Where a restyle model runs: onnxruntime (TensorRT -> CUDA -> CPU) or torch (CUDA, fp16).

Every backend takes (B, C, H, W) float32 arrays in the working encoding and returns
(B, 3, H, W) float32. Each provider that cannot be used is logged with the reason, and the
next one is tried, so a farm log always says what actually ran.
"""
from __future__ import annotations

from typing import Callable, Protocol

import numpy as np
import onnxruntime as ort
import torch

from ..errors import UsageError
from .model_file import RestyleModel

ORT_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
_MISSING_HINT = {
    "TensorrtExecutionProvider": "install the 'tensorrt' extra with a TensorRT-enabled onnxruntime-gpu",
    "CUDAExecutionProvider": "install the 'gpu' extra (onnxruntime-gpu) on a machine with CUDA",
}
BACKENDS = ("auto", "onnxruntime", "torch")


class Backend(Protocol):
    name: str
    dtype: str

    def run(self, batch: np.ndarray) -> np.ndarray: ...


class OrtBackend:
    """onnxruntime session over the providers this build and machine have, best first."""

    dtype = "fp32"

    def __init__(self, model: RestyleModel, log: Callable[[str], None] = print,
                 providers: tuple[str, ...] = ORT_PROVIDERS, threads: int | None = None):
        available = set(ort.get_available_providers())
        chosen = []
        for provider in providers:
            if provider in available:
                chosen.append(provider)
            else:
                log(f"onnxruntime: {provider} not available in this build ({_MISSING_HINT.get(provider, 'not installed')}); trying the next")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        options.log_severity_level = 3
        self.session = ort.InferenceSession(model.proto.SerializeToString(), options, providers=chosen)
        active = self.session.get_providers()
        for provider in chosen:
            if provider not in active:
                log(f"onnxruntime: {provider} failed to initialise on this machine; falling back")
        self.name = f"onnxruntime:{active[0]}"

    def run(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"input": np.ascontiguousarray(batch, np.float32)})[0]


class TorchBackend:
    """The network rebuilt in torch from the ONNX weights; channels-last, fp16 on CUDA."""

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
                   dtype: str = "auto", log: Callable[[str], None] = print) -> Backend:
    """``auto``: onnxruntime if it has a GPU provider, else torch on CUDA, else onnxruntime on CPU."""
    if backend not in BACKENDS:
        raise UsageError(f"--backend {backend}: choose from {', '.join(BACKENDS)}")
    if device == "cpu":
        return TorchBackend(model, "cpu", "fp32") if backend == "torch" else OrtBackend(
            model, log, providers=("CPUExecutionProvider",))
    gpu_ort = {"TensorrtExecutionProvider", "CUDAExecutionProvider"} & set(ort.get_available_providers())
    if backend == "torch" or (backend == "auto" and not gpu_ort and torch.cuda.is_available()):
        return TorchBackend(model, "cuda" if torch.cuda.is_available() else "cpu", dtype)
    if backend == "auto" and not gpu_ort:
        log("no GPU runtime found (onnxruntime has no CUDA/TensorRT provider, torch sees no CUDA): running on the CPU")
    return OrtBackend(model, log)
