"""The engine's ZIP/ZIPS EXR coder (``inference.exr_zip``) against OpenEXR itself: decoded pixels
bit-exact over many generated files, encoded files read back by OpenEXR bit-exact with their
attributes, raw-stored chunks, damaged files refused, other files left to OpenEXR. The CPU twin
(zlib) runs the same torch code the GPU coder runs; the nvCOMP coder is tested where a CUDA
device and the ``nvidia-nvcomp-cu12`` package are present."""
from __future__ import annotations

import threading
import zlib
from pathlib import Path

import numpy as np
import OpenEXR
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inference.errors import ImageReadError, UsageError
from inference.exr_zip import ZipCoder, cpu_twin, gpu_coder
from inference.exr_zip.deflate import ZlibStreams, agrees_with_zlib
from inference.exr_zip.layout import LINES, VALUE_BYTES, chunk_table, read_layout
from inference.exr_zip.transform import adler32, decode_rows, deinterleave, encode_rows, interleave
from inference.image import Image, Window, read_image, use_exr_coder, write_image

ZIP, ZIPS = OpenEXR.ZIP_COMPRESSION, OpenEXR.ZIPS_COMPRESSION
CHANNEL_SETS = {
    "rgba_half": {"R": np.float16, "G": np.float16, "B": np.float16, "A": np.float16},
    "layers_mixed": {"ViewLayer.Combined.R": np.float16, "ViewLayer.Combined.G": np.float16,
                     "ViewLayer.Combined.B": np.float16, "ViewLayer.Depth.Z": np.float32,
                     "ViewLayer.Vector.X": np.float32, "ViewLayer.Vector.Y": np.float32},
    "grey_float": {"Y": np.float32},
}


@pytest.fixture
def engine_coder():
    """The engine's coder (CPU twin) for EXR reads and writes during the test, OpenEXR after."""
    assert use_exr_coder("engine", "cpu") == "zlib"
    yield
    use_exr_coder("openexr")


def _box(x: int, y: int, width: int, height: int):
    return (np.array([x, y], np.int32), np.array([x + width - 1, y + height - 1], np.int32))


def _plane(rng, shape, dtype, noise: bool) -> np.ndarray:
    """Smooth gradients with a little grain (compressible) or white noise over every bit pattern
    a finite value can have (incompressible: its chunks are stored raw)."""
    if noise:
        bits = rng.integers(0, 1 << (16 if dtype == np.float16 else 32), shape, dtype=np.uint64)
        values = bits.astype(np.uint16 if dtype == np.float16 else np.uint32).view(dtype)
        return np.where(np.isfinite(values), values, 0).astype(dtype)
    height, width = shape
    ramp = np.add.outer(np.linspace(0, 1, height), np.linspace(0, 2, width))
    return (ramp + rng.normal(0, 0.01, shape)).astype(dtype)


def _write_fixture(path: Path, width: int, height: int, channels: dict, compression, origin=(0, 0),
                   noise: bool = False, seed: int = 0, **header) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    planes = {name: _plane(rng, (height, width), dtype, noise) for name, dtype in channels.items()}
    full = {"compression": compression, "type": OpenEXR.scanlineimage, "dataWindow": _box(*origin, width, height),
            "displayWindow": _box(0, 0, 64, 48), **header}
    with OpenEXR.File(full, dict(planes)) as exr:  # it turns the values it is given into Channels
        exr.write(str(path))
    return planes


def _openexr_planes(path: Path) -> dict[str, np.ndarray]:
    with OpenEXR.File(str(path), separate_channels=True) as exr:
        return {name: np.array(channel.pixels) for name, channel in exr.channels().items()}


