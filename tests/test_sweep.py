"""Sweeps: same results on every executor, nothing lost or doubled by a kill, bad configs refused up front."""

import os
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments import sweep as sweep_mod
from experiments.sweep import STORE_FILE, SweepError, load_sweep, rerun, results, run_metrics, run_seed, run_sweep

ROOT = Path(__file__).resolve().parent.parent

# 8 Latin-hypercube points x 2 replications = 16 full-year runs of 400 agents.
SMALL = """
name = "small"
design = "lhs"
samples = 8
replications = 2
root_seed = 11
[options]
agents = 400
[parameters]
rednote_appeal = [3.5, 6.0]
mean_degree = { low = 4, high = 12, step = 2 }
"""

VOLATILE = ["seconds", "finished_at"]   # wall-clock facts, not results


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def comparable(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=VOLATILE).reset_index(drop=True)


@pytest.fixture(scope="module")
def small_config(tmp_path_factory):
    return write(tmp_path_factory.mktemp("cfg") / "small.toml", SMALL)


@pytest.fixture(scope="module")
def reference(small_config, tmp_path_factory):
    """The small sweep, uninterrupted, on two local worker processes."""
    out = tmp_path_factory.mktemp("ref") / "sweep"
    frame = run_sweep(small_config, out, workers=2, progress=False)
    return out, frame


@pytest.fixture(scope="module")
def dask_cluster():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None)
    yield cluster
    cluster.close()


def test_seeds_are_seedsequence_children():
    children = np.random.SeedSequence(42).spawn(5)
    for i, child in enumerate(children):
        assert run_seed(42, i) == int(child.generate_state(1, np.uint64)[0] >> np.uint64(1))
    assert len({run_seed(42, i) for i in range(1000)}) == 1000


def test_small_sweep_on_two_processes(reference, small_config):
    out, frame = reference
    assert list(frame["run_index"]) == list(range(16))
    assert (frame["status"] == "ok").all(), frame["error"].dropna().tolist()
    assert frame["seed"].is_unique
    assert frame["rednote_appeal"].between(3.5, 6.0).all()
    assert set(frame["mean_degree"]) <= {4, 6, 8, 10, 12}
    # The two replications of a point share its values and differ in seed.
    assert (frame.groupby("point")["rednote_appeal"].nunique() == 1).all()
    for column in sweep_mod.METRICS:
        if "_share_" not in column:   # a share is NaN where nobody is on RedNote (dual) or nobody moved (return)
            assert frame[column].notna().all(), column
    assert frame["dual_share_2025_12_31"].dropna().between(0, 1).all()
    # Not capped at 1: users already on RedNote at the start can "return" to TikTok only without migrating.
    assert (frame["return_share_2025_12_31"].dropna() >= 0).all()
    assert (frame["targets_total"] > 0).all()
    assert any(c.startswith("pass:") for c in frame.columns)
    # The sweep changes the outcome: a higher RedNote appeal means more downloads (rank correlation).
    assert frame["rednote_appeal"].corr(frame["cumulative_downloads_2025_06_30"], method="spearman") > 0.5
    # The config saved beside the results is the same sweep.
    assert load_sweep(out / "sweep.toml").fingerprint() == load_sweep(small_config).fingerprint()


def test_a_single_run_reruns_alone_from_its_seed(reference):
    out, frame = reference
    row = frame.iloc[5]
    again = run_metrics(rerun(out, 5))
    for key, value in again.items():
        assert value == row[key] or (pd.isna(value) and pd.isna(row[key])), key


def test_resume_of_a_finished_sweep_runs_nothing(reference, small_config):
    out, frame = reference
    again = run_sweep(small_config, out, workers=2, progress=False)
    pd.testing.assert_frame_equal(again, frame)
    with sqlite3.connect(out / STORE_FILE) as db:
        assert db.execute("SELECT count(*) FROM runs").fetchone()[0] == 16


def test_dask_local_cluster_gives_the_local_results(reference, small_config, dask_cluster, tmp_path):
    _, local = reference
    on_dask = run_sweep(small_config, tmp_path / "dask", scheduler=dask_cluster.scheduler_address, progress=False)
    pd.testing.assert_frame_equal(comparable(on_dask), comparable(local), check_exact=True)


def test_sigkill_then_resume_loses_and_doubles_nothing(reference, small_config, tmp_path):
    _, uninterrupted = reference
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "experiments.sweep", "--config", str(small_config), "--out", str(out),
               "--workers", "1", "--quiet"]
    proc = subprocess.Popen(command, cwd=ROOT, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        done = 0
        while done < 3 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
            done = _count_runs(out)
        assert proc.poll() is None, f"the sweep ended before it could be killed: {proc.stderr.read()!r}"
        os.killpg(proc.pid, signal.SIGKILL)   # the sweep and its worker processes, mid-run
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.stderr.close()
    kept = _count_runs(out)
    assert 3 <= kept < 16, kept
    resumed = run_sweep(small_config, out, workers=2, progress=False)
    assert list(resumed["run_index"]) == list(range(16))
    pd.testing.assert_frame_equal(comparable(resumed), comparable(uninterrupted), check_exact=True)


def _count_runs(out: Path) -> int:
    path = out / STORE_FILE
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1) as db:
            return db.execute("SELECT count(*) FROM runs").fetchone()[0]
    except sqlite3.OperationalError:   # the file exists but its tables are not yet committed
        return 0


