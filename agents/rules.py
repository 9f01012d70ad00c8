"""How a user decides: each rule a small pure function, in the model's own words.

Every function works on scalars (one user, as the Mesa agent calls it) and on numpy arrays (the whole
population, as the array driver calls it), with the same arithmetic in the same order, so both drivers
give bit-identical results from the same random draws. Where a rule selects rather than computes
(a branch, a minimum, a stack of options) it goes through the small helpers below, which use numpy for
arrays and plain Python for one user: the values are the same, and the Mesa agent runs several times
faster than through numpy's scalar path.

A day's decision is a random-utility (multinomial logit) choice among the options of ``OPTION_TABLE``.
Each platform has a value for the user; an option's utility adds the values of the platforms it holds,
minus the cost of taking up a platform one does not use and the attention cost of keeping TikTok and
RedNote together. The option is drawn with the logit probabilities P(option) = exp(U_option) / sum(exp(U))
over the options available that day, by the inverse of their cumulative distribution from one uniform
number per user and day (the same choice as the highest utility plus a Gumbel taste shock, from one
draw instead of one per option).

The same functions are compiled for the array engine's fused day (``model/compiled_day.py`` registers
them with numba and gives the helpers below their one-user form there), so every engine runs these
definitions and no other. That is why the choice set's table is also kept as numbers (``_HELD``,
``_DUAL_USE``, ``_AVAILABILITY``) and the helpers that read it work on tuples of one type.
"""

from __future__ import annotations

import math

import numpy as np

from model.params import Params

# --- the choice set: every option a user can be in, and the platforms it holds ---------------------
# The one place that says which options exist: the state codes, the state names (the daily series'
# columns), which options put a user on each platform, what a blackout does to an option and what each
# option is worth all derive from it. A new platform is a new entry in PLATFORMS and new rows
# here (and its value in ``option_utilities``).
PLATFORMS = ("tiktok", "rednote", "other")
OPTION_TABLE = (
    # (state name, platforms held)
    ("tiktok_only", ("tiktok",)),
    ("rednote_only", ("rednote",)),
    ("dual_users", ("tiktok", "rednote")),
    ("neither", ()),
    # Instagram Reels, YouTube Shorts and the like: the outside option (issue 15), already on the phone.
    ("other_apps", ("other",)),
)
STATE_NAMES = tuple(name for name, _ in OPTION_TABLE)
N_OPTIONS = len(OPTION_TABLE)
TIKTOK, REDNOTE, BOTH, NEITHER, OTHER = (STATE_NAMES.index(name) for name in
                                        ("tiktok_only", "rednote_only", "dual_users", "neither", "other_apps"))
# (option, platform): whether an option holds a platform.
HOLDS = np.array([[platform in held for platform in PLATFORMS] for _, held in OPTION_TABLE])
_ON_TIKTOK = tuple(int(k) for k in np.flatnonzero(HOLDS[:, PLATFORMS.index("tiktok")]))
_ON_REDNOTE = tuple(int(k) for k in np.flatnonzero(HOLDS[:, PLATFORMS.index("rednote")]))
# While TikTok is dark an option holding it leaves the user on the option holding the rest.
WITHOUT_TIKTOK = tuple(
    next(j for j, (_, other) in enumerate(OPTION_TABLE) if set(other) == set(held) - {"tiktok"})
    for _, held in OPTION_TABLE
)
_WITHOUT_TIKTOK_ARRAY = np.array(WITHOUT_TIKTOK, dtype=np.int8)
# The table as numbers, for the helpers below: per option, the platforms it holds (indices into
# PLATFORMS, in the table's order; as an array, -1 after the last, for compiled code); whether it holds
# TikTok and RedNote together (the attention cost of keeping both); and what it needs to be available
# (0: nothing, 1: TikTok, on the phone or in a store, 2: the outside option switched on).
_HELD_PLATFORMS = tuple(tuple(PLATFORMS.index(platform) for platform in held) for _, held in OPTION_TABLE)
_HELD = np.array([list(held) + [-1] * (len(PLATFORMS) - len(held)) for held in _HELD_PLATFORMS], dtype=np.int64)
_DUAL_USE = tuple("tiktok" in held and "rednote" in held for _, held in OPTION_TABLE)
_AVAILABILITY = tuple(1 if "tiktok" in held else 2 if "other" in held else 0 for _, held in OPTION_TABLE)
_AVAILABLE_ONE = tuple(tuple(tuple((True, tiktok, outside)[need] for need in _AVAILABILITY) for outside in (False, True))
                       for tiktok in (False, True))
