"""One executor interface for every ensemble, sweep and calibration: this process, local worker processes or
a Dask cluster, and one loop that runs tasks on it and stops cleanly.

    with open_executor(workers=2) as executor:              # or scheduler="tcp://host:8786"
        run_tasks(executor, tasks, on_result)

``run_tasks`` keeps a bounded window of tasks in flight (results reach the caller, who saves them, as they
finish) and on Ctrl-C (or any error) cancels the queued tasks, and ``open_executor`` kills the local
workers: the command stops within a second or two, keeps every finished result, and leaves no process
behind. ``Executor.dask_client()`` and ``Executor.slots`` let other libraries (pyABC's samplers) use the
same workers.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import itertools
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

from batch.errors import InputError

# How long a Dask cluster may have no worker before the command gives up (seconds).
DASK_WORKER_WAIT = float(os.environ.get("REDNOTE_DASK_WORKER_WAIT", "60"))


class ExecutorError(InputError):
    """An executor that cannot be used as asked (a bad worker count, an unreachable scheduler)."""


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)))


def check_workers(workers) -> int | None:
    if workers is None:
        return None
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ExecutorError(f"--workers must be a whole number of at least 1, got {workers!r}")
    return workers


class Executor:
    """``submit(fn, *args) -> Future``; ``slots``: tasks that run at once; ``shutdown(cancel)``."""

    slots: int = 1

    def submit(self, fn: Callable, *args) -> cf.Future:
        raise NotImplementedError

    def shutdown(self, cancel: bool = False) -> None:
        pass

    def dask_client(self):
        """The ``distributed.Client`` behind this executor, or None when it is not a Dask one."""
        return None


class InProcessExecutor(Executor):
    """Runs each task at once in this process (one worker: no process to start, Ctrl-C stops it at once)."""

    slots = 1

    def submit(self, fn, *args):
        future: cf.Future = cf.Future()
        try:
            future.set_result(fn(*args))
        except Exception as err:  # noqa: BLE001 - handed to the caller through the future, as a pool would
            future.set_exception(err)
        return future


def share_cores(workers: int) -> None:
    """In a worker process: the compiled day's default thread count becomes this worker's share of the
    machine's cores (``model.compiled_day.share_cores``), so ``workers`` processes running models at once do
    not each start a thread per core. A model given threads explicitly keeps them."""
    from model import compiled_day

    compiled_day.share_cores(workers)


def _start_worker(lifeline, workers: int) -> None:
    # Ctrl-C is the parent's to handle: it cancels the queue and ends the workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    share_cores(workers)
    # A parent killed outright (kill -9, SIGTERM, the OOM killer) cannot end its workers, and a pool's
    # workers never notice on their own: they finish the run in hand and then wait for work forever (and
    # keep the forkserver and resource tracker alive). The lifeline's other end lives only in the parent,
    # so its end of file means the parent is gone, whatever killed it.
    threading.Thread(target=_exit_with_parent, args=(lifeline,), name="parent-lifeline", daemon=True).start()


def _exit_with_parent(lifeline) -> None:
    with contextlib.suppress(EOFError, OSError):
        while True:
            lifeline.recv_bytes()
    os._exit(1)


class LocalExecutor(Executor):
    """Worker processes on this machine (forkserver: the parent holds threads, so no fork). The workers end
    with this process however it ends (``_start_worker``)."""

    def __init__(self, workers: int, preload: tuple[str, ...] = ("model.array_model", "model.targets")):
        self.slots = workers
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(list(preload))   # imported once, so each worker starts warm
        self._lifeline, self._lifeline_end = context.Pipe(duplex=False)   # (workers' end, this process's end)
        self.pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_start_worker,
                                           initargs=(self._lifeline, workers))

    def submit(self, fn, *args):
        return self.pool.submit(fn, *args)

    def shutdown(self, cancel: bool = False) -> None:
        if not cancel:
            self.pool.shutdown(wait=True)
            self._close_lifeline()
            return
        processes = list((getattr(self.pool, "_processes", None) or {}).values())
        self.pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            with contextlib.suppress(Exception):
                process.kill()
        for process in processes:
            with contextlib.suppress(Exception):
                process.join(timeout=5)
        self._close_lifeline()

    def _close_lifeline(self) -> None:
        for end in (self._lifeline, self._lifeline_end):
            with contextlib.suppress(OSError):
                end.close()


# The scheduler "address" that starts a Dask LocalCluster of ``workers`` processes for the command's duration.
LOCAL_CLUSTER = "local"


class DaskExecutor(Executor):
    """A Dask cluster through ``distributed``: a scheduler address (connected and closed here), ``"local"``
    (a LocalCluster started and closed here) or a Client."""

    def __init__(self, scheduler, workers: int | None = None, wait: float | None = None):
        from distributed import Client

        self.owned = isinstance(scheduler, str)
        self.cluster = None
        if scheduler == LOCAL_CLUSTER:
            # A Dask cluster on this machine: single-threaded worker processes (the model holds the GIL).
            from distributed import LocalCluster

            from batch.dask_workers import CoreShare

            n_workers = workers or default_workers()
            self.cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1,
                                        processes=True, dashboard_address=None)
            self.client = Client(self.cluster, set_as_default=False)
            # Each worker's compiled day on its share of the cores (workers that join later too). A remote
            # cluster's workers keep numba's default, every core of their machine (NUMBA_NUM_THREADS in a
            # worker's environment sets it): how many workers share a machine is known only there.
            self.client.register_plugin(CoreShare(n_workers))
        elif self.owned:
            try:
                self.client = Client(scheduler, timeout="5s", set_as_default=False)
            except (OSError, TimeoutError, ValueError) as err:
                raise ExecutorError(f"cannot reach the Dask scheduler at {scheduler}: {err}") from err
        else:
            self.client = scheduler
        if not self.client.nthreads():
            wait = DASK_WORKER_WAIT if wait is None else wait
            print(f"waiting up to {wait:.0f} s for a worker to join the Dask scheduler at "
                  f"{self.client.scheduler.address} (none is connected)", file=sys.stderr, flush=True)
            try:
                self.client.wait_for_workers(1, timeout=wait)
            except (TimeoutError, OSError) as err:
                self.shutdown()
                raise ExecutorError(f"no worker joined the Dask scheduler at {self.client.scheduler.address} "
                                    f"within {wait:.0f} s; start one (dask worker ADDRESS) and run again") from err
        self.slots = workers or sum(self.client.nthreads().values()) or 1
        # pure=False: tasks with equal arguments are still separate runs, never merged into one.
        self.executor = self.client.get_executor(pure=False)

    def submit(self, fn, *args):
        return self.executor.submit(fn, *args)

    def shutdown(self, cancel: bool = False) -> None:
        if self.owned:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def dask_client(self):
        return self.client


@contextlib.contextmanager
def open_executor(workers: int | None = None, scheduler=None):
    """The executor for ``--workers`` / ``--scheduler``: in this process for one worker, else worker
    processes (default: every core), or the Dask cluster at ``scheduler`` (an address or a Client).
    On leaving by an error or Ctrl-C, queued tasks are cancelled and local workers killed."""
    workers = check_workers(workers)
    if scheduler is not None:
        executor: Executor = DaskExecutor(scheduler, workers)
    elif (workers or default_workers()) == 1:
        executor = InProcessExecutor()
    else:
        executor = LocalExecutor(workers or default_workers())
    try:
        yield executor
    except BaseException:
        executor.shutdown(cancel=True)
        raise
    executor.shutdown()


def run_tasks(executor: Executor, tasks: Iterable[tuple[Any, Callable, tuple]],
              on_result: Callable[[Any, Any], None], window: int | None = None) -> None:
    """Run ``(key, fn, args)`` tasks on ``executor``; ``on_result(key, value)`` in this process as each
    finishes (in finishing order). At most ``window`` tasks are in flight (default twice the slots).
    On Ctrl-C or an error, tasks not started are cancelled and the exception propagates."""
    queue = iter(tasks)
    window = window or 2 * executor.slots
    pending: dict[cf.Future, Any] = {}

    def submit_more():
        for key, fn, args in itertools.islice(queue, max(0, window - len(pending))):
            pending[executor.submit(fn, *args)] = key

    try:
        submit_more()
        while pending:
            done, _ = cf.wait(list(pending), return_when=cf.FIRST_COMPLETED)
            for future in done:
                key = pending.pop(future)
                on_result(key, future.result())
            submit_more()
    except BaseException:
        for future in pending:
            future.cancel()
        raise


def map_tasks(executor: Executor, fn: Callable, items: list) -> list:
    """``[fn(item) for item in items]`` on the executor, in order."""
    results: dict[int, Any] = {}
    run_tasks(executor, ((i, fn, (item,)) for i, item in enumerate(items)), results.__setitem__,
              window=max(len(items), 1))
    return [results[i] for i in range(len(items))]
