"""The decision rules on their own: one user (scalars, as the Mesa agent calls them) and a population
(arrays, as the array driver calls them) get the same numbers, and each rule says what its name says."""

import numpy as np
import pytest
from scipy import stats

from agents import rules
from model.params import Params

P = Params(unfamiliarity_cost=4.0, word_of_mouth=0.8, wave_coverage=0.3, creator_rednote_bonus=0.5, fit_spread=1.5,
           creator_fit_shift=-0.7, novelty_activity=0.6, attention_activity=0.3, dormant_return_cost=0.4,
           install_chart_pull=2.0, install_store_pull=1.0, news_lag_days=2.0, news_echo=0.5, migration_news_weight=0.8,
           tiktok_time_split=0.5)


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
        "fit": rng.standard_normal(n).astype(np.float32).astype(float),
        "days": rng.integers(0, 60, n).astype(np.int16),
    }


def _scalar(value):
    return value.item() if isinstance(value, np.generic) else value


def test_rednote_value_same_for_one_user_and_for_all(users):
    u = users
    args = (0.4, 0.7, True, 0.03)   # threat, reactance, festival, RedNote's user share
    whole = rules.rednote_value(u["taste"], u["share"], u["stickiness"], u["familiarity"], args[0], u["defiance"],
                                args[1], args[2], u["is_creator"], args[3], u["fit"], u["days"], P)
    one_by_one = [
        rules.rednote_value(*(_scalar(u[k][i]) for k in ("taste", "share", "stickiness", "familiarity")), args[0],
                            _scalar(u["defiance"][i]), args[1], args[2], bool(u["is_creator"][i]), args[3],
                            _scalar(u["fit"][i]), int(u["days"][i]), P)
        for i in range(u["taste"].size)
    ]
    assert np.array_equal(whole, np.array(one_by_one))


def test_familiarity_update_same_for_one_user_and_for_all(users):
    u = users
    whole = rules.update_familiarity(u["familiarity"], u["on"], u["share"], 0.7, P)
    one_by_one = [rules.update_familiarity(_scalar(u["familiarity"][i]), bool(u["on"][i]), _scalar(u["share"][i]),
                                           0.7, P) for i in range(u["on"].size)]
    assert np.array_equal(whole, np.array(one_by_one, dtype=float))


def test_unfamiliar_users_value_rednote_less_by_the_cost():
    args = dict(taste=0.5, rednote_friend_share=0.1, rednote_stickiness=0.0, threat=0.2, defiance=0.3,
                reactance=0.2, festival=False, is_creator=False, rednote_user_share=0.01, rednote_fit=0.4,
                rednote_days=3, p=P)
    known = rules.rednote_value(familiarity=1.0, **args)
    unknown = rules.rednote_value(familiarity=0.0, **args)
    half = rules.rednote_value(familiarity=0.5, **args)
    assert known - unknown == pytest.approx(P.unfamiliarity_cost)
    assert half == pytest.approx((known + unknown) / 2)


def test_familiarity_grows_from_friends_and_the_wave_and_is_full_on_rednote():
    f = 0.1
    alone = rules.update_familiarity(f, False, 0.0, 0.0, P)
    with_friends = rules.update_familiarity(f, False, 0.5, 0.0, P)
    with_buzz = rules.update_familiarity(f, False, 0.0, 0.5, P)
    assert alone == f, "no friends on RedNote and no news of the migration: nothing to learn from"
    assert with_friends == pytest.approx(f + P.word_of_mouth * 0.5 * (1 - f))
    assert with_buzz == pytest.approx(f + P.wave_coverage * 0.5 * (1 - f))
    assert rules.update_familiarity(f, True, 0.0, 0.0, P) == 1.0
    # Learning is a share of the gap, capped at all of it: familiarity never passes 1.
    assert rules.update_familiarity(f, False, 1.0, 1.0, P) == 1.0
    grid = rules.update_familiarity(np.linspace(0, 1, 11), np.zeros(11, bool), np.ones(11), 1.0, P)
    assert np.all((grid >= 0) & (grid <= 1))


def _choice_frequencies_match(chosen, probabilities, draws):
    counts = np.bincount(chosen, minlength=rules.N_OPTIONS)
    expected = probabilities * draws
    assert np.all(counts[expected == 0] == 0), "an unavailable option was chosen"
    return stats.chisquare(counts[expected > 0], expected[expected > 0]).pvalue


