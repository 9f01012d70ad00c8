"""One run at a time per output folder (``batch.outputs.hold_folder``).

Each writer kind (ensemble folder, staged output, sweep, CMA-ES study, ABC calibration) is run in a child
process and paused mid-run, holding its folder; the same command started again is refused at once with
a message naming the folder and the running one, and changes nothing; after the child is killed with
SIGKILL the same command runs and resumes (what the killed run finished is reused). Then every command is
checked against a folder a child holds, and the lock's own rules (in-process re-entry, release at the
command's end, forked workers, a foreign lock file, one its holder removed while another run opened it).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from batch import outputs
from batch.outputs import FolderInUse, OutputError, folder_lock, hold_folder, holds_folder, lock_file

ROOT = Path(__file__).resolve().parent.parent
JANUARY = ROOT / "data" / "observations" / "january-2025.toml"

# A child that runs a command and, once ``target`` (module:attribute.path) has returned ``after`` times,
# says "holding" and waits: paused mid-run with its folder locked, until the test kills it.
HOLDER = textwrap.dedent("""
    import importlib, sys, time
    entry, program, target, after, *argv = sys.argv[1:]
    owner_name, _, path = target.partition(":")
    owner = importlib.import_module(owner_name)
    *parents, attribute = path.split(".")
    for name in parents:
        owner = getattr(owner, name)
    original = getattr(owner, attribute)
    calls = [0]

    def pausing(*args, **kwargs):
        result = original(*args, **kwargs)
        calls[0] += 1
        if calls[0] == int(after):
            print("holding", flush=True)
            time.sleep(600)
        return result

    setattr(owner, attribute, pausing)
    sys.argv = [program, *argv]     # the command line the lock records (batch.cli.command_line)
    module, _, function = entry.partition(":")
    sys.exit(getattr(importlib.import_module(module), function)(argv))
""")

# A child that holds a folder's lock and nothing else.
BARE_HOLDER = textwrap.dedent("""
    import sys, time
    from batch.outputs import folder_lock
    sys.argv = ["python -m some.command", "--out", sys.argv[1]]
    with folder_lock(sys.argv[2]):
        print("holding", flush=True)
        time.sleep(600)
