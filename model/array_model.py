"""The array driver: the whole population as numpy arrays, each day a handful of array operations.

It calls the same rule functions as the Mesa agents (``agents.rules``) and draws the same random numbers
in the same order, so from one seed both drivers give identical runs; this one is orders of magnitude
faster and is what experiments, sweeps and calibration use by default.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from agents import rules
from model.day import read_day
from model.observables import observe_day, to_frame
from model.params import Params
from model.population import adjacency, draw_population
from model.timeline import Timeline, load_timeline


class ArrayMigrationModel:
    def __init__(self, params: Params | None = None, timeline: Timeline | None = None, rng=None, **overrides):
        self.params = (params or Params()).replace(**overrides) if overrides else (params or Params())
        self.timeline = timeline if timeline is not None else load_timeline()
        self.signals = self.timeline.signals(self.params)
        self.rng = np.random.default_rng(rng)

        population = draw_population(self.params, self.rng)
        self.friends = adjacency(population.graph)
        self.degree = population.degree
        self.is_creator = population.is_creator
        self.taste = population.taste
        self.defiance = population.defiance
        self.state = population.state
        self.tiktok_stickiness = population.tiktok_stickiness
        self.rednote_stickiness = population.rednote_stickiness
        self.has_tiktok_installed = population.has_tiktok_installed
        self.ever_on_rednote = population.ever_on_rednote
        self.initial_rednote_users = int(self.ever_on_rednote.sum()) * self.params.people_per_agent

        self.day_index = 0
        self.records: list[dict] = []

    @property
    def running(self) -> bool:
        return self.day_index < len(self.signals)

    def step(self) -> None:
        p = self.params
        day = read_day(self.signals, self.day_index, self.state)
        on_tiktok = rules.uses_tiktok(self.state)
        on_rednote = rules.uses_rednote(self.state)
        tiktok_friends = rules.friend_share(self.friends @ on_tiktok.astype(np.int32), self.degree)
        rednote_friends = rules.friend_share(self.friends @ on_rednote.astype(np.int32), self.degree)
        taste_shock = rules.draw_taste_shocks(self.rng, self.state.size)

        value_tiktok = rules.tiktok_value(
            self.taste, tiktok_friends, self.tiktok_stickiness, day.threat, self.is_creator,
            day.tiktok_user_share, p,
        )
        value_rednote = rules.rednote_value(
            self.taste, rednote_friends, self.rednote_stickiness, day.threat, self.defiance, day.reactance, day.festival,
            self.is_creator, day.rednote_user_share, p,
        )
        utilities = rules.option_utilities(
            value_tiktok, value_rednote, self.has_tiktok_installed, on_rednote, self.is_creator, p
        )
        available = rules.available_options(day.tiktok_in_stores, self.has_tiktok_installed)
        choice = rules.choose_option(utilities, taste_shock, available).astype(np.int8)
        state = rules.usage_during_service(choice, day.tiktok_service)

        now_on_tiktok = rules.uses_tiktok(state)
        now_on_rednote = rules.uses_rednote(state)
        first_installs = now_on_rednote & ~self.ever_on_rednote
        self.tiktok_stickiness = rules.update_stickiness(self.tiktok_stickiness, now_on_tiktok, tiktok_friends, p)
        self.rednote_stickiness = rules.update_stickiness(self.rednote_stickiness, now_on_rednote, rednote_friends, p)
        self.has_tiktok_installed = rules.keeps_tiktok_installed(choice)
        self.ever_on_rednote = self.ever_on_rednote | now_on_rednote

        previous, self.state = self.state, state
        self.records.append(
            observe_day(previous, state, first_installs, self.is_creator, self.tiktok_stickiness,
                        self.rednote_stickiness, p)
        )
        self.day_index += 1

    def run(self, progress=None) -> pd.DataFrame:
        while self.running:
            self.step()
            if progress is not None:
                progress(1)
        return self.results()

    def results(self) -> pd.DataFrame:
        return to_frame(self.records, self.signals.dates, self.initial_rednote_users, self.signals)
