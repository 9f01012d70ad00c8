"""The output-folder policy: the project never deletes a file it did not write, and a folder is whole or absent.

- Every folder the project writes holds a manifest, ``.rednote-manifest.json``: the files it wrote there
  (paths relative to the folder), the command and the code version. ``--overwrite`` removes only the
  files the manifest lists; anything else in the folder (notes, another project's results) is kept.
- A folder written in one go (``staged_output``) is built in a hidden sibling,
  ``.NAME.partial-PID-XXXX``, and moved into place when complete; a killed run's hidden folder is
  removed by the next command writing there (only when its owner process is gone).
- Folders written run by run (ensembles, studies, sweeps; ``open_folder``) record each file as it is
  saved, so they resume.
- Folders are created with the process's umask (group-readable by default), never 0700.
- Any name taken from a file or an argument and used as a path component passes ``safe_name``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterable
from pathlib import Path

from batch.cli import command_line
from batch.errors import InputError
from batch.identity import code_version

MANIFEST = ".rednote-manifest.json"
OWNER = ".owner"
_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


class OutputError(InputError):
    """An output folder that cannot be written without losing something, or cannot be written at all."""


def safe_name(name: str, what: str = "name") -> str:
    """``name`` if it is a safe single path component (letters, digits, ``._+-``, not starting with a dot)."""
    if not isinstance(name, str) or not _SAFE.fullmatch(name) or name in (".", ".."):
        raise OutputError(f"{what} {name!r} cannot name a file or folder: use letters, digits, '.', '_', '+' "
                          "or '-', starting with a letter or digit")
    return name


# --- the manifest ------------------------------------------------------------------------------------------

def manifest(folder: Path) -> dict:
    """The folder's manifest ({} when the project never wrote there)."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def written_files(folder: Path) -> list[str]:
    return list(manifest(folder).get("files", []))


def record(folder: Path, paths: Iterable[Path | str]) -> None:
    """Add files (absolute, or relative to ``folder``) to the folder's manifest, atomically."""
    folder = Path(folder)
    doc = manifest(folder) or {"written_by": "rednote-migration", "command": _command(), "code": code_version(),
                                "files": []}
    files = dict.fromkeys(doc.get("files", []))
    for path in paths:
        path = Path(path)
        files[(path.relative_to(folder) if path.is_absolute() else path).as_posix()] = None
    doc["files"] = sorted(files)
    _write_atomic(folder / MANIFEST, json.dumps(doc, indent=1))


def write_text(folder: Path, name: str, text: str) -> Path:
    """Write one file of a resumable folder whole (never half) and record it in the manifest."""
    path = Path(folder) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(path, text)
    record(folder, [path])
    return path


def remove_written(folder: Path) -> list[str]:
    """Remove the files the manifest lists (and folders they leave empty); nothing else. Returns them."""
    folder = Path(folder)
    removed = []
    for name in written_files(folder):
        path = folder / name
        if path.is_file() or path.is_symlink():
            path.unlink()
            removed.append(name)
        parent = path.parent
        while parent != folder and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent
    (folder / MANIFEST).unlink(missing_ok=True)
    return removed


# --- checks ------------------------------------------------------------------------------------------------

def check_out_dir(out: Path, overwrite: bool = False, resumable: bool = False) -> None:
    """Refuse, before any work, an output folder that cannot be written or whose contents would be lost.

    A non-empty folder is accepted when ``resumable`` and the project wrote there before (it resumes), or
    with ``overwrite`` (only the project's own files will be replaced)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"output path exists and is not a folder: {out}")
    parent = out.resolve().parent
    if not parent.is_dir():
        raise OutputError(f"parent folder of the output does not exist: {parent}")
    where = out if out.is_dir() else parent
    # Tried, not asked (os.access says yes to root even on a read-only file system).
    probe = where / f".{out.name}.probe-{os.getpid()}"
    try:
        probe.mkdir()
        probe.rmdir()
    except OSError as err:
        raise OutputError(f"cannot write the output folder {out}: {err.strerror or err}; "
                          "choose another output folder") from None
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        if resumable and (out / MANIFEST).is_file():
            return
        hint = "pass --overwrite to replace what this project wrote there" if (out / MANIFEST).is_file() else \
            "it holds files this project did not write"
        raise OutputError(f"output folder {out} is not empty ({hint}); choose another output folder")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_partials(out: Path) -> list[Path]:
    """Remove hidden partial folders of ``out`` left by killed runs (marked by their owner, now gone)."""
    out = Path(out)
    parent = out.resolve().parent
    removed = []
    for scratch in parent.glob(f".{out.name}.partial-*"):
        owner = scratch / OWNER
        try:
            pid = int(owner.read_text(encoding="utf-8").strip())
        except (OSError, ValueError):
            continue   # not one of ours: leave it
        if not _alive(pid):
            shutil.rmtree(scratch, ignore_errors=True)
            removed.append(scratch)
    return removed


def clean_stale_files(folder: Path) -> list[Path]:
    """Remove half-written files a killed run left in ``folder`` (``.NAME.partial-PID``, its process gone)."""
    removed = []
    for path in Path(folder).glob(".*.partial-*"):
        pid = path.name.rsplit("-", 1)[-1]
        if path.is_file() and pid.isdigit() and not _alive(int(pid)):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


@contextlib.contextmanager
def staged_output(out: Path, overwrite: bool = False):
    """Yield a hidden scratch folder beside ``out``; when the block succeeds its files land in ``out``.

    A new ``out`` appears whole (one rename). An existing one (``overwrite``) loses only the files its
    manifest lists, then receives the new ones; other files stay. On any error the scratch vanishes."""
    out = Path(out)
    check_out_dir(out, overwrite)
    clean_stale_partials(out)
    scratch = out.resolve().parent / f".{out.name}.partial-{os.getpid()}-{secrets.token_hex(3)}"
    _make_folder(scratch, out)
    (scratch / OWNER).write_text(str(os.getpid()), encoding="utf-8")
    try:
        yield scratch
        (scratch / OWNER).unlink()
        files = [p for p in scratch.rglob("*") if p.is_file()]
        if not out.exists():
            record(scratch, files)
            scratch.rename(out)
            return
        ours = set(written_files(out))
        clashes = [p.relative_to(scratch).as_posix() for p in files
                   if (out / p.relative_to(scratch)).exists() and p.relative_to(scratch).as_posix() not in ours]
        if clashes:
            raise OutputError(f"{out} holds files this project did not write where it would write "
                              f"{clashes[:3]}; choose another output folder")
        remove_written(out)
        for path in files:
            target = out / path.relative_to(scratch)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
        record(out, [out / p.relative_to(scratch) for p in files])
    finally:
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)


def open_folder(out: Path, overwrite: bool = False) -> Path:
    """A folder written piece by piece (and resumed): checked, created, and with ``overwrite`` emptied of
    what the project wrote there before (only that)."""
    out = Path(out)
    check_out_dir(out, overwrite=overwrite, resumable=True)
    if overwrite and out.is_dir():
        remove_written(out)
    _make_folder(out, out)
    clean_stale_files(out)
    if not (out / MANIFEST).is_file():
        record(out, [])
    return out


def _make_folder(path: Path, out: Path) -> None:
    """Create a folder (with the umask: group-readable by default); a refusal is the user's to fix."""
    try:
        path.mkdir(exist_ok=True)
    except OSError as err:
        raise OutputError(f"cannot create the output folder {out}: {err.strerror or err}") from None


def _write_atomic(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def _command() -> str:
    return command_line()
