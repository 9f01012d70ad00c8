"""The benchmark script measures and tabulates (no timing is asserted here: timings belong to its output)."""

import pytest

from benchmarks import benchmark


def test_driver_rows_and_table():
    rows = [benchmark.measure_driver("mesa", 200, 2, seed=1), benchmark.measure_driver("array", 200, 3, seed=1)]
    for row in rows:
        assert row["graph_method"] == "networkx"
        assert 0 < row["graph_seconds"] <= row["build_seconds"]
        assert row["run_seconds"] > 0 and row["peak_mb"] > 0
    table = benchmark.driver_table(rows)
    assert table.count("\n") == 3   # header, rule, two rows
    assert "(extrapolated)" in table.splitlines()[2], "a Mesa row timed for 2 days says it is extrapolated"
    assert table.splitlines()[3].rstrip(" |").endswith("x"), "the array row carries the speed ratio"


def test_graph_rows_and_table():
    rows = [benchmark.measure_graph(method, 2000, 10, 0.5, seed=0) for method in ("networkx", "vectorised")]
    assert {r["method"] for r in rows} == {"networkx", "vectorised"}
    assert all(r["mean"] == pytest.approx(10, rel=0.01) for r in rows)
    assert benchmark.graph_table(rows).count("\n") == 3


def test_fresh_process_reports_or_names_the_failure():
    row = benchmark.in_fresh_process({"kind": "driver", "driver": "array", "n": 150, "days": 2, "seed": 3})
    assert row["n"] == 150 and "error" not in row
    failed = benchmark.in_fresh_process({"kind": "driver", "driver": "array", "n": 3, "days": 2, "seed": 3})
    assert "n_agents" in failed["error"]


@pytest.mark.parametrize("argv", [["--mesa-days", "0"], ["--mesa-days", "400"], ["--large-days", "0"],
                                  ["--graph-seeds", "0"]])
def test_bad_arguments_refused(argv, capsys):
    with pytest.raises(SystemExit):
        benchmark.parse_args(argv)
    assert argv[0] in capsys.readouterr().err
