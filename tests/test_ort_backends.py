"""onnxruntime backend: provider options, provider choice and fallbacks, IO binding, ``auto``
(issue 28 items 2 and 4).

The machine is stood in for where it matters (which providers onnxruntime reports, which of them
start), so every test gives the same result on a CPU host and on a GPU host; the model itself
always runs in a real onnxruntime session on the CPU provider.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from onnxruntime.capi.onnxruntime_inference_collection import check_and_normalize_provider_args

from inference import colour
from inference.restyle import ort_options
from inference.restyle.backends import AUTO_ORDER, OrtBackend, TorchBackend, auto_choice, select_backend
from inference.restyle.model_file import export_onnx, load_model
from inference.restyle.network import RECEPTIVE_MARGIN, SIZE_MULTIPLE, NetworkConfig, RestyleNet
from inference.restyle.ort_options import CPU, CUDA, TENSORRT, SessionPlan

ALL = [TENSORRT, CUDA, CPU]
REPO = Path(__file__).resolve().parents[1]


def write_model(path, keys=("1001",), seed=3):
    torch.manual_seed(seed)
    channels = 3 + (len(keys) if len(keys) > 1 else 0)
    net = RestyleNet(NetworkConfig(in_channels=channels, width=8, res_blocks=1))
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(1.5)
    meta = {"encoding": colour.WORKING_ENCODING, "input_channels": [f"c{i}" for i in range(channels)],
            "output_channels": ["R", "G", "B"], "guides": [], "size_multiple": SIZE_MULTIPLE,
            "receptive_margin": RECEPTIVE_MARGIN, "keyframes": {k: "0" * 64 for k in keys}, "depth_scale": 1.0,
            "input_smoothing": 0.0, "training": {}}
    return export_onnx(net.eval(), meta, path)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return load_model(write_model(tmp_path_factory.mktemp("ort") / "look.onnx"))


def plan(tmp_path, **changes) -> SessionPlan:
    base = dict(model_digest="ab" * 32, cache_root=tmp_path, channels=3, height=1080, width=2048, batch=4,
                multiple=4, gpu_name="NVIDIA H100 80GB HBM3", tensorrt_version="10.13.3.9",
                onnxruntime_version="1.31.1")
    return SessionPlan(**{**base, **changes})


# --- options: a pure function -------------------------------------------------------------------

def test_tensorrt_options_fp16_caches_in_a_keyed_folder_and_a_profile_for_the_shot(tmp_path):
    chain = ort_options.provider_chain(ALL, plan(tmp_path))
    assert [name for name, _ in chain] == ALL
    trt, cuda, cpu = (options for _, options in chain)
    folder = tmp_path / "abababababababab" / "nvidia-h100-80gb-hbm3_trt10.13.3.9_ort1.31.1_fp16"
    assert trt == {"device_id": "0", "trt_fp16_enable": "True",
                   "trt_engine_cache_enable": "True", "trt_engine_cache_path": str(folder),
                   "trt_timing_cache_enable": "True", "trt_timing_cache_path": str(folder),
                   "trt_profile_min_shapes": "input:1x3x4x4",
                   "trt_profile_opt_shapes": "input:4x3x1080x2048",
                   "trt_profile_max_shapes": "input:4x3x1080x2048"}
    assert cuda == {"device_id": "0", "cudnn_conv_algo_search": "DEFAULT"}  # fixed algorithm: chunks identical
    assert cpu == {}


def test_the_engine_folder_changes_with_model_gpu_tensorrt_onnxruntime_and_precision(tmp_path):
    folders = {ort_options.engine_folder(plan(tmp_path, **change)) for change in (
        {}, {"model_digest": "cd" * 32}, {"gpu_name": "NVIDIA L40S"}, {"tensorrt_version": "10.14.1.48"},
        {"onnxruntime_version": "1.32.0"}, {"fp16": False})}
    assert len(folders) == 6 and all(f.parent.parent == tmp_path for f in folders)
    # the shot's size is in the profile, not the folder: TensorRT keys its engines by profile itself
    assert ort_options.engine_folder(plan(tmp_path, height=2160, width=3840)) == ort_options.engine_folder(plan(tmp_path))
    fp32 = dict(ort_options.provider_chain([TENSORRT], plan(tmp_path, fp16=False))[0][1])
    assert fp32["trt_fp16_enable"] == "False" and fp32["trt_engine_cache_path"].endswith("_fp32")


def test_onnxruntime_accepts_the_provider_list_as_written(tmp_path):
    """onnxruntime's own check of a providers argument, with every provider taken as present."""
    chain = ort_options.provider_chain(ALL, plan(tmp_path))
    names, options = check_and_normalize_provider_args(chain, None, ALL)
    assert names == ALL and options[0]["trt_engine_cache_path"].startswith(str(tmp_path))