# Days on RedNote are kept as int16: they stop counting here (a run of 89 years).
TENURE_CAP = 32_000


# --- selection helpers: numpy for arrays, plain Python for a single user ---------------------------

def _is_array(x) -> bool:
    return type(x) is np.ndarray


def _select(condition, if_true, if_false):
    if type(condition) is np.ndarray:   # _is_array, inline: the Mesa agent calls this for every rule
        return np.where(condition, if_true, if_false)
    return if_true if condition else if_false


def _minimum(a, b):
    return np.minimum(a, b) if type(a) is np.ndarray or type(b) is np.ndarray else min(a, b)


def _maximum(a, b):
    return np.maximum(a, b) if type(a) is np.ndarray or type(b) is np.ndarray else max(a, b)


def _options(*per_option):
    """One value per option (``OPTION_TABLE`` order) along the last axis (a tuple for one user)."""
    arrays = [value for value in per_option if type(value) is np.ndarray]
    if not arrays:
        return per_option
    shape = np.broadcast_shapes(*(value.shape for value in arrays))
    stacked = np.empty((*shape, len(per_option)), dtype=np.result_type(*per_option))
    for option, value in enumerate(per_option):
        stacked[..., option] = value
    return stacked


def _option(options, k: int):
    """Option ``k`` of every user (of the one user, for a tuple)."""
    return options[..., k] if type(options) is np.ndarray else options[k]


def _one_user_platform_options():
    """``_platform_options`` for one user as one expression written from the table, e.g.
    ``(values[0], values[1], values[0] + values[1] - dual_use_cost, 0.0, values[2])``: the same additions in
    the same order (so the same bits) as the loop below, without the loop's interpretation, which cost
    the Mesa agent about a fifth of its decision (4.7 of some 20 microseconds per agent-step)."""
    terms = []
    for held, dual_use in zip(_HELD_PLATFORMS, _DUAL_USE, strict=True):
        term = " + ".join(f"values[{platform}]" for platform in held) or "0.0"
        terms.append(f"{term} - dual_use_cost" if dual_use else term)
    return eval(f"lambda values, dual_use_cost: ({', '.join(terms)},)")   # noqa: S307 (our own table)


_PLATFORM_OPTIONS_ONE = _one_user_platform_options()


def _platform_options(platform_values, dual_use_cost):
    """Each option's utility from the values of the platforms (``PLATFORMS`` order): the sum of those it
    holds, in the table's order (0 for none), less ``dual_use_cost`` where it holds TikTok and RedNote."""
    if not (type(dual_use_cost) is np.ndarray or np.ndarray in map(type, platform_values)):
        return _PLATFORM_OPTIONS_ONE(platform_values, dual_use_cost)
    by_option = []
    for held, dual_use in zip(_HELD_PLATFORMS, _DUAL_USE, strict=True):
        utility = platform_values[held[0]] if held else 0.0
        for platform in held[1:]:
            utility = utility + platform_values[platform]
        if dual_use:
            utility = utility - dual_use_cost
        by_option.append(utility)
    return _options(*by_option)


