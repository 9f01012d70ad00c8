"""Output folders that are either complete or absent: written aside, then moved into place."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path


class OutputError(ValueError):
    """An output folder that cannot be written without losing something."""


def check_out_dir(out: Path, overwrite: bool) -> None:
    """Refuse, before any work, a folder whose existing results would be lost."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"output path exists and is not a folder: {out}")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise OutputError(f"output folder {out} is not empty; choose another --out or pass --overwrite")
    parent = out.resolve().parent
    if not parent.is_dir():
        raise OutputError(f"parent folder of --out does not exist: {parent}")


@contextlib.contextmanager
def staged_output(out: Path, overwrite: bool = False):
    """Yield a scratch folder beside ``out``; on success it replaces ``out`` whole, on error it vanishes."""
    out = Path(out)
    check_out_dir(out, overwrite)
    scratch = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.resolve().parent))
    try:
        yield scratch
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    if out.exists():
        shutil.rmtree(out)
    scratch.rename(out)