@pytest.mark.parametrize("utilities,available", [
    ((1.0, -0.5, 2.0, 0.0, 0.3), (True, True, True, True, True)),
    ((1.0, -0.5, 2.0, 0.0, 0.3), (False, True, False, True, False)),
    ((-9.0, -14.0, -12.5, 0.0, -3.0), (True, True, True, True, True)),   # a TikTok user facing a switching cost
])
def test_the_choice_draws_the_logit_probabilities(utilities, available):
    """One uniform per user, by the inverse of the logit's distribution: over many draws each option is
    chosen as often as exp(U) / sum(exp(U)) says, for a population (arrays) and one user at a time."""
    draws = 1_000_000
    uniforms = rules.draw_choice_uniforms(np.random.default_rng(3), draws)
    probabilities = rules.choice_probabilities(np.array(utilities), np.array(available))
    many = rules.choose_option(np.broadcast_to(np.array(utilities), (draws, rules.N_OPTIONS)), uniforms, np.array(available))
    one_by_one = np.array([rules.choose_option(utilities, u, available) for u in uniforms[:50_000]])
    assert np.array_equal(many[:50_000], one_by_one), "a user decides as the population does"
    assert _choice_frequencies_match(many, probabilities, draws) > 1e-3
    # The test can tell: the same draws against the probabilities with one utility 0.5 higher are refused
    # (the rarest option here is chosen about 120 times in a million).
    shifted = np.array(utilities)
    shifted[available.index(True)] += 0.5
    assert _choice_frequencies_match(many, rules.choice_probabilities(shifted, np.array(available)), draws) < 1e-3


def test_the_choice_is_the_inverse_of_the_cumulative_weights():
    utilities, available = (0.0, np.log(2.0), np.log(3.0), 0.0, 5.0), (True, True, True, False, False)
    # Weights 1, 2, 3 (and 0, 0): cumulative shares 1/6, 3/6, 6/6.
    for uniform, option in ((0.0, 0), (0.16, 0), (0.17, 1), (0.49, 1), (0.51, 2), (0.999999, 2)):
        assert rules.choose_option(utilities, uniform, available) == option


def test_a_trickle_of_installs_makes_no_news_a_wave_does():
    threshold = P.wave_news_threshold
    trickle = rules.wave_news(0.02 * threshold, 1.0, P)
    half = rules.wave_news(threshold, 1.0, P)
    wave = rules.wave_news(20 * threshold, 1.0, P)
    assert trickle < 0.001
    assert half == pytest.approx(0.5)
    assert wave > 0.99
    assert rules.wave_news(0.0, 1.0, P) == 0.0


def test_the_news_cover_a_wave_only_while_the_ban_is_news():
    """The same wave teaches in proportion to the ban's news attention: nothing on a day nobody talks of
    the ban, a tenth of its full coverage at a tenth of full attention."""
    wave = 20 * P.wave_news_threshold
    full = rules.wave_news(wave, 1.0, P)
    assert rules.wave_news(wave, 0.0, P) == 0.0
    assert rules.wave_news(wave, 0.1, P) == pytest.approx(0.1 * full)
    attention = np.array([0.0, 0.25, 1.0])
    assert np.allclose(rules.wave_news(np.full(3, wave), attention, P), attention * full)


# --- issue 15's mechanisms: each removed exactly by its parameter's off value ------------------------

OFF = Params()   # the defaults: every new mechanism but the outside option off


def test_the_choice_set_is_one_table():
    """States, names, platforms held and what a blackout does all come from OPTION_TABLE."""
    assert len(rules.STATE_NAMES) == rules.N_OPTIONS == len(rules.OPTION_TABLE) == rules.HOLDS.shape[0]
    for code, (name, held) in enumerate(rules.OPTION_TABLE):
        assert rules.STATE_NAMES[code] == name
        assert bool(rules.uses_tiktok(code)) == ("tiktok" in held)
        assert bool(rules.uses_rednote(code)) == ("rednote" in held)
        after = rules.usage_during_service(code, False)
        assert set(rules.OPTION_TABLE[after][1]) == set(held) - {"tiktok"}
    assert rules.usage_during_service(np.arange(rules.N_OPTIONS), False).tolist() == list(rules.WITHOUT_TIKTOK)
    assert rules.STATE_NAMES[rules.OTHER] == "other_apps" and rules.uses_tiktok(rules.BOTH)


