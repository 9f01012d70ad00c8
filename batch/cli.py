"""One command-line wrapper for every command: a clear message and exit 2 for bad input, 130 on Ctrl-C.

    @command
    def main(argv=None) -> int: ...

A user's mistake (any ``batch.errors.InputError``: a bad file, value, argument or output folder) prints
``error: ...`` and returns 2, never a traceback; Ctrl-C prints what was kept and how to resume and
returns 130. Argument types for argparse (``positive_int``, ``non_negative_int``) are here too, so a
``--workers -3`` is refused by the parser with exit 2.
"""

from __future__ import annotations

import argparse
import functools
import shlex
import sys
from collections.abc import Callable

from batch.errors import InputError

INTERRUPTED = 130


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


def command(main: Callable[..., int]) -> Callable[..., int]:
    """Wrap a command's ``main(argv)``: input errors exit 2 with their message, Ctrl-C exits 130."""

    @functools.wraps(main)
    def wrapped(argv=None) -> int:
        try:
            return main(argv)
        except SystemExit as done:   # argparse refused an argument (its message is printed): a status
            return done.code if isinstance(done.code, int) else 2
        except InputError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            words = sys.argv[1:] if argv is None else list(argv)
            name = main.__module__.removeprefix("__main__")
            again = f"python -m {main.__module__} " if name else "the same command "
            print(f"\ninterrupted: what finished is saved, the rest was cancelled; to resume, run {again}"
                  f"{shlex.join(words)}", file=sys.stderr)
            return INTERRUPTED

    return wrapped
