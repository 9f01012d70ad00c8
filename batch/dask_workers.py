"""What a Dask worker of this project's own local cluster sets up (imported only with Dask)."""

from __future__ import annotations

from distributed.diagnostics.plugin import WorkerPlugin


class CoreShare(WorkerPlugin):
    """Gives each worker of a ``workers``-process cluster on one machine its share of the cores for the
    compiled day (``batch.executor.share_cores``), in the workers running now and in any that join later."""

    name = "rednote-core-share"

    def __init__(self, workers: int):
        self.workers = workers

    def setup(self, worker) -> None:
        from batch.executor import share_cores

        share_cores(self.workers)
