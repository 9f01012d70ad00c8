"""The decision rules on their own: one user (scalars, as the Mesa agent calls them) and a population
(arrays, as the array driver calls them) get the same numbers, and each rule says what its name says."""

import numpy as np
import pytest

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


def test_taste_shocks_are_standard_gumbel():
    shocks = rules.draw_taste_shocks(np.random.default_rng(0), 200_000).astype(float).ravel()
    assert np.isfinite(shocks).mean() > 0.999999
    assert shocks.mean() == pytest.approx(np.euler_gamma, abs=0.01)
    assert shocks.std() == pytest.approx(np.pi / np.sqrt(6), abs=0.01)


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
