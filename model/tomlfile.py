"""Reading the project's TOML input files with errors that name the file and what it was for."""

from __future__ import annotations

import tomllib
from pathlib import Path


def read_toml(path: str | Path, error: type[Exception], what: str) -> dict:
    """The parsed file, or ``error`` saying '<what> not found' or '<path>: not valid TOML: ...'."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{what} not found: {path}")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise error(f"{path}: not valid TOML: {err}") from err


def read_toml_with_text(path: str | Path, error: type[Exception], what: str) -> tuple[dict, str]:
    """The parsed file and its text (to find the lines of later errors), or ``error`` saying '<what> not
    found' or '<path>:<line>: not valid TOML: ...'."""
    from model.timeline_edits import decode_error_position

    path = Path(path)
    if not path.is_file():
        raise error(f"{what} not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as err:
        line, _ = decode_error_position(err)
        raise error(f"{path}:{line}: not valid TOML: {err}") from err
