"""The compiled day (model/compiled_day.py) is the same model: the same rules, draws and sums as the Mesa
driver and the numpy path, whatever the number of threads."""

import datetime as dt

import numba
import numpy as np
import pandas as pd
import pytest

from agents import rules
from model import compiled_day
from model.array_model import ArrayMigrationModel, choose_engine
from model.migration_model import MigrationModel
from model.observables import SUM_CHUNK, ordered_sum
from model.params import Params

COUNT_COLUMNS = [*rules.STATE_NAMES, "downloads", "migrants", "return_migrants", "creator_migrants",
                 "creator_return_migrants", "cohort_size", "cohort_rednote_users"]
# Every mechanism of issue 15 on, at values that make each act (as tests/test_determinism.py).
EVERY_MECHANISM = dict(fit_spread=2.0, creator_fit_shift=-1.0, novelty_activity=0.5, attention_activity=0.3,
                       dormant_return_cost=0.3, install_chart_pull=2.0, install_store_pull=1.0, outside_threat_pull=1.0,
                       news_lag_days=2.0, news_echo=0.5, migration_news_weight=0.6, tiktok_time_split=0.5)


def _same_run(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Identical counts every day, and real-valued columns equal but for the last bits of an exponential
    (numpy's vectorised exp against the C library's, see model/array_model.py)."""
    return a[COUNT_COLUMNS].equals(b[COUNT_COLUMNS]) and np.allclose(
        a.to_numpy(float), b.to_numpy(float), rtol=1e-9, atol=1e-12, equal_nan=True)


@pytest.fixture(scope="module")
def surge_params(small_params):
    # Two full chunks and a part one, over the surge: every tally and the wave are exercised.
    return small_params.replace(n_agents=2 * SUM_CHUNK + 1234, start="2024-12-01", end="2025-03-15")


def test_compiled_engine_is_the_default(surge_params, timeline):
    assert ArrayMigrationModel(surge_params.replace(n_agents=50), timeline, rng=1).engine == "compiled"


@pytest.mark.parametrize("mechanisms", [{}, EVERY_MECHANISM], ids=["defaults", "every-mechanism"])
def test_compiled_and_numpy_paths_give_the_same_run(surge_params, timeline, mechanisms):
    """The compiled day and the numpy path from one seed: the same run (identical counts, real columns
    to 1e-9); and the comparison fails when one parameter is 2% off in one path only."""
    params = surge_params.replace(**mechanisms)
    compiled = ArrayMigrationModel(params, timeline, rng=4, engine="compiled").run()
    numpy_path = ArrayMigrationModel(params, timeline, rng=4, engine="numpy").run()
    assert compiled["migrants"].sum() > 0
    assert _same_run(compiled, numpy_path)
    for name in ("network_pull", "stickiness_decay",
                 *(["fit_spread", "novelty_activity", "migration_news_weight", "tiktok_time_split"] if mechanisms else [])):
        off = params.replace(**{name: getattr(params, name) * 1.02})
        assert not _same_run(compiled, ArrayMigrationModel(off, timeline, rng=4, engine="numpy").run()), name


def test_compiled_engine_and_mesa_driver_identical(timeline, small_params):
    params = small_params.replace(n_agents=SUM_CHUNK + 300, start="2025-01-05", end="2025-02-10")
    mesa_frame = MigrationModel(params, timeline, rng=21).run()
    array_frame = ArrayMigrationModel(params, timeline, rng=21, engine="compiled").run()
    pd.testing.assert_frame_equal(mesa_frame, array_frame, check_exact=True)
    assert mesa_frame["migrants"].sum() > 0


class _OtherPCG64(np.random.PCG64):
    """numpy's PCG64 under another name: the compiled day draws its uniforms outside the loop."""


def test_uniforms_drawn_in_the_loop_give_the_run_of_numpys_draw(surge_params, timeline, monkeypatch):
    """With numpy's PCG64 the loop draws the day's uniforms itself, chunk by chunk on every thread; any
    other generator's are drawn by numpy (``fill_choice_uniforms``): the same numbers, the same run."""
    monkeypatch.setattr(compiled_day, "USERS_PER_THREAD", 1000)
    threads = compiled_day.max_threads()
    in_loop = ArrayMigrationModel(surge_params, timeline, rng=np.random.Generator(np.random.PCG64(5)), threads=threads)
    by_numpy = ArrayMigrationModel(surge_params, timeline, rng=np.random.Generator(_OtherPCG64(5)), threads=threads)
    pd.testing.assert_frame_equal(in_loop.run(), by_numpy.run(), check_exact=True)
    assert compiled_day.pcg64_stream(in_loop.rng.bit_generator) == compiled_day.pcg64_stream(by_numpy.rng.bit_generator)


@pytest.mark.parametrize("bit_generator", [np.random.PCG64DXSM, np.random.MT19937])
def test_other_generators_give_the_numpy_paths_run(surge_params, timeline, bit_generator):
    def run(engine):
        return ArrayMigrationModel(surge_params, timeline, rng=np.random.Generator(bit_generator(8)), engine=engine).run()

    compiled = run("compiled")
    assert compiled["migrants"].sum() > 0 and _same_run(compiled, run("numpy"))


@pytest.mark.skipif(compiled_day.max_threads() < 2, reason="one core: nothing to compare")
def test_threads_do_not_change_the_run(surge_params, timeline, monkeypatch):
    monkeypatch.setattr(compiled_day, "USERS_PER_THREAD", 1000)   # this small population on every thread
    params = surge_params.replace(**EVERY_MECHANISM)
    models = [ArrayMigrationModel(params, timeline, rng=9, threads=t) for t in (1, compiled_day.max_threads())]
    assert [m._compiled.threads for m in models] == [1, compiled_day.max_threads()]
    pd.testing.assert_frame_equal(*(m.run() for m in models), check_exact=True)


@pytest.mark.parametrize("switching", [0.002, 0.1, 0.9])
@pytest.mark.parametrize("recount_share", [0.0, 0.25, 1.0])
def test_friends_counts_after_a_day_are_the_counts_afresh(monkeypatch, switching, recount_share):
    # Moved switcher by switcher (recount_share 1), counted afresh (0), or the engine's choice between the two:
    # the counts are those of the new states, counted from scratch.
    monkeypatch.setattr(compiled_day, "RECOUNT_SHARE", recount_share)
    model = ArrayMigrationModel(Params(n_agents=5003), rng=4, engine="compiled")
    friends = model.friends
    rng = np.random.default_rng(int(switching * 1000) + 7)
    previous = rng.integers(0, rules.N_OPTIONS, model.state.size).astype(model.state.dtype)
    state = np.where(rng.random(previous.size) < switching,
                     rng.integers(0, rules.N_OPTIONS, previous.size).astype(previous.dtype), previous)

    def afresh(states):   # the graph's matrix product: not the recount under test
        return [np.asarray(friends @ on(states).astype(np.int32), dtype=np.int32)
                for on in (rules.uses_tiktok, rules.uses_rednote)]

    tiktok_friends, rednote_friends = afresh(previous)
    switched = compiled_day.move_friend_counts(previous, state, friends.indptr, friends.indices, tiktok_friends,
                                               rednote_friends)
    assert switched == np.count_nonzero(previous != state)
    expected = afresh(state)
    assert np.array_equal(tiktok_friends, expected[0]) and np.array_equal(rednote_friends, expected[1])


@numba.njit
def _pcg64_draws(stream, skip, out):
    state, increment = compiled_day._pcg64_advance((stream[0], stream[1]), (stream[2], stream[3]), skip), (stream[2], stream[3])
    for k in range(out.size):
        state = compiled_day._pcg64_step(state, increment)
        out[k] = compiled_day._pcg64_uniform(state)
    return state


@pytest.mark.parametrize("seed", [0, 21, 2024, 2**63 + 5])
def test_the_loops_pcg64_draws_numpys_numbers(seed):
    """The compiled loop's PCG64 (a chunk's uniforms from the stream advanced to its first user) gives
    numpy's numbers, and ends in numpy's state, for skips small and large."""
    for skip, size in ((0, 1000), (1, 5), (SUM_CHUNK - 1, 300), (SUM_CHUNK * 41, 7), (2**40 + 3, 4)):
        rng = np.random.default_rng(seed)
        stream = np.array(compiled_day.pcg64_stream(rng.bit_generator), dtype=np.uint64)
        drawn = np.empty(size)
        end = _pcg64_draws(stream, np.uint64(skip), drawn)
        rng.bit_generator.advance(skip)
        assert np.array_equal(drawn, rng.random(size)), skip
        assert compiled_day.pcg64_stream(rng.bit_generator)[:2] == tuple(end), skip


def _state(rng: np.random.Generator) -> str:
    return repr(rng.bit_generator.state)


@pytest.mark.parametrize("bit_generator", [np.random.PCG64, np.random.PCG64DXSM, np.random.MT19937])
@pytest.mark.parametrize("n_users", [1, 7, 1000, 4097])
def test_uniforms_filled_by_threads_are_the_one_stream(monkeypatch, bit_generator, n_users):
    """The day's uniforms drawn in pieces by several threads are the numbers, and leave the generator in
    the state, of the rule's one draw, for any number of pieces (MT19937 cannot be advanced: drawn whole)."""
    monkeypatch.setattr(compiled_day, "USERS_PER_DRAW_PIECE", 1)
    for threads in (1, 2, 3, 7):
        one, pieces = (np.random.Generator(bit_generator(2024)) for _ in range(2))
        for rng in (one, pieces):
            rng.integers(0, 5, dtype=np.int32)   # half of a 64-bit draw kept for the next 32-bit one
        expected = rules.draw_choice_uniforms(one, n_users)
        drawn = compiled_day.fill_choice_uniforms(pieces, np.full(n_users, np.nan), threads)
        assert np.array_equal(drawn, expected) and _state(pieces) == _state(one)
        # The draws after it (the kept half included) are the same too.
        assert pieces.integers(0, 2**31, 5, dtype=np.int32).tolist() == one.integers(0, 2**31, 5, dtype=np.int32).tolist()
        assert np.array_equal(pieces.random(3), one.random(3))


def test_uniforms_are_filled_by_threads_only_for_enough_users(monkeypatch):
    threads_asked = []
    original = compiled_day._drawing_threads
    monkeypatch.setattr(compiled_day, "_drawing_threads", lambda n: threads_asked.append(n) or original(n))
    piece = compiled_day.USERS_PER_DRAW_PIECE
    compiled_day.fill_choice_uniforms(np.random.default_rng(1), np.empty(2 * piece - 1), 4)
    assert threads_asked == []
    compiled_day.fill_choice_uniforms(np.random.default_rng(1), np.empty(2 * piece), 4)
    compiled_day.fill_choice_uniforms(np.random.default_rng(1), np.empty(9 * piece), 4)
    assert threads_asked == [2, 4]


def test_a_forked_child_fills_uniforms_by_threads_too(monkeypatch):
    """The drawing threads do not survive a fork: the child must start its own, not wait for the parent's."""
    import os

    monkeypatch.setattr(compiled_day, "USERS_PER_DRAW_PIECE", 1)
    expected = compiled_day.fill_choice_uniforms(np.random.default_rng(3), np.empty(100), 2)
    pid = os.fork()
    if pid == 0:
        try:
            again = compiled_day.fill_choice_uniforms(np.random.default_rng(3), np.empty(100), 2)
            os._exit(0 if np.array_equal(again, expected) else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_a_small_population_runs_on_fewer_threads(small_params, timeline):
    model = ArrayMigrationModel(small_params, timeline, rng=1, threads=compiled_day.max_threads())
    assert model._compiled.threads == 1 and model.threads == compiled_day.max_threads()


def test_the_compiled_choice_draws_the_logit_probabilities():
    """The one-user form numba compiles (the helpers' overloads) chooses as the numpy path does, draw for
    draw, so it has the logit frequencies that tests/test_rules.py checks."""
    @numba.njit
    def choose_all(utilities, uniforms, available):
        chosen = np.empty(uniforms.size, dtype=np.int64)
        chance = np.empty(uniforms.size)
        u = (utilities[0], utilities[1], utilities[2], utilities[3], utilities[4])
        a = (available[0], available[1], available[2], available[3], available[4])
        for i in range(uniforms.size):
            chosen[i] = rules.choose_option(u, uniforms[i], a)
            chance[i] = rules.first_install_chance(u, a, False)
        return chosen, chance

    uniforms = rules.draw_choice_uniforms(np.random.default_rng(8), 100_000)
    assert rules.N_OPTIONS == 5, "the one-user tuples below hold one value per option"
    for utilities, available in (([1.0, -0.5, 2.0, 0.0, 0.4], [True] * 5),
                                 ([0.3, 1.1, -2.0, 0.0, 0.4], [False, True, False, True, False])):
        utilities, available = np.array(utilities), np.array(available)
        compiled, chance = choose_all(utilities, uniforms, available)
        vectorised = rules.choose_option(np.broadcast_to(utilities, (uniforms.size, 5)), uniforms, available)
        assert np.array_equal(compiled, vectorised)
        expected = rules.first_install_chance(utilities[None, :], available, np.array([False]))[0]
        assert chance[0] == pytest.approx(expected, rel=1e-15)


def test_ordered_sum_is_the_chunk_order():
    values = np.random.default_rng(1).random(3 * SUM_CHUNK + 17) * 1e3
    chunks = [values[i:i + SUM_CHUNK] for i in range(0, values.size, SUM_CHUNK)]
    expected = 0.0
    for chunk in chunks:
        partial = 0.0
        for value in chunk.tolist():
            partial += value
        expected += partial
    assert ordered_sum(values) == expected
    assert ordered_sum(np.array([])) == 0.0


@pytest.mark.parametrize("threads", [0, -1, 1.5, True, 10_000])
def test_bad_thread_counts_refused(small_params, timeline, threads):
    with pytest.raises(ValueError, match="threads"):
        ArrayMigrationModel(small_params, timeline, rng=1, threads=threads)


def test_unknown_engine_refused(small_params, timeline):
    with pytest.raises(ValueError, match="unknown engine 'gpu'"):
        ArrayMigrationModel(small_params, timeline, rng=1, engine="gpu")


def test_without_numba_the_engine_says_so_and_runs_numpy(monkeypatch, small_params, timeline):
    monkeypatch.setattr(compiled_day, "numba", None)
    monkeypatch.setattr(compiled_day, "UNAVAILABLE", "numba cannot be imported (test)")
    with pytest.warns(RuntimeWarning, match="numba cannot be imported .* numpy path"):
        assert choose_engine("auto") == "numpy"
    with pytest.raises(RuntimeError, match="needs numba"):
        choose_engine("compiled")
    with pytest.warns(RuntimeWarning):
        model = ArrayMigrationModel(small_params.replace(n_agents=300, end="2025-01-31"), timeline, rng=2)
    assert model.engine == "numpy"
    assert len(model.run()) == model.params.n_days


@pytest.mark.parametrize("argv", [["--threads", "0"], ["--threads", "-1"], ["--threads", "100000"],
                                  ["--threads", "1", "--driver", "mesa"]])
def test_run_command_refuses_bad_thread_counts_before_any_work(tmp_path, capsys, argv):
    from experiments import run as run_cli

    out = tmp_path / "out"
    try:
        code = run_cli.main(["--agents", "120", *argv, "--out", str(out), "--quiet"])
    except SystemExit as stop:   # argparse's own refusal
        code = stop.code
    assert code == 2
    assert "--threads" in capsys.readouterr().err and not out.exists()


def test_run_command_threads_do_not_change_the_run(tmp_path):
    from experiments import run as run_cli

    common = ["--agents", "300", "--seed", "2", "--quiet"]
    assert run_cli.main([*common, "--threads", "1", "--out", str(tmp_path / "one")]) == 0
    assert run_cli.main([*common, "--out", str(tmp_path / "all")]) == 0
    assert (tmp_path / "one" / "daily.csv").read_text() == (tmp_path / "all" / "daily.csv").read_text()


@pytest.mark.skipif(not compiled_day.available(), reason=compiled_day.UNAVAILABLE)
def test_a_process_that_ran_the_compiled_day_can_fork_a_worker_that_runs_it_too():
    """pyABC's local samplers fork their workers from a process that may have run the compiled day (the
    recovery check simulates its data first): the forked worker must run it too, not be killed."""
    import os

    params = Params(n_agents=3_000, end=dt.date(2024, 12, 20))
    before = ArrayMigrationModel(params, rng=1, engine="compiled").run()
    pid = os.fork()
    if pid == 0:                                      # the child: run it again, exit 0 only if identical
        try:
            again = ArrayMigrationModel(params, rng=1, engine="compiled", threads=1).run()
            os._exit(0 if again.equals(before) else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


@pytest.mark.skipif(not compiled_day.available(), reason=compiled_day.UNAVAILABLE)
def test_threads_of_one_process_can_run_compiled_days_at_once():
    """A threaded Dask worker runs several models at once in one process: they must take turns in the
    compiled loop (numba's workqueue pool aborts the process when two threads enter it), with the results
    of runs made one after the other."""
    from concurrent.futures import ThreadPoolExecutor

    params = Params(n_agents=70_000, end=dt.date(2024, 12, 15))

    def run(seed):
        return ArrayMigrationModel(params, rng=seed, engine="compiled", threads=2).run()

    alone = [run(seed) for seed in (1, 2)]
    with ThreadPoolExecutor(2) as pool:
        together = list(pool.map(run, (1, 2)))
    assert all(a.equals(b) for a, b in zip(alone, together, strict=True))