def test_utilities_add_the_platforms_an_option_holds():
    u = rules.option_utilities(2.0, 3.0, 1.5, True, True, True, 0.0, False, P)
    assert u[rules.TIKTOK] == 2.0 and u[rules.REDNOTE] == 3.0 and u[rules.OTHER] == 1.5 and u[rules.NEITHER] == 0.0
    assert u[rules.BOTH] == pytest.approx(5.0 - P.attention_cost)
    whole = rules.option_utilities(np.full(3, 2.0), np.full(3, 3.0), 1.5, np.array([True, False, True]),
                                   np.array([True, False, False]), np.array([True, True, False]), 0.5,
                                   np.zeros(3, bool), P)
    for i, (installed, on, ever) in enumerate([(True, True, True), (False, False, True), (True, False, False)]):
        assert np.array_equal(whole[i], np.array(rules.option_utilities(2.0, 3.0, 1.5, installed, on, ever, 0.5,
                                                                         False, P)))


def test_rednote_take_up_cost_first_install_dormant_and_user():
    drive = 1.2
    assert rules.rednote_take_up_cost(True, True, drive, P) == 0.0
    assert rules.rednote_take_up_cost(False, True, drive, P) == pytest.approx(P.switching_cost * P.dormant_return_cost)
    assert rules.rednote_take_up_cost(False, False, drive, P) == pytest.approx(P.switching_cost - drive)
    # Off: a dormant account costs what a first install costs, and nothing drives installs.
    assert rules.rednote_take_up_cost(False, True, 0.0, OFF) == OFF.switching_cost
    assert rules.rednote_take_up_cost(False, False, 0.0, OFF) == OFF.switching_cost


def test_the_outside_option_can_be_removed():
    assert all(rules.available_options(True, True, 1))
    assert list(rules.available_options(True, True, 0)) == [code != rules.OTHER for code in range(rules.N_OPTIONS)]
    utilities = np.zeros((1, rules.N_OPTIONS))
    chance = rules.choice_probabilities(utilities, np.array(rules.available_options(True, True, 0)))
    assert chance[0, rules.OTHER] == 0.0 and chance.sum() == pytest.approx(1.0)


def test_other_apps_are_worth_more_when_tiktok_is_threatened_or_gone():
    p = P.replace(outside_threat_pull=1.0)
    calm = rules.other_apps_value(0.3, 0.0, 0.0, p)
    assert rules.other_apps_value(0.3, 1.0, 0.0, p) == pytest.approx(calm + 1.0)
    assert rules.other_apps_value(0.3, 0.0, 1.0, p) == pytest.approx(calm + p.outside_pull)
    assert rules.tiktok_gone(0, p) == 0.0
    assert rules.tiktok_gone(p.outside_wait_days, p) == pytest.approx(0.5)
    assert rules.tiktok_gone(1000, p) > 0.99


def test_experience_good_fit_is_learned_over_the_first_days():
    assert rules.experienced_fit(1.0, False, 0, P) == 0.0, "not yet tried: the mean is expected"
    half = rules.experienced_fit(1.0, False, P.fit_learning_days, P)
    assert half == pytest.approx(0.5 * P.fit_spread)
    assert rules.experienced_fit(1.0, False, 10_000, P) == pytest.approx(P.fit_spread, rel=1e-3)
    assert rules.experienced_fit(-1.0, False, 30, P) < 0 < rules.experienced_fit(1.0, False, 30, P)
    creator = rules.experienced_fit(0.0, True, 10_000, P)
    assert creator == pytest.approx(P.creator_fit_shift, rel=1e-3), "creators learn their audience too"
    days = np.array([0, 3, 30], dtype=np.int16)
    assert np.all(rules.experienced_fit(np.full(3, 1.0), np.zeros(3, bool), days, OFF) == 0.0)


def test_engagement_of_the_moment_fades_and_is_exactly_habit_when_off():
    s = np.linspace(0, 1, 5)
    habit = rules.activity_probability(s, P)
    new = rules.activity_probability(s, P, rules.rednote_moment(np.zeros(5, np.int16), 0.0, P))
    settled = rules.activity_probability(s, P, rules.rednote_moment(np.full(5, 300, np.int16), 0.0, P))
    assert np.all(new >= settled) and np.all(settled >= habit) and np.all(new <= 1.0)
    assert (new - habit)[0] > 5 * (settled - habit)[0], "novelty fades with days on the app"
    loud = rules.activity_probability(s, P, rules.rednote_moment(np.full(5, 300, np.int16), 1.0, P))
    assert np.all(loud[:-1] > settled[:-1]) and loud[-1] == 1.0, "full habit is already certain"
    off = rules.activity_probability(s, OFF, rules.rednote_moment(np.zeros(5, np.int16), 1.0, OFF))
    assert np.array_equal(off, rules.activity_probability(s, OFF))


