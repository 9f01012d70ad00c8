"""How a user decides: each rule a small pure function, in the model's own words.

Every function works on scalars (one user, as the Mesa agent calls it) and on numpy arrays (the whole
population, as the array driver calls it), with the same arithmetic in the same order, so both drivers
give bit-identical results from the same random draws. Where a rule selects rather than computes
(a branch, a minimum, a stack of options) it goes through the small helpers below, which use numpy for
arrays and plain Python for one user: the values are the same, and the Mesa agent runs several times
faster than through numpy's scalar path.

A day's decision is a random-utility (multinomial logit) choice among four options. Each platform has
a value for the user; an option's utility adds the values of the platforms it holds, minus the cost of
taking up a platform one does not use and the attention cost of keeping two. The option is drawn with
the logit probabilities P(option) = exp(U_option) / sum(exp(U)) over the options available that day, by
the inverse of their cumulative distribution from one uniform number per user and day (the same choice
as the highest utility plus a Gumbel taste shock, from one draw instead of four).

The same functions are compiled for the array engine's fused day (``model/compiled_day.py`` registers
them with numba and gives the helpers below their one-user form there), so every engine runs these
definitions and no other.
"""

from __future__ import annotations

import math

import numpy as np

from model.params import Params

# The four states a user can be in, and the four options of a day's choice (same codes).
TIKTOK, REDNOTE, BOTH, NEITHER = 0, 1, 2, 3
N_OPTIONS = 4
STATE_NAMES = ("tiktok_only", "rednote_only", "dual_users", "neither")


# --- selection helpers: numpy for arrays, plain Python for a single user ---------------------------

def _is_array(x) -> bool:
    return type(x) is np.ndarray


def _select(condition, if_true, if_false):
    if _is_array(condition):
        return np.where(condition, if_true, if_false)
    return if_true if condition else if_false


def _minimum(a, b):
    return np.minimum(a, b) if _is_array(a) or _is_array(b) else min(a, b)


def _maximum(a, b):
    return np.maximum(a, b) if _is_array(a) or _is_array(b) else max(a, b)


def _options(tiktok_only, rednote_only, both, neither):
    """The four options along the last axis (a tuple for one user)."""
    if type(tiktok_only) is np.ndarray or type(rednote_only) is np.ndarray or type(both) is np.ndarray:
        tiktok_only, rednote_only, both, neither = np.broadcast_arrays(tiktok_only, rednote_only, both, neither)
        return np.stack([tiktok_only, rednote_only, both, neither], axis=-1)
    return (tiktok_only, rednote_only, both, neither)


def _option(options, k: int):
    """Option ``k`` of every user (of the one user, for a tuple)."""
    return options[..., k] if _is_array(options) else options[k]


def _logit_weights(utilities, available):
    """exp(U - max U) of each option (0 if unavailable) and their sum, left to right.

    The arithmetic is the same for arrays and for one user, but not the exponential: numpy's
    vectorised exp and the C library's (Python's ``math.exp``, and numba's) can differ in the last bit.
    The Mesa agent and the compiled day use the C library's, so those two are identical; the numpy path
    differs from them by such last bits (``tests/test_compiled_day.py``)."""
    if not _is_array(utilities):
        return _logit_weights_one(utilities, available)
    weights = np.where(available, utilities, -np.inf)   # a new array, worked on in place below
    # Over the options one by one, and in place: numpy's reductions along a last axis of length 4
    # cost four times as much, and the drivers call this for every user every day.
    top = weights[..., 0].copy()
    for k in range(1, N_OPTIONS):
        np.maximum(top, weights[..., k], out=top)
    weights -= np.expand_dims(top, -1)
    np.exp(weights, out=weights)   # exp(-inf) = 0: unavailable
    total = weights[..., 0].copy()
    for k in range(1, N_OPTIONS):
        total += weights[..., k]
    return weights, total


