"""The Mesa driver: the readable reference model, and the one the browser view shows.

Each step is one calendar day:
1. read the ban's status for today and the population's platform shares from yesterday;
2. every user decides from yesterday's states (synchronous update);
3. every user adopts the choice, and habits and installs follow;
4. the day's observables are collected.
"""

from __future__ import annotations

import copy
import functools

import mesa
import numpy as np
import pandas as pd
from mesa.discrete_space import Network

from agents import rules
from agents.user import User
from model.day import read_day
from model.observables import COLUMNS, MigrationLedger, observe_day, ordered_sum, to_frame
from model.params import Params
from model.population import draw_population
from model.timeline import Timeline, load_timeline

_DAILY = (
    *rules.STATE_NAMES, "tiktok_users", "rednote_users", "downloads",
    "tiktok_dau", "rednote_dau", "knows_rednote", "dormant_accounts", "cohort_size", "cohort_rednote_users",
    "buzz", "chart", "migrants", "return_migrants", "creator_migrants", "creator_return_migrants",
)


def _observed(name: str, model: MigrationModel) -> float:
    return model.observed[name]


def mesa_python_seed(generator: np.random.Generator) -> int:
    """The integer Mesa's Model.__init__ draws from a Generator to seed Python's ``random`` (an int32 draw),
    read from a copy: ``generator`` itself is not advanced."""
    return int(copy.deepcopy(generator).integers(np.iinfo(np.int32).max))


class MigrationModel(mesa.Model):
    """US TikTok users on a social graph choosing TikTok, RedNote, both or neither, one day per step."""

    def __init__(self, params: Params | None = None, timeline: Timeline | None = None, rng=None, **overrides):
        # The model's rng is what np.random.default_rng makes of ``rng``, as in the array driver: an integer's
        # stream, or a given Generator itself. Mesa's Model.__init__ would draw one number from a Generator
        # (or from the generator of a SeedSequence) to seed Python's ``random`` before the model draws anything,
        # and the run would start one draw later than the array driver's; Mesa is given that number read from
        # a copy instead, so ``random`` is still seeded from the generator's state and its stream is untouched.
        generator = np.random.default_rng(rng)
        python_seed = rng if isinstance(rng, (int, np.integer)) else mesa_python_seed(generator)
        super().__init__(rng=python_seed)
        self.rng = generator
        self._rng = generator.bit_generator.state   # Mesa's record of the start state (Model.reset_rng)
        self.params = (params or Params()).replace(**overrides) if overrides else (params or Params())
        self.timeline = timeline if timeline is not None else load_timeline()
        self.signals = self.timeline.signals(self.params)

        population = draw_population(self.params, self.rng)
        self.grid = Network(population.graph, random=self.random, layout=None)
        cells = [self.grid._cells[i] for i in range(self.params.n_agents)]
        # Plain Python values per user (same float64 numbers): the agents' scalar arithmetic is then fast.
        self.users = User.create_agents(
            self, self.params.n_agents, cells,
            taste=population.taste.tolist(), defiance=population.defiance.tolist(),
            is_creator=population.is_creator.tolist(), state=population.state.tolist(),
            tiktok_stickiness=population.tiktok_stickiness.tolist(),
            rednote_stickiness=population.rednote_stickiness.tolist(),
            has_tiktok_installed=population.has_tiktok_installed.tolist(),
            ever_on_rednote=population.ever_on_rednote.tolist(),
            familiarity=population.familiarity.tolist(),
            rednote_fit=population.rednote_fit.tolist(), rednote_days=population.rednote_days.tolist(),
        )
        self.users_in_order = sorted(self.users, key=lambda user: user.index)
        self.is_creator = population.is_creator
        self.initial_rednote_users = int(population.ever_on_rednote.sum()) * self.params.people_per_agent
        self.ledger = MigrationLedger(self.params.n_agents)

        self.day_index = 0
        self.expected_first_installs_yesterday = 0.0
        self.today = None
        self.observed: dict[str, float] = {}
        self.datacollector = mesa.DataCollector(
            model_reporters={name: functools.partial(_observed, name) for name in _DAILY}
        )

    @property
    def date(self):
        """The simulated day the next step will play (the last day once the run is over)."""
        return self.signals.dates[min(self.day_index, len(self.signals) - 1)]

    @property
    def running(self) -> bool:
        return self.day_index < len(self.signals)

    @running.setter
    def running(self, value) -> None:  # mesa.Model.__init__ sets it; the calendar decides instead
        pass

    def states(self) -> np.ndarray:
        return np.array([user.state for user in self.users_in_order], dtype=np.int8)

    def step(self) -> None:
        if not self.running:
            return
        yesterday = self.states()
        self.today = read_day(self.signals, self.day_index, yesterday, self.params,
                              self.expected_first_installs_yesterday, self.today)
        # One uniform per user for the choice, drawn in user order: the array driver draws the same ones.
        self.choice_uniforms = rules.draw_choice_uniforms(self.rng, self.params.n_agents).tolist()
        self.users.do("decide")
        expected_first_installs = self.expected_first_installs()
        self.users.do("adopt_choice")
        self.observe(yesterday)
        self.expected_first_installs_yesterday = expected_first_installs   # tomorrow's migration wave
        self.day_index += 1

    def expected_first_installs(self) -> float:
        """Today's first installs of RedNote as the App Store chart counts them: the population the users
        stand for, each user adding its chance (``rules.first_install_chance``), not its draw; summed in
        the engines' one order (``ordered_sum``)."""
        return ordered_sum([u.first_install_chance for u in self.users_in_order])

    def observe(self, yesterday: np.ndarray) -> None:
        users = self.users_in_order
        first_installs = np.array([u.first_install_today for u in users])
        self.observed = observe_day(
            yesterday,
            self.states(),
            first_installs,
            self.is_creator,
            np.array([u.tiktok_stickiness for u in users], dtype=float),
            np.array([u.rednote_stickiness for u in users], dtype=float),
            np.array([u.familiarity for u in users], dtype=float),
            np.array([u.rednote_days for u in users], dtype=np.int16),
            self.today,
            self.params,
            self.ledger,
        )
        self.datacollector.collect(self)

    def run(self, progress=None) -> pd.DataFrame:
        while self.running:
            self.step()
            if progress is not None:
                progress(1)
        return self.results()

    def results(self) -> pd.DataFrame:
        """The daily series so far, as a DataFrame indexed by date (people unless stated)."""
        frame = self.datacollector.get_model_vars_dataframe()
        played = self.signals.dates[: len(frame)]
        if not played:  # before the first step: the columns, no rows
            return pd.DataFrame(columns=list(COLUMNS), index=pd.DatetimeIndex([], name="date"), dtype=float)
        return to_frame(frame.to_dict("records"), played, self.initial_rednote_users, self.signals)