""")


def _wait_for_holding(process: subprocess.Popen, err_path: Path, timeout: float = 240) -> None:
    ready = threading.Event()

    def watch():
        for line in process.stdout:
            if line.strip() == "holding":
                ready.set()
                return

    threading.Thread(target=watch, daemon=True).start()
    if not ready.wait(timeout):
        process.kill()
        process.wait()
        pytest.fail(f"the holder never paused; its stderr:\n{err_path.read_text()[-3000:]}")


@pytest.fixture
def children():
    """Start child processes; any still alive at the end is killed."""
    started = []

    def start(args, err_path: Path) -> subprocess.Popen:
        with open(err_path, "w") as err:
            process = subprocess.Popen([sys.executable, "-c", *args], cwd=ROOT, stdout=subprocess.PIPE,
                                       stderr=err, text=True)
        started.append(process)
        _wait_for_holding(process, err_path)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def holder(children, tmp_path, entry, program, target, after, argv) -> subprocess.Popen:
    return children([HOLDER, entry, program, target, str(after), *argv], tmp_path / "holder.err")


def kill(process: subprocess.Popen) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.wait()


def snapshot(parent: Path) -> dict:
    """Every entry under ``parent``: its kind, and for a file its bytes' hash and modification time."""
    found = {}
    for path in sorted(parent.rglob("*")):
        key = path.relative_to(parent).as_posix()
        if path.is_file():
            found[key] = (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
        else:
            found[key] = "folder"
    return found


def assert_refused(err: str, out: Path, process: subprocess.Popen, program: str) -> None:
    """The message a user sees: the folder, then the run holding it (pid, host, start, command)."""
    pattern = (rf"error: output folder {re.escape(str(out))} is in use by another run \(pid {process.pid} on "
               rf"{re.escape(socket.gethostname())}, started \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d UTC: "
               rf"{re.escape(program)} .*--out {re.escape(str(out))}.*\); wait for it to end, or choose another "
               r"output folder")
    assert re.search(pattern, err), err
    assert "Traceback" not in err


def outputs_folder(tmp_path: Path) -> Path:
    """A folder of outputs apart from the test's other files (the holder's log, configs)."""
    parent = tmp_path / "outputs"
    parent.mkdir()
    return parent


def refused_then_killed(main, args: list, out: Path, process: subprocess.Popen, program: str, capsys) -> dict:
    """The same command, started while ``process`` holds ``out``, is refused and changes nothing beside or
    in the folder; then the holder is killed with SIGKILL. Returns what was there (``snapshot``)."""
    before = snapshot(out.parent)
    assert main(args) == 2
    assert_refused(capsys.readouterr().err, out, process, program)
    assert snapshot(out.parent) == before
    kill(process)
    return before


def counting(monkeypatch, owner, name: str) -> list:
    """Count the calls of ``owner.name`` (made in this process) from now on."""
    calls = []
    original = getattr(owner, name)

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls


# --- each writer kind: refused while held, resumed after SIGKILL --------------------------------------------

def test_ensemble_folder_is_refused_while_held_then_resumes(tmp_path, children, capsys, monkeypatch):
    from batch import ensemble
    from experiments import reproduce_article

    parent = outputs_folder(tmp_path)
    out = parent / "article"
    args = ["--seeds", "3", "--agents", "150", "--workers", "1", "--quiet", "--out", str(out)]
    program = "python -m experiments.reproduce_article"
    # Paused after its first run is saved and recorded in the manifest (whichever seed finished first).
    process = holder(children, tmp_path, "experiments.reproduce_article:main", program, "batch.ensemble:record", 1,
                     args)
    saved = [f"article/runs/{p.name}" for p in (out / "runs").glob("seed-*.parquet")]
    assert len(saved) == 1
    before = refused_then_killed(reproduce_article.main, args, out, process, program, capsys)
    simulated = counting(monkeypatch, ensemble, "simulate")
    assert reproduce_article.main(args) in (0, 1)      # 1: targets missed at 150 agents; the run is whole
    assert len(simulated) == 2                           # the saved seed reused, the two others run
    assert snapshot(parent)[saved[0]] == before[saved[0]]
    assert len(list((out / "runs").glob("seed-*.parquet"))) == 3
    assert (out / "report.md").is_file()
    assert not lock_file(out).exists()


def test_staged_output_is_refused_while_held_then_runs_whole(tmp_path, children, capsys):
    from experiments import run as run_cli

    parent = outputs_folder(tmp_path)
    out = parent / "one"
    args = ["--agents", "100", "--seed", "3", "--quiet", "--out", str(out)]
    program = "python -m experiments.run"
    # Paused in the staged block: the run is done, its figures being drawn in the hidden partial folder.
    process = holder(children, tmp_path, "experiments.run:main", program, "experiments.plots:run_figures", 1, args)
    assert not out.exists()
    refused_then_killed(run_cli.main, args, out, process, program, capsys)
    assert run_cli.main(args) == 0
    assert json.loads((out / "summary.json").read_text())["seed"] == 3
    assert sorted(p.name for p in parent.iterdir()) == ["one"]     # the killed run's partial folder removed


def test_sweep_is_refused_while_held_then_resumes(tmp_path, children, capsys, monkeypatch):
    from experiments import sweep

    config = tmp_path / "sweep.toml"
    config.write_text('design = "grid"\nreplications = 1\n[options]\nagents = 100\n[fixed]\nend = 2025-02-28\n'
                      '[parameters]\nnetwork_pull = { values = [2.0, 6.0, 10.0] }\n')
    out = outputs_folder(tmp_path) / "sweep"
    args = ["--config", str(config), "--workers", "1", "--quiet", "--out", str(out)]
    program = "python -m experiments.sweep"
    process = holder(children, tmp_path, "experiments.sweep:main", program, "experiments.sweep:SweepStore.record", 1,
                     args)
    stored = sweep.results(out)
    assert len(stored) == 1
    refused_then_killed(sweep.main, args, out, process, program, capsys)
    executed = counting(monkeypatch, sweep, "execute_run")
    assert sweep.main(args) == 0
    assert len(executed) == 2                                   # the stored run is not run again
    frame = sweep.results(out)
    assert len(frame) == 3 and (frame["status"] == "ok").all()
    first = frame.loc[frame["run_index"] == stored["run_index"].iloc[0]]
    pd.testing.assert_frame_equal(first.reset_index(drop=True)[stored.columns], stored.reset_index(drop=True))


def test_cmaes_study_is_refused_while_held_then_resumes(tmp_path, children, capsys, monkeypatch):
    from experiments import calibrate

    space = tmp_path / "space.toml"
    space.write_text("[network_pull]\nlow = 1.0\nhigh = 12.0\n[defiance_weight]\nlow = 0.0\nhigh = 8.0\n")
    out = outputs_folder(tmp_path) / "study"
    args = ["--space", str(space), "--seeds", "1", "--agents", "150", "--workers", "1", "--trials", "3",
            "--quiet", "--out", str(out)]
    program = "python -m experiments.calibrate"
    # Paused with its second trial scored but not yet stored: one trial complete, one running.
    process = holder(children, tmp_path, "experiments.calibrate:main", program,
                     "experiments.calibrate:Objective.evaluate", 2, args)
    assert (out / "study.db").is_file()
    refused_then_killed(calibrate.main, args, out, process, program, capsys)
    scored = counting(monkeypatch, calibrate.Objective, "evaluate")
    assert calibrate.main(args) == 0
    assert len(scored) == 2                                     # the finished trial is kept, two more run
    history = pd.read_csv(out / "history.csv")
    assert (history["state"] == "COMPLETE").sum() == 3
    assert (out / "commands.log").read_text().count("--trials 3") == 2   # started, then resumed


def test_abc_calibration_is_refused_while_held_then_resumes(tmp_path, children, capsys, monkeypatch):
    import pyabc

    import inference.calibration
    from inference.__main__ import inference_command

    space = tmp_path / "space.toml"
    space.write_text("[rednote_appeal]\nlow = 3.0\nhigh = 6.0\n[wave_coverage]\nlow = 0.3\nhigh = 3.0\nlog = true\n")
    out = outputs_folder(tmp_path) / "abc"
    args = ["--observations", str(JANUARY), "--space", str(space), "--agents", "300", "--population", "12",
            "--generations", "2", "--draws", "2", "--point-seeds", "0", "--workers", "1", "--out", str(out)]
    program = "python -m inference"
    # Paused with every generation in the history, before the outputs are written.
    process = holder(children, tmp_path, "inference.__main__:inference_command", program,
                     "inference.cli:run_abc", 1, args)
    assert inference.calibration.finished_generations(out) == 2
    refused_then_killed(inference_command, args, out, process, program, capsys)
    runs = counting(monkeypatch, pyabc.ABCSMC, "run")
    assert inference_command(args) == 0
    assert runs == []                                           # the finished history is reused, not run again
    assert inference.calibration.finished_generations(out) == 2
    assert (out / "report.md").is_file() and (out / "posterior.csv").is_file()
    assert not lock_file(out).exists()


# --- every command, against a folder another process holds -----------------------------------------------

def _commands(tmp_path: Path) -> dict:
    from experiments import (
        ablations,
        calibrate,
        check,
        compare_twins,
        reproduce_article,
        scenarios,
        sensitivity,
        sweep,
    )
    from experiments import run as run_cli
    from inference.__main__ import inference_command
    from inference.recovery import main as recovery

    small = ["--seeds", "2", "--agents", "120", "--workers", "1", "--quiet"]
    sweeps = ROOT / "experiments" / "sweeps"
    return {
        "run": (run_cli.main, ["--agents", "100", "--quiet"]),
        "article": (reproduce_article.main, small),
        "check": (check.main, ["--observations", str(JANUARY), *small]),
        "calibrate": (calibrate.main, ["--trials", "1", "--seeds", "1", "--agents", "120", "--workers", "1",
                                       "--quiet"]),
        "calibrate --method abc": (calibrate.main, ["--method", "abc", "--observations", str(JANUARY),
                                                    "--agents", "120", "--population", "10", "--generations", "1"]),
        "ablations": (ablations.main, ["--only", "no_festival", *small]),
        "scenarios": (scenarios.main, ["default", *small]),
        "sweep": (sweep.main, ["--config", str(sweeps / "example.toml"), "--workers", "1", "--quiet"]),
        "sensitivity": (sensitivity.main, ["--config", str(sweeps / "morris.toml"), "--workers", "1", "--quiet"]),
        "twins": (compare_twins.main, small),
        "inference": (inference_command, ["--observations", str(JANUARY), "--agents", "120", "--population", "10",
                                          "--generations", "1"]),
        "inference.recovery": (recovery, ["--datasets", "1", "--agents", "120", "--population", "10",
                                          "--generations", "1"]),
    }


COMMANDS = ["run", "article", "check", "calibrate", "calibrate --method abc", "ablations", "scenarios", "sweep",
            "sensitivity", "twins", "inference", "inference.recovery"]


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_is_refused_before_any_work_while_another_holds_its_folder(tmp_path, children, capsys, name):
    parent = outputs_folder(tmp_path)
    out = parent / "out"
    process = children([BARE_HOLDER, str(out)], tmp_path / "holder.err")
    before = snapshot(parent)
    main, args = _commands(tmp_path)[name]
    started = time.perf_counter()
    assert main([*args, "--out", str(out)]) == 2
    assert_refused(capsys.readouterr().err, out, process, "python -m some.command")
    assert time.perf_counter() - started < 30          # refused before any simulation, not after
    assert snapshot(parent) == before and not out.exists()


@pytest.mark.parametrize("name", COMMANDS)
def test_a_held_folder_that_is_not_empty_is_said_to_be_in_use_not_to_be_not_empty(tmp_path, children, capsys, name):
    """The lock is asked before the folder's contents: without --overwrite too, a user whose folder another
    run is writing is told that (not "not empty", "pass --overwrite", "holds no sweep")."""
    parent = outputs_folder(tmp_path)
    out = parent / "out"
    out.mkdir()
    (out / "daily.csv").write_text("day,adoption\n", encoding="utf-8")
    outputs.record(out, ["daily.csv"])                              # a folder this project wrote
    (out / "notes.txt").write_text("the analyst's own notes\n", encoding="utf-8")   # and one it did not
    process = children([BARE_HOLDER, str(out)], tmp_path / "holder.err")
    before = snapshot(parent)
    main, args = _commands(tmp_path)[name]
    assert main([*args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert_refused(err, out, process, "python -m some.command")
    assert "not empty" not in err and "--overwrite" not in err
    assert snapshot(parent) == before


def test_check_out_dir_asks_the_lock_first_and_passes_the_folder_its_own_process_holds(tmp_path, children):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("not ours\n", encoding="utf-8")
    process = children([BARE_HOLDER, str(out)], tmp_path / "holder.err")
    for overwrite, resumable in [(False, False), (True, False), (False, True)]:
        with pytest.raises(FolderInUse, match=rf"in use by another run \(pid {process.pid} "):
            outputs.check_out_dir(out, overwrite=overwrite, resumable=resumable)
    kill(process)
    with pytest.raises(OutputError, match="not empty"):     # free again: the contents are what is said
        outputs.check_out_dir(out)
    with folder_lock(out):                                   # this process's own lock is no refusal
        outputs.check_out_dir(out, overwrite=True)


# --- the lock's own rules ---------------------------------------------------------------------------------

def test_a_process_takes_its_own_lock_again_and_releases_it_at_the_outer_end(tmp_path, monkeypatch):
    out = tmp_path / "out"
    monkeypatch.chdir(tmp_path)
    with folder_lock(out):
        with folder_lock(Path("out")):                  # the same folder, named otherwise
            hold_folder(out)
        assert holds_folder(out) and lock_file(out).is_file()
        holder = json.loads(lock_file(out).read_text())
        assert holder["pid"] == os.getpid() and holder["written_by"] == "rednote-migration"
    assert not holds_folder(out) and not lock_file(out).exists()
    assert sorted(tmp_path.iterdir()) == []              # nothing left beside the folder


def test_inside_a_command_a_folder_stays_locked_until_the_command_ends(tmp_path):
    out = tmp_path / "out"
    with outputs.command_scope():
        with folder_lock(out):        # e.g. run_into_folder, whose command writes its report after it
            pass
        assert holds_folder(out)
    assert not holds_folder(out) and not lock_file(out).exists()


def test_a_command_that_fails_releases_its_folder(tmp_path, capsys):
    from batch.cli import command

    out = tmp_path / "out"

    @command
    def failing(argv=None) -> int:
        hold_folder(out)
        raise OutputError("something the user must fix")

    assert failing([]) == 2
    assert "something the user must fix" in capsys.readouterr().err
    assert not holds_folder(out) and not lock_file(out).exists()


FORKING_HOLDER = textwrap.dedent("""
    import os, sys, time
    from batch.outputs import folder_lock
    with folder_lock(sys.argv[1]):
        started, started_w = os.pipe()
        worker = os.fork()
        if worker == 0:          # a worker forked while the lock is held (as multiprocessing's fork does)
            os.write(started_w, b"x")     # running: past the fork and its hooks
            time.sleep(600)
            os._exit(0)
        os.read(started, 1)
        print(worker, flush=True)
        print("holding", flush=True)
        time.sleep(600)
""")


def test_a_killed_holders_forked_worker_does_not_keep_the_lock(tmp_path):
    out = tmp_path / "out"
    err_path = tmp_path / "holder.err"
    with open(err_path, "w") as err:
        process = subprocess.Popen([sys.executable, "-c", FORKING_HOLDER, str(out)], cwd=ROOT,
                                   stdout=subprocess.PIPE, stderr=err, text=True)
    worker = int(process.stdout.readline())
    try:
        assert process.stdout.readline().strip() == "holding"
        with pytest.raises(FolderInUse, match=f"pid {process.pid} "):
            hold_folder(out)
        kill(process)
        os.kill(worker, 0)                  # the worker lives on ...
        with folder_lock(out):              # ... and the folder is free
            assert holds_folder(out)
    finally:
        if process.poll() is None:
            kill(process)
        os.kill(worker, signal.SIGKILL)


def test_a_lock_file_not_written_by_the_project_is_refused_and_kept(tmp_path):
    out = tmp_path / "out"
    lock_file(out).write_text("my own notes")
    with pytest.raises(OutputError, match="not written by this project"):
        hold_folder(out)
    assert lock_file(out).read_text() == "my own notes" and not holds_folder(out)


@pytest.mark.parametrize(("out", "message"), [
    ("/sys/rednote-out", "cannot write the output folder /sys/rednote-out"),
    ("/sys/kernel", "cannot make the lock file /sys/.kernel.rednote-lock beside the output folder /sys/kernel: "
                    ".*its parent folder must be writable"),
    ("{tmp}/missing/out", "parent folder of the output does not exist"),
])
def test_a_folder_whose_lock_cannot_be_made_is_an_output_error(tmp_path, out, message):
    with pytest.raises(OutputError, match=message):
        hold_folder(Path(out.format(tmp=tmp_path)))


def _hold_in_child(out, ready, done) -> None:
    with folder_lock(out):
        ready.set()
        done.wait(60)


def test_two_processes_never_hold_one_folder_at_once(tmp_path):
    """A multiprocessing child holds it; this process is refused until the child lets go, then takes it."""
    out = tmp_path / "out"
    context = multiprocessing.get_context("spawn")
    ready, done = context.Event(), context.Event()
    child = context.Process(target=_hold_in_child, args=(out, ready, done))
    child.start()
    try:
        assert ready.wait(60)
        with pytest.raises(FolderInUse, match=f"pid {child.pid} "):
            hold_folder(out)
        done.set()
        child.join(60)
        assert child.exitcode == 0 and not lock_file(out).exists()
        with folder_lock(out):
            assert holds_folder(out)
    finally:
        if child.is_alive():
            child.kill()


def test_nested_commands_each_release_what_they_took(tmp_path):
    """A command calling another (calibrate --method abc runs inference's): the inner one's folder is
    released at its end, the outer one's at the outer end."""
    outer, inner = tmp_path / "outer", tmp_path / "inner"
    with outputs.command_scope():
        hold_folder(outer)
        with outputs.command_scope():
            with outputs.command_scope():      # an empty one in between
                pass
            hold_folder(inner)
        assert holds_folder(outer) and not holds_folder(inner)
    assert not holds_folder(outer) and sorted(tmp_path.iterdir()) == []


def test_a_lock_file_removed_between_open_and_lock_is_not_taken_as_the_lock(tmp_path, monkeypatch):
    """A holder removes its lock file as it lets go. A run that opened that file just before gets its flock
    once the holder is gone, but the file is no longer the lock: another run may already hold a new one.
    The run must see that and take the file now at the path (else two runs would hold the folder)."""
    out = tmp_path / "out"
    with folder_lock(out):
        opened_before = os.open(lock_file(out), os.O_RDWR)      # the other run's open, just before the release
        old_file = os.fstat(opened_before).st_ino
    kept = os.dup(opened_before)      # the old file stays open, so a new one cannot reuse its inode number
    original_open = os.open
    handed = []

    def open_once_stale(path, *args, **kwargs):
        if Path(path) == lock_file(out) and not handed:
            handed.append(opened_before)
            return opened_before
        return original_open(path, *args, **kwargs)

    monkeypatch.setattr(outputs.os, "open", open_once_stale)
    with folder_lock(out):
        assert handed and lock_file(out).is_file()
        mine = outputs._HELD[out.resolve()].fd
        assert os.fstat(mine).st_ino == os.stat(lock_file(out)).st_ino != old_file
    with pytest.raises(OSError):
        os.fstat(opened_before)                                    # let go once seen to be stale
    os.close(kept)
