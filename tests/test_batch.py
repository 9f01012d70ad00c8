"""The batch layer's parts: one engine registry, executors that give the same results, run identity, outputs."""

import datetime as dt

import pandas as pd
import pytest

from batch import engines, identity, outcomes
from batch.cli import command
from batch.ensemble import Ensemble, run_ensemble, saved_identity
from batch.errors import InputError
from batch.executor import InProcessExecutor, LocalExecutor, map_tasks
from batch.outputs import OutputError, safe_name
from experiments import __main__ as rednote
from model.array_model import ArrayMigrationModel
from model.config import ConfigError, load_config
from model.observables import COLUMNS
from model.params import ParameterError, Params
from model.system_dynamics import SystemDynamicsModel
from model.timeline import TimelineError, load_timeline


@pytest.fixture(scope="module")
def short():
    return Params(n_agents=200, end=dt.date(2025, 2, 15))


def test_every_engine_gives_the_daily_observables(short):
    timeline = load_timeline()
    for name in engines.ENGINE_NAMES:
        frame = engines.simulate(name, short, timeline, 3)
        assert list(frame.columns) == list(COLUMNS), name
    direct = ArrayMigrationModel(short, timeline, rng=3).run()
    pd.testing.assert_frame_equal(engines.simulate("array", short, timeline, 3), direct)
    twin = SystemDynamicsModel(short, timeline, rates="hazard").run()
    pd.testing.assert_frame_equal(engines.simulate("twin", short, timeline, 0, {"rates": "hazard"}), twin)


def test_unknown_engine_or_option_is_an_input_error(short):
    with pytest.raises(InputError, match="unknown engine 'numba'; choose one of array, mesa, twin"):
        engines.build("numba", short, load_timeline(), 1)
    with pytest.raises(InputError, match="engine 'mesa' takes no option"):
        engines.build("mesa", short, load_timeline(), 1, graph_kind="configuration")


def test_every_user_error_is_an_input_error():
    for error in (ConfigError, ParameterError, TimelineError, OutputError):
        assert issubclass(error, InputError)


def test_executors_give_the_same_results(short):
    seeds = [0, 1, 2]
    run = engines.simulate
    serial = map_tasks(InProcessExecutor(), _final_downloads, seeds)
    pool = LocalExecutor(2)
    try:
        parallel = map_tasks(pool, _final_downloads, seeds)
    finally:
        pool.shutdown()
    assert serial == parallel
    assert serial == [float(run("array", Params(n_agents=150, end=dt.date(2025, 1, 31)),
                                load_timeline(), s)["cumulative_downloads"].iloc[-1]) for s in seeds]


def _final_downloads(seed):
    params = Params(n_agents=150, end=dt.date(2025, 1, 31))
    return float(engines.simulate("array", params, load_timeline(), seed)["cumulative_downloads"].iloc[-1])


def test_ensemble_reuses_only_identical_runs(tmp_path, short):
    ensemble = Ensemble("array", short, load_timeline())
    first = run_ensemble(ensemble, [4], tmp_path, workers=1, progress=False)[0]
    path = tmp_path / "seed-00004.parquet"
    assert saved_identity(path) == ensemble.identity(4)
    stamp = path.stat().st_mtime_ns
    again = run_ensemble(ensemble, [4], tmp_path, workers=1, progress=False)[0]
    assert path.stat().st_mtime_ns == stamp
    pd.testing.assert_frame_equal(first, again, check_freq=False)


def test_identity_says_what_changed(short):
    timeline = load_timeline()
    before = identity.run_identity("array", short, timeline, 1)
    assert identity.describe_change(before, before) == ""
    after = identity.run_identity("mesa", short.replace(network_pull=1.5), timeline, 2)
    change = identity.describe_change(before, after)
    assert "engine 'array' -> 'mesa'" in change and "network_pull" in change and "seed 1 -> 2" in change


def test_outcomes_are_declared_once_from_the_observables(short):
    frame = engines.simulate("array", short, load_timeline(), 1)
    assert set(outcomes.COMPARED_SERIES) <= set(COLUMNS)
    values = outcomes.measure(frame, outcomes.HEADLINE)
    assert values["peak_rednote_dau"] == frame["rednote_dau"].max()
    assert pd.isna(outcomes.OUTCOMES["cumulative_downloads_2025_06_30"].value(frame))   # the run ends in February