def _bits(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(array).view(np.uint16 if array.dtype == np.float16 else np.uint32)


def _stored_raw(path: Path) -> int:
    """How many of the file's chunks are stored without compression."""
    data = memoryview(path.read_bytes())
    layout = read_layout(data)
    line = layout.width * sum(VALUE_BYTES[kind] for _, kind in layout.channels)
    lines = LINES[layout.compression]
    return sum(size == min(lines, layout.window[3] + 1 - y) * line for y, _, size in chunk_table(data, layout))


CASES = [  # width, height, channel set, compression, data window origin, noise
    (1, 1, "rgba_half", ZIP, (0, 0), False),
    (1, 1, "layers_mixed", ZIPS, (0, 0), False),  # one line: its float planes start at odd strides
    (5, 1, "layers_mixed", ZIP, (2, 0), True),
    (17, 5, "rgba_half", ZIPS, (3, 2), False),
    (53, 37, "layers_mixed", ZIP, (-7, 11), False),
    (64, 33, "grey_float", ZIPS, (0, 0), False),
    (130, 17, "rgba_half", ZIP, (100, -40), True),
    (29, 48, "layers_mixed", ZIPS, (0, 0), True),
    (33, 16, "grey_float", ZIP, (-1, -1), True),
    (96, 70, "layers_mixed", ZIP, (5, 5), False),
]


@pytest.mark.parametrize("width, height, kind, compression, origin, noise", CASES)
def test_decode_equals_openexr_bit_exact(tmp_path, width, height, kind, compression, origin, noise):
    path = tmp_path / "plate.exr"
    _write_fixture(path, width, height, CHANNEL_SETS[kind], compression, origin, noise, seed=width)
    decoded = cpu_twin().decode(str(path))
    expected = _openexr_planes(path)
    assert decoded is not None and decoded.names == tuple(sorted(expected))
    assert decoded.planes.shape == (len(expected), height, width)
    common = np.float16 if all(p.dtype == np.float16 for p in expected.values()) else np.float32
    for name, plane in zip(decoded.names, decoded.planes.numpy()):
        assert plane.dtype == common
        assert np.array_equal(_bits(plane), _bits(expected[name].astype(common))), name
    if noise:  # the fixture did store chunks raw, so the raw path is what was checked
        assert _stored_raw(path) > 0


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(width=st.integers(1, 90), height=st.integers(1, 50), x=st.integers(-60, 60), y=st.integers(-60, 60),
       names=st.sets(st.sampled_from(["R", "G", "B", "A", "Z", "N.X", "N.Y", "crypto.long_layer_name.R"]),
                     min_size=1, max_size=5),
       floats=st.sets(st.integers(0, 4)), zips=st.booleans(), noise=st.booleans(), seed=st.integers(0, 1000))
def test_round_trips_over_generated_files(tmp_path, width, height, x, y, names, floats, zips, noise, seed):
    """Any size, window, channel set, type mix, compression and content: the engine decodes
    OpenEXR's file bit-exact, and OpenEXR reads the engine's re-encoding of it bit-exact."""
    channels = {name: np.float32 if i in floats else np.float16 for i, name in enumerate(sorted(names))}
    path, out = tmp_path / "gen.exr", tmp_path / "gen_out.exr"
    _write_fixture(path, width, height, channels, ZIPS if zips else ZIP, (x, y), noise, seed)
    coder, expected = cpu_twin(), _openexr_planes(path)
    decoded = coder.decode(str(path))
    assert decoded is not None and decoded.planes.shape == (len(channels), height, width)
    for name, plane in zip(decoded.names, decoded.planes.numpy()):
        assert np.array_equal(_bits(plane), _bits(expected[name].astype(plane.dtype))), name
    assert coder.encode(str(out), _attributes(path), list(decoded.names), decoded.planes)
    for name, plane in _openexr_planes(out).items():
        assert np.array_equal(_bits(plane), _bits(expected[name].astype(plane.dtype))), name


def test_decreasing_line_order_decodes(tmp_path):
    path = tmp_path / "down.exr"
    planes = _write_fixture(path, 40, 35, CHANNEL_SETS["rgba_half"], ZIP, lineOrder=OpenEXR.DECREASING_Y)
    decoded = cpu_twin().decode(str(path))
    assert decoded is not None
    for name, plane in zip(decoded.names, decoded.planes.numpy()):
        assert np.array_equal(_bits(plane), _bits(planes[name])), name


def test_read_image_through_the_engine_coder_equals_openexr(tmp_path):
    path = tmp_path / "plate.exr"
    _write_fixture(path, 61, 45, CHANNEL_SETS["layers_mixed"], ZIP, (4, -2), owner="comp", Frame=1001)
    reference = read_image(path)
    assert use_exr_coder("engine", "cpu") == "zlib"
    try:
        engine = read_image(path)
    finally:
        use_exr_coder("openexr")
    assert engine.channels == reference.channels and engine.file_format == reference.file_format == "float"
    assert np.array_equal(_bits(engine.pixels), _bits(reference.pixels))
    assert engine.pixels.transpose(2, 0, 1).flags["C_CONTIGUOUS"]  # planar, as the engine holds EXR frames
    assert (engine.data_window, engine.display_window) == (reference.data_window, reference.display_window)
    assert engine.attributes.keys() == reference.attributes.keys()
    assert engine.attributes["owner"] == "comp" and engine.attributes["Frame"] == 1001


def test_real_blender_exrs_read_alike(small_data, engine_coder):
    files = sorted((small_data / "render_sceneA" / "exr").glob("sceneA.*.exr"))[:2]
    assert files
    for source in files:
        assert cpu_twin().decode(str(source)) is not None  # ZIP files: the engine's coder reads them
        engine = read_image(source)
        use_exr_coder("openexr")
        reference = read_image(source)
        use_exr_coder("engine", "cpu")
        assert engine.channels == reference.channels
        assert np.array_equal(engine.pixels, reference.pixels, equal_nan=True), source.name


def _attributes(path: Path) -> dict:
    with OpenEXR.File(str(path), header_only=True) as exr:
        return dict(exr.header())


def _same_value(a, b) -> bool:
    if isinstance(a, tuple):
        return all(_same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b)
    return repr(a) == repr(b)


@pytest.mark.parametrize("compression, noise, dtype", [("zip", False, "half"), ("zips", False, "float"),
                                                       ("zip", True, "half"), ("zips", True, "half")])
def test_encode_is_read_back_by_openexr_bit_exact_with_attributes(tmp_path, compression, noise, dtype):
    rng = np.random.default_rng(7)
    width, height = 77, 41
    planes = [_plane(rng, (height, width), np.float16 if dtype == "half" else np.float32, noise) for _ in range(5)]
    names = ("R", "G", "B", "A", "ViewLayer.CryptoObject00.a_name_past_31_bytes.Z")
    attributes = {"owner": "comp", "Frame": 1001, "exposure": 0.5, "a.very.long.attribute.name.past.31.chars": "x",
                  "worldToCamera": np.arange(16, dtype=np.float32).reshape(4, 4), "pixelAspectRatio": 1.0,
                  "screenWindowCenter": np.array([0.5, -0.25], np.float32), "screenWindowWidth": 1.0}
    image = Image(np.stack(planes).transpose(1, 2, 0), names, Window(-3, 9, width, height), Window(0, 0, 100, 60),
                  attributes)
    expected, engine = tmp_path / "openexr.exr", tmp_path / "engine.exr"
    write_image(expected, image, dtype=dtype, compression=compression, colourspace="ACEScg")
    assert use_exr_coder("engine", "cpu") == "zlib"
    try:
        write_image(engine, image, dtype=dtype, compression=compression, colourspace="ACEScg")
    finally:
        use_exr_coder("openexr")
    ours, theirs = _openexr_planes(engine), _openexr_planes(expected)
    assert ours.keys() == theirs.keys() == set(names)
    for name in names:
        assert ours[name].dtype == theirs[name].dtype
        assert np.array_equal(_bits(ours[name]), _bits(theirs[name])), name
    mine, reference = _attributes(engine), _attributes(expected)
    assert mine.keys() == reference.keys()
    for key in reference:
        assert _same_value(mine[key], reference[key]), key
    assert mine["oiio:ColorSpace"] == "ACEScg" and mine["a.very.long.attribute.name.past.31.chars"] == "x"
    assert engine.read_bytes()[5] & 0x04  # version flags: long names
    if noise:
        assert _stored_raw(engine) > 0
    decoded = cpu_twin().decode(str(engine))  # and the engine reads its own files
    assert decoded is not None
    for name, plane in zip(decoded.names, decoded.planes.numpy()):
        assert np.array_equal(_bits(plane), _bits(theirs[name])), name


def test_other_files_stay_with_openexr(tmp_path, engine_coder):
    piz, tiled = tmp_path / "piz.exr", tmp_path / "tiled.exr"
    planes = _write_fixture(piz, 30, 20, CHANNEL_SETS["rgba_half"], OpenEXR.PIZ_COMPRESSION)
    tiles = OpenEXR.TileDescription()
    tiles.xSize, tiles.ySize, tiles.mode = 16, 16, OpenEXR.ONE_LEVEL
    _write_fixture(tiled, 30, 20, CHANNEL_SETS["rgba_half"], ZIP, type=OpenEXR.tiledimage, tiles=tiles)
    coder = cpu_twin()
    assert coder.decode(str(piz)) is None and coder.decode(str(tiled)) is None
    image = read_image(piz)  # the engine's reader falls back to OpenEXR
    assert np.array_equal(image.select(["R"]).pixels[..., 0], planes["R"])
    assert read_image(tiled).size == (30, 20)
    out = tmp_path / "out.exr"
    write_image(out, image, compression="piz")
    assert _attributes(out)["compression"] == OpenEXR.PIZ_COMPRESSION
    assert np.array_equal(_openexr_planes(out)["R"], planes["R"])


def test_damaged_chunks_are_refused_naming_the_file(tmp_path, engine_coder):
    path = tmp_path / "plate.exr"
    _write_fixture(path, 64, 40, CHANNEL_SETS["rgba_half"], ZIP)
    data = bytearray(path.read_bytes())
    _, start, size = chunk_table(memoryview(bytes(data)), read_layout(memoryview(bytes(data))))[1]
    flipped = tmp_path / "flipped.exr"
    data[start + size // 2] ^= 0x5A
    flipped.write_bytes(bytes(data))
    truncated = tmp_path / "truncated.exr"
    truncated.write_bytes(path.read_bytes()[:start + size // 2])
    for bad in (flipped, truncated):
        with pytest.raises(ImageReadError, match=bad.name):
            read_image(bad)


@pytest.mark.parametrize("length", [1, 2, 7, 1000, 4097])
def test_transforms_invert_and_match_zlib_adler(length):
    rows = torch.from_numpy(np.random.default_rng(length).integers(0, 256, (3, length), dtype=np.uint8))
    assert torch.equal(deinterleave(interleave(rows)), rows)
    assert torch.equal(decode_rows(encode_rows(rows)), rows)
    assert not torch.equal(encode_rows(rows), rows) or length == 1
    assert adler32(rows).tolist() == [zlib.adler32(r.numpy().tobytes()) for r in rows]


def test_predictor_matches_openexr_bytes(tmp_path):
    """The inflated bytes of an OpenEXR chunk, decoded here, are the raw scanlines OpenEXR wrote."""
    path = tmp_path / "plate.exr"
    planes = _write_fixture(path, 256, 1, {"R": np.float16}, ZIPS)
    data = memoryview(path.read_bytes())
    _, start, size = chunk_table(data, read_layout(data))[0]
    assert size < 256 * 2  # compressed, not stored
    inflated = np.frombuffer(zlib.decompress(bytes(data[start:start + size])), np.uint8)
    raw = decode_rows(torch.from_numpy(inflated.copy())[None])[0].numpy()
    assert np.array_equal(raw.view(np.float16), planes["R"][0])


class _Broken(ZlibStreams):
    name = "broken"

    def inflate(self, streams, sizes):
        return [o[:-1] for o in super().inflate(streams, sizes)]

    def deflate(self, rows):
        raise RuntimeError("no")


def test_deflate_engines_are_checked_against_zlib():
    assert agrees_with_zlib(ZlibStreams()) == (True, True)
    with pytest.warns(RuntimeWarning) as caught:
        assert agrees_with_zlib(_Broken()) == (False, False)
    said = [str(w.message) for w in caught]
    assert any("broken on cpu: inflate not used for EXR ZIP, its output differs" in m for m in said), said
    assert any("deflate not used for EXR ZIP, RuntimeError: no" in m for m in said), said


def test_a_coder_names_and_takes_only_its_directions(tmp_path):
    path = tmp_path / "plate.exr"
    _write_fixture(path, 20, 18, CHANNEL_SETS["rgba_half"], ZIP)
    header, planes = _attributes(path), torch.zeros((4, 18, 20), dtype=torch.float16)
    reads, writes = ZipCoder("cpu", ZlibStreams(), None), ZipCoder("cpu", None, ZlibStreams())
    assert ZipCoder("cpu", ZlibStreams(), ZlibStreams()).name == "zlib"
    assert (reads.name, writes.name) == ("zlib-read", "zlib-write")
    assert reads.decode(str(path)) is not None and writes.decode(str(path)) is None
    assert not reads.encode(str(tmp_path / "no.exr"), header, ["A", "B", "G", "R"], planes)
    assert not (tmp_path / "no.exr").exists()
    assert writes.encode(str(tmp_path / "yes.exr"), header, ["A", "B", "G", "R"], planes)


def test_coder_choice(monkeypatch):
    import inference.exr_zip

    # nvCOMP measured slower than OpenEXR on an H100 (bench/results/io.json): auto keeps OpenEXR even
    # where the GPU coder is at hand; engine takes it
    monkeypatch.setattr(inference.exr_zip, "gpu_coder", lambda device: ZipCoder(device, ZlibStreams(), ZlibStreams()))
    try:
        assert use_exr_coder("auto", "cuda") == "openexr" and use_exr_coder("auto", "cpu") == "openexr"
        assert use_exr_coder("engine", "cuda") == "zlib"
    finally:
        use_exr_coder("openexr")
    monkeypatch.undo()
    try:
        assert use_exr_coder("engine", "cpu") == "zlib"
        if gpu_coder("cuda") is None:  # no CUDA device or no nvCOMP here
            with pytest.raises(UsageError, match="nvCOMP"):
                use_exr_coder("engine", "cuda")
        with pytest.raises(UsageError, match="EXR coder"):
            use_exr_coder("fast", "cpu")
    finally:
        use_exr_coder("openexr")


def _nvcomp_missing() -> bool:
    try:
        from nvidia import nvcomp  # noqa: F401
    except ImportError:
        return True
    return not torch.cuda.is_available()


@pytest.mark.skipif(_nvcomp_missing(), reason="needs a CUDA device and the nvidia-nvcomp-cu12 package")
def test_gpu_coder_equals_openexr(tmp_path):
    coder = gpu_coder("cuda")
    assert coder is not None and coder.inflater is not None, "nvCOMP's Deflate disagrees with zlib"
    for index, (width, height, kind, compression, origin, noise) in enumerate(CASES):
        path = tmp_path / f"plate{index}.exr"
        _write_fixture(path, width, height, CHANNEL_SETS[kind], compression, origin, noise)
        decoded, expected = coder.decode(str(path)), _openexr_planes(path)
        assert decoded is not None and decoded.planes.is_cuda
        for name, plane in zip(decoded.names, decoded.planes.cpu().numpy()):
            assert np.array_equal(_bits(plane), _bits(expected[name].astype(plane.dtype))), (path.name, name)
        if coder.deflater is not None:
            out = tmp_path / f"out{index}.exr"
            assert coder.encode(str(out), _attributes(path), list(decoded.names), decoded.planes)
            for name, plane in _openexr_planes(out).items():
                assert np.array_equal(_bits(plane), _bits(expected[name].astype(plane.dtype))), (out.name, name)


def test_each_frame_keeps_its_own_attributes(tmp_path, engine_coder):
    """Headers are serialised once per distinct header: a changed value is never taken from an
    earlier frame's."""
    pixels = np.zeros((4, 6, 3), np.float16)
    for frame, matrix in ((1001, np.eye(4, dtype=np.float32)), (1002, 2 * np.eye(4, dtype=np.float32)),
                          (1001, np.eye(4, dtype=np.float32))):
        path = tmp_path / f"f{frame}_{int(matrix[0, 0])}.exr"
        image = Image.from_array(pixels, ("R", "G", "B"), attributes={"Frame": frame, "worldToCamera": matrix})
        write_image(path, image)
        written = _attributes(path)
        assert written["Frame"] == frame and np.array_equal(written["worldToCamera"], matrix)


class _FakeBatch(list):
    """nvCOMP 6's ``BatchArray`` as its API reference describes it: entries carved out of one
    buffer by offsets and sizes (zero-copy), ``buffer_sizes``, indexing."""

    @property
    def buffer_sizes(self):
        return [int(t.numel()) for t in self]


class _FakeCodec:
    """Raw Deflate through zlib, with nvCOMP's ``Codec.decode(batch, out=batch)`` / ``encode(batch)``."""

    def __init__(self, **options):
        assert options["algorithm"] == "Deflate" and options["bitstream_kind"] == "RAW"

    def decode(self, sources, out):
        for source, target in zip(sources, out):
            target.copy_(torch.from_numpy(np.frombuffer(zlib.decompress(source.numpy().tobytes(), -15), np.uint8).copy()))
        return out

    def encode(self, sources):
        return _FakeBatch(torch.from_numpy(np.frombuffer(_raw_deflate(s.numpy().tobytes()), np.uint8).copy())
                          for s in sources)


def _raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(4, zlib.DEFLATED, -15)
    return packer.compress(data) + packer.flush()


class _FakeNvcomp:
    BitstreamKind = type("BitstreamKind", (), {"RAW": "RAW"})
    Codec = _FakeCodec

    @staticmethod
    def as_arrays(buffer, offsets, sizes, stream):
        assert all(o % 16 == 0 for o in offsets), "entries must start 16-byte aligned"
        return _FakeBatch(buffer[o:o + n] for o, n in zip(offsets, sizes))


class _FakeStream:
    cuda_stream = 7

    def synchronize(self):
        pass


def test_the_nvcomp_adapter_packs_batches_as_nvcomp_takes_them(monkeypatch, tmp_path):
    """``NvcompStreams`` against a stand-in of nvCOMP 6's documented batch API (zlib inside, on the
    CPU): aligned packing, output carving and the coder around it give OpenEXR's pixels."""
    from inference.exr_zip import deflate
    from inference.exr_zip.coder import ZipCoder

    engine = deflate.NvcompStreams.__new__(deflate.NvcompStreams)
    engine.device, engine._nvcomp, engine._local = torch.device("cpu"), _FakeNvcomp, threading.local()
    monkeypatch.setattr(torch.cuda, "current_stream", lambda device=None: _FakeStream())
    assert deflate.agrees_with_zlib(engine) == (True, True)
    path, out = tmp_path / "plate.exr", tmp_path / "out.exr"
    _write_fixture(path, 45, 37, CHANNEL_SETS["layers_mixed"], ZIP, (2, 3))
    coder = ZipCoder("cpu", engine, engine)
    decoded, expected = coder.decode(str(path)), _openexr_planes(path)
    assert decoded is not None
    for name, plane in zip(decoded.names, decoded.planes.numpy()):
        assert np.array_equal(_bits(plane), _bits(expected[name].astype(np.float32))), name
    assert coder.encode(str(out), _attributes(path), list(decoded.names), decoded.planes)
    for name, plane in _openexr_planes(out).items():
        assert np.array_equal(_bits(plane), _bits(expected[name].astype(np.float32))), name


def test_a_full_device_leaves_the_frame_to_openexr(tmp_path, monkeypatch, engine_coder):
    """Out of device memory mid-frame: that frame is decoded and encoded by OpenEXR instead."""
    from inference.exr_zip import coder as coder_module

    path, out = tmp_path / "plate.exr", tmp_path / "out.exr"
    planes = _write_fixture(path, 24, 20, CHANNEL_SETS["rgba_half"], ZIP)

    def full(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(coder_module, "decode_rows", full)
    monkeypatch.setattr(coder_module, "encode_rows", full)
    assert cpu_twin().decode(str(path)) is None
    image = read_image(path)
    assert np.array_equal(image.select(["G"]).pixels[..., 0], planes["G"])
    write_image(out, image)
    assert np.array_equal(_openexr_planes(out)["G"], planes["G"])