def test_news_that_spreads_lags_and_feeds_on_itself_and_is_same_day_when_off():
    assert rules.update_buzz(0.3, 0.8, OFF) == 0.8, "off: the buzz is the day's news"
    lagged = rules.update_buzz(0.0, 0.8, P.replace(news_echo=0.0))
    assert lagged == pytest.approx(0.8 / (1 + P.news_lag_days))
    buzz, path = 0.0, []
    for _ in range(30):
        buzz = rules.update_buzz(buzz, 0.2, P.replace(news_lag_days=2.0, news_echo=0.0))
        path.append(buzz)
    assert np.all(np.diff(path) > 0) and path[-1] == pytest.approx(0.2, abs=1e-4), "builds over days to the level"
    echo = rules.update_buzz(0.5, 0.2, P.replace(news_lag_days=0.0, news_echo=1.0))
    assert echo == pytest.approx(0.3), "the story's own coverage lifts it"
    assert rules.update_buzz(1.0, 1.0, P) <= 1.0
    assert rules.update_buzz(1.0, 0.0, P.replace(news_echo=5.0)) < 1.0, "no story outlives its news"


def test_the_dated_migration_news_adds_to_the_waves_news_and_nothing_when_off():
    wave = np.array([0.0, P.wave_news_threshold, 20 * P.wave_news_threshold])
    quiet = rules.wave_news(wave, 0.5, P)
    assert np.allclose(rules.wave_news(wave, 0.5, P, 1.0), quiet + 0.8)
    assert np.allclose(rules.wave_news(wave, 0.5, P, 0.25), quiet + 0.2)
    assert rules.update_buzz(0.0, rules.wave_news(0.0, 0.0, P.replace(news_lag_days=0.0), 1.0),
                             P.replace(news_lag_days=0.0, news_echo=0.0)) == pytest.approx(0.8), "a day's jump"
    assert np.array_equal(rules.wave_news(wave, 0.5, OFF, 1.0), rules.wave_news(wave, 0.5, OFF))


def test_time_on_rednote_comes_out_of_tiktoks_and_nothing_when_off():
    s = np.linspace(0, 1, 5)
    habit = rules.activity_probability(s, P)
    assert np.array_equal(rules.tiktok_activity_probability(s, np.zeros(5), P), habit), "off RedNote: the habit's"
    shared = rules.tiktok_activity_probability(s, np.full(5, 0.6), P)
    assert np.allclose(shared, habit * (1 - 0.5 * 0.6)) and np.all(shared < habit)
    one = [rules.tiktok_activity_probability(float(x), 0.6, P) for x in s]
    assert np.array_equal(np.array(one), shared), "one user as the population"
    assert np.array_equal(rules.tiktok_activity_probability(s, np.full(5, 0.6), OFF), rules.activity_probability(s, OFF))


def test_the_chart_keeps_its_place_for_a_while_and_drives_installs():
    top = rules.update_chart(0.0, 100 * P.chart_threshold, P)
    assert rules.update_chart(0.0, P.chart_threshold, P) == pytest.approx(0.5)
    assert top > 0.99
    after = rules.update_chart(top, 0.0, P)
    assert after == pytest.approx(top * P.chart_days / (1 + P.chart_days))
    assert rules.install_drive(top, True, P) == pytest.approx(P.install_chart_pull * top)
    assert rules.install_drive(0.0, False, P) == pytest.approx(P.install_store_pull)
    assert rules.install_drive(top, False, OFF) == 0.0


def test_tenure_counts_days_since_first_use():
    assert rules.advance_tenure(0, False) == 0 and rules.advance_tenure(0, True) == 1
    days = np.array([0, 5, rules.TENURE_CAP], dtype=np.int16)
    advanced = rules.advance_tenure(days, np.array([False, True, True]))
    assert advanced.dtype == np.int16 and advanced.tolist() == [0, 6, rules.TENURE_CAP]
