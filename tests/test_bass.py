"""Verification against a known equation: the model reduced to Bass diffusion.

(a) The reduced ABM on a complete graph follows the Bass daily recursion, with an error that shrinks as
the population grows (mean squared error ~ 1/N: binomial noise of N independent daily draws).
(b) The twin's machinery, reduced the same way, follows the Bass closed form to integration tolerance.
"""

import numpy as np
import pytest

from agents import rules
from model.bass import BassCompleteGraphModel, bass_closed_form, bass_recursion
from model.system_dynamics import bass_twin

P, Q, DAYS = 0.01, 0.1, 80
SIZES = (100, 400, 1600, 6400)
SEEDS = range(40)


@pytest.fixture(scope="module")
def squared_errors():
    """Mean squared error against the recursion, over days and seeds, at each population size."""
    recursion = bass_recursion(P, Q, DAYS)
    out = {}
    for n in SIZES:
        runs = np.array([BassCompleteGraphModel(n, P, Q, rng=seed).run(DAYS) for seed in SEEDS])
        out[n] = ((runs - recursion) ** 2).mean()
    return out


def test_bass_rule_is_p_plus_q_share():
    assert rules.bass_adoption_probability(0.01, 0.1, 0.0) == pytest.approx(0.01)
    assert rules.bass_adoption_probability(0.01, 0.1, 0.5) == pytest.approx(0.06)
    assert rules.bass_adoption_probability(0.5, 0.9, 1.0) == 1.0   # a probability, whatever p + q


def test_recursion_tends_to_closed_form_as_p_and_q_shrink():
    """The daily recursion is the Euler scheme of the Bass equation: its gap, at equal (p + q) t, falls
    in proportion to the step in units of 1 / (p + q)."""
    gaps = []
    for scale in (1.0, 0.1):
        p, q, days = P * scale, Q * scale, int(DAYS / scale)
        gaps.append(np.abs(bass_recursion(p, q, days) - bass_closed_form(p, q, np.arange(days + 1))).max())
    assert gaps[1] < gaps[0] / 5


def test_complete_graph_sees_everyone_but_oneself():
    model = BassCompleteGraphModel(50, 0.0, 0.0, rng=0)
    model.adopted[:10] = True
    seen = rules.friend_share(np.count_nonzero(model.adopted) - model.adopted, model.degree)
    assert seen[0] == pytest.approx(9 / 49) and seen[-1] == pytest.approx(10 / 49)


def test_abm_follows_recursion_and_error_shrinks_as_one_over_n(squared_errors):
    errors = [squared_errors[n] for n in SIZES]
    assert all(later < earlier for earlier, later in zip(errors, errors[1:], strict=False))
    slope = np.polyfit(np.log(SIZES), np.log(errors), 1)[0]
    assert -1.3 < slope < -0.7, f"mean squared error ~ N^{slope:.2f}, theory N^-1"
    # At the largest size a run stays close to the equation: RMS error about 0.007 measured, 1/sqrt(N) theory.
    assert np.sqrt(squared_errors[SIZES[-1]]) < 0.02


def test_abm_ensemble_mean_near_recursion():
    """Averaged over seeds, the noise cancels: the ensemble mean hugs the recursion far closer than one run."""
    recursion = bass_recursion(P, Q, DAYS)
    runs = np.array([BassCompleteGraphModel(1600, P, Q, rng=seed).run(DAYS) for seed in SEEDS])
    assert np.abs(runs.mean(axis=0) - recursion).max() < 0.01
    assert runs[:, -1].min() > 0.9   # everyone adopts eventually: the run covers the whole S curve


def test_twin_matches_closed_form_to_integration_tolerance():
    t = np.arange(DAYS + 1)
    exact = bass_closed_form(P, Q, t)
    assert np.abs(bass_twin(P, Q, DAYS, rtol=1e-10, atol=1e-12) - exact).max() < 1e-8
    # The daily recursion is not what the twin integrates: the twin is far closer to the closed form.
    assert np.abs(bass_recursion(P, Q, DAYS) - exact).max() > 1e-3


def test_bad_bass_input():
    with pytest.raises(ValueError, match="at least 2"):
        BassCompleteGraphModel(1, P, Q)
    with pytest.raises(ValueError, match="imitation"):
        BassCompleteGraphModel(100, P, 1.5)
