"""The user agent of the Mesa driver: one US TikTok user on the social graph."""

from __future__ import annotations

import struct

from mesa.discrete_space import FixedAgent

from agents import rules

_SINGLE = struct.Struct("f")


def stored(value: float) -> float:
    """A habit or familiarity as the engines store it: single precision (``model.population.STATE_DTYPES``),
    the rules' arithmetic staying double. Rounded here as the array engine's arrays round it (the same C
    conversion, to nearest), so both drivers carry the same numbers from day to day."""
    return _SINGLE.unpack(_SINGLE.pack(value))[0]


class User(FixedAgent):
    """A US TikTok user who each day chooses TikTok, RedNote, both or neither.

    Decisions are synchronous: every user first decides from yesterday's states (``decide``), then all
    adopt their choices together (``adopt_choice``), so the order in which users act does not matter.
    """

    def __init__(self, model, cell, *, taste, defiance, is_creator, state, tiktok_stickiness,
                 rednote_stickiness, has_tiktok_installed, ever_on_rednote, familiarity, rednote_fit,
                 rednote_days):
        super().__init__(model)
        self.cell = cell
        self.index = cell.coordinate            # this user's node in the graph and row in shared arrays
        self.taste = taste
        self.defiance = defiance
        self.is_creator = is_creator
        self.state = state
        self.on_tiktok = rules.uses_tiktok(state)
        self.on_rednote = rules.uses_rednote(state)
        self.tiktok_stickiness = tiktok_stickiness
        self.rednote_stickiness = rednote_stickiness
        self.has_tiktok_installed = has_tiktok_installed
        self.ever_on_rednote = ever_on_rednote
        self.familiarity = familiarity
        self.rednote_fit = rednote_fit          # own fit with RedNote, learned by trying it
        self.rednote_days = rednote_days        # days since first using RedNote (0: never)
        self.first_install_today = False
        self.first_install_chance = 0.0
        self.friends = None
        self._choice = state

    def look_at_friends(self) -> None:
        if self.friends is None:   # the graph never changes: find the friends once
            self.friends = list(self.cell.neighborhood.agents)
        friends = self.friends
        degree = len(friends)
        self.tiktok_friend_share = rules.friend_share(sum(f.on_tiktok for f in friends), degree)
        self.rednote_friend_share = rules.friend_share(sum(f.on_rednote for f in friends), degree)

    def weigh_options(self, day):
        p = self.model.params
        value_tiktok = rules.tiktok_value(
            self.taste, self.tiktok_friend_share, self.tiktok_stickiness, day.threat, self.is_creator,
            day.tiktok_user_share, p,
        )
        value_rednote = rules.rednote_value(
            self.taste, self.rednote_friend_share, self.rednote_stickiness, self.familiarity, day.threat,
            self.defiance, day.reactance, day.festival, self.is_creator, day.rednote_user_share, self.rednote_fit,
            self.rednote_days, p,
        )
        value_other = rules.other_apps_value(self.taste, day.threat, day.tiktok_gone, p)
        return rules.option_utilities(
            value_tiktok, value_rednote, value_other, self.has_tiktok_installed, self.on_rednote,
            self.ever_on_rednote, day.install_drive, self.is_creator, p,
        )

    def decide(self) -> None:
        """Look at friends and the ban, weigh the options, and pick one (adopted later)."""
        day = self.model.today
        self.look_at_friends()
        utilities = self.weigh_options(day)
        available = rules.available_options(day.tiktok_in_stores, self.has_tiktok_installed,
                                            self.model.params.outside_option)
        weights, total = rules.logit_weights(utilities, available)
        self._choice = rules.choose_by_weights(weights, total, self.model.choice_uniforms[self.index])
        # What the App Store chart reads: the model sums these over all users.
        self.first_install_chance = rules.first_install_chance_by_weights(weights, total, self.ever_on_rednote)

    def adopt_choice(self) -> None:
        """Move to today's choice (as far as TikTok's service allows); habits, familiarity and installs follow."""
        p = self.model.params
        day = self.model.today
        self.state = rules.usage_during_service(self._choice, day.tiktok_service)
        self.on_tiktok = rules.uses_tiktok(self.state)
        self.on_rednote = rules.uses_rednote(self.state)
        self.first_install_today = bool(self.on_rednote and not self.ever_on_rednote)
        self.tiktok_stickiness = stored(rules.update_stickiness(
            self.tiktok_stickiness, self.on_tiktok, self.tiktok_friend_share, p
        ))
        self.rednote_stickiness = stored(rules.update_stickiness(
            self.rednote_stickiness, self.on_rednote, self.rednote_friend_share, p
        ))
        self.familiarity = stored(rules.update_familiarity(
            self.familiarity, self.on_rednote, self.rednote_friend_share, day.buzz, p
        ))
        self.has_tiktok_installed = rules.keeps_tiktok_installed(self._choice)
        self.ever_on_rednote = bool(self.ever_on_rednote or self.on_rednote)
        self.rednote_days = rules.advance_tenure(self.rednote_days, self.ever_on_rednote)
