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


def test_the_flicker_curve_shows_the_frame_that_pops(small_data, tmp_path):
    import numpy as np

    from inference.image import Image, read_image, write_image

    # GIVEN the plate itself as the result, but with frame 1003 brighter (a pop)
    plate = small_data / "live_bikes" / "bikes.####.png"
    (tmp_path / "out").mkdir()
    for frame in range(1001, 1006):
        image = read_image(str(plate).replace("####", str(frame)))
        rgb = image.beauty(alpha=False).as_float32()
        if frame == 1003:
            rgb = np.clip(rgb * 1.3 + 0.05, 0, 1)
        write_image(tmp_path / "out" / f"r.{frame}.png", Image.from_array(rgb, ("R", "G", "B")))
    curve, out = tmp_path / "flicker.png", tmp_path / "flicker.json"
    assert cli.main(["metrics", "--output", str(tmp_path / "out" / "r.####.png"), "--plate", str(plate),
                     "--frames", "1001-1005", "--vectors", "dis", "--json", str(out), "--curve", str(curve),
                     "--progress", "none"]) == 0
    per_frame = json.loads(out.read_text())["e_warp_by_flow"]["dis"]["per_frame"]
    # THEN each frame's flicker against the one before says where it pops: into and out of 1003
    assert per_frame["frames"] == [1002, 1003, 1004, 1005]
    ratio = dict(zip(per_frame["frames"], per_frame["ratio_to_plate"]))
    assert min(ratio[1003], ratio[1004]) > 3 * max(ratio[1002], ratio[1005]) and ratio[1002] == 1.0
    # AND the curve is drawn
    assert curve.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and read_image(str(curve)).size[0] > 100
