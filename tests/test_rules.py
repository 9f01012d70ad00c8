"""The decision rules on their own: one user (scalars, as the Mesa agent calls them) and a population
(arrays, as the array driver calls them) get the same numbers, and each rule says what its name says."""

import numpy as np
import pytest
from scipy import stats

from agents import rules
from model.params import Params

P = Params(unfamiliarity_cost=4.0, word_of_mouth=0.8, wave_coverage=0.3, creator_rednote_bonus=0.5)


@pytest.fixture(scope="module")
def users():
    rng = np.random.default_rng(5)
    n = 500
    return {
        "taste": rng.random(n),
        "share": rng.random(n),
        "stickiness": rng.random(n),
        "familiarity": rng.random(n),
        "defiance": rng.random(n),
        "is_creator": rng.random(n) < 0.2,
        "on": rng.random(n) < 0.5,
        "installed": rng.random(n) < 0.7,
    }


def _scalar(value):
    return value.item() if isinstance(value, np.generic) else value


def test_rednote_value_same_for_one_user_and_for_all(users):
    u = users
    args = (0.4, 0.7, True, 0.03)   # threat, reactance, festival, RedNote's user share
    whole = rules.rednote_value(u["taste"], u["share"], u["stickiness"], u["familiarity"], args[0], u["defiance"],
                                args[1], args[2], u["is_creator"], args[3], P)
    one_by_one = [
        rules.rednote_value(*(_scalar(u[k][i]) for k in ("taste", "share", "stickiness", "familiarity")), args[0],
                            _scalar(u["defiance"][i]), args[1], args[2], bool(u["is_creator"][i]), args[3], P)
        for i in range(u["taste"].size)
    ]
    assert np.array_equal(whole, np.array(one_by_one))


def test_familiarity_update_same_for_one_user_and_for_all(users):
    u = users
    whole = rules.update_familiarity(u["familiarity"], u["on"], u["share"], 2.5, 0.7, P)
    one_by_one = [rules.update_familiarity(_scalar(u["familiarity"][i]), bool(u["on"][i]), _scalar(u["share"][i]),
                                           2.5, 0.7, P) for i in range(u["on"].size)]
    assert np.array_equal(whole, np.array(one_by_one, dtype=float))


def test_unfamiliar_users_value_rednote_less_by_the_cost():
    args = dict(taste=0.5, rednote_friend_share=0.1, rednote_stickiness=0.0, threat=0.2, defiance=0.3,
                reactance=0.2, festival=False, is_creator=False, rednote_user_share=0.01, p=P)
    known = rules.rednote_value(familiarity=1.0, **args)
    unknown = rules.rednote_value(familiarity=0.0, **args)
    half = rules.rednote_value(familiarity=0.5, **args)
    assert known - unknown == pytest.approx(P.unfamiliarity_cost)
    assert half == pytest.approx((known + unknown) / 2)


def test_familiarity_grows_from_friends_and_the_wave_and_is_full_on_rednote():
    f = 0.1
    alone = rules.update_familiarity(f, False, 0.0, 0.0, 1.0, P)
    with_friends = rules.update_familiarity(f, False, 0.5, 0.0, 1.0, P)
    with_wave = rules.update_familiarity(f, False, 0.0, 1.0, 1.0, P)
    assert alone == f, "no friends on RedNote and no wave: nothing to learn from"
    assert with_friends == pytest.approx(f + P.word_of_mouth * 0.5 * (1 - f))
    assert with_wave == pytest.approx(f + P.wave_coverage * 1.0 / (1.0 + P.wave_news_threshold ** 2) * (1 - f))
    assert rules.update_familiarity(f, False, 0.5, 1.0, 0.0, P) == with_friends, "no news: only friends teach"
    assert rules.update_familiarity(f, True, 0.0, 0.0, 0.0, P) == 1.0
    # Learning is a share of the gap, capped at all of it: familiarity never passes 1.
    assert rules.update_familiarity(f, False, 1.0, 100.0, 1.0, P) == 1.0
    grid = rules.update_familiarity(np.linspace(0, 1, 11), np.zeros(11, bool), np.ones(11), 50.0, 1.0, P)
    assert np.all((grid >= 0) & (grid <= 1))


