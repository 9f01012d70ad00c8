"""The quiet-machine check (benchmarks/device_check.py) plans, budgets and tabulates; its timings are its output."""

import json
import zipfile

import pytest

from benchmarks import device_check
from model.compiled_day import max_threads


def _row(driver, n, threads, run_seconds, engine="compiled", days=10):
    return {"kind": "driver", "driver": driver, "n": n, "days": days, "untimed_days": 1, "graph_method": "vectorised",
            "engine": engine if driver == "array" else "", "threads": threads, "threads_used": threads,
            "graph_seconds": 1.0, "build_seconds": 2.0, "run_seconds": run_seconds, "run_cpu_seconds": run_seconds,
            "peak_mb": 400.0}


def test_the_rows_run_most_wanted_first():
    rows = device_check.plan(device_check.FULL, "probe.py", all_threads=16, seed=1)
    assert rows[0] == {"kind": "probe", "path": "probe.py", "n": 1_000_000}
    assert rows[2] == rows[0]                        # the probe again, after the one-thread row
    assert [r.get("threads") for r in rows[1:6]] == [1, None, 16, 2, 2]
    assert rows[4]["kind"] == "scaling"   # one thread and two stepped in turn, in one process
    assert all(r["days"] == 365 for r in rows[3:6])
    assert rows[6]["driver"] == "mesa" and rows[6]["n"] == 100_000
    # On two cores 'every core' is two threads: no second row for them.
    assert [(r["kind"], r.get("threads")) for r in device_check.plan(device_check.QUICK, "p", 2, 1)[1:6]] == [
        ("driver", 1), ("probe", None), ("driver", 2), ("scaling", 2), ("driver", None)]


def test_the_probes_on_each_side_count_as_their_mean():
    first = {"kind": "probe", "path": "p", "n": 10, "steps_per_second": 30e6, "line": "a"}
    second = {**first, "steps_per_second": 34e6, "line": "b"}
    probe = device_check.combined_probe([first, {"kind": "driver"}, second])
    assert probe["steps_per_second"] == pytest.approx(32e6) and "30.0, 34.0 M agent-steps/s: mean 32.0 M" in probe["line"]
    failed = {**first, "error": "probe not found"}
    assert device_check.combined_probe([failed, second])["steps_per_second"] == 34e6
    assert device_check.combined_probe([failed]) is failed and device_check.combined_probe([]) is None


def test_the_targets_read_the_rows_side_by_side():
    sizes = device_check.FULL
    rows = [_row("array", 1_000_000, 1, 0.5), _row("array", 1_000_000, 16, 0.05), _row("array", 1_000_000, 2, 0.26),
            _row("mesa", 100_000, 1, 20.0), _row("array", 100_000, 16, 0.01),
            _row("array", 1_000_000, None, 0.9, engine="numpy")]
    probe = {"kind": "probe", "path": "p", "n": 1_000_000, "steps_per_second": 25e6}
    text = "\n".join(device_check.target_lines(rows, probe, sizes, all_threads=16))
    assert "20.0 M agent-steps/s" in text and "0.80x the probe" in text   # 1e6 x 10 days in 0.5 s
    assert "2 threads against one at 1,000,000 users (wall time per day): 1.92x" in text
    assert "16 threads against one at 1,000,000 users (wall time per day): 10.00x" in text
    assert "against the Mesa driver at 100,000 users (wall per day): 2,000x" in text
    assert "against the numpy path at 1,000,000 (wall per day): 1.8x" in text


def test_wheels_are_unpacked_for_a_pythonpath(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    with zipfile.ZipFile(wheels / "tiny-1.0-py3-none-any.whl", "w") as wheel:
        wheel.writestr("tiny/__init__.py", "ANSWER = 42\n")
    assert device_check.unpack_wheels(wheels, tmp_path / "site") == ["tiny-1.0-py3-none-any.whl"]
    assert (tmp_path / "site" / "tiny" / "__init__.py").read_text() == "ANSWER = 42\n"


def test_a_spent_budget_marks_the_rows_and_still_writes_the_table(tmp_path):
    assert device_check.main(["--quick", "--budget", "1", "--out", str(tmp_path), "--probe", "nowhere.py"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "device_check.jsonl").read_text().splitlines()]
    assert len(rows) == len(device_check.plan(device_check.QUICK, "nowhere.py", max_threads(), 1))
    assert all(row["error"] == "not run: the time budget was spent" for row in rows)
    assert "| mesa | 2,000 | failed: not run: the time budget was spent |" in (tmp_path / "device_check.md").read_text()


@pytest.mark.parametrize("argv", [["--budget", "0"], ["--users", "0"]])
def test_bad_arguments_are_refused(argv, tmp_path):
    with pytest.raises(SystemExit):
        device_check.parse_args(["--out", str(tmp_path), *argv])