def test_a_failing_run_is_recorded_and_the_sweep_goes_on(tmp_path, dask_cluster, monkeypatch):
    """Runs whose model raises are stored with their error; the others finish; --retry-failed reruns them."""
    config = write(tmp_path / "f.toml", """
        design = "grid"
        replications = 1
        [options]
        agents = 200
        [fixed]
        end = 2025-01-31
        [parameters]
        ban_push = { low = 1.0, high = 3.0, levels = 3 }
    """)
    real = sweep_mod.build_model

    def fragile(base, params, seed, timeline=None):
        if params.ban_push > 2.5:
            raise RuntimeError("injected fault")
        return real(base, params, seed, timeline)

    monkeypatch.setattr(sweep_mod, "build_model", fragile)   # the Dask workers here are threads of this process
    frame = run_sweep(config, tmp_path / "out", scheduler=dask_cluster.scheduler_address, progress=False)
    assert list(frame["status"]) == ["ok", "ok", "error"]
    assert "RuntimeError: injected fault" in frame.loc[2, "error"]
    monkeypatch.setattr(sweep_mod, "build_model", real)
    frame = run_sweep(config, tmp_path / "out", scheduler=dask_cluster.scheduler_address, progress=False)
    assert list(frame["status"]) == ["ok", "ok", "error"], "a failed run counts as finished"
    frame = run_sweep(config, tmp_path / "out", scheduler=dask_cluster.scheduler_address, progress=False,
                      retry_failed=True)
    assert list(frame["status"]) == ["ok", "ok", "ok"]


def test_daily_series_stored_when_asked(tmp_path):
    config = write(tmp_path / "d.toml", """
        design = "grid"
        replications = 2
        [options]
        agents = 200
        daily = true
        [fixed]
        end = 2025-01-31
        [parameters]
        festival_days = { values = [0, 20] }
    """)
    frame = run_sweep(config, tmp_path / "out", workers=1, progress=False)
    series = sweep_mod.daily_series(tmp_path / "out")
    assert sorted(series.index.get_level_values("run_index").unique()) == list(range(4))
    one = series.loc[3]
    assert len(one) == 62
    assert one["downloads"].max() == frame.loc[3, "peak_daily_downloads"]
    again = rerun(tmp_path / "out", 3)
    np.testing.assert_array_equal(one["cumulative_downloads"].to_numpy(), again["cumulative_downloads"].to_numpy())


def test_designs_have_their_sizes(tmp_path):
    common = "replications = 3\n[options]\nagents = 300\n"
    grid = load_sweep(write(tmp_path / "g.toml", 'design = "grid"\n' + common + """
[parameters]
ban_push = { low = 1.0, high = 2.0, levels = 4 }
festival_days = { values = [0, 10] }
"""))
    assert len(grid.plan()) == 4 * 2 * 3
    morris = load_sweep(write(tmp_path / "m.toml", 'design = "morris"\nsamples = 5\n' + common + """
[parameters]
ban_push = [1.0, 2.0]
network_pull = [0.0, 4.0]
mean_degree = { low = 4, high = 12, step = 2 }
"""))
    runs = morris.plan()
    assert len(runs) == 5 * (3 + 1) * 3
    assert {r.values["mean_degree"] for r in runs} <= {4, 6, 8, 10, 12}
    sobol = load_sweep(write(tmp_path / "s.toml", 'design = "saltelli"\nsamples = 4\n' + common + """
[parameters]
ban_push = [1.0, 2.0]
network_pull = [0.0, 4.0]
"""))
    assert sobol.design == "sobol" and len(sobol.plan()) == 4 * (2 + 2) * 3
    logged = load_sweep(write(tmp_path / "l.toml", 'design = "lhs"\nsamples = 40\n' + common + """
[parameters]
stickiness_decay = { low = 0.001, high = 0.1, log = true }
"""))
    values = np.array([r.values["stickiness_decay"] for r in logged.plan()])
    assert values.min() >= 0.001 and values.max() <= 0.1
    # A Latin hypercube on the log scale puts about half its points below the geometric midpoint 0.01.
    assert 0.4 <= (values < 0.01).mean() <= 0.6