def test_the_cache_root_is_beside_the_model_unless_set_or_read_only(tmp_path):
    model = tmp_path / "shot" / "look.onnx"
    model.parent.mkdir()
    assert ort_options.cache_root(model, {}) == model.parent / ".restyle_engines"
    assert ort_options.cache_root(model, {"RESTYLE_ENGINE_CACHE": "/farm/engines"}) == Path("/farm/engines")
    model.parent.chmod(0o555)
    try:
        if not ort_options.os.access(model.parent, ort_options.os.W_OK):  # root writes anywhere
            assert ort_options.cache_root(model, {"XDG_CACHE_HOME": str(tmp_path / "c")}) == \
                tmp_path / "c" / "restyle" / "engines"
    finally:
        model.parent.chmod(0o755)


LOCKER = """
import sys, time
from pathlib import Path
from inference.restyle.ort_options import engine_lock
start = time.monotonic()
with engine_lock(Path(sys.argv[1]), lambda m: print(m, flush=True)):
    print(f"got it after {time.monotonic() - start:.2f}", flush=True)
"""


def test_a_second_task_waits_for_the_first_ones_engine_build(tmp_path):
    """Two farm tasks starting at once: the second waits on the folder's lock (another process,
    as on a farm) and goes on when the first is done, so it loads the engine the first built."""
    folder = tmp_path / "engine"
    with ort_options.engine_lock(folder):
        other = subprocess.Popen([sys.executable, "-c", LOCKER, str(folder)], cwd=REPO, stdout=subprocess.PIPE,
                                 text=True)
        time.sleep(1.5)  # the other task has started and is blocked
        assert other.poll() is None
    out, _ = other.communicate(timeout=60)
    assert "another task is building the TensorRT engine" in out
    waited = float(out.strip().splitlines()[-1].split()[-1])
    assert waited > 0.3, out
    assert (folder / ort_options.LOCK_NAME).is_file()


# --- provider choice and fallbacks ----------------------------------------------------------------

class Machine:
    """Stands in for a GPU host's onnxruntime: providers in ``fails`` raise when a session asks
    for them (a TensorRT or CUDA library missing, an engine that cannot be built), those in
    ``dropped`` start silently absent (as onnxruntime does when a provider's library is missing);
    the others are reported active. The model runs in a real onnxruntime CPU session."""

    def __init__(self, fails=(), dropped=()):
        self.fails, self.dropped, self.calls = set(fails), set(dropped), []

    def __call__(self, model_bytes, options, providers, **kwargs):
        names = [p[0] if isinstance(p, tuple) else p for p in providers]
        self.calls.append({"providers": providers, "kwargs": kwargs})
        for name in names:
            if name in self.fails:
                raise RuntimeError(f"[ONNXRuntimeError] : 1 : FAIL : {name} could not be created")
        return _Session(model_bytes, options, [n for n in names if n not in self.dropped])


class _Session:
    def __init__(self, model_bytes, options, active):
        self.real = ort.InferenceSession(model_bytes, options, providers=[CPU])
        self.active, self.runs = active, []

    def get_providers(self):
        return self.active

    def disable_fallback(self):
        self.fallback_disabled = True

    def run(self, names, feed):
        self.runs.append(feed["input"].shape)
        return self.real.run(names, feed)

    def io_binding(self):
        return self.real.io_binding()

    def run_with_iobinding(self, binding):
        return self.real.run_with_iobinding(binding)


