"""Seed ensembles: one configuration over many seeds, each run saved as it finishes and reused only when
everything that made it is the same.

A folder of runs holds ``seed-NNNNN.parquet`` files, each with its identity (``batch.identity``) in the
file's own metadata, written whole or not at all. Before any work every saved seed is checked against the
identity asked for: equal is reused; different is refused with a message saying what changed (or, with
``overwrite``, run again). The runs execute on any ``batch.executor`` executor; on Ctrl-C the finished
ones stay saved and the same command resumes.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from batch import engines
from batch.errors import InputError
from batch.executor import Executor, default_workers, open_executor, run_tasks
from batch.identity import describe_change, run_identity
from batch.outputs import clean_stale_files, folder_lock, open_folder, record

IDENTITY_KEY = b"rednote.identity"
FACTS_KEY = b"rednote.facts"


class EnsembleError(InputError):
    """Saved runs that were made otherwise than asked."""


def run_path(folder: Path, seed: int) -> Path:
    return Path(folder) / f"seed-{seed:05d}.parquet"


def save_run(path: Path, frame: pd.DataFrame, identity: dict, facts: dict | None = None) -> None:
    """One run's daily frame with its identity (and facts such as CPU seconds) in the file's metadata."""
    table = pa.Table.from_pandas(frame)
    metadata = dict(table.schema.metadata or {})
    metadata[IDENTITY_KEY] = json.dumps(identity, sort_keys=True).encode()
    metadata[FACTS_KEY] = json.dumps(facts or {}).encode()
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
    pq.write_table(table.replace_schema_metadata(metadata), partial)
    os.replace(partial, path)     # atomic: a run file is whole or absent


def saved_identity(path: Path) -> dict | None:
    metadata = pq.read_schema(path).metadata or {}
    raw = metadata.get(IDENTITY_KEY)
    return json.loads(raw) if raw else None


def saved_facts(path: Path) -> dict:
    raw = (pq.read_schema(path).metadata or {}).get(FACTS_KEY)
    return json.loads(raw) if raw else {}


def load_run(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path)


def simulate(engine: str, params, timeline, seed: int, options: dict | None) -> tuple[pd.DataFrame, dict]:
    """One run in a worker: its frame and its CPU seconds."""
    started = time.process_time()
    frame = engines.simulate(engine, params, timeline, seed, options)
    return frame, {"cpu_seconds": time.process_time() - started}


@dataclasses.dataclass(frozen=True)
class Ensemble:
    """What an ensemble runs: an engine, its options, parameters and timeline (the seeds vary)."""

    engine: str
    params: object
    timeline: object
    options: dict = dataclasses.field(default_factory=dict)

    @classmethod
    def of(cls, config, timeline=None, **options) -> Ensemble:
        """From a run config (``model.config.RunConfig``); ``timeline`` replaces the config's own."""
        return cls(config.driver, config.params, timeline if timeline is not None else config.timeline(), options)

    def identity(self, seed: int) -> dict:
        return run_identity(self.engine, self.params, self.timeline, seed, self.options)


def plan(ensemble: Ensemble, seeds, folder: Path, overwrite: bool = False) -> list[int]:
    """The seeds still to run; refuses (``EnsembleError``) saved runs made otherwise, unless ``overwrite``."""
    todo, stale = [], []
    for seed in seeds:
        path = run_path(folder, seed)
        if not path.is_file():
            todo.append(seed)
            continue
        change = describe_change(saved_identity(path), ensemble.identity(seed))
        if change:
            stale.append((seed, change))
            todo.append(seed)
    if stale and not overwrite:
        seed, change = stale[0]
        raise EnsembleError(f"{folder} holds {len(stale)} run(s) made otherwise (seed {seed}: {change}); "
                            "pass --overwrite to run them again, or choose another output folder")
    return todo


def run_ensemble(ensemble: Ensemble, seeds, folder: Path, *, executor: Executor | None = None,
                 workers: int | None = None, overwrite: bool = False, progress: bool = True,
                 desc: str = "runs", out: Path | None = None) -> list[pd.DataFrame]:
    """Daily frames for every seed, in seed order: saved runs reused, the others run on ``executor`` (or a
    new one of ``workers`` processes, default every core) and saved into ``folder`` as each finishes, each
    recorded in the manifest of ``out`` (the command's output folder; default ``folder``)."""
    folder = Path(folder)
    seeds = list(seeds)
    todo = plan(ensemble, seeds, folder, overwrite)
    folder.mkdir(parents=True, exist_ok=True)
    clean_stale_files(folder)
    if todo:
        with tqdm(total=len(seeds), initial=len(seeds) - len(todo), unit="run", desc=desc, disable=not progress,
                  file=sys.stderr) as bar:
            def save(seed, result):
                frame, facts = result
                path = run_path(folder, seed)
                save_run(path, frame, ensemble.identity(seed), facts)
                record(out or folder, [path])
                bar.update(1)

            tasks = ((s, simulate, (ensemble.engine, ensemble.params, ensemble.timeline, s, ensemble.options))
                     for s in todo)
            if executor is None:
                with open_executor(workers=min(workers or default_workers(), len(todo))) as own:
                    run_tasks(own, tasks, save)
            else:
                run_tasks(executor, tasks, save)
    return [load_run(run_path(folder, s)) for s in seeds]


def run_into_folder(ensemble: Ensemble, seeds, out: Path, *, workers: int | None = None, scheduler=None,
                    overwrite: bool = False, progress: bool = True, desc: str = "runs") -> tuple[Path, list[pd.DataFrame]]:
    """An ensemble command's whole run: ``out`` locked first (another run writing there is refused before any
    work; inside a command the lock lasts until it ends, for the writes after this), the executor for
    ``workers`` / ``scheduler`` opened (an unreachable cluster is refused before any folder is made), then
    the output folder ``out`` (checked, created, resumable), the runs saved in ``out/runs``; returns the
    folder and the daily frames in seed order."""
    with folder_lock(out), open_executor(workers, scheduler) as executor:
        folder = open_folder(out, overwrite=False)
        frames = run_ensemble(ensemble, seeds, folder / "runs", executor=executor, overwrite=overwrite,
                              progress=progress, desc=desc, out=folder)
    return folder, frames
