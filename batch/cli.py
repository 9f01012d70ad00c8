"""One command-line wrapper for every command: a clear message and exit 2 for bad input, 130 on Ctrl-C,
143 on SIGTERM.

    @command
    def main(argv=None) -> int: ...

A user's mistake (any ``batch.errors.InputError``: a bad file, value, argument or output folder) prints
``error: ...`` and returns 2, never a traceback; Ctrl-C prints what was kept and how to resume and
returns 130. SIGTERM (how a scheduler stops a job: SLURM, systemd, ``docker stop``) takes Ctrl-C's path
(workers cancelled, what finished saved, the resume line) and returns 143 (128 + 15). Argument types for
argparse (``positive_int``, ``non_negative_int``) are here too, so a ``--workers -3`` is refused by the
parser with exit 2.
"""

from __future__ import annotations

import argparse
import functools
import shlex
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from batch.errors import InputError

INTERRUPTED = 130
TERMINATED = 128 + signal.SIGTERM


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread where Ctrl-C raises ``KeyboardInterrupt``: a subclass, so every
    clean-up written for Ctrl-C (cancelled workers, a study's history written) runs for it too."""


def _terminate(signum, frame) -> None:
    raise Terminated


def _on_sigterm() -> object:
    """Make SIGTERM raise ``Terminated`` (only the main thread can, and a SIGTERM the process was started
    ignoring stays ignored); returns the handler to put back, or None when none was replaced."""
    if threading.current_thread() is not threading.main_thread():
        return None
    previous = signal.getsignal(signal.SIGTERM)
    if previous == signal.SIG_IGN:
        return None
    signal.signal(signal.SIGTERM, _terminate)
    return signal.SIG_DFL if previous is None else previous    # None: set outside Python; the default then


def _whole(text: str, low: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"must be {what}, got {value}")
    return value


def positive_int(text: str) -> int:
    return _whole(text, 1, "at least 1")


def non_negative_int(text: str) -> int:
    return _whole(text, 0, "0 or more")


def command_line(argv=None, module: str | None = None) -> str:
    """The command as the user can type it again: ``rednote NAME ...``, ``python -m experiments NAME ...`` or
    ``python -m MODULE ...`` (``module``: the command's module; default the one Python runs as ``__main__``).
    ``argv``: the command's arguments (default ``sys.argv[1:]``). Recorded in manifests and study logs,
    and said on Ctrl-C."""
    program = sys.argv[0] if sys.argv else ""
    if not program.startswith(("rednote ", "python -m ")):   # set by the rednote dispatcher (experiments/__main__)
        if module in (None, "__main__"):
            spec = getattr(sys.modules.get("__main__"), "__spec__", None)
            module = spec.name if spec is not None else None
        module = module.removesuffix(".__main__") if module else module   # python -m PACKAGE runs PACKAGE.__main__
        program = f"python -m {module}" if module else Path(program).name
    words = sys.argv[1:] if argv is None else list(argv)
    return " ".join(filter(None, [program, shlex.join(words)]))


def command(main: Callable[..., int]) -> Callable[..., int]:
    """Wrap a command's ``main(argv)``: input errors exit 2 with their message, Ctrl-C exits 130, SIGTERM
    143 (after the same clean-up); the SIGTERM handler in place before is put back when it returns."""

    @functools.wraps(main)
    def wrapped(argv=None) -> int:
        from batch.outputs import command_scope  # here: batch.outputs imports this module

        previous = _on_sigterm()
        try:
            with command_scope():     # the output folders it locks are released when it ends, however it ends
                return main(argv)
        except SystemExit as done:   # argparse refused an argument (its message is printed): a status
            return done.code if isinstance(done.code, int) else 2
        except InputError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        except KeyboardInterrupt as stop:
            how = "stopped (SIGTERM)" if isinstance(stop, Terminated) else "interrupted"
            print(f"\n{how}: what finished is saved, the rest was cancelled; to resume, run "
                  f"{command_line(argv, main.__module__)}", file=sys.stderr)
            return TERMINATED if isinstance(stop, Terminated) else INTERRUPTED
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)

    return wrapped


def add_executor_arguments(parser: argparse.ArgumentParser) -> None:
    """``--workers`` and ``--scheduler``: where the runs execute (``batch.executor.open_executor``)."""
    parser.add_argument("--workers", type=positive_int, help="local worker processes (default: all cores)")
    parser.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://host:8786 (default: local processes)")


def add_output_arguments(parser: argparse.ArgumentParser, *, default: Path | None = None, resumable: bool = False,
                         overwrite: bool = True) -> None:
    """``--out`` (required unless ``default``), ``--overwrite`` and ``--quiet``, worded for a folder written
    whole or one written run by run and resumed (``batch.outputs``)."""
    kind = "output folder (created, or resumed)" if resumable else "output folder (created; must be empty)"
    parser.add_argument("--out", type=Path, required=default is None, default=default, help=kind)
    if overwrite:
        parser.add_argument("--overwrite", action="store_true", help=(
            "run again saved runs made otherwise (replaces only what this project wrote)" if resumable else
            "replace what this project wrote in a non-empty output folder (nothing else)"))
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """``--config`` (a run config, ``model/config.py``) and ``--agents`` (overrides its n_agents)."""
    parser.add_argument("--config", type=Path, help="run config (TOML, see model/config.py); default: the "
                        "calibrated defaults")
    parser.add_argument("--agents", type=int, help="simulated users per run (overrides the config's)")


def add_ensemble_arguments(parser: argparse.ArgumentParser, *, seeds: int, out: Path | None = None) -> None:
    """What every seed-ensemble command takes: ``--seeds K``, ``--first-seed S`` (seeds S..S+K-1), the run
    config, where the runs execute and the (resumable) output folder."""
    parser.add_argument("--seeds", type=positive_int, default=seeds, help=f"ensemble size K (default {seeds})")
    parser.add_argument("--first-seed", type=non_negative_int, default=0,
                        help="first seed S (default 0); e.g. 1000 to check on seeds no calibration has seen")
    add_config_arguments(parser)
    add_executor_arguments(parser)
    add_output_arguments(parser, default=out, resumable=True)
