"""Where the simulations run: the batch layer's executors (``batch.executor``), seen from pyABC.

``sampler_for`` gives the pyABC sampler for the ABC-SMC generations and ``map_for`` the map for the
posterior predictive runs. Both read ``--workers`` and ``--scheduler`` as every other command does: one
worker runs in this process, more are local processes, a scheduler is a Dask cluster (``"local"`` starts a
LocalCluster, anything else is an address such as ``tcp://host:8786``), through the batch layer's
``DaskExecutor`` and ``open_executor``; nothing else in ``inference`` starts a process or a Dask client.

pyABC drives its own local processes (``MulticoreEvalParallelSampler`` evaluates the distance where it
simulates and stops its workers itself), so local generations use it with the batch layer's worker count.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator

from batch.executor import DaskExecutor, check_workers, map_tasks, open_executor


def sampler_for(workers: int = 1, scheduler: str | None = None):
    """A pyABC sampler: one process (``SingleCoreSampler``: reproducible from a seed) when ``workers`` is 1
    and no scheduler; ``workers`` local processes (``MulticoreEvalParallelSampler``); or a Dask cluster
    (``DaskDistributedSampler`` on the batch layer's ``DaskExecutor``). Close it with ``close_sampler``.

    Raises ``batch.executor.ExecutorError`` (an input error) for a worker count under 1 or an unreachable
    scheduler."""
    import pyabc

    workers = check_workers(workers)
    if scheduler is None:
        if workers in (None, 1):
            return pyabc.sampler.SingleCoreSampler()
        return pyabc.sampler.MulticoreEvalParallelSampler(n_procs=workers)
    executor = DaskExecutor(scheduler, workers)
    sampler = pyabc.sampler.DaskDistributedSampler(dask_client=executor.dask_client(), batch_size=1)
    sampler._batch_executor = executor
    return sampler


def close_sampler(sampler) -> None:
    """Close a sampler's Dask executor (its client, and the LocalCluster it started); nothing for the others."""
    executor = getattr(sampler, "_batch_executor", None)
    if executor is not None:
        executor.shutdown()


@contextlib.contextmanager
def map_for(workers: int = 1, scheduler: str | None = None) -> Iterator[Callable[[Callable, Iterable], list]]:
    """A map for independent runs (the posterior predictive) on the batch layer's executor: in this
    process, on ``workers`` local processes, or on a Dask cluster. Results come back in the order of the
    items; Ctrl-C cancels what is queued and ends the workers (``batch.executor.open_executor``)."""
    with open_executor(workers, scheduler) as executor:
        yield lambda fn, items: map_tasks(executor, fn, list(items))
