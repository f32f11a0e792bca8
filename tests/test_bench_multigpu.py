"""The multi-GPU benchmark's arithmetic: farm-like core shares and the fps of runs side by side or in turn."""
import os
import sys

import pytest

from bench import bench_multigpu


def test_core_shares_keep_both_hardware_threads_of_a_core_together(monkeypatch):
    # 4 cores x 2 threads, Linux numbering: cpu n and n + 4 are one core's siblings
    siblings = {("0", str(core)): [core, core + 4] for core in range(4)}
    monkeypatch.setattr(bench_multigpu, "physical_cores", lambda: siblings)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)))
    shares = bench_multigpu.core_shares(2)
    assert shares == [{0, 1, 4, 5}, {2, 3, 6, 7}]  # contiguous halves would have split cores


def _worker(start, end, render):
    return {"cuda_visible_devices": "0", "frames": "1-10", "cores": 2, "start": start, "end": end,
            "render_s": render, "cpu_s_per_frame": 0.5}


def test_timing_of_tasks_in_turn_adds_their_renders_and_at_once_takes_the_longest():
    together = bench_multigpu.timing([_worker(0, 12, 10), _worker(0, 13, 11)], 20)
    in_turn = bench_multigpu.timing([_worker(0, 12, 10), _worker(12, 25, 11)], 20, sequential=True)
    assert together["fps"] == pytest.approx(20 / 13, abs=1e-3) and together["render_fps"] == pytest.approx(20 / 11, abs=1e-3)
    assert in_turn["fps"] == pytest.approx(20 / 25, abs=1e-3) and in_turn["render_fps"] == pytest.approx(20 / 21, abs=1e-3)
    assert together["all_running_s"] == 12 and together["cpu_s_per_frame"] == 0.5
    assert "all_running_s" not in in_turn  # tasks in turn never run together: no overlap to report


def test_each_worker_ends_when_its_process_exits_not_after_the_ones_before_it(tmp_path):
    def sleeper(seconds):
        return ([sys.executable, "-c", f"import time; time.sleep({seconds})", "--frames", "1-1"], "0", None)

    slow, quick = bench_multigpu.run_workers([sleeper(1.5), sleeper(0.1)], tmp_path)
    assert quick["end"] - quick["start"] < 1.0 < slow["end"] - slow["start"]
    result = bench_multigpu.timing([slow, quick], 2)
    assert result["all_running_s"] < 1.0 and result["wall_s"] >= 1.5


def test_cpu_probe_measures_one_share_then_every_cpu():
    cpus = sorted(os.sched_getaffinity(0))[:2]
    shares = [{cpus[0]}, {cpus[-1]}]
    probe = bench_multigpu.cpu_scaling(shares, seconds=0.3)
    assert probe["share0_cpus"] == 1 and probe["all_cpus"] == len(set(cpus))
    assert probe["share0_mb_s"] > 0 and probe["all_mb_s"] > 0
    # MB/s are rounded to 0.1 and the scaling to 0.001: on a loaded machine (a few MB/s) that alone is over 1%
    bound = 0.05 / probe["share0_mb_s"] + 0.05 / probe["all_mb_s"] + 5e-4
    assert probe["scaling"] == pytest.approx(probe["all_mb_s"] / probe["share0_mb_s"], rel=bound)


def test_unknown_codecs_are_refused_before_any_work():
    with pytest.raises(SystemExit) as stop:
        bench_multigpu.main(["--label", "x", "--device", "cpu", "--plate-compression", "nope"])
    assert "--plate-compression: unknown EXR compression 'nope'" in str(stop.value.code)


def test_rounds_give_one_throughput_ratio_each_and_record_the_steal_during_a_run(monkeypatch):
    rounds = [{"chunked_pinned": {"fps": 20.0}, "sequential": {"fps": 10.0}},
              {"chunked_pinned": {"fps": 18.0}, "sequential": {"fps": 12.0}}]
    assert bench_multigpu.throughput_rounds(rounds, "chunked_pinned") == [2.0, 1.5]
    readings = iter([100.0, 102.5])
    monkeypatch.setattr(bench_multigpu, "steal_seconds", lambda: next(readings))
    assert bench_multigpu.with_steal(lambda: {"fps": 1.0}) == {"fps": 1.0, "steal_s": 2.5}


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="Linux reports steal time in /proc/stat")
def test_steal_is_read_from_the_kernels_cpu_line():
    steal = bench_multigpu.steal_seconds()
    assert isinstance(steal, float) and steal >= 0.0
