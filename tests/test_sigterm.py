"""SIGTERM, how a scheduler stops a job (SLURM, systemd, ``docker stop``), ends a command as Ctrl-C does:
workers cancelled, what finished kept, the command to resume said; but with exit status 143 (128 + 15).
``batch.cli.command`` puts the SIGTERM handler that was in place back when the command returns. (An ensemble
stopped by SIGTERM and resumed: ``tests/test_batch_faults.py``, beside Ctrl-C's.)"""

from __future__ import annotations

import os
import signal
import time

from batch.cli import TERMINATED, command


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