@pytest.mark.parametrize("name", ["default", "ban-enforced", "a.b_c+1"])
def test_safe_names_pass(name):
    assert safe_name(name) == name


def test_the_command_wrapper_turns_errors_into_statuses(capsys):
    @command
    def bad(argv=None):
        raise ConfigError("c.toml:3: nothing good")

    @command
    def stopped(argv=None):
        raise KeyboardInterrupt

    assert bad([]) == 2 and "error: c.toml:3: nothing good" in capsys.readouterr().err
    assert stopped(["--seeds", "3"]) == 130 and "to resume" in capsys.readouterr().err


def test_one_command_with_subcommands(tmp_path, capsys):
    assert rednote.main(["--help"]) == 0 and "article" in capsys.readouterr().out
    assert rednote.main(["nonsense"]) == 2
    assert rednote.main(["run", "--agents", "100", "--out", str(tmp_path / "o"), "--quiet"]) == 0
    assert (tmp_path / "o" / "daily.csv").is_file()
    assert load_config(tmp_path / "o" / "config.toml").params.n_agents == 100


@pytest.mark.parametrize("program", [["-m", "experiments.run"], ["-m", "experiments", "run"]])
def test_the_command_recorded_and_said_is_the_one_typed(tmp_path, program):
    """The manifest records the command as typed (it named 'run.py', and 'rednote article article')."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    out = tmp_path / "o"
    done = subprocess.run([sys.executable, *program, "--agents", "100", "--quiet", "--out", str(out)],
                          cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    recorded = json.loads((out / ".rednote-manifest.json").read_text())["command"]
    assert recorded == f"python -m {' '.join(program[1:])} --agents 100 --quiet --out {out}"


def test_the_resume_hint_names_a_command_that_runs(capsys, monkeypatch):
    def stopped(argv=None):
        raise KeyboardInterrupt

    stopped.__module__ = "experiments.reproduce_article"
    monkeypatch.setattr("sys.argv", ["/somewhere/pytest"])
    assert command(stopped)(["--seeds", "3"]) == 130
    assert "to resume, run python -m experiments.reproduce_article --seeds 3" in capsys.readouterr().err
    monkeypatch.setattr("sys.argv", ["rednote article", "--seeds", "3"])       # as the dispatcher sets it
    assert command(stopped)(["--seeds", "3"]) == 130
    assert "to resume, run rednote article --seeds 3" in capsys.readouterr().err


def _running(pid: int) -> bool:
    try:
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("sig", ["SIGKILL", "SIGTERM"])
def test_workers_end_when_their_command_is_killed_outright(sig):
    """kill -9 (or SIGTERM, the OOM killer) of the command alone leaves no worker, forkserver or tracker behind."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    script = (
        "import os, time\n"
        "from batch.executor import LocalExecutor\n"
        "executor = LocalExecutor(2, preload=())\n"
        "futures = [executor.submit(time.sleep, 120) for _ in range(2)]\n"
        "time.sleep(1.5)\n"
        "print(*executor.pool._processes, flush=True)\n"
        "time.sleep(120)\n")
    root = Path(__file__).resolve().parent.parent
    command = subprocess.Popen([sys.executable, "-c", script], cwd=root, stdout=subprocess.PIPE, text=True)
    workers = [int(pid) for pid in command.stdout.readline().split()]
    helpers = []
    for pid in [*workers, *(p for p in map(int, filter(str.isdigit, os.listdir("/proc"))))]:
        try:
            stat = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(stat[1]) == command.pid:     # the forkserver and the resource tracker
            helpers.append(pid)
    assert len(workers) == 2 and helpers
    command.send_signal(getattr(signal, sig))
    command.wait(timeout=30)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(map(_running, [*workers, *helpers])):
        time.sleep(0.2)
    left = [pid for pid in [*workers, *helpers] if _running(pid)]
    for pid in left:                        # never leave them to the next test
        os.kill(pid, signal.SIGKILL)
    assert not left, f"left behind after {sig} of the command: {left}"
