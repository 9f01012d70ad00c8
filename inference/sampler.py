"""Where the simulations run: the one place that turns ``--workers`` and ``--scheduler`` into executors.

``sampler_for`` gives the pyABC sampler for the ABC-SMC generations and ``map_for`` the map for the
posterior predictive runs. At merge with the batch layer (issue 14) these two functions are the seam to
connect to its executor interface: nothing else in ``inference`` starts a process or a Dask client.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator


def sampler_for(workers: int = 1, scheduler: str | None = None):
    """A pyABC sampler: one process (``SingleCoreSampler``: reproducible from a seed) when ``workers`` is 1
    and no scheduler; ``workers`` local processes (``MulticoreEvalParallelSampler``, which evaluates the
    distance where it simulates); or a Dask cluster (``DaskDistributedSampler``): ``scheduler="local"``
    starts a LocalCluster of ``workers`` single-threaded worker processes, any other value is a scheduler
    address (``tcp://host:8786``). Close it with ``close_sampler``."""
    import pyabc

    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if scheduler is None:
        if workers == 1:
            return pyabc.sampler.SingleCoreSampler()
        return pyabc.sampler.MulticoreEvalParallelSampler(n_procs=workers)
    from dask.distributed import Client, LocalCluster

    cluster = None
    if scheduler == "local":
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    else:
        try:
            client = Client(scheduler, timeout="10s")
        except OSError as err:
            raise ValueError(f"cannot reach the Dask scheduler {scheduler!r}: {err}") from err
    sampler = pyabc.sampler.DaskDistributedSampler(dask_client=client, batch_size=1)
    sampler._own_cluster = cluster
    return sampler


def close_sampler(sampler) -> None:
    """Close a sampler's Dask client (and the LocalCluster it started); nothing for the others."""
    client = getattr(sampler, "client", None)
    if client is not None:
        client.close()
    cluster = getattr(sampler, "_own_cluster", None)
    if cluster is not None:
        cluster.close()


@contextlib.contextmanager
def map_for(workers: int = 1, scheduler: str | None = None) -> Iterator[Callable[[Callable, Iterable], list]]:
    """A map for independent runs (the posterior predictive): in this process, on ``workers`` local
    processes, or on a Dask cluster (as ``sampler_for``). Results come back in the order of the items."""
    if scheduler is not None:
        sampler = sampler_for(workers, scheduler)
        try:
            yield lambda fn, items: sampler.client.gather(sampler.client.map(fn, list(items), pure=False))
        finally:
            close_sampler(sampler)
    elif workers > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers) as pool:
            yield lambda fn, items: list(pool.map(fn, items))
    else:
        yield lambda fn, items: [fn(item) for item in items]