def _available_by_need(can_choose_tiktok, has_outside_option):
    """Each option's availability from what it needs (``_AVAILABILITY``)."""
    if type(can_choose_tiktok) is not np.ndarray:   # one user: one of four tuples
        return _AVAILABLE_ONE[bool(can_choose_tiktok)][bool(has_outside_option)]
    return _options(*((True, can_choose_tiktok, has_outside_option)[need] for need in _AVAILABILITY))


# The range of the weights' sum where exp(U) itself is used (see ``_logit_weights``): inside it no weight
# overflows and the largest is a normal number, so the probabilities are those of exp(U - max U) to the
# last bits (but those below about 1e-100, which no draw can tell from 0). Outside it (an available
# utility above about 460, or all of them below about -460: far beyond the parameters' ranges in
# practice) the weights are computed relative to the largest utility.
WEIGHTS_RANGE = (1e-200, 1e200)


def _logit_weights(utilities, available):
    """exp(U) of each available option (0 if unavailable) and their sum, left to right.

    The weights are relative to utility 0 (the option holding no platform, 'neither', weighs exactly 1)
    rather than to the largest utility: the same probabilities with one exponential fewer per option
    set and no search for the largest; an option of utility exactly 0 takes its weight 1 without an
    exponential. A sum outside ``WEIGHTS_RANGE`` (an overflow, or every option all but impossible) is
    redone as exp(U - max U), the weights of the largest-utility option then being 1.

    The arithmetic is the same for arrays and for one user, but not the exponential: numpy's
    vectorised exp and the C library's (Python's ``math.exp``, and numba's) can differ in the last bit.
    The Mesa agent and the compiled day use the C library's, so those two are identical; the numpy path
    can differ from them by such last bits (``tests/test_compiled_day.py``)."""
    if type(utilities) is not np.ndarray:
        return _logit_weights_one(utilities, available)
    available = np.broadcast_to(available, utilities.shape)
    with np.errstate(over="ignore"):   # an overflow is caught below and redone
        weights = np.exp(np.where(available, utilities, -np.inf))   # exp(-inf) = 0: unavailable
    total = _sum_options(weights)
    outside = ~((total > WEIGHTS_RANGE[0]) & (total < WEIGHTS_RANGE[1]))
    if outside.any():
        weights[outside], total[outside] = _shifted_logit_weights(utilities[outside], available[outside])
    return weights, total


def _sum_options(weights):
    """The weights' sum over the options, left to right (the order every engine adds them in)."""
    # Over the options one by one: numpy's reductions along a short last axis cost several times as much.
    total = weights[..., 0].copy()
    for k in range(1, N_OPTIONS):
        total += weights[..., k]
    return total


def _shifted_logit_weights(utilities, available):
    """exp(U - max U) of each option (0 if unavailable) and their sum: ``_logit_weights`` outside its range."""
    weights = np.where(available, utilities, -np.inf)   # a new array, worked on in place below
    top = weights[..., 0].copy()
    for k in range(1, N_OPTIONS):
        np.maximum(top, weights[..., k], out=top)
    weights -= np.expand_dims(top, -1)
    np.exp(weights, out=weights)
    return weights, _sum_options(weights)


def _logit_weights_one(utilities, available):
    weights = [0.0] * N_OPTIONS
    try:
        for k in range(N_OPTIONS):
            if available[k]:
                utility = utilities[k]
                weights[k] = 1.0 if utility == 0.0 else math.exp(utility)
    except OverflowError:   # Python's exp raises where C's gives inf (which the range check below catches)
        return _shifted_logit_weights_one(utilities, available)
    total = weights[0]
    for k in range(1, N_OPTIONS):
        total += weights[k]
    if WEIGHTS_RANGE[0] < total < WEIGHTS_RANGE[1]:
        return weights, total
    return _shifted_logit_weights_one(utilities, available)