def _logit_weights_one(utilities, available):
    top = -math.inf
    for k in range(N_OPTIONS):
        if available[k] and utilities[k] > top:
            top = utilities[k]
    weights = tuple(math.exp(u - top) if a else 0.0 for u, a in zip(utilities, available, strict=True))
    total = weights[0]
    for k in range(1, N_OPTIONS):
        total += weights[k]
    return weights, total


def _inverse_cdf(weights, position):
    """The option whose share of the cumulative weights holds ``position`` (0 <= position < total): the
    first option whose cumulative weight exceeds it. Options of weight 0 are never picked."""
    if not _is_array(weights):
        return _inverse_cdf_one(weights, position)
    cumulative = weights[..., 0].copy()
    option = np.zeros(position.shape, dtype=np.int8)
    for k in range(1, N_OPTIONS):
        option += position >= cumulative
        cumulative += weights[..., k]
    return option


def _inverse_cdf_one(weights, position):
    # Counted as the array form counts (no branch on the draw: a compiled loop does not stall on it).
    cumulative = weights[0]
    option = 0
    for k in range(1, N_OPTIONS):
        option += position >= cumulative
        cumulative += weights[k]
    return option


# --- the rules ---------------------------------------------------------------------------------

def uses_tiktok(state):
    return (state == TIKTOK) | (state == BOTH)


def uses_rednote(state):
    return (state == REDNOTE) | (state == BOTH)


def friend_share(friends_on_platform, degree):
    """Share of a user's friends on a platform; a user with no friends feels no pull."""
    return _select(degree > 0, friends_on_platform / _maximum(degree, 1), 0.0)


def content_fit(taste, p: Params):
    """(TikTok, RedNote) value of matching one's taste: entertainment (taste 0) or lifestyle (taste 1)."""
    return p.content_fit * (1.0 - taste), p.content_fit * taste


def network_pull(share_of_friends, p: Params):
    return p.network_pull * share_of_friends


def habit_value(stickiness, p: Params):
    """The mooring: habit and social capital a user keeps only while on the platform."""
    return p.stickiness_weight * stickiness


def ban_push(threat, p: Params):
    """TikTok's value lost to the ban: its threat before a deadline, its full force while TikTok is dark."""
    return p.ban_push * threat


def substitute_pull(threat, p: Params):
    """RedNote as TikTok's closest substitute (same label, similar features): worth more the likelier the ban."""
    return p.substitute_pull * threat


def felt_defiance(defiance, reactance, p: Params):
    """Reactance, triggered by the ban's salience and scaled by the user's trait, pulls to RedNote in protest."""
    return p.defiance_weight * defiance * reactance


def creator_audience(is_creator, platform_user_share, p: Params):
    """A creator values a platform by the audience (and income) it offers: the share of users on it."""
    return p.creator_audience_weight * platform_user_share * is_creator


def unfamiliarity(familiarity, p: Params):
    """What trying an app one does not know costs: RedNote was unranked in the US before January, so
    most users had never considered it (A2)."""
    return p.unfamiliarity_cost * (1.0 - familiarity)


def wave_coverage(migration_wave, news_attention, p: Params):
    """How much the coverage of the migration (App Store charts, #tiktokrefugee) teaches in a day.

    The news cover a wave once it is big: a Hill curve in yesterday's expected first installs per 1,000
    users (``Day.migration_wave``), half its height at ``wave_news_threshold``, so a trickle of installs
    teaches nobody. And they cover it as a story about the ban (A1: users joined "facing the ban"): the
    coverage scales with the ban's news attention that day (``salience``, 0..1), so the same installs teach
    little on a quiet day and much when a court ruling is in the news. Without that scaling the installs
    taught themselves: the day users learned of RedNote was set by a self-reinforcing December trickle and
    moved from seed to seed by up to three weeks."""
    squared = migration_wave * migration_wave
    return p.wave_coverage * news_attention * squared / (squared + p.wave_news_threshold * p.wave_news_threshold)


