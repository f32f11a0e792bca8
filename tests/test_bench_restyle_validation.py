"""The validation bench's arithmetic: summaries over sequences, goals, the README table."""
from pathlib import Path

import numpy as np

from bench.bench_restyle_quality import SRGB, load
from bench.bench_restyle_validation import goals, middle, summary, table
from inference import colour
from inference.image import Image
from inference.sequence import SequencePattern
from inference.sequence_io import SequenceWriter


def _row(psnr, texture, dis, farneback, **extra):
    return {"psnr_db": psnr, "psnr_db_far": psnr - 1, "ssim": 0.5, "texture_multiple": texture,
            "e_warp_dis_multiple": dis, "e_warp_farneback_multiple": farneback, **extra}


def test_summary_takes_median_and_worst_and_measures_only_some_rows_have():
    results = {"render": {"methods": {"texture": _row(12.0, 2.0, 1.0, 3.0, e_warp_vectors_multiple=4.0)}},
               "live": {"methods": {"texture": _row(16.0, 1.0, 2.0, 1.0)}},
               "live2": {"methods": {"texture": _row(14.0, 1.5, 5.0, 2.0)}}}
    texture = summary(results)["texture"]
    assert texture["psnr_db"] == {"median": 14.0, "worst": 12.0}  # worst PSNR is the lowest
    assert texture["e_warp_dis_multiple"] == {"median": 2.0, "worst": 5.0}  # worst E_warp is the highest
    assert texture["e_warp_vectors_multiple"] == {"median": 4.0, "worst": 4.0}


def test_goals_judge_our_chain_against_the_warped_key_and_ebsynth():
    sequence = {"methods": {"texture_deflicker": _row(9.0, 9.0, 9.0, 9.0), "detail_deflicker": _row(15.0, 1.4, 1.2, 1.6),
                            "warped_key": _row(13.5, 0.9, 2.0, 2.0), "ebsynth": _row(14.0, 1.1, 30.0, 9.0)}}
    judged = goals(sequence)
    assert judged["texture_le_1_5x_key"] and not judged["texture_le_ebsynth"]
    assert judged["psnr_far_ge_warped_key_plus_1db"] and judged["psnr_ge_ebsynth"]
    assert not judged["e_warp_le_1_5x_plate_both_flows"]  # Farneback says 1.6x
    assert goals({"methods": {"warped_key": _row(1, 1, 1, 1)}}) == {}


def test_table_names_a_refused_training_and_the_key_is_the_middle_frame():
    record = {"sequences": {"live": {"set": "checking", "training_refused": "key 1012 at 9 dB",
                                     "methods": {"ebsynth": _row(14.0, 1.1, 30.0, 9.0)}}}}
    text = table(record)
    assert "| live (checking) | restyle: training refused | key 1012 at 9 dB |" in text
    assert "| live (checking) | ebsynth | 14.00 (13.00) | 0.500 | 1.10x | 30.00x / 9.00x |" in text
    assert middle(list(range(1001, 1025))) == 1012 and middle(list(range(1001, 1033))) == 1016


def test_frames_are_measured_as_srgb_views_whatever_colourspace_their_files_record(tmp_path):
    view = np.random.default_rng(0).uniform(0.05, 0.95, (8, 8, 3)).astype(np.float32)
    linear = colour.convert(view, SRGB, colour.resolve_colourspace("scene_linear"))
    for name, pixels, space in (("lin", linear, "scene_linear"), ("srgb", view, SRGB)):
        pattern = SequencePattern.parse(str(tmp_path / name / "f.####.exr"))
        with SequenceWriter(pattern, colourspace=colour.resolve_colourspace(space)) as writer:
            writer.write(1, Image.from_array(pixels, ("R", "G", "B")))
        np.testing.assert_allclose(load(pattern, [1])[1], view, atol=2e-3)  # half float


def test_scaled_copies_keep_the_layout_and_scale_plates_and_style_frames(tmp_path):
    import cv2

    from bench.bench_restyle_validation import SEQUENCES, scaled_data

    data = tmp_path / "data"
    plate_text, ref_text, frames = SEQUENCES["shot2_pencil"]
    for text, channels in ((plate_text, 3), (ref_text, 1)):  # (a grey style frame stays grey)
        for frame in frames:
            path = SequencePattern.parse(str(data / text)).path(frame)
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(path, np.full((36, 64, channels) if channels > 1 else (36, 64), frame % 250, np.uint8))
    scaled = scaled_data(data, ["shot2_pencil"], 2.0, tmp_path / "scaled")
    for text, shape in ((plate_text, (72, 128, 3)), (ref_text, (72, 128))):
        pixels = cv2.imread(SequencePattern.parse(str(scaled / text)).path(frames[-1]), cv2.IMREAD_UNCHANGED)
        assert pixels.shape == shape and int(pixels[5, 5].min()) == frames[-1] % 250