def _shifted_logit_weights_one(utilities, available):
    top = -math.inf
    for k in range(N_OPTIONS):
        if available[k] and utilities[k] > top:
            top = utilities[k]
    weights = [0.0] * N_OPTIONS
    for k in range(N_OPTIONS):
        if available[k]:
            weights[k] = math.exp(utilities[k] - top)
    total = weights[0]
    for k in range(1, N_OPTIONS):
        total += weights[k]
    return weights, total


def _inverse_cdf(weights, position):
    """The option whose share of the cumulative weights holds ``position`` (0 <= position < total): the
    first option whose cumulative weight exceeds it. Options of weight 0 are never picked."""
    if type(weights) is not np.ndarray:
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


def _holds_any(state, codes):
    held = state == codes[0]
    for code in codes[1:]:
        held = held | (state == code)
    return held


# --- the rules ---------------------------------------------------------------------------------

def uses_tiktok(state):
    return _holds_any(state, _ON_TIKTOK)


def uses_rednote(state):
    return _holds_any(state, _ON_REDNOTE)


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


def wave_news(migration_wave, news_attention, p: Params, migration_news=0.0):
    """The day's news of the migration (App Store charts, #tiktokrefugee), 0 and up (``update_buzz`` caps
    what it spreads at 1).

    The news cover a wave once it is big: a Hill curve in yesterday's expected first installs per 1,000
    users (``Day.migration_wave``), half its height at ``wave_news_threshold``, so a trickle of installs
    makes no news. And they cover it as a story about the ban (A1: users joined "facing the ban"): the
    news scale with the ban's news attention that day (``salience``, 0..1), so the same installs make
    little news on a quiet day and much when a court ruling is in the news.

    The day the migration itself became the story is dated, not derived: ``migration_news`` is the
    timeline's pulse of such days (``BanSignals.migration_news``: 13 January 2025, #tiktokrefugee trending
    and RedNote at the top of the App Store, A2), which adds ``migration_news_weight`` x the pulse. The
    installs alone cannot say on which day a hashtag trends; the record can. Exactly the wave's news
    when ``migration_news_weight`` is 0 (x + 0.0 is x)."""
    squared = migration_wave * migration_wave
    return (news_attention * squared / (squared + p.wave_news_threshold * p.wave_news_threshold)
            + p.migration_news_weight * migration_news)


def update_buzz(buzz, todays_wave_news, p: Params):
    """News that spreads: the attention the migration holds (``buzz``, 0..1), from yesterday's and the
    day's news of the wave (``wave_news``).

    A share 1 / (1 + ``news_lag_days``) of the way to the day's level each day (a lag of that many
    days), and the level itself the day's news amplified by 1 + ``news_echo`` x yesterday's buzz (the
    story feeds on its own coverage: reposts, explainers, the chart as news), so a story already told
    spreads further, but no story outlives its news: without fresh news the buzz fades at the lag's
    pace. At ``news_lag_days`` = 0 and ``news_echo`` = 0 the buzz is the day's news, exactly: the
    migration acts as news on the day of the wave."""
    step = 1.0 / (1.0 + p.news_lag_days)
    return (1.0 - step) * buzz + step * _minimum(1.0, todays_wave_news * (1.0 + p.news_echo * buzz))


def wave_coverage(buzz, p: Params):
    """How much the coverage of the migration teaches in a day (share of the familiarity gap): the
    migration's attention (``update_buzz``) times ``wave_coverage``. Without the buzz's lag and echo the
    installs taught themselves: the day users learned of RedNote was set by a self-reinforcing December
    trickle and moved from seed to seed by up to three weeks."""
    return p.wave_coverage * buzz


def update_familiarity(familiarity, on_rednote, rednote_friend_share, buzz, p: Params):
    """Users learn of RedNote from friends who use it and from the coverage of the migration itself.
    A user on RedNote knows it; nobody forgets it within the year."""
    learning = _minimum(1.0, p.word_of_mouth * rednote_friend_share + wave_coverage(buzz, p))
    return _select(on_rednote, 1.0, familiarity + learning * (1.0 - familiarity))


