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