def update_familiarity(familiarity, on_rednote, rednote_friend_share, migration_wave, news_attention, p: Params):
    """Users learn of RedNote from friends who use it and from the coverage of the migration itself.
    A user on RedNote knows it; nobody forgets it within the year."""
    learning = _minimum(1.0, p.word_of_mouth * rednote_friend_share + wave_coverage(migration_wave, news_attention, p))
    return _select(on_rednote, 1.0, familiarity + learning * (1.0 - familiarity))


def festival_pull(festival, p: Params):
    return p.festival_boost * festival


def rednote_levers(rednote_stickiness, is_creator, p: Params):
    """Counterfactual levers on RedNote's value (both 0 by default, which adds exactly nothing):
    creators paid to stay, and RedNote's community habit weighing more than TikTok's."""
    return p.creator_rednote_bonus * is_creator + p.rednote_habit_extra * habit_value(rednote_stickiness, p)


def tiktok_value(taste, tiktok_friend_share, tiktok_stickiness, threat, is_creator, tiktok_user_share, p: Params):
    fit, _ = content_fit(taste, p)
    return (
        p.tiktok_appeal
        + fit
        + network_pull(tiktok_friend_share, p)
        + habit_value(tiktok_stickiness, p)
        - ban_push(threat, p)
        # A creator's TikTok audience is only worth what the ban leaves of it.
        + creator_audience(is_creator, tiktok_user_share * (1.0 - threat), p)
    )


def rednote_value(
    taste, rednote_friend_share, rednote_stickiness, familiarity, threat, defiance, reactance, festival,
    is_creator, rednote_user_share, p: Params,
):
    _, fit = content_fit(taste, p)
    return (
        p.rednote_appeal
        + fit
        + network_pull(rednote_friend_share, p)
        + habit_value(rednote_stickiness, p)
        + substitute_pull(threat, p)
        + felt_defiance(defiance, reactance, p)
        + festival_pull(festival, p)
        + creator_audience(is_creator, rednote_user_share, p)
        - p.culture_friction
        - unfamiliarity(familiarity, p)
        + rednote_levers(rednote_stickiness, is_creator, p)
    )


def dual_use_cost(is_creator, p: Params):
    """Attention spent keeping two platforms; a creator must also feed both with content."""
    return p.attention_cost * (1.0 + p.creator_extra_attention * is_creator)


def option_utilities(value_tiktok, value_rednote, has_tiktok_installed, on_rednote, is_creator, p: Params):
    """Utilities of (TikTok only, RedNote only, both, neither); the last axis holds the options.

    Taking up a platform costs ``switching_cost`` unless the app is still on the phone: a user kept off
    TikTok by a blackout goes back for free, one who deleted it pays again."""
    take_up_tiktok = p.switching_cost * (1.0 - has_tiktok_installed)
    take_up_rednote = p.switching_cost * (1.0 - on_rednote)
    tiktok_only = value_tiktok - take_up_tiktok
    rednote_only = value_rednote - take_up_rednote
    both = value_tiktok + value_rednote - take_up_tiktok - take_up_rednote - dual_use_cost(is_creator, p)
    return _options(tiktok_only, rednote_only, both, 0.0)


def available_options(tiktok_in_stores, has_tiktok_installed):
    """Which options a user can choose today: TikTok needs the app, kept on the phone or from a store."""
    can_choose_tiktok = tiktok_in_stores | has_tiktok_installed
    return _options(can_choose_tiktok, True, can_choose_tiktok, True)


def usage_during_service(choice, tiktok_service):
    """The state a choice puts a user in: while TikTok is dark, one who keeps TikTok waits with the app
    installed but cannot use it (TikTok only -> neither, both -> RedNote only)."""
    if tiktok_service:
        return choice
    return _select(choice == TIKTOK, NEITHER, _select(choice == BOTH, REDNOTE, choice))


