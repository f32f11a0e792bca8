"""Restyle model files: one ONNX file carrying the network and everything needed to use it.

Metadata (ONNX ``metadata_props``, keys prefixed ``restyle.``): format version, working
encoding, input/output channel names, guides, size multiple, receptive margin, keyframe frames
and SHA-256 hashes, depth-guide scale, network config and training settings, and (optional, from
models trained since 2026-12-05) the painted keyframes themselves in the working encoding
(``key_paintings``: float16 arrays, compressed), so the keys' brushwork (``--detail``,
``--texture``) needs no painting files beside the model on a farm or another workstation.
Loading checks the file with the ONNX checker and refuses a model that lacks any of the required
entries. Weights are plain tensors (ONNX initializers), never pickled code.
"""
from __future__ import annotations

import base64
import copy
import hashlib
import io
import json
import os
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from ..errors import ModelError, OutputError
from .network import NetworkConfig, RestyleNet

FORMAT_VERSION = "1"
PREFIX = "restyle."
REQUIRED = ("format_version", "encoding", "input_channels", "output_channels", "guides",
            "size_multiple", "receptive_margin", "keyframes", "network", "training", "depth_scale",
            "input_smoothing", "graph_sha256")


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class RestyleModel:
    """A loaded, checked model: metadata plus the ONNX graph."""

    path: str
    meta: dict[str, Any]
    proto: onnx.ModelProto

    @property
    def key_frames(self) -> list[int]:
        return sorted(int(f) for f in self.meta["keyframes"])

    @property
    def guides(self) -> list[str]:
        return list(self.meta["guides"])

    @property
    def network_config(self) -> NetworkConfig:
        return NetworkConfig(**self.meta["network"])

    @property
    def carries_paintings(self) -> bool:
        return self.meta.get("key_paintings") is not None

    @property
    def paintings(self) -> dict[int, np.ndarray] | None:
        """The painted keyframes the model carries, ``{frame: (H, W, 3) float32}`` in its working
        encoding; None for a model written before models carried them."""
        carried = self.meta.get("key_paintings")
        return None if carried is None else {int(f): decode_painting(text) for f, text in carried.items()}

    def torch_module(self) -> RestyleNet:
        """Rebuild the network and load its weights from the ONNX initializers."""
        net = RestyleNet(self.network_config)
        weights = {t.name: torch.from_numpy(numpy_helper.to_array(t).astype(np.float32))  # fp16 models too
                   for t in self.proto.graph.initializer}
        state = net.state_dict()
        missing = [name for name in state if name not in weights]
        if missing:
            raise ModelError(f"{self.path}: weights missing for {', '.join(missing[:4])}")
        net.load_state_dict({name: weights[name] for name in state})
        return net.eval()


DTYPES = ("fp32", "fp16")
# fp16 models against fp32 on the same weights, on the working encoding's 0-1 values: measured on
# the CPU (torch fp16 and onnxruntime's reference of the graph), tests/test_onnx_fp16.py.
FP16_TOLERANCE = {"max": 1e-2, "mean": 1e-3}


class _HalfNetwork(torch.nn.Module):
    """``net`` in half precision behind float32 input and output (two Casts in the graph), so a
    model of either precision takes and gives the same arrays."""

    def __init__(self, net: RestyleNet):
        super().__init__()
        self.net = net.half()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.half()).float()


def model_dtype(model: RestyleModel) -> str:
    """``fp16`` for a model exported with half-precision weights and arithmetic, else ``fp32``."""
    return model.meta.get("dtype", "fp32")


