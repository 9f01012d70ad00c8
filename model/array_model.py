"""The array driver: the whole population as arrays, each day one compiled loop over every user.

It calls the same rule functions as the Mesa agents (``agents.rules``) and draws the same random numbers
in the same order, so from one seed both drivers give identical runs; this one is orders of magnitude
faster and is what experiments, sweeps and calibration use by default.

Two engines run its day:
- ``compiled`` (the default when numba is installed): the fused day of ``model/compiled_day.py``, every
  user's decision, updates and tallies in one compiled loop over ``threads`` cores (all by default); the
  results do not depend on the number of threads;
- ``numpy``: the same rules as a chain of array operations over blocks of users (no compiler needed). It
  gives the same run but for the last bit of some exponentials (numpy's vectorised ``exp`` against the
  C library's), which can make its daily series differ from the compiled engine's in the last digits.

Why it is fast and lean at millions of users:
- the number of friends on each platform is kept up to date from the users who switched that day
  (a few percent), instead of a pass over every friendship every day;
- the choice's uniforms are drawn block by block from one stream (the compiled engine's inside its loop,
  each chunk of users from the stream advanced to its first, on its thread): the same numbers, in the
  same order, as the Mesa driver's one draw for the whole population;
- state is stored in the narrowest types that keep the results (``model.population.STATE_DTYPES``) and
  the graph as int32 CSR; the compiled engine keeps no per-user temporaries at all;
- the numpy path works on blocks of ``block_size`` users, whose arrays stay in the CPU cache.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from agents import rules
from model import compiled_day
from model.day import day_from_counts
from model.observables import MigrationLedger, observe_day, ordered_sum, to_frame
from model.params import Params
from model.population import draw_population
from model.timeline import Timeline, load_timeline

BLOCK_SIZE = 1 << 14   # users per block of the numpy path: a block's float64 arrays fit in the L2 cache
ENGINES = ("auto", "compiled", "numpy")


def choose_engine(engine: str) -> str:
    """The engine that runs: ``auto`` is the compiled day when numba is there, else (saying so) numpy."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose one of {ENGINES}")
    if engine == "numpy":
        return engine
    if compiled_day.available():
        return "compiled"
    if engine == "compiled":
        raise RuntimeError(f"engine 'compiled' needs numba: {compiled_day.UNAVAILABLE}")
    warnings.warn(f"{compiled_day.UNAVAILABLE}: the array engine runs its numpy path (several times slower)",
                  RuntimeWarning, stacklevel=3)
    return "numpy"


def _wide(values: np.ndarray) -> np.ndarray:
    """Stored single-precision state as double, for the rules' arithmetic (as the Mesa agent's floats)."""
    return values.astype(np.float64)


