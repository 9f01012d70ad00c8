"""SIGTERM, how a scheduler stops a job (SLURM, systemd, ``docker stop``), ends a command as Ctrl-C does:
workers cancelled, what finished kept, the command to resume said; but with exit status 143 (128 + 15).
``batch.cli.command`` puts the SIGTERM handler that was in place back when the command returns."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from batch.cli import TERMINATED, command

ROOT = Path(__file__).resolve().parent.parent


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _terminable() -> None:
    """In the command's process before it starts: SIGTERM's default action (a test runner may ignore it)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def test_sigterm_in_a_command_takes_ctrl_cs_path_and_exits_143(capsys):
    cleaned = []

    @command
    def working(argv=None):
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(30)         # the handler raises in the main thread: this sleep never ends
            return 0
        except KeyboardInterrupt:   # the clean-up written for Ctrl-C runs for SIGTERM too
            cleaned.append(True)
            raise

    working.__module__ = "experiments.reproduce_article"
    started = time.monotonic()
    assert working(["--seeds", "3"]) == TERMINATED == 143
    assert time.monotonic() - started < 10
    assert cleaned == [True]
    err = capsys.readouterr().err
    assert "SIGTERM" in err and "to resume, run" in err and "--seeds 3" in err and "Traceback" not in err


def test_the_sigterm_handler_in_place_before_is_put_back():
    def mine(signum, frame):
        pass

    seen = []

    @command
    def looks(argv=None):
        seen.append(signal.getsignal(signal.SIGTERM))
        return 0

    previous = signal.signal(signal.SIGTERM, mine)
    try:
        assert looks([]) == 0
        assert seen[0] is not mine                    # the command's own while it ran
        assert signal.getsignal(signal.SIGTERM) is mine
        signal.signal(signal.SIGTERM, signal.SIG_IGN)   # a process started ignoring SIGTERM keeps ignoring it
        assert looks([]) == 0
        assert seen[1] == signal.SIG_IGN and signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_sigterm_stops_an_ensemble_keeps_finished_runs_leaves_no_worker_and_the_rerun_resumes(tmp_path):
    out = tmp_path / "article"
    # Far more runs than can finish between the first saved run and the signal (one takes well under a second).
    argv = [sys.executable, "-m", "experiments.reproduce_article", "--agents", "20000", "--workers", "2",
            "--out", str(out), "--quiet"]
    process = subprocess.Popen([*argv, "--seeds", "400"], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, preexec_fn=_terminable)
    started = time.monotonic()
    while not (out / "runs" / "seed-00000.parquet").exists():      # seed 0 kept: the rerun below reuses it
        assert process.poll() is None, process.communicate()
        assert time.monotonic() - started < 240, "no run finished"
        time.sleep(0.2)
    workers = set()
    for pid in _children(process.pid):
        workers |= {pid, *_children(pid)}
    process.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143, err
    assert time.monotonic() - sent < 10, "took too long to stop"
    assert "Traceback" not in err and "SIGTERM" in err and "to resume, run" in err, err
    finished = {int(p.stem.split("-")[1]): p.stat().st_mtime_ns for p in (out / "runs").glob("seed-*.parquet")}
    assert 1 <= len(finished) < 400
    time.sleep(1)
    assert workers and not [pid for pid in workers if _alive(pid)], "worker processes left behind"
    # The rerun resumes: the seeds that finished are reused (unchanged files), not run again.
    kept = next(k for k in range(len(finished) + 1) if k not in finished)    # seeds 0..kept-1 all finished
    assert kept >= 1
    rerun = subprocess.run([*argv, "--seeds", str(kept)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert rerun.returncode in (0, 1), rerun.stderr      # 1: an article target missed by so few seeds
    for seed in range(kept):
        assert (out / "runs" / f"seed-{seed:05d}.parquet").stat().st_mtime_ns == finished[seed]
