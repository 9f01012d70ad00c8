"""The migration model reduced to Bass diffusion, for verifying the drivers against known equations.

No ban, no defiance, no habits, no tastes: each day every non-adopter adopts with the Bass rule's
probability p + q x (share of adopters among its friends), and adopters stay. On a complete graph a
user's friends are everyone else, so the share it sees is (adopters - itself) / (N - 1). As N grows the
share of adopters F follows the mean-field daily recursion

    F(t + 1) = F(t) + (p + q F(t)) (1 - F(t)),

which for small p and q is the Bass equation dF/dt = (p + q F)(1 - F), with the closed form

    F(t) = (1 - exp(-(p + q) t)) / (1 + (q / p) exp(-(p + q) t)).

The reduced model steps like the array driver (whole-population arrays, one uniform draw per user per
day) and calls the shared rules (``friend_share``, ``bass_adoption_probability``).
"""

from __future__ import annotations

import numpy as np

from agents import rules


def bass_recursion(innovation: float, imitation: float, n_days: int) -> np.ndarray:
    """Adopter share after days 0..n_days of the mean-field daily recursion (index 0: F = 0)."""
    share = np.zeros(n_days + 1)
    for t in range(n_days):
        share[t + 1] = share[t] + rules.bass_adoption_probability(innovation, imitation, share[t]) * (1.0 - share[t])
    return share


def bass_closed_form(innovation: float, imitation: float, t) -> np.ndarray:
    """The continuous-time Bass adopter share at times t (days), starting from F(0) = 0."""
    decay = np.exp(-(innovation + imitation) * np.asarray(t, dtype=float))
    return (1.0 - decay) / (1.0 + (imitation / innovation) * decay)


class BassCompleteGraphModel:
    """N users on a complete graph adopting by the Bass rule; one step is one day."""

    def __init__(self, n_agents: int, innovation: float, imitation: float, rng=None):
        if n_agents < 2:
            raise ValueError(f"a complete graph needs at least 2 users, got n_agents = {n_agents}")
        for name, value in (("innovation", innovation), ("imitation", imitation)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"Bass {name} probability must be in [0, 1], got {value}")
        self.n_agents, self.innovation, self.imitation = n_agents, innovation, imitation
        self.rng = np.random.default_rng(rng)
        self.adopted = np.zeros(n_agents, dtype=bool)
        # Everyone is everyone's friend: the degree is N - 1 and a user's friends are all but itself.
        self.degree = np.full(n_agents, n_agents - 1)

    def step(self) -> None:
        adopters_among_friends = np.count_nonzero(self.adopted) - self.adopted
        seen = rules.friend_share(adopters_among_friends, self.degree)
        chance = rules.bass_adoption_probability(self.innovation, self.imitation, seen)
        self.adopted = self.adopted | (self.rng.random(self.n_agents) < chance)

    def run(self, n_days: int) -> np.ndarray:
        """Adopter share after days 0..n_days (index 0 is the start)."""
        share = np.empty(n_days + 1)
        share[0] = self.adopted.mean()
        for t in range(n_days):
            self.step()
            share[t + 1] = self.adopted.mean()
        return share
