"""A batch executor's workers share the machine's cores: each worker's compiled day runs on
max(1, cores // workers) threads unless a model is given its threads explicitly."""

import pytest

from batch.executor import DaskExecutor, LocalExecutor, map_tasks
from model import compiled_day
from model.array_model import ArrayMigrationModel
from model.params import Params


def _threads_in_worker(explicit):
    """What a worker's models run on: the default thread count, and a model's with ``explicit`` threads."""
    model = ArrayMigrationModel(Params(n_agents=60), rng=1, threads=explicit)
    return compiled_day.check_threads(None), model.threads


def _expected_share(workers: int) -> int:
    return max(1, compiled_day.max_threads() // workers)


def test_local_workers_run_on_their_share_of_the_cores():
    pool = LocalExecutor(2)
    try:
        seen = map_tasks(pool, _threads_in_worker, [None, compiled_day.max_threads()])
    finally:
        pool.shutdown()
    share = _expected_share(2)
    assert seen == [(share, share), (share, compiled_day.max_threads())]
    # This process (no executor) keeps every core.
    assert compiled_day.check_threads(None) == compiled_day.max_threads()


def test_dask_local_cluster_workers_run_on_their_share_of_the_cores():
    pytest.importorskip("distributed")
    executor = DaskExecutor("local", workers=2)
    try:
        seen = map_tasks(executor, _threads_in_worker, [None, None])
    finally:
        executor.shutdown()
    assert seen == [(_expected_share(2), _expected_share(2))] * 2


def test_share_of_the_cores_refuses_a_bad_worker_count():
    for workers in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="workers must be a whole number"):
            compiled_day.share_cores(workers)


def test_pyabc_workers_run_on_their_share_of_the_cores_and_the_driver_keeps_all(tmp_path):
    # pyABC forks its own workers (inference.sampler): the model function sets the share in each of them.
    import os

    from inference.simulate import ObservationModel
    from model.config import RunConfig

    def share_seen_in_a_fork(workers):
        model = ObservationModel(RunConfig(), None, None, (), driver_pid=os.getpid(), workers=workers)
        read, write = os.pipe()
        child = os.fork()
        if child == 0:   # a worker: the model's first call sets its share, then reports it
            model.simulate = lambda sampled, seed: {}
            model({})
            os.write(write, str(compiled_day.check_threads(None)).encode())
            os._exit(0)
        os.close(write)
        os.waitpid(child, 0)
        return int(os.read(read, 16))

    assert share_seen_in_a_fork(2) == _expected_share(2)
    assert compiled_day.check_threads(None) == compiled_day.max_threads(), "the driver keeps every core"
