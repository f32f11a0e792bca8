"""The job's OCIO config (--ocio-config / the ocio_config field: what a Nuke node passes from its
project): the engine converts with it, over $OCIO, bridges to its own built-in names through the
configs' interchange roles, logs it, and the ColourLock QC report names it and the spaces used."""
import json

import numpy as np
import PyOpenColorIO as ocio
import pytest

from inference import cli, colour
from inference.image import Image, read_image, write_image
from inference.sequence import SequencePattern

LIN709 = "Linear Rec.709 (sRGB)"


@pytest.fixture
def plate(tmp_path):
    seq = SequencePattern.parse(str(tmp_path / "plate" / "plate.####.exr"))
    seq.directory.mkdir()
    rng = np.random.default_rng(3)
    for frame in (1, 2):
        pixels = rng.uniform(0.02, 0.9, (12, 16, 3)).astype(np.float32)
        write_image(seq.path(frame), Image.from_array(pixels, ("R", "G", "B")))
    return seq


def test_the_jobs_config_converts_and_wins_over_ocio(show_config, plate, tmp_path, monkeypatch):
    monkeypatch.setenv("OCIO", "ocio://cg-config-latest")  # no show_* names there: the job's config must win
    out = SequencePattern.parse(str(tmp_path / "out" / "out.####.exr"))
    args = ["convert", "--input", plate.hashes, "--frames", "1-2", "--out", out.hashes, "--input-colourspace",
            "show_lin709", "--out-colourspace", "show_g22", "--progress", "none"]
    assert cli.main(args) == 64  # $OCIO's config knows no show_lin709
    assert cli.main(args + ["--ocio-config", str(show_config)]) == 0
    source = read_image(plate.path(2)).as_float32()
    expected = source.copy()
    ocio.Config.CreateFromFile(str(show_config)).getProcessor("show_lin709", "show_g22") \
        .getDefaultCPUProcessor().applyRGB(expected)
    assert np.allclose(read_image(out.path(2)).as_float32(), expected, atol=2e-3)  # half-float EXR
    assert not np.allclose(expected, source, atol=1e-2)  # the conversion did something
    assert colour.config_source() == "ocio://cg-config-latest"  # the job's config ends with the job


def test_the_engines_own_names_are_reached_through_interchange_roles(show_config, plate, tmp_path):
    """Under a show's config the engine's working encoding (a built-in name) still converts right."""
    source = read_image(plate.path(1)).as_float32()
    with colour.using_config(str(show_config)):
        bridged = colour.convert(source, "show_lin709", colour.WORKING_ENCODING)
    assert np.allclose(bridged, colour.convert(source, LIN709, colour.WORKING_ENCODING), atol=2e-4)


def test_a_config_without_the_engines_names_or_roles_is_refused_with_what_to_add(tmp_path, plate):
    config = ocio.Config.CreateRaw()  # one colourspace, "raw"; no interchange roles
    path = tmp_path / "bare.ocio"
    path.write_text(config.serialize())
    with colour.using_config(str(path)):
        with pytest.raises(Exception, match="interchange roles"):
            colour.convert(read_image(plate.path(1)).as_float32(), "raw", colour.WORKING_ENCODING)


def test_the_log_and_the_qc_report_name_the_config_and_spaces(show_config, plate, tmp_path, capsys):
    reference = tmp_path / "ref.exr"
    write_image(reference, Image.from_array(read_image(plate.path(1)).as_float32() * 1.1, ("R", "G", "B")))
    code = cli.main(["colourlock", "--input", plate.hashes, "--frames", "1-2", "--reference", str(reference),
                     "--reference-colourspace", "show_lin709", "--input-colourspace", "show_lin709",
                     "--report", str(tmp_path / "report"), "--check-only", "--ocio-config", str(show_config),
                     "--progress", "json"])
    assert code == 0
    notes = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    assert any(str(show_config) in n["message"] and "test-show-config" in n["message"]
               and "input_colourspace show_lin709" in n["message"] for n in notes if n["event"] == "note")
    said = json.loads((tmp_path / "report" / "report.json").read_text())["colour"]
    assert said["ocio_config"] == str(show_config) and said["config_name"] == "test-show-config"
    assert said["input_colourspace"] == said["reference_colourspace"] == "show_lin709"
    assert said["working_encoding"] == colour.WORKING_ENCODING and LIN709 in said["delta_e_space"]
    assert str(show_config) in (tmp_path / "report" / "report.html").read_text()


def test_a_manifests_relative_config_is_taken_from_its_folder_and_a_builtin_uri_kept(tmp_path):
    from inference.jobs import manifest

    path = tmp_path / "job.json"
    for given, expected in (("show/config.ocio", str(tmp_path / "show" / "config.ocio")),
                            ("ocio://studio-config-latest", "ocio://studio-config-latest")):
        path.write_text(json.dumps({"version": 1, "stage": "convert", "ocio_config": given}))
        assert manifest.load(path)["ocio_config"] == expected