def update_chart(chart, migration_wave, p: Params):
    """RedNote's App Store chart position as users see it (0..1): a Hill curve of yesterday's expected
    first installs, half way at ``chart_threshold``, or, once they fall, what is left of the best
    position, fading by a share 1 / (1 + ``chart_days``) a day. Installs then run on chart momentum
    for a while after the reason to join has faded."""
    squared = migration_wave * migration_wave
    now = squared / (squared + p.chart_threshold * p.chart_threshold)
    return _maximum(now, chart * (p.chart_days / (1.0 + p.chart_days)))


def install_drive(chart, tiktok_in_stores, p: Params):
    """What pushes a first install apart from the value of using RedNote (utility, for users never on
    it): the chart (a top-ranked app is tried) and TikTok's absence from the app stores (a new phone,
    a curious user, finds RedNote where TikTok was). 0 when both weights are 0."""
    return p.install_chart_pull * chart + p.install_store_pull * (1.0 - tiktok_in_stores)


def tiktok_gone(days_dark, p: Params):
    """How far users take TikTok to be gone (0..1) after ``days_dark`` consecutive days without its
    service: days / (days + ``outside_wait_days``). A blackout of a day is waited out; a lasting one is not."""
    return days_dark / (days_dark + p.outside_wait_days)


def attention(threat, buzz, p: Params):
    """The moment's attention to the platforms (0..1): the ban's threat (TikTok dark or about to be),
    weighted by ``threat_attention``, or the migration's buzz, whichever is larger."""
    return _maximum(p.threat_attention * threat, buzz)


def festival_pull(festival, p: Params):
    return p.festival_boost * festival


def rednote_levers(rednote_stickiness, is_creator, p: Params):
    """Counterfactual levers on RedNote's value (both 0 by default, which adds exactly nothing):
    creators paid to stay, and RedNote's community habit weighing more than TikTok's."""
    return p.creator_rednote_bonus * is_creator + p.rednote_habit_extra * habit_value(rednote_stickiness, p)


def revealed_share(rednote_days, p: Params):
    """How much of RedNote's fit a user has learned after ``rednote_days`` days since first using it:
    days / (days + ``fit_learning_days``), 0 before trying it."""
    return rednote_days / (rednote_days + p.fit_learning_days)


def experienced_fit(rednote_fit, is_creator, rednote_days, p: Params):
    """Experience-good learning: what trying RedNote taught a user about its fit (utility).

    ``rednote_fit`` is the user's own standardised fit (language, culture, content; drawn once, mean 0),
    worth ``fit_spread`` per standard deviation; a creator also learns what audience RedNote gives
    them, ``creator_fit_shift`` on top. Before trying, users expect the mean (in ``rednote_appeal``);
    it is revealed as ``revealed_share`` says, so the disappointed leave in their first weeks. 0 when
    ``fit_spread`` and ``creator_fit_shift`` are 0 (and then not computed)."""
    if p.fit_spread == 0.0 and p.creator_fit_shift == 0.0:
        return 0.0
    return revealed_share(rednote_days, p) * (p.fit_spread * rednote_fit + p.creator_fit_shift * is_creator)


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
    is_creator, rednote_user_share, rednote_fit, rednote_days, p: Params,
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
        + experienced_fit(rednote_fit, is_creator, rednote_days, p)
    )


def other_apps_value(taste, threat, gone, p: Params):
    """The outside option: other short-video apps (Reels, Shorts), already on the phone, with TikTok's
    entertainment fit; worth more when TikTok is threatened (``outside_threat_pull`` x threat) and when
    it is gone (``outside_pull`` x ``tiktok_gone``)."""
    fit, _ = content_fit(taste, p)
    return p.outside_appeal + fit + p.outside_threat_pull * threat + p.outside_pull * gone


def dual_use_cost(is_creator, p: Params):
    """Attention spent keeping two platforms; a creator must also feed both with content."""
    return p.attention_cost * (1.0 + p.creator_extra_attention * is_creator)