def export_onnx(net: RestyleNet, meta: dict[str, Any], path: str | os.PathLike, dtype: str = "fp32") -> Path:
    """Write ``net`` and ``meta`` to ``path`` atomically; returns the path.

    ``dtype="fp16"``: weights and arithmetic in half precision (half the file, the form TensorRT
    and CUDA run fastest), input and output still float32; within :data:`FP16_TOLERANCE` of fp32.
    Initializers keep the network's parameter names either way (``RestyleModel.torch_module``).

    Raises:
        OutputError: ``path`` cannot be written (e.g. it is a folder); no temporary file is left.
    """
    if dtype not in DTYPES:
        raise ValueError(f"dtype {dtype!r}: choose from {', '.join(DTYPES)}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        example = torch.zeros(1, net.config.in_channels, 64, 64)
        axes = {0: "batch", 2: "height", 3: "width"}
        config = net.config
        net = net.eval().cpu().float()
        exported: torch.nn.Module = _HalfNetwork(copy.deepcopy(net)).eval() if dtype == "fp16" else net
        with warnings.catch_warnings():  # the TorchScript exporter keeps parameter names as initializer names
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(exported, (example,), str(tmp), dynamo=False, opset_version=17,
                              input_names=["input"], output_names=["output"], do_constant_folding=False,
                              dynamic_axes={"input": axes, "output": axes})
        proto = onnx.load(str(tmp))
        if dtype == "fp16":
            _strip_prefix(proto, "net.")
        meta = {"format_version": FORMAT_VERSION, **meta, "network": config.to_dict(),
                "graph_sha256": graph_digest(proto)}
        if dtype == "fp16":
            meta["dtype"] = "fp16"
        for key, value in meta.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = PREFIX + key, json.dumps(value)
        proto.producer_name = "restyle"
        onnx.save(proto, str(tmp))
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(f"cannot write the model {path}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)  # gone after the rename; left by a failure otherwise
    return path


def _strip_prefix(proto: onnx.ModelProto, prefix: str) -> None:
    """Rename initializers ``prefix + name`` to ``name`` (and every use of them)."""
    renamed = {}
    for tensor in proto.graph.initializer:
        if tensor.name.startswith(prefix):
            renamed[tensor.name] = tensor.name[len(prefix):]
            tensor.name = renamed[tensor.name]
    for node in proto.graph.node:
        for i, name in enumerate(node.input):
            if name in renamed:
                node.input[i] = renamed[name]


def encode_painting(painting: np.ndarray) -> str:
    """An ``(H, W, 3)`` painting as text for the metadata: float16 (within 5e-4 of 8-bit
    values), zlib-compressed ``.npy``, base64."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, painting=np.asarray(painting, np.float16))
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def decode_painting(text: str) -> np.ndarray:
    """Inverse of :func:`encode_painting`: ``(H, W, 3)`` float32."""
    with np.load(io.BytesIO(base64.b64decode(text))) as archive:
        return archive["painting"].astype(np.float32)


def graph_digest(proto: onnx.ModelProto) -> str:
    """SHA-256 of the graph (operators and weights), recorded at export so a changed file is refused."""
    return hashlib.sha256(proto.graph.SerializeToString(deterministic=True)).hexdigest()


def load_model(path: str | os.PathLike) -> RestyleModel:
    """Load and check a model.

    Raises:
        ModelError: missing file, not ONNX, fails the ONNX checker, lacks restyle metadata, or
            its graph (weights) no longer matches the hash recorded at export.
    """
    path = str(path)
    if not os.path.isfile(path):
        raise ModelError(f"{path}: model file not found (train one with 'restyle train')")
    try:
        proto = onnx.load(path)
        onnx.checker.check_model(proto)
    except Exception as exc:
        raise ModelError(f"{path}: not a valid ONNX model ({type(exc).__name__}: {str(exc)[:200]})") from None
    raw = {p.key[len(PREFIX):]: p.value for p in proto.metadata_props if p.key.startswith(PREFIX)}
    missing = [key for key in REQUIRED if key not in raw]
    if missing:
        raise ModelError(f"{path}: not a restyle model; metadata missing: {', '.join(missing)}")
    try:
        meta = {key: json.loads(value) for key, value in raw.items()}
    except json.JSONDecodeError as exc:
        raise ModelError(f"{path}: damaged restyle metadata ({exc})") from None
    if meta["format_version"] != FORMAT_VERSION:
        raise ModelError(f"{path}: model format {meta['format_version']} is not supported "
                         f"(this build reads {FORMAT_VERSION}); retrain or update the toolset")
    if graph_digest(proto) != meta["graph_sha256"]:
        raise ModelError(f"{path}: its weights or graph changed after export (hash mismatch with its metadata); "
                         "retrain or restore the file")
    inputs = proto.graph.input[0].type.tensor_type.shape.dim
    if len(inputs) != 4 or inputs[1].dim_value != len(meta["input_channels"]):
        raise ModelError(f"{path}: graph input does not take {len(meta['input_channels'])} channels "
                         "as its metadata says")
    return RestyleModel(path, meta, proto)


def require_key_check(model: RestyleModel) -> RestyleModel:
    """``model``, unless its training recorded that it does not reproduce its own painted keys.

    Models from before the key check (no ``training.key_check``) are taken as they are.

    Raises:
        ModelError: the recorded key check failed; the message names the model and what to do.
    """
    check = (model.meta.get("training") or {}).get("key_check")
    if not check or check.get("passed", True):
        return model
    raise ModelError(
        f"{model.path}: refused: its training recorded that it does not reproduce its painted keys "
        f"(key check {check.get('psnr_db', float('nan')):.1f} dB PSNR, needs {check.get('threshold_db', float('nan')):.1f} dB), "
        "so its look is broken or unfinished; train it longer ('restyle train ... --resume' continues from "
        f"{checkpoint_path(model.path).name}), or retrain with --key-psnr 0 to accept any look")


def checkpoint_path(model_path: str | os.PathLike) -> Path:
    """The torch checkpoint kept beside a model for resuming training."""
    return Path(model_path).with_suffix(".ckpt")


def save_checkpoint(path: Path, net: RestyleNet, optimizer: torch.optim.Optimizer, step: int,
                    meta: dict[str, Any], keys: list[torch.Tensor] | None = None,
                    sampler: dict[str, Any] | None = None) -> None:
    """Weights, optimiser state, step and the patch sampler's random state (to resume exactly),
    and the keyframes trained on (shrunk; a later re-pass compares its keyframes with them)."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    torch.save({"network": net.config.to_dict(), "state": net.state_dict(),
                "optimizer": optimizer.state_dict(), "step": step, "meta": json.dumps(meta),
                "keys": keys or [], "sampler": sampler}, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Tensors and plain values only (``weights_only=True``): no code runs from the file."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelError(f"{path}: cannot resume from this checkpoint ({exc})") from None