def draw_choice_uniforms(rng, n_users: int, out: np.ndarray | None = None) -> np.ndarray:
    """One uniform number on [0, 1) per user for the day's choice (float64, shape (n_users,)), in user
    order: every driver draws the day's numbers from the model's rng this way (the array engine block by
    block, which gives the same numbers), so all of them see the same. ``out``: a float64 buffer of
    ``n_users`` to fill instead of a new array."""
    return rng.random(n_users) if out is None else rng.random(out=out[:n_users])


def logit_weights(utilities, available):
    """The logit's weights of a day's options: (exp(U - max U) per option, 0 if unavailable; their sum).
    The choice and the first-install chance both read them (``choose_by_weights``,
    ``first_install_chance_by_weights``), so an engine computes the exponentials once per user and day."""
    return _logit_weights(utilities, available)


def choose_option(utilities, uniform, available):
    """The logit choice: option k with probability exp(U_k) / sum(exp(U)) over the available options,
    drawn by the inverse of that distribution from one uniform number on [0, 1) (``draw_choice_uniforms``).

    Exactly the choice of the highest utility plus i.i.d. standard Gumbel taste shocks (McFadden), from
    one random number instead of four and with the exponentials the first-install chance needs anyway."""
    weights, total = logit_weights(utilities, available)
    return choose_by_weights(weights, total, uniform)


def choose_by_weights(weights, total, uniform):
    """``choose_option`` from the options' ``logit_weights``."""
    return _inverse_cdf(weights, uniform * total)


def choice_probabilities(utilities, available):
    """The chance of each option under ``choose_option``: the logit rule exp(U_option) / sum(exp(U))
    over the available options (0 for the others).

    ``choose_option`` is what a user does; this is what a well-mixed population of such users does on
    average, and what the system-dynamics twin uses."""
    weights, total = logit_weights(utilities, available)
    return weights / total[..., None]


def first_install_chance(utilities, available, ever_on_rednote):
    """The chance that a user who has never been on RedNote takes it up today (0 for one who has).

    An agent stands for thousands of people with its traits and state, and the App Store chart counts what
    all of them do: the sum of these chances, not the agent's own draw. So the day's draws do not move the
    migration wave, nor the coverage it earns: a chart of 170 million people does not jump because one
    simulated user did (``Day.migration_wave``). Earlier draws still reach it through the states they left.
    RedNote only and both are the options that put a user on RedNote (``uses_rednote``)."""
    weights, total = logit_weights(utilities, available)
    return first_install_chance_by_weights(weights, total, ever_on_rednote)


def first_install_chance_by_weights(weights, total, ever_on_rednote):
    """``first_install_chance`` from the options' ``logit_weights``."""
    return _select(ever_on_rednote, 0.0, (_option(weights, REDNOTE) + _option(weights, BOTH)) / total)


def update_stickiness(stickiness, on_platform, share_of_friends, p: Params):
    """Habit grows with use and with friends on the platform, and decays with disuse."""
    gain = _minimum(1.0, p.stickiness_growth + p.stickiness_social * share_of_friends)
    return _select(on_platform, stickiness + gain * (1.0 - stickiness), stickiness - p.stickiness_decay * stickiness)


def keeps_tiktok_installed(choice):
    """A user keeps the app while choosing TikTok (even through a blackout); one who drops it deletes it."""
    return uses_tiktok(choice)


def activity_probability(stickiness, p: Params):
    """Chance a user of a platform opens it on a given day: higher the stickier the habit."""
    return p.activity_floor + (1.0 - p.activity_floor) * stickiness


def bass_adoption_probability(innovation, imitation, adopter_share):
    """The Bass diffusion rule: a non-adopter adopts on a given day with probability p + q x (share of
    adopters among those it hears from). Not part of the migration model: the reduced rule against which
    the drivers are verified (see model/bass.py)."""
    return np.clip(innovation + imitation * adopter_share, 0.0, 1.0)
