"""The logit's weights (agents.rules.logit_weights): exp(U) relative to utility 0, with the weights relative to
the largest utility where exp(U) would overflow or vanish; the same probabilities as exp(U - max U), the
same numbers for one user, for a population and in the compiled day."""

import math

import numba
import numpy as np
import pytest

from agents import rules
from model import compiled_day  # noqa: F401 - registers the rules' one-user forms with numba


def _utilities_and_availability(seed: int, n: int = 20_000):
    """Random utilities over the parameters' reach and beyond (up to +-900: the guard's side of the range),
    with random availability (at least one option available per user), and a column of exact zeros
    ('neither')."""
    rng = np.random.default_rng(seed)
    scale = rng.choice([1.0, 30.0, 300.0, 900.0], size=(n, 1))
    utilities = rng.uniform(-1.0, 1.0, (n, rules.N_OPTIONS)) * scale
    utilities[:, rules.NEITHER] = np.where(rng.random(n) < 0.8, 0.0, utilities[:, rules.NEITHER])
    available = rng.random((n, rules.N_OPTIONS)) < 0.7
    available[~available.any(axis=1), rules.NEITHER] = True
    return utilities, available


def _reference_probabilities(utilities, available):
    """exp(U - max U) / sum over the available options, written out independently of the rules."""
    shifted = np.where(available, utilities, -np.inf)
    shifted = shifted - shifted.max(axis=1, keepdims=True)
    weights = np.exp(shifted)
    return weights / weights.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("seed", [1, 2])
def test_weights_give_the_logit_probabilities(seed):
    utilities, available = _utilities_and_availability(seed)
    expected = _reference_probabilities(utilities, available)
    # Probabilities below 1e-100 may differ (an exp(U) in the subnormal range, or 0): no draw can tell,
    # the uniforms' resolution being 2^-53, and no sum of chances either.
    close = {"rtol": 1e-12, "atol": 1e-100}
    weights, total = rules.logit_weights(utilities, available)
    assert np.all(np.isfinite(weights)) and np.all(np.isfinite(total)) and np.all(total > 0)
    assert np.allclose(weights / total[:, None], expected, **close)
    for i in range(0, len(utilities), 97):   # one user at a time (the Mesa agent's form)
        one, one_total = rules.logit_weights(tuple(utilities[i]), tuple(available[i]))
        assert np.allclose(np.array(one) / one_total, expected[i], **close)
        assert one_total == pytest.approx(total[i], rel=1e-14)


def test_weights_are_exp_of_the_utility_inside_the_range_and_shifted_outside():
    inside = (2.0, -1.0, 0.5, 0.0, -3.0)
    weights, total = rules.logit_weights(inside, (True,) * rules.N_OPTIONS)
    assert weights == [math.exp(u) for u in inside] and weights[rules.NEITHER] == 1.0
    # An available utility of 800 overflows exp(U): the weights are then relative to it (it weighs 1).
    overflowing = (800.0, 799.0, -5.0, 0.0, 1.0)
    weights, total = rules.logit_weights(overflowing, (True,) * rules.N_OPTIONS)
    assert weights[0] == 1.0 and weights[1] == pytest.approx(math.exp(-1.0)) and math.isfinite(total)
    # Every available option all but impossible (no 'neither'): relative to the largest, not 0 / 0.
    vanishing = (-900.0, -901.0, -2000.0, 0.0, -950.0)
    weights, total = rules.logit_weights(vanishing, (True, True, True, False, True))
    assert weights[0] == 1.0 and total == pytest.approx(1.0 + math.exp(-1.0) + math.exp(-50.0))
    assert rules.choose_option(vanishing, 0.99, (True, True, True, False, True)) == 1


def test_the_compiled_weights_are_the_one_user_weights_bit_for_bit():
    """The compiled day and the Mesa agent compute the same weights from the same utilities (both the C
    library's exp, the same sums), inside the range and on the guard's side of it."""
    @numba.njit
    def compiled_weights(utilities, available):
        weights = np.empty(utilities.shape)
        totals = np.empty(utilities.shape[0])
        for i in range(utilities.shape[0]):
            u, a = utilities[i], available[i]
            w, totals[i] = rules.logit_weights((u[0], u[1], u[2], u[3], u[4]), (a[0], a[1], a[2], a[3], a[4]))
            for k in range(5):
                weights[i, k] = w[k]
        return weights, totals

    assert rules.N_OPTIONS == 5, "the one-user tuples above hold one value per option"
    utilities, available = _utilities_and_availability(3, 5_000)
    weights, totals = compiled_weights(utilities, available)
    for i in range(len(utilities)):
        one, one_total = rules.logit_weights(tuple(utilities[i].tolist()), tuple(available[i].tolist()))
        assert weights[i].tolist() == list(one) and totals[i] == one_total, i
    top = np.where(available, utilities, -np.inf).max(axis=1)
    assert np.sum(top > 470) > 100 and np.sum(top < -470) > 5, "the guard's sides of the range are exercised"