def rednote_take_up_cost(on_rednote, ever_on_rednote, drive, p: Params):
    """What taking up RedNote costs today (utility): nothing for its users; ``switching_cost`` x
    ``dormant_return_cost`` for a dormant account (tried it, left, the app still there); the full
    ``switching_cost`` less the day's ``install_drive`` for a first install."""
    never = 1.0 - ever_on_rednote
    dormant = ever_on_rednote * (1.0 - on_rednote)
    return p.switching_cost * (never + dormant * p.dormant_return_cost) - never * drive


def option_utilities(value_tiktok, value_rednote, value_other, has_tiktok_installed, on_rednote, ever_on_rednote,
                     drive, is_creator, p: Params):
    """Utilities of the options of ``OPTION_TABLE``, along the last axis: the values of the platforms an
    option holds, less what taking each up costs, less the attention cost of keeping TikTok and RedNote.

    Taking up TikTok costs ``switching_cost`` unless the app is still on the phone: a user kept off
    TikTok by a blackout goes back for free, one who deleted it pays again. RedNote: ``rednote_take_up_cost``.
    Other apps are on every phone already."""
    tiktok = value_tiktok - p.switching_cost * (1.0 - has_tiktok_installed)
    rednote = value_rednote - rednote_take_up_cost(on_rednote, ever_on_rednote, drive, p)
    return _platform_options((tiktok, rednote, value_other), dual_use_cost(is_creator, p))


def available_options(tiktok_in_stores, has_tiktok_installed, outside_option=1):
    """Which options a user can choose today: TikTok needs the app, kept on the phone or from a store;
    other apps exist as an option only where ``outside_option`` is 1."""
    can_choose_tiktok = tiktok_in_stores | has_tiktok_installed
    return _available_by_need(can_choose_tiktok, outside_option == 1)


def usage_during_service(choice, tiktok_service):
    """The state a choice puts a user in: while TikTok is dark, one who keeps TikTok waits with the app
    installed but cannot use it (TikTok only -> neither, both -> RedNote only; ``WITHOUT_TIKTOK``)."""
    if tiktok_service:
        return choice
    if _is_array(choice):
        return _WITHOUT_TIKTOK_ARRAY[choice]
    return WITHOUT_TIKTOK[choice]


def draw_choice_uniforms(rng, n_users: int, out: np.ndarray | None = None) -> np.ndarray:
    """One uniform number on [0, 1) per user for the day's choice (float64, shape (n_users,)), in user
    order: every driver draws the day's numbers from the model's rng this way, so all of them see the same
    (the compiled day draws the same numbers itself, numpy's PCG64 step for step, each chunk of users from
    the stream advanced to its first one; ``model.compiled_day``). ``out``: a float64 buffer of at least
    ``n_users`` to fill instead of a new array."""
    return rng.random(n_users) if out is None else rng.random(out=out[:n_users])


def logit_weights(utilities, available):
    """The logit's weights of a day's options: (exp(U) per option, 0 if unavailable; their sum), or
    relative to the largest utility where exp(U) would leave ``WEIGHTS_RANGE`` (``_logit_weights``).
    The choice and the first-install chance both read them (``choose_by_weights``,
    ``first_install_chance_by_weights``), so an engine computes the exponentials once per user and day."""
    return _logit_weights(utilities, available)


