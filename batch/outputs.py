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
- One run at a time per folder: every command takes the folder's lock (``hold_folder``) before its first
  write there and keeps it until the command ends; a second run into the folder is refused at once, naming
  the holder, before any other check of the folder (``check_out_dir`` asks the lock first: "in use", not
  "not empty"). The lock is an OS lock (``fcntl.flock``) on a hidden sibling, ``.NAME.rednote-lock``, holding
  the holder's pid, host, command and start; it dies with its process (kill -9 included), and the file
  is removed by its holder when the command ends (a killed holder's file is reused by the next run).
  Workers (local processes, Dask, pyABC's) never write in the folder: their results come back to the
  command, which saves them (``batch.executor.run_tasks``, pyABC's history), so its lock covers every write.
  Reading takes no lock: files are replaced whole and stores are transactional, so a reader never sees
  half a file, and a long report or a read-only copy of the results does not hold up a resumed run.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import datetime as dt
import fcntl
import json
import os
import re
import secrets
import shutil
import socket
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from batch.cli import command_line
from batch.errors import InputError
from batch.identity import code_version

MANIFEST = ".rednote-manifest.json"
OWNER = ".owner"
LOCK_SUFFIX = ".rednote-lock"
_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


class OutputError(InputError):
    """An output folder that cannot be written without losing something, or cannot be written at all."""


class FolderInUse(OutputError):
    """Another live process holds the output folder's lock (another run is writing there)."""


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
    with ``overwrite`` (only the project's own files will be replaced). A folder another live process holds
    (``hold_folder``) is refused first (``FolderInUse``), whatever it holds: its contents are that run's
    and about to change, so "in use" is the one thing to tell the user."""
    out = Path(out)
    check_not_held(out)
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


# --- one run at a time per folder ---------------------------------------------------------------------------

@dataclasses.dataclass
class _Held:
    fd: int              # open on the lock file; the flock lives as long as this descriptor (and its process)
    path: Path           # the lock file


_HELD: dict[Path, _Held] = {}        # resolved output folder -> its lock, held by this process
_SCOPES: list[list[Path]] = []       # open commands (innermost last): the locks each took
_GUARD = threading.RLock()


def check_not_held(out: Path) -> None:
    """Raise ``FolderInUse`` (naming the holder) if another live process holds ``out``'s lock; takes nothing.

    The probe is a shared ``flock`` on the lock file, dropped at once: it conflicts only with a holder's
    exclusive lock. (A run taking the lock in that instant is refused as if the folder were in use: one of
    two runs starting together into one folder is refused in any case.)"""
    key = Path(out).resolve()
    with _GUARD:
        if key in _HELD:
            return
    try:
        fd = os.open(lock_file(key), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return          # no lock file: nobody holds it (an unreadable one is the lock's own error, at its taking)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        raise FolderInUse(_in_use(out, _read_holder(fd))) from None
    except OSError:
        pass            # a file system without locks: said when the lock is taken
    finally:
        os.close(fd)


def lock_file(out: Path) -> Path:
    """Where ``out``'s lock lives: a hidden sibling, so it exists before the folder does (a staged output
    appears only at its end) and survives the folder's replacement."""
    out = Path(out).resolve()
    return out.parent / f".{out.name}{LOCK_SUFFIX}"


@contextlib.contextmanager
def command_scope() -> Iterator[None]:
    """The length of one command: the folder locks taken inside (``hold_folder``) are released when it ends,
    however it ends. ``batch.cli.command`` opens one around every command's main."""
    with _GUARD:
        _SCOPES.append([])
        taken = _SCOPES[-1]
    try:
        yield
    finally:
        with _GUARD:
            del _SCOPES[next(i for i, scope in enumerate(_SCOPES) if scope is taken)]   # this one, not an equal
            for key in reversed(taken):
                _release(key)


def hold_folder(out: Path) -> None:
    """Take ``out``'s lock unless this process holds it, and keep it until the command ends (or, outside any
    command, until the process ends). The one way any writer locks a folder.

    Raises ``FolderInUse`` at once if another live process holds it (the message names the folder and that
    run: pid, host, command, start); ``OutputError`` if the lock cannot be made beside the folder (missing
    or read-only parent)."""
    key = Path(out).resolve()
    with _GUARD:
        if key in _HELD:
            return
        _HELD[key] = _acquire(Path(out), key)
        if _SCOPES:
            _SCOPES[-1].append(key)


@contextlib.contextmanager
def folder_lock(out: Path) -> Iterator[None]:
    """``hold_folder`` for a block: released at its end, unless a command is running (then at its end: a
    library function such as ``run_into_folder`` called by a command leaves the folder locked for the
    command's writes after it)."""
    with contextlib.ExitStack() as stack:
        if not _SCOPES:
            stack.enter_context(command_scope())
        hold_folder(out)
        yield


def holds_folder(out: Path) -> bool:
    """Whether this process holds ``out``'s lock."""
    return Path(out).resolve() in _HELD


def _acquire(out: Path, key: Path) -> _Held:
    if not key.parent.is_dir():
        raise OutputError(f"parent folder of the output does not exist: {key.parent}")
    path = lock_file(key)
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except OSError as err:
            if key.is_dir():      # the folder may be writable, but its lock lives in the parent
                raise OutputError(f"cannot make the lock file {path} beside the output folder {out}: "
                                  f"{err.strerror or err}; its parent folder must be writable: choose another "
                                  "output folder") from None
            raise OutputError(f"cannot write the output folder {out}: {err.strerror or err}; "
                              "choose another output folder") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise FolderInUse(_in_use(out, holder)) from None
        except OSError as err:       # a file system without locks
            os.close(fd)
            raise OutputError(f"cannot lock the output folder {out}: {err.strerror or err}; "
                              "choose another output folder") from None
        # A holder removes its file on release: one opened just before that is no longer the lock.
        if _same_file(fd, path):
            break
        os.close(fd)
    previous = os.pread(fd, 4096, 0)
    if previous and _read_holder(fd) is None:
        os.close(fd)
        raise OutputError(f"{path} exists and was not written by this project; move it away or choose "
                          "another output folder")
    holder = {"written_by": "rednote-migration", "pid": os.getpid(), "host": socket.gethostname(),
              "command": _command(), "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(holder).encode(), 0)
    return _Held(fd, path)


def _release(key: Path) -> None:
    held = _HELD.pop(key, None)
    if held is None:
        return
    # Removed while still locked, and only if it is still this lock's file: a run that opened it meanwhile
    # sees it gone once it gets the lock, and takes a new one.
    with contextlib.suppress(OSError):
        if _same_file(held.fd, held.path):
            held.path.unlink()
    os.close(held.fd)


def _same_file(fd: int, path: Path) -> bool:
    try:
        now = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (now.st_dev, now.st_ino) == (mine.st_dev, mine.st_ino)


def _read_holder(fd: int) -> dict | None:
    try:
        holder = json.loads(os.pread(fd, 4096, 0).decode("utf-8"))
    except (OSError, ValueError):
        return None
    return holder if isinstance(holder, dict) and holder.get("written_by") == "rednote-migration" else None


def _in_use(out: Path, holder: dict | None) -> str:
    run = "another run"
    if holder:        # empty only in the instant between its lock and its note
        started = holder.get("started", "")
        with contextlib.suppress(ValueError):
            started = dt.datetime.fromisoformat(started).strftime("%Y-%m-%d %H:%M:%S UTC")
        run = (f"another run (pid {holder.get('pid')} on {holder.get('host')}, started {started}: "
               f"{holder.get('command')})")
    return f"output folder {out} is in use by {run}; wait for it to end, or choose another output folder"


def _release_all() -> None:
    with _GUARD:
        for key in list(_HELD):
            _release(key)


def _forget_in_child() -> None:
    """A forked child (a worker) does not hold its parent's locks: its copies of the descriptors are
    closed, so a killed parent's lock is free at once even while its children finish."""
    global _GUARD
    for held in _HELD.values():
        with contextlib.suppress(OSError):
            os.close(held.fd)
    _HELD.clear()
    _SCOPES.clear()
    _GUARD = threading.RLock()   # another thread may have held it at the fork


atexit.register(_release_all)
os.register_at_fork(after_in_child=_forget_in_child)


@contextlib.contextmanager
def staged_output(out: Path, overwrite: bool = False):
    """Yield a hidden scratch folder beside ``out``; when the block succeeds its files land in ``out``.

    A new ``out`` appears whole (one rename). An existing one (``overwrite``) loses only the files its
    manifest lists, then receives the new ones; other files stay. On any error the scratch vanishes.
    ``out`` is locked (``folder_lock``) from before the check until the files are in place."""
    out = Path(out)
    with folder_lock(out):
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
    what the project wrote there before (only that). Locked first (``hold_folder``): until the command ends."""
    out = Path(out)
    hold_folder(out)
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
