"""The benchmark script measures and tabulates (no timing is asserted here: timings belong to its output)."""

import re
from pathlib import Path

import pytest

from benchmarks import benchmark


def test_driver_rows_and_table():
    rows = [benchmark.measure_driver("mesa", 200, 2, seed=1), benchmark.measure_driver("array", 200, 3, seed=1),
            benchmark.measure_driver("array", 200, 3, seed=1, engine="numpy")]
    for row in rows:
        assert row["graph_method"] == "networkx"
        assert 0 < row["graph_seconds"] <= row["build_seconds"]
        assert row["run_seconds"] > 0 and row["peak_mb"] > 0
    table = benchmark.driver_table(rows)
    assert table.count("\n") == 4   # header, rule, three rows
    assert "(extrapolated)" in table.splitlines()[2], "a Mesa row timed for 2 days says it is extrapolated"
    assert table.splitlines()[3].rstrip(" |").endswith("x"), "the array row carries the speed ratio"
    assert "array compiled" in table.splitlines()[3] and "array numpy" in table.splitlines()[4]


def test_targets_read_from_the_rows():
    def row(driver, n, seconds, cpu, engine="compiled", threads=2, peak=100.0):
        return {"driver": driver, "n": n, "days": 10, "run_seconds": seconds, "run_cpu_seconds": cpu,
                "engine": engine, "threads": threads, "build_seconds": 1.0, "peak_mb": peak}

    n = benchmark.SIDE_BY_SIDE
    rows = [row("array", n, 0.3, 0.5), row("array", n, 0.5, 0.5, threads=1), row("array", n, 1.0, 1.0, "numpy"),
            row("mesa", 100_000, 100.0, 100.0), row("array", 100_000, 0.1, 0.1),
            row("array", 10_000_000, 10.0, 10.0, peak=3000.0)]
    text = benchmark.targets(rows, {"steps_per_second": 25e6}, threads=2)
    assert "20.0 M agent-steps per CPU second" in text and "0.80 x the probe (MISSES" in text
    assert "1.67x (MISSES the 1.7x target); the 2-thread run had 1.67 cores on average" in text
    assert "its CPU seconds per day were 1.00x one thread's" in text
    assert "1,000x (meets the 500x target); in CPU seconds per day (per core used): 1,000x" in text
    assert "peak at 3,000 MB (MISSES the 2 GB target)" in text
    assert "the probe did not run (probe not found" in benchmark.targets(
        rows, benchmark.measure_probe("/nonexistent/probe.py", 10), threads=2)
    # Another checkout's numpy path (--array-baseline): its cost per agent-step against this one's, and
    # its row takes no part in this checkout's targets.
    base = {**row("array", n, 4.0, 0.8, "numpy"), "checkout": "743be15"}
    text = benchmark.targets([*rows, base], None, threads=2)
    assert "numpy path at 1,000,000 users against itself at 743be15 (CPU seconds per agent-step, run one after the " \
           "other): 1.25x the baseline's cost" in text
    assert "compiled engine against the numpy path at 1,000,000 (wall per day): 3.3x" in text
    assert "| array numpy at 743be15 | 1,000,000 |" in benchmark.driver_table(
        [{**base, "graph_method": "vectorised", "graph_seconds": 1.0}])


def test_thread_scaling_steps_both_runs_in_turn(monkeypatch):
    from model import compiled_day

    monkeypatch.setattr(compiled_day, "USERS_PER_THREAD", 1000)   # this small population on two threads
    row = benchmark.measure_thread_scaling(3000, 6, seed=1, threads=min(2, compiled_day.max_threads()))
    assert row["days"] == 6 and row["threads_used"] == min(2, compiled_day.max_threads())
    assert row["ratio"] == pytest.approx(row["one_thread_seconds"] / row["threads_seconds"])
    low, high = row["daily_ratio_quartiles"]
    assert 0 < low <= row["median_daily_ratio"] <= high
    made = {**row, "threads_used": 2, "days": 10, "one_thread_seconds": 0.4, "threads_seconds": 0.25,
            "ratio": 1.6, "median_daily_ratio": 1.85, "daily_ratio_quartiles": [1.5, 1.9]}
    line = benchmark.scaling_line(made)
    assert "2 threads against one" in line and "1.85x on the median day (quartiles 1.50-1.90x; meets the 1.7x" in line
    assert "1.60x over all the days (40.0 against 25.0 ms per day)" in line
    assert "MISSES" in benchmark.scaling_line({**made, "median_daily_ratio": 1.6})


