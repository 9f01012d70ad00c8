"""The array driver: the whole population as numpy arrays, each day a handful of array operations.

It calls the same rule functions as the Mesa agents (``agents.rules``) and draws the same random numbers
in the same order, so from one seed both drivers give identical runs; this one is orders of magnitude
faster and is what experiments, sweeps and calibration use by default.

Why it is fast and lean at millions of users:
- users are processed in blocks of ``block_size``: every rule call then works on arrays that stay in
  the CPU cache, and no temporary is ever population-sized (a million users need a few hundred MB);
- the number of friends on each platform is kept up to date from the users who switched that day
  (a few percent), instead of a pass over every friendship every day;
- the taste shocks are drawn block by block from one stream: the same numbers, in the same order, as
  the Mesa driver's one draw for the whole population.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from agents import rules
from model.day import day_from_counts
from model.observables import MigrationLedger, observe_day, to_frame
from model.params import Params
from model.population import draw_population
from model.timeline import Timeline, load_timeline

BLOCK_SIZE = 1 << 14   # users per block: a block's float64 arrays (128 KB each) fit in the L2 cache


class ArrayMigrationModel:
    """The migration model on numpy arrays.

    ``graph`` chooses how the friendship graph is built: ``"auto"`` (networkx up to
    ``model.population.FAST_GRAPH_ABOVE`` users, the vectorised generator above), ``"networkx"``,
    ``"vectorised"``, or a ready scipy.sparse friendship matrix.
    """

    def __init__(self, params: Params | None = None, timeline: Timeline | None = None, rng=None, *,
                 graph="auto", block_size: int = BLOCK_SIZE, **overrides):
        self.params = (params or Params()).replace(**overrides) if overrides else (params or Params())
        self.timeline = timeline if timeline is not None else load_timeline()
        self.signals = self.timeline.signals(self.params)
        self.rng = np.random.default_rng(rng)
        if not (isinstance(block_size, int) and block_size > 0):
            raise ValueError(f"block_size must be a positive integer, got {block_size!r}")
        self.block_size = block_size

        population = draw_population(self.params, self.rng, graph=graph)
        self.friends = population.friends
        self.degree = population.degree
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
        # Friends on each platform, as counts and as shares of all one's friends: both change only for
        # the friends of users who switch, so they are kept up to date rather than recomputed daily.
        self.tiktok_friends = self._count_friends(rules.uses_tiktok(self.state))
        self.rednote_friends = self._count_friends(rules.uses_rednote(self.state))
        self.tiktok_friend_share = rules.friend_share(self.tiktok_friends, self.degree)
        self.rednote_friend_share = rules.friend_share(self.rednote_friends, self.degree)
        self._next_state = np.empty_like(self.state)
        self._first_installs = np.zeros(self.state.size, dtype=bool)
        # Kept for the whole population and summed once a day, not per block: the Mesa driver sums the same
        # array in one go, and a sum of block sums would differ in the last bits (the drivers are identical).
        self._first_install_chance = np.zeros(self.state.size)
        self.expected_first_installs_yesterday = 0.0
        self.yesterday = None   # the day before's Day: its buzz and chart carry over

        self.day_index = 0
        self.records: list[dict] = []

    @property
    def running(self) -> bool:
        return self.day_index < len(self.signals)

    def step(self) -> None:
        p = self.params
        day = day_from_counts(self.signals, self.day_index, self.state_counts, p,
                              self.expected_first_installs_yesterday, self.yesterday)
        n = self.state.size
        counts = np.zeros(rules.N_OPTIONS, dtype=np.int64)
        switchers = []
        for start in range(0, n, self.block_size):
            block = slice(start, min(start + self.block_size, n))
            shocks = rules.draw_taste_shocks(self.rng, block.stop - block.start)
            self._decide_and_adopt(block, day, shocks, p)
            switchers.append(np.flatnonzero(self.state[block] != self._next_state[block]) + start)
            counts += np.bincount(self._next_state[block], minlength=rules.N_OPTIONS)
        switchers = np.concatenate(switchers)

        previous, self.state, self._next_state = self.state, self._next_state, self.state
        self.state_counts = counts
        for counts_on, share_on, uses_platform in (
            (self.tiktok_friends, self.tiktok_friend_share, rules.uses_tiktok),
            (self.rednote_friends, self.rednote_friend_share, rules.uses_rednote),
        ):
            was_on, now_on = uses_platform(previous[switchers]), uses_platform(self.state[switchers])
            self._update_friends(counts_on, share_on, switchers[was_on & ~now_on], switchers[now_on & ~was_on],
                                 uses_platform)
        self.expected_first_installs_yesterday = float(self._first_install_chance.sum())
        self.records.append(
            observe_day(previous, self.state, self._first_installs, self.is_creator, self.tiktok_stickiness,
                        self.rednote_stickiness, self.familiarity, self.rednote_days, day, p, self.ledger,
                        switchers=switchers)
        )
        self.yesterday = day
        self.day_index += 1

    def _decide_and_adopt(self, block: slice, day, shocks: np.ndarray, p: Params):
        """One block of users decides from yesterday's states and adopts its choices (synchronous: the
        friend counts the block reads are updated only after every block has decided)."""
        was_on_rednote = rules.uses_rednote(self.state[block])
        tiktok_friends = self.tiktok_friend_share[block]
        rednote_friends = self.rednote_friend_share[block]
        taste, is_creator = self.taste[block], self.is_creator[block]
        installed = self.has_tiktok_installed[block]
        ever = self.ever_on_rednote[block]
        days_on = self.rednote_days[block]

        value_tiktok = rules.tiktok_value(
            taste, tiktok_friends, self.tiktok_stickiness[block], day.threat, is_creator, day.tiktok_user_share, p,
        )
        value_rednote = rules.rednote_value(
            taste, rednote_friends, self.rednote_stickiness[block], self.familiarity[block], day.threat,
            self.defiance[block], day.reactance, day.festival, is_creator, day.rednote_user_share,
            # float32 kept, float64 used: the Mesa agent's Python floats hold the same values.
            self.rednote_fit[block].astype(np.float64), days_on, p,
        )
        value_other = rules.other_apps_value(taste, day.threat, day.tiktok_gone, p)
        utilities = rules.option_utilities(value_tiktok, value_rednote, value_other, installed, was_on_rednote, ever,
                                           day.install_drive, is_creator, p)
        available = rules.available_options(day.tiktok_in_stores, installed, p.outside_option)
        choice = rules.choose_option(utilities, shocks, available).astype(np.int8)
        self._first_install_chance[block] = rules.first_install_chance(utilities, available, ever)
        state = self._next_state[block]
        state[...] = rules.usage_during_service(choice, day.tiktok_service)

        now_on_tiktok = rules.uses_tiktok(state)
        now_on_rednote = rules.uses_rednote(state)
        self._first_installs[block] = now_on_rednote & ~ever
        self.tiktok_stickiness[block] = rules.update_stickiness(
            self.tiktok_stickiness[block], now_on_tiktok, tiktok_friends, p
        )
        self.rednote_stickiness[block] = rules.update_stickiness(
            self.rednote_stickiness[block], now_on_rednote, rednote_friends, p
        )
        self.familiarity[block] = rules.update_familiarity(
            self.familiarity[block], now_on_rednote, rednote_friends, day.buzz, p
        )
        installed[...] = rules.keeps_tiktok_installed(choice)
        ever |= now_on_rednote
        days_on[...] = rules.advance_tenure(days_on, ever)

    def _count_friends(self, on_platform: np.ndarray) -> np.ndarray:
        """Each user's number of friends on a platform (int32: exact, and what the Mesa agent counts)."""
        return self.friends @ on_platform.astype(np.int32)

    def _update_friends(self, counts, shares, left: np.ndarray, joined: np.ndarray, uses_platform) -> None:
        """Move each switcher's friends' counts by one and redo their shares; on a day when many switch,
        recount everyone outright."""
        indptr, indices = self.friends.indptr, self.friends.indices
        touched = int((indptr[left + 1] - indptr[left]).sum() + (indptr[joined + 1] - indptr[joined]).sum())
        if touched > indices.size // 4:
            counts[...] = self._count_friends(uses_platform(self.state))
            shares[...] = rules.friend_share(counts, self.degree)
            return
        for users, change in ((left, -1), (joined, 1)):
            if users.size:
                friends = indices[_neighbour_positions(indptr, users)]
                np.add.at(counts, friends, change)
                shares[friends] = rules.friend_share(counts[friends], self.degree[friends])

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