def choose_option(utilities, uniform, available):
    """The logit choice: option k with probability exp(U_k) / sum(exp(U)) over the available options,
    drawn by the inverse of that distribution from one uniform number on [0, 1) (``draw_choice_uniforms``).

    Exactly the choice of the highest utility plus i.i.d. standard Gumbel taste shocks (McFadden), from
    one random number instead of one per option and with the exponentials the first-install chance needs
    anyway."""
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
    The options that put a user on RedNote are those holding it (``uses_rednote``)."""
    weights, total = logit_weights(utilities, available)
    return first_install_chance_by_weights(weights, total, ever_on_rednote)


def first_install_chance_by_weights(weights, total, ever_on_rednote):
    """``first_install_chance`` from the options' ``logit_weights``."""
    on_rednote = _option(weights, _ON_REDNOTE[0])
    for option in _ON_REDNOTE[1:]:
        on_rednote = on_rednote + _option(weights, option)
    return _select(ever_on_rednote, 0.0, on_rednote / total)


def update_stickiness(stickiness, on_platform, share_of_friends, p: Params):
    """Habit grows with use and with friends on the platform, and decays with disuse."""
    gain = _minimum(1.0, p.stickiness_growth + p.stickiness_social * share_of_friends)
    return _select(on_platform, stickiness + gain * (1.0 - stickiness), stickiness - p.stickiness_decay * stickiness)


def advance_tenure(rednote_days, ever_on_rednote):
    """Days since a user first used RedNote, counting the day of the first install as 1 (0 for one who
    never has); it stops at ``TENURE_CAP``."""
    return _minimum(rednote_days + ever_on_rednote, TENURE_CAP)


def keeps_tiktok_installed(choice):
    """A user keeps the app while choosing TikTok (even through a blackout); one who drops it deletes it."""
    return uses_tiktok(choice)


def rednote_moment(rednote_days, moment_attention, p: Params):
    """Engagement of the moment on RedNote (0..1): the novelty of a new app, ``novelty_activity`` x
    novelty_days / (novelty_days + days on it), and the moment's attention (``attention``: TikTok dark
    or threatened, the migration in the news), ``attention_activity`` x attention. 0 when both weights are
    0 (and then not computed)."""
    if p.novelty_activity == 0.0 and p.attention_activity == 0.0:
        return 0.0
    novelty = p.novelty_days / (p.novelty_days + rednote_days)
    return _minimum(1.0, p.novelty_activity * novelty + p.attention_activity * moment_attention)


def activity_probability(stickiness, p: Params, moment=0.0):
    """Chance a user of a platform opens it on a given day: higher the stickier the habit, and higher in
    the moment (``rednote_moment``, 0..1: a share of the rest of the way to certainty). A RedNote
    account held with a low chance is a dormant account; the moment wakes it."""
    habit = p.activity_floor + (1.0 - p.activity_floor) * stickiness
    if not _is_array(moment) and moment == 0.0:   # no moment: the habit's chance, and no work
        return habit
    return habit + (1.0 - habit) * moment


def tiktok_activity_probability(tiktok_stickiness, rednote_activity, p: Params):
    """Chance a TikTok user opens TikTok on a day: the habit's (``activity_probability``), less the days a
    day's time went to RedNote instead. ``rednote_activity`` is the same user's chance of opening RedNote
    that day (0 for a user not on it); one who opens it skips TikTok with the chance ``tiktok_time_split``
    (a time budget: the hours of a day spent exploring RedNote are not spent on TikTok), the two draws
    otherwise independent: ``habit x (1 - tiktok_time_split x rednote_activity)``. So TikTok's daily use
    dips when RedNote's jumps (Similarweb: -2.1% week on week on 13 January 2025) though nobody leaves
    TikTok. Exactly the habit's chance when ``tiktok_time_split`` is 0 (and then not computed)."""
    habit = activity_probability(tiktok_stickiness, p)
    if p.tiktok_time_split == 0.0:
        return habit
    return habit * (1.0 - p.tiktok_time_split * rednote_activity)


def bass_adoption_probability(innovation, imitation, adopter_share):
    """The Bass diffusion rule: a non-adopter adopts on a given day with probability p + q x (share of
    adopters among those it hears from). Not part of the migration model: the reduced rule against which
    the drivers are verified (see model/bass.py)."""
    return np.clip(innovation + imitation * adopter_share, 0.0, 1.0)