class ArrayMigrationModel:
    """The migration model on arrays.

    ``graph`` chooses how the friendship graph is built: ``"auto"`` (networkx up to
    ``model.population.FAST_GRAPH_ABOVE`` users, the vectorised generator above), ``"networkx"``,
    ``"vectorised"``, or a ready scipy.sparse friendship matrix. ``engine`` is one of ``ENGINES``
    (``auto``: compiled when numba is installed). ``threads``: cores the compiled engine uses (None: all,
    or in a batch worker its share of them, ``compiled_day.share_cores``; at least 1; it does not change the
    results). ``block_size``: users per block of the numpy path.
    Errors: ValueError for a bad engine, thread count or block size, before anything is built.
    """

    def __init__(self, params: Params | None = None, timeline: Timeline | None = None, rng=None, *,
                 graph="auto", block_size: int = BLOCK_SIZE, engine: str = "auto", threads: int | None = None,
                 **overrides):
        self.params = (params or Params()).replace(**overrides) if overrides else (params or Params())
        if not (isinstance(block_size, int) and block_size > 0):
            raise ValueError(f"block_size must be a positive integer, got {block_size!r}")
        self.block_size = block_size
        self.threads = compiled_day.check_threads(threads)
        self.engine = choose_engine(engine)
        self.timeline = timeline if timeline is not None else load_timeline()
        self.signals = self.timeline.signals(self.params)
        self.rng = np.random.default_rng(rng)

        population = draw_population(self.params, self.rng, graph=graph)
        self.friends = population.friends
        self._degree = population.degree
        self.is_creator = population.is_creator
        self.taste = population.taste
        self.defiance = population.defiance
        self.state = population.state
        self.tiktok_stickiness = population.tiktok_stickiness
        self.rednote_stickiness = population.rednote_stickiness
        self.has_tiktok_installed = population.has_tiktok_installed
        self.ever_on_rednote = population.ever_on_rednote
        self.familiarity = population.familiarity
        self.rednote_fit = population.rednote_fit
        self.rednote_days = population.rednote_days
        self.initial_rednote_users = int(self.ever_on_rednote.sum()) * self.params.people_per_agent
        self.ledger = MigrationLedger(self.params.n_agents)
        del population

        self.state_counts = np.bincount(self.state, minlength=rules.N_OPTIONS)
        # Friends on each platform: they change only for the friends of users who switch, so they are
        # kept up to date rather than recomputed daily.
        self.tiktok_friends, self.rednote_friends = self._count_friends()
        self.next_state = np.empty_like(self.state)
        self.expected_first_installs_yesterday = 0.0
        self.yesterday = None   # the day before's Day: its buzz and chart carry over
        if self.engine == "compiled":
            self._compiled = compiled_day.CompiledDay(self, self.threads)
            self._degree = None   # the compiled day reads degrees from the graph: no population-sized copy
        else:
            # The numpy path also keeps the shares of friends (as the rule computes them), today's first
            # installs and every user's first-install chance, summed once a day in the engines' one order.
            self.tiktok_friend_share = rules.friend_share(self.tiktok_friends, self._degree)
            self.rednote_friend_share = rules.friend_share(self.rednote_friends, self._degree)
            self._first_installs = np.zeros(self.state.size, dtype=bool)
            self._first_install_chance = np.zeros(self.state.size)

        self.day_index = 0
        self.records: list[dict] = []

    @property
    def degree(self) -> np.ndarray:
        """Each user's number of friends (int32, shape (n_agents,))."""
        return self._degree if self._degree is not None else np.diff(self.friends.indptr)

    @property
    def running(self) -> bool:
        return self.day_index < len(self.signals)

    def step(self) -> None:
        day = day_from_counts(self.signals, self.day_index, self.state_counts, self.params,
                              self.expected_first_installs_yesterday, self.yesterday)
        if self.engine == "compiled":
            record, self.state_counts, self.expected_first_installs_yesterday = self._compiled.step(self, day)
            self.state, self.next_state = self.next_state, self.state
        else:
            record = self._numpy_step(day)
        self.records.append(record)
        self.yesterday = day
        self.day_index += 1

    def _numpy_step(self, day) -> dict[str, float]:
        p = self.params
        n = self.state.size
        counts = np.zeros(rules.N_OPTIONS, dtype=np.int64)
        switchers = []
        for start in range(0, n, self.block_size):
            block = slice(start, min(start + self.block_size, n))
            uniforms = rules.draw_choice_uniforms(self.rng, block.stop - block.start)
            self._decide_and_adopt(block, day, uniforms, p)
            switchers.append(np.flatnonzero(self.state[block] != self.next_state[block]) + start)
            counts += np.bincount(self.next_state[block], minlength=rules.N_OPTIONS)
        switchers = np.concatenate(switchers)

        previous, self.state, self.next_state = self.state, self.next_state, self.state
        self.state_counts = counts
        for counts_on, share_on, uses_platform in (
            (self.tiktok_friends, self.tiktok_friend_share, rules.uses_tiktok),
            (self.rednote_friends, self.rednote_friend_share, rules.uses_rednote),
        ):
            was_on, now_on = uses_platform(previous[switchers]), uses_platform(self.state[switchers])
            self._update_friends(counts_on, share_on, switchers[was_on & ~now_on], switchers[now_on & ~was_on],
                                 uses_platform)
        self.expected_first_installs_yesterday = ordered_sum(self._first_install_chance)
        return observe_day(previous, self.state, self._first_installs, self.is_creator, self.tiktok_stickiness,
                           self.rednote_stickiness, self.familiarity, self.rednote_days, day, p, self.ledger,
                           switchers=switchers)

    def _decide_and_adopt(self, block: slice, day, uniforms: np.ndarray, p: Params):
        """One block of users decides from yesterday's states and adopts its choices (synchronous: the
        friend counts the block reads are updated only after every block has decided)."""
        was_on_rednote = rules.uses_rednote(self.state[block])
        tiktok_friends = self.tiktok_friend_share[block]
        rednote_friends = self.rednote_friend_share[block]
        taste, is_creator = _wide(self.taste[block]), self.is_creator[block]
        installed = self.has_tiktok_installed[block]
        ever = self.ever_on_rednote[block]
        days_on = self.rednote_days[block]
        tiktok_stickiness, rednote_stickiness = _wide(self.tiktok_stickiness[block]), _wide(self.rednote_stickiness[block])
        familiarity = _wide(self.familiarity[block])

        value_tiktok = rules.tiktok_value(
            taste, tiktok_friends, tiktok_stickiness, day.threat, is_creator, day.tiktok_user_share, p,
        )
        value_rednote = rules.rednote_value(
            taste, rednote_friends, rednote_stickiness, familiarity, day.threat,
            _wide(self.defiance[block]), day.reactance, day.festival, is_creator, day.rednote_user_share,
            _wide(self.rednote_fit[block]), days_on, p,
        )
        value_other = rules.other_apps_value(taste, day.threat, day.tiktok_gone, p)
        utilities = rules.option_utilities(value_tiktok, value_rednote, value_other, installed, was_on_rednote, ever,
                                           day.install_drive, is_creator, p)
        available = rules.available_options(day.tiktok_in_stores, installed, p.outside_option)
        weights, weight_total = rules.logit_weights(utilities, available)
        choice = rules.choose_by_weights(weights, weight_total, uniforms)
        self._first_install_chance[block] = rules.first_install_chance_by_weights(weights, weight_total, ever)
        state = self.next_state[block]
        state[...] = rules.usage_during_service(choice, day.tiktok_service)

        now_on_tiktok = rules.uses_tiktok(state)
        now_on_rednote = rules.uses_rednote(state)
        self._first_installs[block] = now_on_rednote & ~ever
        # Stored in single precision (the assignment rounds, as the Mesa agent's ``stored`` does).
        self.tiktok_stickiness[block] = rules.update_stickiness(tiktok_stickiness, now_on_tiktok, tiktok_friends, p)
        self.rednote_stickiness[block] = rules.update_stickiness(rednote_stickiness, now_on_rednote, rednote_friends, p)
        self.familiarity[block] = rules.update_familiarity(
            familiarity, now_on_rednote, rednote_friends, day.buzz, p
        )
        installed[...] = rules.keeps_tiktok_installed(choice)
        ever |= now_on_rednote
        days_on[...] = rules.advance_tenure(days_on, ever)

    def _count_friends(self) -> tuple[np.ndarray, np.ndarray]:
        """Each user's number of friends on TikTok and on RedNote (int32: exact, and what the Mesa agent
        counts), counted afresh: the compiled day's recount on its threads, or the graph's matrix product."""
        if self.engine == "compiled":
            tiktok_friends, rednote_friends = (np.empty(self.state.size, dtype=np.int32) for _ in range(2))
            with compiled_day.PARALLEL_REGION:
                compiled_day.recount_friends(self.friends.indptr, self.friends.indices, self.state, tiktok_friends,
                                             rednote_friends)
            return tiktok_friends, rednote_friends
        return self._friends_on(rules.uses_tiktok(self.state)), self._friends_on(rules.uses_rednote(self.state))

    def _friends_on(self, on_platform: np.ndarray) -> np.ndarray:
        return np.asarray(self.friends @ on_platform.astype(np.int32), dtype=np.int32)

    def _update_friends(self, counts, shares, left: np.ndarray, joined: np.ndarray, uses_platform) -> None:
        """Move each switcher's friends' counts by one and redo their shares; on a day when many switch,
        recount everyone outright."""
        indptr, indices = self.friends.indptr, self.friends.indices
        touched = int((indptr[left + 1] - indptr[left]).sum() + (indptr[joined + 1] - indptr[joined]).sum())
        if touched > compiled_day.RECOUNT_SHARE * indices.size:
            counts[...] = self._friends_on(uses_platform(self.state))
            shares[...] = rules.friend_share(counts, self._degree)
            return
        for users, change in ((left, -1), (joined, 1)):
            if users.size:
                friends = indices[_neighbour_positions(indptr, users)]
                np.add.at(counts, friends, change)
                shares[friends] = rules.friend_share(counts[friends], self._degree[friends])

    def run(self, progress=None) -> pd.DataFrame:
        while self.running:
            self.step()
            if progress is not None:
                progress(1)
        return self.results()

    def results(self) -> pd.DataFrame:
        return to_frame(self.records, self.signals.dates, self.initial_rednote_users, self.signals)


def _neighbour_positions(indptr: np.ndarray, users: np.ndarray) -> np.ndarray:
    """Positions in a CSR ``indices`` array of the rows of ``users``, concatenated."""
    starts = indptr[users].astype(np.int64)
    lengths = indptr[users + 1] - starts
    offsets = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    return offsets + np.arange(offsets.size, dtype=np.int64)