def test_tensorrt_that_fails_to_start_falls_back_to_cuda_with_its_own_options(model, tmp_path):
    machine, messages = Machine(fails={TENSORRT}), []
    backend = OrtBackend(model, messages.append, available=ALL, session_factory=machine,
                         frame_size=(40, 52), cache_root=tmp_path)
    assert backend.name == "onnxruntime:CUDAExecutionProvider"
    assert [[p[0] for p in call["providers"]] for call in machine.calls] == [ALL, [CUDA, CPU]]
    assert machine.calls[1]["providers"][0][1]["cudnn_conv_algo_search"] == "DEFAULT"
    assert all(call["kwargs"] == {"enable_fallback": 0} for call in machine.calls)  # no silent fallback by onnxruntime
    text = "\n".join(messages)
    assert "TensorrtExecutionProvider failed to initialise (RuntimeError: [ONNXRuntimeError]" in text
    assert "falling back to CUDAExecutionProvider" in text
    assert backend.keeps_frames_on_device == torch.cuda.is_available()  # CUDA's buffers are torch's when torch has CUDA
    x = np.random.default_rng(0).uniform(0, 1, (2, 3, 40, 52)).astype(np.float32)
    assert np.abs(backend.run(x) - TorchBackend(model, "cpu").run(x)).max() < 1e-4


@pytest.mark.parametrize("fails, dropped, expected, logged", [
    ({TENSORRT, CUDA}, set(), CPU, ["TensorrtExecutionProvider failed to initialise (RuntimeError",
                                    "CUDAExecutionProvider failed to initialise (RuntimeError"]),
    (set(), {TENSORRT}, CUDA, ["TensorrtExecutionProvider failed to initialise on this machine; falling back"]),
    (set(), {TENSORRT, CUDA}, CPU, ["TensorrtExecutionProvider failed to initialise on this machine",
                                    "CUDAExecutionProvider failed to initialise on this machine"]),
])
def test_each_provider_that_cannot_start_is_named_and_the_next_runs(model, tmp_path, fails, dropped, expected, logged):
    messages = []
    backend = OrtBackend(model, messages.append, available=ALL, session_factory=Machine(fails, dropped),
                         frame_size=(40, 52), cache_root=tmp_path)
    assert backend.name == f"onnxruntime:{expected}"
    assert all(any(line in m for m in messages) for line in logged), messages
    assert f"onnxruntime: running on {expected}" in "\n".join(messages)


def test_when_no_provider_starts_the_error_is_raised(model, tmp_path):
    with pytest.raises(RuntimeError, match="CPUExecutionProvider could not be created"):
        OrtBackend(model, lambda _: None, available=ALL, session_factory=Machine(fails=set(ALL)),
                   frame_size=(40, 52), cache_root=tmp_path)


def test_tensorrt_builds_its_engine_for_the_shot_at_the_first_frame_under_the_lock(model, tmp_path):
    machine, messages = Machine(), []
    backend = OrtBackend(model, messages.append, available=ALL, session_factory=machine, cache_root=tmp_path,
                         batch=2)
    assert backend.session is None and not machine.calls  # the shot's size is not known yet
    x = np.random.default_rng(1).uniform(0, 1, (2, 3, 270, 479)).astype(np.float32)  # padded to 272x480 below
    out = backend.run(np.stack([np.pad(f, ((0, 0), (0, 2), (0, 1)), mode="reflect") for f in x]))
    assert out.shape == (2, 3, 272, 480) and backend.name == f"onnxruntime:{TENSORRT}" and backend.dtype == "fp16"
    trt = dict(machine.calls[0]["providers"][0][1])
    assert trt["trt_profile_opt_shapes"] == "input:2x3x272x480" and trt["trt_fp16_enable"] == "True"
    folder = Path(trt["trt_engine_cache_path"])
    assert folder.parent.name == model.meta["graph_sha256"][:16] and (folder / ort_options.LOCK_NAME).is_file()
    assert folder.parent.parent == tmp_path
    assert any(f"engine and timing cache in {folder}" in m for m in messages)