def test_graph_rows_and_table():
    rows = [benchmark.measure_graph(method, 2000, 10, 0.5, seed=0) for method in ("networkx", "vectorised")]
    assert {r["method"] for r in rows} == {"networkx", "vectorised"}
    assert all(r["mean"] == pytest.approx(10, rel=0.01) for r in rows)
    assert benchmark.graph_table(rows).count("\n") == 3


def test_fresh_process_reports_or_names_the_failure():
    row = benchmark.in_fresh_process({"kind": "driver", "driver": "array", "n": 150, "days": 2, "seed": 3})
    assert row["n"] == 150 and "error" not in row
    # A checkout's code, run the same way (here this very checkout), is named by its commit.
    root = str(Path(benchmark.__file__).resolve().parent.parent)
    base = benchmark.in_fresh_process({"kind": "driver", "driver": "array", "n": 150, "days": 2, "seed": 3,
                                       "engine": "numpy", "checkout": root})
    assert "error" not in base and base["engine"] == "numpy" and base["checkout"]
    failed = benchmark.in_fresh_process({"kind": "driver", "driver": "array", "n": 3, "days": 2, "seed": 3})
    assert "n_agents" in failed["error"]


@pytest.mark.parametrize("argv", [["--mesa-days", "0"], ["--mesa-days", "400"], ["--large-days", "0"],
                                  ["--graph-seeds", "0"], ["--threads", "0"], ["--threads", "-2"],
                                  ["--threads", "100000"], ["--full-scale-days", "0"],
                                  ["--array-baseline", "/nonexistent"], ["--mesa-baseline", "/nonexistent"]])
def test_bad_arguments_refused(argv, capsys):
    with pytest.raises(SystemExit):
        benchmark.parse_args(argv)
    assert argv[0] in capsys.readouterr().err


def test_full_scale_refused_up_front_with_the_estimate(monkeypatch, capsys):
    """On a machine without the memory, --full-scale stops before any work and says what it needs."""
    needed = benchmark.full_scale_estimate_bytes()
    assert 12 * 2**30 < needed < 22 * 2**30, "170 million users fit the issue's 22 GB"
    monkeypatch.setattr(benchmark, "memory_available_bytes", lambda: 8 * 2**30)
    started = []
    monkeypatch.setattr(benchmark, "in_fresh_process", lambda task: started.append(task))
    assert benchmark.main(["--full-scale"]) == 2
    assert re.search(r"^error: --full-scale refused: 170,000,000 users need about \d+\.\d GB .* 8\.0 GB available",
                     capsys.readouterr().err)
    assert not started, "nothing was run"


def test_full_scale_estimate_follows_the_measured_size():
    """The estimate's model part scales with the users; at 1e7 it is within a third of the 1.07 GB measured
    (python -m benchmarks.benchmark, the 1e7 row) and above it."""
    assert 1.07 * 2**30 < benchmark.full_scale_estimate_bytes(10_000_000) < 1.5 * 2**30


def test_mesa_baseline_rows_from_another_checkout(tmp_path, capsys):
    from pathlib import Path

    here = str(Path(benchmark.__file__).resolve().parent.parent)
    row = benchmark.in_fresh_process({"kind": "driver", "driver": "mesa", "n": 150, "days": 1, "seed": 3,
                                      "checkout": here})
    assert "error" not in row and row["checkout"] and row["checkout"] != here, "labelled by its commit"
    assert benchmark.driver_table([row]).splitlines()[2].startswith(f"| mesa at {row['checkout']} |")
    now = {**row, "run_cpu_seconds": row["run_cpu_seconds"] * 1.5}
    del now["checkout"]
    text = benchmark.targets([now, row], None, threads=1)
    assert f"against itself at {row['checkout']}" in text and "1.50x the baseline's time (MISSES" in text
    with pytest.raises(SystemExit):
        benchmark.parse_args(["--mesa-baseline", str(tmp_path)])
    assert "is not a checkout of this project" in capsys.readouterr().err
