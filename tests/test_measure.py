import json

import pytest

from inference import cli


@pytest.mark.shared_data
def test_metrics_cli_reports_flicker_against_the_plate(shared_data, tmp_path, capsys):
    # the full-resolution bikes shot: at 320x136 its Kuwahara flicker is within 2x the plate's
    plate = str(shared_data / "live_bikes" / "bikes.####.png")
    style = str(shared_data / "style" / "bikes_kuwahara.####.png")
    out = tmp_path / "m" / "metrics.json"
    assert cli.main(["metrics", "--output", style, "--plate", plate, "--frames", "1001-1006",
                     "--reference", style, "--json", str(out), "--progress", "none"]) == 0
    figures = json.loads(out.read_text())
    assert figures == json.loads(capsys.readouterr().out)
    assert figures["e_warp"] > 2 * figures["plate_e_warp"] > 0  # the per-frame stylisation flickers
    # judged with two independent flows by default, each next to the plate's own
    by_flow = figures["e_warp_by_flow"]
    assert sorted(by_flow) == ["dis", "farneback"] and figures["e_warp"] == by_flow["dis"]["e_warp"]
    assert by_flow["farneback"]["e_warp"] != by_flow["dis"]["e_warp"]
    assert by_flow["farneback"]["e_warp"] > 2 * by_flow["farneback"]["plate_e_warp"] > 0
    assert figures["ssim"] == 1.0 and figures["swd"] < 30

    assert cli.main(["metrics", "--output", plate, "--plate", plate, "--frames", "1001-1006",
                     "--reference", style, "--json", str(out), "--progress", "none"]) == 0
    plate_only = json.loads(out.read_text())
    assert plate_only["e_warp_ratio_to_plate"] == 1.0
    assert 10 < plate_only["psnr_db"] < 40 and plate_only["ssim"] < 1.0


def test_metrics_with_the_blender_vector_pass(small_data, tmp_path):
    exr = str(small_data / "render_sceneA" / "exr" / "sceneA.####.exr")
    style = str(small_data / "style" / "sceneA_painting.####.png")
    out = tmp_path / "v.json"
    assert cli.main(["metrics", "--output", style, "--plate", exr, "--plate-colourspace", "lin_rec709",
                     "--frames", "1001-1005", "--vectors", "blender", "--json", str(out), "--progress", "none"]) == 0
    figures = json.loads(out.read_text())
    assert figures["flow"] == "the plate's Blender Vector pass"
    assert figures["e_warp"] > 5 * figures["plate_e_warp"] > 0


def test_metrics_refuses_an_unknown_flow_by_name(small_data, tmp_path, capsys):
    plate = str(small_data / "live_bikes" / "bikes.####.png")
    code = cli.main(["metrics", "--output", plate, "--plate", plate, "--frames", "1001-1003", "--vectors", "dis,raft",
                     "--json", str(tmp_path / "m.json"), "--progress", "none"])
    assert code == 64 and "--vectors" in capsys.readouterr().err
