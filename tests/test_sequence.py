import pytest

from inference.errors import UsageError
from inference.sequence import SequencePattern, format_frame_range, parse_frame_range


@pytest.mark.parametrize("text", ["shot/plate.####.exr", "shot/plate.%04d.exr", "shot/plate.@@@@.exr"])
def test_every_nuke_token_names_the_same_files(text):
    pattern = SequencePattern.parse(text)
    assert pattern.path(1001) == "shot/plate.1001.exr"
    assert pattern.path(7) == "shot/plate.0007.exr"
    assert pattern.printf == "shot/plate.%04d.exr"
    assert pattern.hashes == "shot/plate.####.exr"
    assert pattern.extension == "exr"


def test_frames_wider_than_padding_and_negative_frames_follow_nuke():
    pattern = SequencePattern.parse("a.##.png")
    assert pattern.path(12345) == "a.12345.png"
    assert pattern.path(-3) == "a.-03.png"
    assert SequencePattern.parse("a.%d.png").path(5) == "a.5.png"


def test_hashes_in_folder_names_are_not_frame_tokens():
    pattern = SequencePattern.parse("/jobs/shot#12/plate.####.exr")
    assert pattern.path(1) == "/jobs/shot#12/plate.0001.exr"


@pytest.mark.parametrize("text", ["plate.exr", "plate.####.####.exr", "", "shots/####/", "#/"])
def test_bad_patterns_say_how_to_write_one(text):
    with pytest.raises(UsageError, match="frame token"):
        SequencePattern.parse(text)


def test_existing_frames_lists_only_matching_files(tmp_path):
    for name in ["p.0001.exr", "p.0003.exr", "p.0003.exr.tmp", "q.0002.exr", ".p.0004.exr.x.tmp.exr"]:
        (tmp_path / name).write_bytes(b"")
    pattern = SequencePattern.parse(str(tmp_path / "p.####.exr"))
    assert pattern.existing_frames() == [1, 3]
    assert pattern.missing_frames([1, 2, 3]) == [2]


@pytest.mark.parametrize("text,frames", [
    ("1001", [1001]),
    ("1001-1004", [1001, 1002, 1003, 1004]),
    ("1-9x4", [1, 5, 9]),
    ("1-3,10,2", [1, 2, 3, 10]),
    (" 5 - 6 ", [5, 6]),
    ("-2-1", [-2, -1, 0, 1]),
    (12, [12]),
])
def test_frame_ranges(text, frames):
    assert parse_frame_range(text) == frames


@pytest.mark.parametrize("text,problem", [("10-1", "ends before"), ("1-5x0", "step"), ("a-b", "cannot read"), ("", "cannot read")])
def test_bad_frame_ranges_name_the_problem(text, problem):
    with pytest.raises(UsageError, match=problem):
        parse_frame_range(text)


def test_format_frame_range_is_compact_and_round_trips():
    frames = [1001, 1002, 1003, 1007, 1009, 1010]
    assert format_frame_range(frames) == "1001-1003,1007,1009-1010"
    assert parse_frame_range(format_frame_range(frames)) == frames


def test_a_folder_is_named_as_one_with_an_example_file_pattern():
    with pytest.raises(UsageError, match=r"'shots/####/' names a folder.*shots/####/plate\.####\.exr"):
        SequencePattern.parse("shots/####/")
