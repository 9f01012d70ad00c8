"""Reading the project's TOML input files with errors that name the file, the line and what it was for.

``tomllib`` gives values without their lines, so a reader that finds a bad value names its line from
the file's text: ``read_located`` returns the parsed file with a ``Locator``, and every error about one
key is written ``f"{where(key, table)}: message"``, i.e. ``file:line: message`` (just ``file: message``
when the key is not written in the file, e.g. a default or an inline value the text does not show).
"""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
from collections.abc import Iterable
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class Locator:
    """Names a place in one TOML file for an error message. ``source``: the file as messages name it;
    ``text``: its raw text (empty: lines unknown, e.g. a document built in code)."""
    source: str
    text: str = ""

    def line(self, key: str | None = None, table: str = "", index: int | None = None) -> int | None:
        """The 1-based line of ``key`` in ``[table]`` (the ``index``-th ``[[table]]``), else the table's
        header, else the first line setting ``key`` anywhere (``model.timeline_edits.find_line``)."""
        from model.timeline_edits import find_line

        return find_line(self.text, key, table, index) if self.text else None

    def __call__(self, key: str | None = None, table: str = "", index: int | None = None) -> str:
        """``source:line`` for ``key`` (see ``line``), or ``source`` when the line cannot be found."""
        line = self.line(key, table, index)
        return f"{self.source}:{line}" if line is not None else self.source


def read_toml(path: str | Path, error: type[Exception], what: str) -> dict:
    """The parsed file, or ``error`` saying '<what> not found' or '<path>:<line>: not valid TOML: ...'."""
    return read_located(path, error, what)[0]


def read_toml_with_text(path: str | Path, error: type[Exception], what: str) -> tuple[dict, str]:
    """The parsed file and its text (to find the lines of later errors), or ``error`` saying '<what> not
    found' or '<path>:<line>: not valid TOML: ...'."""
    document, where = read_located(path, error, what)
    return document, where.text


def read_located(path: str | Path, error: type[Exception], what: str) -> tuple[dict, Locator]:
    """The parsed file and a ``Locator`` naming its lines, or ``error`` saying '<what> not found' or
    '<path>:<line>: not valid TOML: ...'."""
    from model.timeline_edits import decode_error_position

    path = Path(path)
    if not path.is_file():
        raise error(f"{what} not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        return tomllib.loads(text), Locator(str(path), text)
    except tomllib.TOMLDecodeError as err:
        line, _ = decode_error_position(err)
        at = f":{line}" if line is not None else ""
        raise error(f"{path}{at}: not valid TOML: {err}") from err


def unknown_key(key: str, known: Iterable[str], what: str = "key") -> str:
    """``unknown key 'kindd' (did you mean 'kind'?)``: the words for a key a reader does not know, with the
    nearest known one when one is near. Readers report unknown keys before missing ones, at the unknown
    key's line: a typo is the key missing, and its own line is where to look."""
    hint = difflib.get_close_matches(str(key), sorted(known), n=1)
    return f"unknown {what} {key!r}" + (f" (did you mean {hint[0]!r}?)" if hint else "")