BAD = {
    "unknown parameter": ('design = "lhs"\nsamples = 2\n[parameters]\nnetwork_pul = [1.0, 2.0]\n',
                          r"unknown parameter 'network_pul'.*network_pull"),
    "empty range": ('design = "lhs"\nsamples = 2\n[parameters]\nban_push = [2.0, 2.0]\n', r"ban_push: empty range"),
    "inverted range": ('design = "lhs"\nsamples = 2\n[parameters]\nban_push = [3.0, 1.0]\n',
                       r"ban_push: inverted range"),
    "outside admissible range": ('design = "lhs"\nsamples = 2\n[parameters]\ndefiance_mean = [0.2, 1.5]\n',
                                 r"defiance_mean: range \[0.2, 1.5\] lies outside .*\[0.0, 0.99\]"),
    "unknown design": ('design = "montecarlo"\nsamples = 2\n[parameters]\nban_push = [1.0, 2.0]\n',
                       r"unknown design 'montecarlo'"),
    "zero replications": ('design = "lhs"\nsamples = 2\nreplications = 0\n[parameters]\nban_push = [1.0, 2.0]\n',
                          r"replications must be a positive integer, got 0"),
    "sobol not power of 2": ('design = "sobol"\nsamples = 6\n[parameters]\nban_push = [1.0, 2.0]\n',
                             r"power of 2"),
    "log range from zero": ('design = "lhs"\nsamples = 2\n[parameters]\nban_push = { low = 0.0, high = 2.0, log = true }\n',
                            r"log range needs low > 0"),
    "bad grid value": ('design = "grid"\n[parameters]\nmean_degree = { values = [4, 7] }\n', r"mean_degree.*even"),
    # Not strings where a file or name is meant: these were raw TypeErrors.
    "timeline not a string": ('design = "lhs"\nsamples = 2\ntimeline = 3\n[parameters]\nban_push = [1.0, 2.0]\n',
                              r"'timeline' must be a string, got 3"),
    "base config not a string": ('design = "lhs"\nsamples = 2\nbase_config = 3\n[parameters]\n'
                                 'ban_push = [1.0, 2.0]\n', r"'base_config' must be a string, got 3"),
    "name not a string": ('name = 3\ndesign = "lhs"\nsamples = 2\n[parameters]\nban_push = [1.0, 2.0]\n',
                          r"'name' must be a string, got 3"),
    # The agents of the sweep's own options are blamed on the sweep file, not on the command line.
    "too few agents": ('design = "lhs"\nsamples = 2\n[options]\nagents = 5\n[parameters]\nban_push = [1.0, 2.0]\n',
                       r"n_agents = 5 \(set in .*bad\.toml's \[fixed\] or options\.agents\)"),
    "missing base config": ('design = "lhs"\nsamples = 2\nbase_config = "nope.toml"\n[parameters]\n'
                            'ban_push = [1.0, 2.0]\n', r"config file not found"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_config_fails_before_any_run(case, tmp_path, capsys):
    text, message = BAD[case]
    config = write(tmp_path / "bad.toml", text)
    out = tmp_path / "out"
    with pytest.raises(SweepError, match=message):
        run_sweep(config, out, workers=1, progress=False)
    assert not out.exists(), "nothing is written for a refused sweep"
    assert sweep_mod.main(["--config", str(config), "--out", str(out), "--quiet"]) == 2
    assert "error:" in capsys.readouterr().err
    assert not out.exists()


def test_a_fault_in_the_base_config_names_both_files_lines(tmp_path):
    write(tmp_path / "base.toml", "[params]\ninitial_rednote_share = 1.7\n")
    config = write(tmp_path / "bad.toml", 'design = "lhs"\nsamples = 2\nbase_config = "base.toml"\n[parameters]\n'
                                          'ban_push = [1.0, 2.0]\n')
    with pytest.raises(SweepError) as refused:
        run_sweep(config, tmp_path / "out", workers=1, progress=False)
    assert re.match(rf"{re.escape(str(config))}:3: .*base\.toml:2: .*initial_rednote_share", str(refused.value))


def test_unreachable_scheduler_fails_before_any_run(small_config, tmp_path):
    with pytest.raises(SweepError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        run_sweep(small_config, tmp_path / "out", scheduler="tcp://127.0.0.1:9", progress=False)
    assert not (tmp_path / "out").exists()


def test_resume_with_another_config_is_refused(reference, tmp_path):
    out, _ = reference
    other = write(tmp_path / "other.toml", SMALL.replace("root_seed = 11", "root_seed = 12"))
    with pytest.raises(SweepError, match=r"holds a different sweep: root_seed was 11, now 12"):
        run_sweep(other, out, workers=1, progress=False)
    assert len(results(out)) == 16


def test_folder_with_other_files_is_refused(small_config, tmp_path):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(SweepError, match="not empty.*holds no sweep"):
        run_sweep(small_config, out, workers=1, progress=False)
    assert (out / "notes.txt").read_text() == "mine"


def test_mesa_driver_sweep_matches_the_array_driver(tmp_path):
    """options.driver = "mesa" runs the Mesa model; from the same seeds it gives the array driver's results."""
    text = """
        design = "grid"
        replications = 2
        [options]
        agents = 80
        driver = "{driver}"
        [fixed]
        mean_degree = 4
        end = 2025-01-25
        [parameters]
        rednote_appeal = {{ values = [0.0, 6.0] }}
    """
    frames = {}
    for driver in ("array", "mesa"):
        config = write(tmp_path / f"{driver}.toml", text.format(driver=driver))
        frames[driver] = comparable(run_sweep(config, tmp_path / driver, workers=1, progress=False))
    assert (frames["mesa"]["status"] == "ok").all(), frames["mesa"]["error"].tolist()
    pd.testing.assert_frame_equal(frames["mesa"], frames["array"], check_exact=True)
