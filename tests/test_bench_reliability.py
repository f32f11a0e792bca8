"""The reliability report counts the examples hypothesis ran from its own statistics."""
from bench.bench_reliability import examples_run

STATISTICS = """
tests/test_bad_input_sweep.py::test_frame_ranges_parse_or_say_what_is_wrong:

  - during reuse phase (0.01 seconds):
    - 3 passing, 0 failing, and 0 invalid test cases

  - during generate phase (0.87 seconds):
    - Typical runtimes: ~ 0-10 ms, of which ~ 0-10 ms in data generation
    - 147 passing, 1 failing, and 19 invalid test cases

tests/test_bad_input_sweep.py::test_command_line_answers_bad_arguments_with_an_exit_code:

  - during generate phase (2.10 seconds):
    - 38 passing examples, 0 failing examples, 5 invalid examples
"""


def test_examples_are_counted_over_every_phase_and_test_without_the_invalid_ones():
    assert examples_run(STATISTICS) == 3 + 147 + 1 + 38
    assert examples_run("no hypothesis tests ran") == 0