def test_a_call_bigger_than_the_tensorrt_profile_goes_through_in_pieces(model, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # torch's buffers on the host, any machine
    machine = Machine()
    backend = OrtBackend(model, lambda _: None, available=ALL, session_factory=machine, cache_root=tmp_path,
                         frame_size=(40, 52), batch=2)
    session = backend.session
    x = np.random.default_rng(3).uniform(0, 1, (5, 3, 40, 52)).astype(np.float32)
    expected = TorchBackend(model, "cpu").run(x)
    assert np.abs(backend.run(x) - expected).max() < 1e-4
    assert np.abs(backend.run_tensor(torch.from_numpy(x)).cpu().numpy() - expected).max() < 1e-4
    assert [shape[0] for shape in session.runs] == [2, 2, 2, 1]  # warm-up at the profile, then 2 + 2 + 1


def test_an_input_larger_than_the_tensorrt_profile_gets_an_engine_that_covers_it(model, tmp_path):
    machine, messages = Machine(), []
    backend = OrtBackend(model, messages.append, available=ALL, session_factory=machine, cache_root=tmp_path,
                         batch=1)
    small, large = (np.random.default_rng(4).uniform(0, 1, (1, 3, h, w)).astype(np.float32) for h, w in
                    ((40, 52), (48, 44)))  # a first, corner tile, then a taller inner one
    backend.run(small)
    assert np.abs(backend.run(large) - TorchBackend(model, "cpu").run(large)).max() < 1e-4
    profiles = [dict(call["providers"][0][1])["trt_profile_max_shapes"] for call in machine.calls]
    assert profiles == ["input:1x3x40x52", "input:1x3x48x52"]
    assert any("larger than TensorRT's profile (52x40); making the engine for 52x48" in m for m in messages)
    backend.run(small)
    assert len(machine.calls) == 2  # smaller inputs fit the profile


def test_unavailable_providers_are_named_with_the_extra_that_brings_them(model):
    messages = []
    backend = OrtBackend(model, messages.append, available=[CPU])
    assert backend.name == "onnxruntime:CPUExecutionProvider"
    text = "\n".join(messages)
    assert "TensorrtExecutionProvider not available in this build (install the 'tensorrt' extra" in text
    assert "CUDAExecutionProvider not available in this build (install the 'gpu' extra" in text


# --- auto -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("torch_cuda, providers, backend, says", [
    (True, [CPU], "torch", "fastest path measured (410 fps"),
    (True, ALL, "torch", "onnxruntime also has TensorrtExecutionProvider, CUDAExecutionProvider (unmeasured here"),
    (False, [CUDA, CPU], "onnxruntime", "onnxruntime with CUDAExecutionProvider: torch sees no CUDA device here; this "
                                        "path's speed is unmeasured"),
    (False, [CPU], "onnxruntime", "no GPU runtime"),
])
def test_auto_follows_the_measured_order_and_says_why(torch_cuda, providers, backend, says):
    chosen, reason = auto_choice(torch_cuda, providers)
    assert chosen == backend and says in reason
    assert [row[:2] for row in AUTO_ORDER] == [("torch", "cuda"), ("onnxruntime", "gpu"), ("onnxruntime", "cpu")]


def test_auto_logs_its_choice(model, tmp_path):
    messages = []
    backend = select_backend(model, "auto", log=messages.append, available=[CUDA, CPU], torch_cuda=False,
                             session_factory=Machine())
    assert backend.name == "onnxruntime:CUDAExecutionProvider"
    assert messages[0].startswith("--backend auto: onnxruntime (onnxruntime with CUDAExecutionProvider")


# --- IO binding -------------------------------------------------------------------------------------

def test_io_binding_reads_and_writes_torchs_own_buffers(model):
    backend = OrtBackend(model, lambda _: None, available=[CPU])
    x = torch.from_numpy(np.random.default_rng(2).uniform(0, 1, (3, 3, 36, 44)).astype(np.float32))
    got = backend.run_tensor(x)
    assert got.device == x.device and got.dtype == torch.float32 and got.shape == (3, 3, 36, 44)
    assert torch.equal(got, torch.from_numpy(backend.run(x.numpy())))  # written by onnxruntime into torch's tensor
    assert np.abs(got.numpy() - TorchBackend(model, "cpu").run(x.numpy())).max() < 1e-4


def test_the_device_path_runs_onnxruntime_through_io_binding(tmp_path):
    """``restyle_tensors`` (the render's hand-over on the device) with onnxruntime gives what the
    host path gives, two keys blended and all."""
    from inference.demo.plate import render_frame
    from inference.restyle.apply import restyle_images, restyle_tensors

    two = load_model(write_model(tmp_path / "two.onnx", keys=("1", "9")))
    frames = [(f, render_frame(i, 50, 34)) for i, f in enumerate((1, 5, 9))]
    backend = OrtBackend(two, lambda _: None, available=[CPU])
    calls = []
    real = backend.run_tensor
    backend.run_tensor = lambda x: calls.append(tuple(x.shape)) or real(x)
    device = restyle_tensors(two, backend, frames, "ACEScg")
    host = restyle_images(two, backend, frames, "ACEScg")
    assert calls == [(4, 5, 36, 52)]  # frame 5 blends two keys: four inputs in one call
    assert np.abs(device.numpy().transpose(0, 2, 3, 1) - np.stack(host)).max() < 1e-4