def _choice_frequencies_match(chosen, probabilities, draws):
    counts = np.bincount(chosen, minlength=rules.N_OPTIONS)
    expected = probabilities * draws
    assert np.all(counts[expected == 0] == 0), "an unavailable option was chosen"
    return stats.chisquare(counts[expected > 0], expected[expected > 0]).pvalue


@pytest.mark.parametrize("utilities,available", [
    ((1.0, -0.5, 2.0, 0.0), (True, True, True, True)),
    ((1.0, -0.5, 2.0, 0.0), (False, True, False, True)),
    ((-9.0, -14.0, -12.5, 0.0), (True, True, True, True)),   # a TikTok user facing a switching cost
])
def test_the_choice_draws_the_logit_probabilities(utilities, available):
    """One uniform per user, by the inverse of the logit's distribution: over many draws each option is
    chosen as often as exp(U) / sum(exp(U)) says, for a population (arrays) and one user at a time."""
    draws = 1_000_000
    uniforms = rules.draw_choice_uniforms(np.random.default_rng(3), draws)
    probabilities = rules.choice_probabilities(np.array(utilities), np.array(available))
    many = rules.choose_option(np.broadcast_to(np.array(utilities), (draws, 4)), uniforms, np.array(available))
    one_by_one = np.array([rules.choose_option(utilities, u, available) for u in uniforms[:50_000]])
    assert np.array_equal(many[:50_000], one_by_one), "a user decides as the population does"
    assert _choice_frequencies_match(many, probabilities, draws) > 1e-3
    # The test can tell: the same draws against the probabilities with one utility 0.5 higher are refused
    # (the rarest option here is chosen about 120 times in a million).
    shifted = np.array(utilities)
    shifted[available.index(True)] += 0.5
    assert _choice_frequencies_match(many, rules.choice_probabilities(shifted, np.array(available)), draws) < 1e-3


def test_the_choice_is_the_inverse_of_the_cumulative_weights():
    utilities, available = (0.0, np.log(2.0), np.log(3.0), 0.0), (True, True, True, False)
    # Weights 1, 2, 3 (and 0): cumulative shares 1/6, 3/6, 6/6.
    for uniform, option in ((0.0, 0), (0.16, 0), (0.17, 1), (0.49, 1), (0.51, 2), (0.999999, 2)):
        assert rules.choose_option(utilities, uniform, available) == option


def test_a_trickle_of_installs_makes_no_news_a_wave_does():
    threshold = P.wave_news_threshold
    trickle = rules.wave_coverage(0.02 * threshold, 1.0, P)
    half = rules.wave_coverage(threshold, 1.0, P)
    wave = rules.wave_coverage(20 * threshold, 1.0, P)
    assert trickle < 0.001 * P.wave_coverage
    assert half == pytest.approx(P.wave_coverage / 2)
    assert wave > 0.99 * P.wave_coverage
    assert rules.wave_coverage(0.0, 1.0, P) == 0.0


def test_the_news_cover_a_wave_only_while_the_ban_is_news():
    """The same wave teaches in proportion to the ban's news attention: nothing on a day nobody talks of
    the ban, a tenth of its full coverage at a tenth of full attention."""
    wave = 20 * P.wave_news_threshold
    full = rules.wave_coverage(wave, 1.0, P)
    assert rules.wave_coverage(wave, 0.0, P) == 0.0
    assert rules.wave_coverage(wave, 0.1, P) == pytest.approx(0.1 * full)
    attention = np.array([0.0, 0.25, 1.0])
    assert np.allclose(rules.wave_coverage(np.full(3, wave), attention, P), attention * full)
