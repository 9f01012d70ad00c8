"""The system-dynamics twin: the migration model as stocks and flows, integrated with ``solve_ivp``.

The agent-based drivers follow every user; the twin follows the *shares* of users in a well-mixed
population and lets them flow between stocks at the rates the agents' own rules give on average. Same
``Params``, same timeline signals, same observables (``model.observables.COLUMNS``), no random numbers,
and one run of the default year costs 0.8-0.95 s of CPU on the project's shared 2-core machine
(``python -m experiments.bench_twin``): about a third of one 20,000-agent ABM run. Nearly all of it is
the right-hand side calling the rules (about 1,900 calls a year) and one solver start a day. Carrying
familiarity added about a sixth (median 0.52 -> 0.60 s, measured side by side on a busy machine).

Stocks. Users are split into a few fixed *classes* that stand for the population's heterogeneity (see
below). Within a class a user's discrete situation is a *compartment*: the state (TikTok only, RedNote
only, both, neither), whether TikTok is still installed (it decides whether taking it up again costs the
switching cost, and whether TikTok can be used while it is out of the stores), and whether the user has
ever been on RedNote (a first use is a download). Each compartment holds its share of users, the mean
TikTok and RedNote stickiness of those users and their mean familiarity with RedNote (each kept as
quantity x share, so flows carry it). The TikTok start compartment starts at ``initial_familiarity``, the
dual one (users already on RedNote) at 1, as in the ABM. The compartments are those users can reach from
the start under the rules, found by following every option with TikTok's service on and off
(``reachable_compartments``).

Flows. Each day's signals (threat, reactance, festival, TikTok's service and store presence) hold for
that day, t in [i, i+1). At any moment, for the users of a compartment, the twin calls the agents' rules
on the compartment's quantities: ``tiktok_value`` and ``rednote_value`` with the class's taste, defiance
and creator flag, the compartment's mean stickiness and mean familiarity and, as friend share, the
population share of each platform (in a well-mixed population a user's friends are a sample of
everyone); then ``option_utilities``, ``available_options`` and ``choice_probabilities`` (the logit rule that
``choose_option`` draws). Where a choice leads - the new state
(``usage_during_service``: while TikTok is dark, choosing it means waiting with the app), TikTok kept or
deleted (``keeps_tiktok_installed``), RedNote ever used - is worked out from the rules once per day.
Habits move as ``update_stickiness`` says: the mean stickiness of a compartment relaxes at the rate
``update_stickiness(s, on, share) - s`` per day, and users who change compartment take their
compartment's mean stickiness with them. DAU calls ``activity_probability`` on the mean stickiness.
Familiarity moves as ``update_familiarity`` says, the same way: a compartment's mean familiarity f relaxes
at the rate ``update_familiarity(f, on_rednote, rednote_share, wave, salience) - f`` per day, where the
friend share is RedNote's population share, ``salience`` the day's news attention to the ban, and ``wave``
is ``Day.migration_wave``, yesterday's first installs per 1,000 users: the downloads the twin booked
during day i - 1, read from its own running total at the day boundaries (``integrate_days`` hands each day
the states so far), 0 on the first day. They are expected values, which is what the ABM's wave is too
(``rules.first_install_chance``). Movers take their compartment's mean familiarity along, except that a
user who takes up RedNote arrives with what the rule gives a user on RedNote (1): such a move takes f out
of its stock and puts 1 into the next.

Approximations (documented, and measured by ``python -m experiments.compare_twins``):
- *Well mixed*: friend share = population share. Clustering, degree and who is friends with whom are
  gone; creators differ from others only by taste and by the creator rule, not by their audiences' size.
- *Mean stickiness*: a compartment's choice is computed at its mean stickiness. ``update_stickiness`` and
  ``activity_probability`` are affine in stickiness, so means are carried exactly, but the logit is not
  linear: the spread of habits within a compartment, and the selection of the less attached users out of
  it, are left out (a first-moment closure).
- *Mean familiarity*: the same closure for familiarity. Well mixed, learning depends on population
  quantities only, so all users never on RedNote share one familiarity and all who have been on it have
  1: the twin's means are its users' values. What is left out is the ABM's spread: users with more RedNote
  friends learn sooner, and while taking RedNote up is rare its chance is convex in familiarity (as
  exp(-unfamiliarity_cost x (1 - f))), so a spread raises adoption above that at the mean.
- *Daily steps as rates*: the rules' daily updates of stickiness and familiarity (a share L of the gap
  closed per day) become the rate L per day, so a day at constant rates closes 1 - e^-L of the gap, not L.
  It matters most for familiarity, whose daily step reaches its cap of 1 (everyone learns in a day in the
  ABM) once the wave's coverage (``rules.wave_coverage``) and word of mouth add up to 1; the twin then
  closes 63% of the gap a day.
- *Small populations*: the twin is the large-population limit. Until 2026-11-29 the ABM's wave came in
  whole drawn installs, so in a small population it was all or nothing and a run could fail to ignite
  (defaults of cd00961: the mean of 4 runs of 3,000 agents had 0.70 x the twin's RedNote users in
  February-March 2025). The wave is now the expected installs (``rules.first_install_chance``), as the
  twin's are: on a random graph the mean of 4 runs of 3,000 agents has 0.92-0.99 x the twin's RedNote
  users and 0.93-1.02 x its downloads (2 groups of seeds), 10,000 agents 0.99-1.00 x.
- *Issue 15's mechanisms*: the user's own fit with RedNote (``rules.experienced_fit``) is a third quadrature
  axis of the classes: ``fit_nodes`` (3) probabilists' Gauss-Hermite nodes of the standard normal, only
  while ``fit_spread`` > 0 (else one node at 0: the twin costs what it did); the users on RedNote at the
  start sit on the nodes above the mean, as the ABM gives them |z|. Days since first using RedNote
  (``rules.advance_tenure``) are each stock's mean, kept as share x days: they grow at one a day for
  users who have been on RedNote, movers take their stock's mean along and first users arrive with 0
  (the ABM counts the day of the first install as 1). Novelty and the learned share of the fit are
  hyperbolic in days and taken at that mean (a first-moment closure, like stickiness). The migration's
  buzz and chart (``rules.update_buzz``, ``rules.update_chart``) are day-level values computed as the ABM
  does (``model.day.day_from_shares``) from the twin's own first installs of the day before. The cohort
  of 13-14 January is not followed: its columns are NaN. Dormant accounts are the share ever on RedNote
  less RedNote's DAU, as in the ABM. The dated migration news (``BanSignals.migration_news``) reaches the
  twin's buzz through the same ``day_from_shares``, exactly as in the ABM. TikTok's time shared with RedNote
  (``rules.tiktok_activity_probability``) is taken at each dual stock's means: its TikTok chance at the
  mean TikTok habit times 1 - ``tiktok_time_split`` x its RedNote chance at the mean RedNote habit and mean
  days (the mean of a product of two affine-in-habit chances, taken as the product of the means: the
  covariance of the two habits within a stock is left out).
- *Heterogeneity by quadrature*: taste and defiance are Beta-distributed in the ABM. The twin uses
  Gauss-Jacobi nodes of each Beta distribution (exact for the Beta's moments up to order 2n-1), one set
  of taste nodes for creators and one for others, crossed with the defiance nodes:
  ``taste_nodes x defiance_nodes x 2`` classes, each with its own stocks, weighted by the product of the
  quadrature weights and the creator share. With the defaults (4 x 4 x 2 = 32 classes) the default
  year's daily series were within 2e-4 (relative to each series' peak) of a 6 x 6 x 2 twin, both
  integrated tightly; 3 x 3 x 2 was within 4e-3.
  The ABM's creators are its best-connected users; here only their traits and rule set them apart.
- *Daily decisions as continuous flows*: an agent decides once a day from yesterday's shares; the twin
  turns the day's choice probabilities into rates per day and integrates them in continuous time, with the
  shares updating within the day. Two conversions, each right where the other is wrong:
  ``rates="probability"`` (default) uses each move's chance per day as its rate (the textbook reading,
  whose reduced form is the Bass equation): a stock's mean residence time is the ABM's, 1 / P(leave)
  days, and the daily chain's stationary shares are kept, but where everyone moves on one day (the
  blackout, when every TikTok user is put out of TikTok) only 1 - 1/e of the stock moves within that day.
  ``rates="hazard"`` gives the moves out of a stock the total rate -ln(1 - P(leave)), shared in
  proportion to their probabilities (capped at ``MAX_DAILY_HAZARD`` per day, so a forced move leaves
  e^-20 behind): a day at constant rates moves exactly P(leave) of the stock, so the blackout's moves
  finish within the day; but residence shrinks to 1 / -ln(1 - P(leave)) days, and users moved early in a
  day can move again that day (the blackout day's downloads come out about twice the ABM's).
  The blackout dominates the twin-ABM gap, and which conversion lands closer over the year depends on
  the parameters, since RedNote use feeds on itself after the blackout's head start: at the end of 2025
  (``experiments.compare_twins``, 8 runs of 20,000 agents, clustered graph) the twin's dual users were,
  with the fourth calibration pass's defaults, +17% (probability) and +25% (hazard) off the ABM median;
  with the second pass's, +5% and +18%; with the first pass's, -13% and +5%; with the defaults of
  cd00961, familiarity carried (3 runs of 20,000 agents), +19% and +26% (random graph: +10% and +16%;
  the twin passing familiarity 1, as before, had +21% on the random graph). Beyond the blackout, the
  graph itself holds RedNote back (fourth pass): the ABM's dual users at the end of 2025 were 12% below
  the probability twin's on a random graph with the default degrees, and 3% fewer again on the
  clustered graph.
"""

from __future__ import annotations

import dataclasses
import itertools
import time

import numpy as np
import pandas as pd
from scipy.integrate import solve_ivp
from scipy.special import roots_sh_jacobi

from agents import rules
from model.day import day_from_shares, migration_wave
from model.observables import to_frame
from model.params import ParameterError, Params
from model.timeline import Timeline, load_timeline

RATE_MODES = ("probability", "hazard")   # the first is the default
MAX_DAILY_HAZARD = 20.0

# A compartment is coded state x 4 + TikTok installed x 2 + ever on RedNote.
START_COMPARTMENTS = {"tiktok": rules.TIKTOK * 4 + 2, "dual": rules.BOTH * 4 + 2 + 1}


def compartment_flags(codes):
    codes = np.asarray(codes)
    return codes // 4, (codes // 2) % 2 == 1, codes % 2 == 1


def state_after(tiktok_service: bool) -> np.ndarray:
    """The state each option (0..3) puts a user in, per the rules (while TikTok is dark, choosing it
    means waiting for it)."""
    return rules.usage_during_service(np.arange(rules.N_OPTIONS), bool(tiktok_service))


def compartment_after(ever, tiktok_service):
    """The compartment each option (last axis) leads to for users with these flags, per the rules."""
    option = np.arange(rules.N_OPTIONS)[None, :]
    state = state_after(tiktok_service)[None, :]
    installed = rules.keeps_tiktok_installed(option)
    new_ever = np.asarray(ever)[:, None] | rules.uses_rednote(state)
    return state * 4 + installed.astype(int) * 2 + new_ever.astype(int)


def reachable_compartments() -> np.ndarray:
    """Compartments users can ever be in, from the start, any option, TikTok's service on or off."""
    seen = set(START_COMPARTMENTS.values())
    frontier = sorted(seen)
    while frontier:
        _, _, ever = compartment_flags(frontier)
        found = {int(c) for service in (False, True) for c in compartment_after(ever, service).ravel()}
        frontier = sorted(found - seen)
        seen |= found
    return np.array(sorted(seen))


# --- pieces shared with the reduced (Bass) twin --------------------------------------------------------

def flow_rates(move_probabilities, mode: str = "probability"):
    """Per-day rates of the moves out of a stock, from the day's probability of each move (last axis).

    ``probability``: the rate of a move is its chance per day. ``hazard``: the total rate is
    -ln(1 - P(leave)), shared in proportion to the moves' chances, so that a day at constant rates moves
    exactly P(leave) of the stock."""
    if mode == "probability":
        return move_probabilities
    if mode != "hazard":
        raise ParameterError(f"unknown rate mode {mode!r}; choose one of {RATE_MODES}")
    leave = np.sum(move_probabilities, axis=-1, keepdims=True)
    capped = np.minimum(leave, 1.0 - np.exp(-MAX_DAILY_HAZARD))
    factor = np.where(leave > 1e-12, -np.log1p(-capped) / np.maximum(leave, 1e-300), 1.0)
    return move_probabilities * factor


def integrate_days(day_derivative, y0: np.ndarray, n_days: int, *, rtol: float, atol: float,
                   method: str = "RK23", progress=None) -> np.ndarray:
    """Integrate from t = 0 to n_days, where ``day_derivative(i, history)`` gives the right-hand side
    f(t, y) that holds on day i (t in [i, i + 1)); ``history`` holds the states so far, shape
    (i + 1, len(y0)): y0, then the state at the end of each day before i (so a day can depend on what
    happened the day before, as the ABM's migration wave does). Returns the state at the end of each day,
    shape (n_days, len(y0)).

    The daily signals jump at each day boundary, so the solver restarts there: one solver run across the
    jumps lets steps straddle them and, at the same tolerance, missed the daily downloads by 4%. A day is
    first tried as one step, which most days pass; the low-order RK23 then needs 4 evaluations a day
    (RK45: 7), and the right-hand side, which calls the rules, is what costs. With the twin's defaults
    (RK23, rtol 1e-5, atol 1e-9) the default year was within 3e-4 of each series' peak of an RK45 run at
    rtol 1e-8."""
    y = np.asarray(y0, dtype=float)
    states = np.empty((n_days + 1, y.size))
    states[0] = y
    for i in range(n_days):
        sol = solve_ivp(day_derivative(i, states[:i + 1]), (float(i), float(i + 1)), y, method=method,
                        rtol=rtol, atol=atol, first_step=1.0)
        if not sol.success:
            raise RuntimeError(f"the twin's integration failed on day {i}: {sol.message}")
        y = states[i + 1] = sol.y[:, -1]
        if progress is not None:
            progress(1)
    return states[1:]


# --- heterogeneity ---------------------------------------------------------------------------------------

def beta_quadrature(mean: float, concentration: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Jacobi nodes and weights (summing to 1) of Beta(mean x c, (1 - mean) x c) on [0, 1]:
    E[g(X)] ~ sum(w g(x)), exact for polynomials g of degree up to 2n - 1."""
    if n < 1:
        raise ParameterError(f"quadrature needs at least one node, got {n}")
    a, b = mean * concentration, (1.0 - mean) * concentration
    if n == 1:
        return np.array([mean]), np.array([1.0])
    # scipy's shifted Jacobi weight is (1 - x)^(p - q) x^(q - 1) on [0, 1].
    nodes, weights = roots_sh_jacobi(n, a + b - 1.0, a)
    if not (np.all(np.isfinite(nodes)) and np.all(weights > 0)):
        raise ParameterError(f"no usable {n}-node quadrature for Beta({a:.3g}, {b:.3g}); use fewer nodes")
    return np.clip(nodes, 0.0, 1.0), weights / weights.sum()


@dataclasses.dataclass(frozen=True)
class Classes:
    """Fixed groups of users standing for the trait distributions: one row per class."""

    weight: np.ndarray      # share of the population
    taste: np.ndarray
    defiance: np.ndarray
    is_creator: np.ndarray
    fit: np.ndarray          # own fit with RedNote (standardised), a Gauss-Hermite node
    first_users: np.ndarray  # weight of the class among the users on RedNote at the start, relative to its
                             # weight among all (they are the half who fit: 2 above the mean, 0 below)

    @classmethod
    def from_params(cls, p: Params, taste_nodes: int = 4, defiance_nodes: int = 4, fit_nodes: int = 3) -> Classes:
        if p.fit_spread > 0:   # standard normal fit: probabilists' Gauss-Hermite nodes, symmetric
            fit, fit_w = np.polynomial.hermite_e.hermegauss(fit_nodes)
            fit_w = fit_w / fit_w.sum()
        else:
            fit, fit_w = np.zeros(1), np.ones(1)
        if p.defiance_mean > 0:
            defiance, defiance_w = beta_quadrature(p.defiance_mean, p.defiance_concentration, defiance_nodes)
        else:   # the ABM gives everyone zero defiance
            defiance, defiance_w = np.zeros(1), np.ones(1)
        rows = []
        for is_creator, share, taste_mean in (
            (False, 1.0 - p.creator_share, p.lifestyle_taste_mean),
            (True, p.creator_share, p.creator_lifestyle_taste_mean),
        ):
            if share <= 0:
                continue
            taste, taste_w = beta_quadrature(taste_mean, p.taste_concentration, taste_nodes)
            for (t, tw), (d, dw), (z, zw) in itertools.product(zip(taste, taste_w, strict=True),
                                                               zip(defiance, defiance_w, strict=True),
                                                               zip(fit, fit_w, strict=True)):
                first = 1.0 if fit.size == 1 else 2.0 * (z > 1e-12) + 1.0 * (abs(z) <= 1e-12)
                rows.append((share * tw * dw * zw, t, d, is_creator, z, first))
        weight, taste, defiance, creator, fit_value, first_users = (np.array(col) for col in zip(*rows, strict=True))
        return cls(weight=weight, taste=taste, defiance=defiance, is_creator=creator.astype(bool), fit=fit_value,
                   first_users=first_users)

    def __len__(self) -> int:
        return len(self.weight)


# --- the twin ----------------------------------------------------------------------------------------------

class SystemDynamicsModel:
    """The migration model as a system of ODEs. Same call as the ABM drivers; ``rng`` is accepted for a
    common interface and ignored: the twin has no randomness.

    Stocks are arrays of (class, compartment); the state vector packs the share of the population in each
    stock, the share x mean TikTok stickiness, the share x mean RedNote stickiness, the share x mean
    familiarity with RedNote, the share x mean days since first using RedNote, and five running totals of flows (downloads, migrants, return migrants, and
    the last two for creators). ``unpack`` splits it."""

    TOTALS = ("downloads", "migrants", "return_migrants", "creator_migrants", "creator_return_migrants")

    def __init__(self, params: Params | None = None, timeline: Timeline | None = None, rng=None, *,
                 taste_nodes: int = 4, defiance_nodes: int = 4, fit_nodes: int = 3, rates: str = "probability",
                 method: str = "RK23", rtol: float = 1e-5, atol: float = 1e-9, **overrides):
        if rates not in RATE_MODES:
            raise ParameterError(f"unknown rate mode {rates!r}; choose one of {RATE_MODES}")
        self.params = (params or Params()).replace(**overrides) if overrides else (params or Params())
        self.timeline = timeline if timeline is not None else load_timeline()
        self.signals = self.timeline.signals(self.params)
        self.rates, self.method, self.rtol, self.atol = rates, method, rtol, atol
        self.classes = Classes.from_params(self.params, taste_nodes, defiance_nodes, fit_nodes)
        self.run_seconds: float | None = None
        self.path: np.ndarray | None = None   # after run: the stocks at the end of each day

        # Compartments the rules never fill are left out.
        self.compartments = reachable_compartments()
        self._row_of = np.full(rules.N_OPTIONS * 4, -1)
        self._row_of[self.compartments] = np.arange(len(self.compartments))
        self.state, self.installed, self.ever = compartment_flags(self.compartments)
        self.on_tiktok = rules.uses_tiktok(self.state)
        self.on_rednote = rules.uses_rednote(self.state)
        self.shape = (len(self.classes), len(self.compartments))
        # Class traits as columns, to broadcast against (class, compartment).
        self.taste = self.classes.taste[:, None]
        self.defiance = self.classes.defiance[:, None]
        self.is_creator = self.classes.is_creator[:, None]
        self.fit = self.classes.fit[:, None]
        # Day-level states carried from day to day (the migration's buzz and chart, the moment's attention),
        # filled in day order as the integration reaches each day.
        self._days: dict[int, object] = {}
        self._moves: dict[bool, dict[str, np.ndarray]] = {}

    @property
    def size(self) -> int:
        return self.shape[0] * self.shape[1]

    def unpack(self, y: np.ndarray) -> dict[str, np.ndarray]:
        """The stocks in a state vector, or in each row of an array of them (e.g. a run's ``path``):
        ``share`` (..., class, compartment); ``habit`` (..., 2, class, compartment), share x mean TikTok
        and RedNote stickiness; ``familiarity`` (..., class, compartment), share x mean familiarity;
        ``totals`` (..., 5), the running totals named by ``TOTALS``."""
        y = np.asarray(y)
        lead, n = y.shape[:-1], self.size
        return {
            "share": y[..., :n].reshape(*lead, *self.shape),
            "habit": y[..., n:3 * n].reshape(*lead, 2, *self.shape),
            "familiarity": y[..., 3 * n:4 * n].reshape(*lead, *self.shape),
            "tenure": y[..., 4 * n:5 * n].reshape(*lead, *self.shape),
            "totals": y[..., 5 * n:],
        }

    def initial_state(self) -> np.ndarray:
        p = self.params
        share = np.zeros(self.shape)
        habit = np.zeros((2, *self.shape))
        familiarity = np.zeros(self.shape)
        tenure = np.zeros(self.shape)
        # Everyone starts on TikTok with it installed; a few already use RedNote as well, and know it (as in
        # the ABM).
        for compartment, fraction, rednote_stickiness, known in (
            (START_COMPARTMENTS["tiktok"], 1.0 - p.initial_rednote_share, 0.0, p.initial_familiarity),
            (START_COMPARTMENTS["dual"], p.initial_rednote_share, p.initial_rednote_stickiness, 1.0),
        ):
            k = self._row_of[compartment]
            on_rednote = compartment == START_COMPARTMENTS["dual"]
            share[:, k] = self.classes.weight * fraction * (self.classes.first_users if on_rednote else 1.0)
            habit[0, :, k] = share[:, k] * p.initial_tiktok_stickiness
            habit[1, :, k] = share[:, k] * rednote_stickiness
            familiarity[:, k] = share[:, k] * known
            tenure[:, k] = share[:, k] * (rules.TENURE_CAP if on_rednote else 0.0)
        return np.concatenate([share.ravel(), habit.ravel(), familiarity.ravel(), tenure.ravel(),
                               np.zeros(len(self.TOTALS))])

    def moves(self, tiktok_service: bool) -> dict[str, np.ndarray]:
        """Where each option leads from each compartment, and what kind of move it is, per the rules; as
        matrices, so a moment's flows are booked with matrix products."""
        key = bool(tiktok_service)
        if key not in self._moves:
            k = len(self.compartments)
            destination = self._row_of[compartment_after(self.ever, tiktok_service)]
            moving = destination != np.arange(k)[:, None]
            state = state_after(tiktok_service)[None, :]
            first_use = rules.uses_rednote(state) & ~self.ever[:, None]
            migration = rules.uses_rednote(state) & ~self.on_rednote[:, None]
            returning = (state == rules.TIKTOK) & self.on_rednote[:, None]
            arrive = np.zeros((k * rules.N_OPTIONS, k))
            arrive[np.arange(k * rules.N_OPTIONS), destination.ravel()] = moving.ravel()
            self._moves[key] = {
                "moving": moving,
                # (option,): whether an option puts a user on RedNote.
                "enters_rednote": rules.uses_rednote(state_after(tiktok_service)),
                # (compartment x option, compartment): adds each flow to the stock it enters.
                "arrive": arrive,
                # (compartment x option, 3): which flows are downloads, migrations, returns.
                "count": np.stack([(m & moving).ravel() for m in (first_use, migration, returning)],
                                  axis=1).astype(float),
            }
        return self._moves[key]

    @staticmethod
    def stock_mean(share, stock):
        """Mean per user of a quantity in [0, 1] kept as share x mean (stickiness, familiarity); empty
        stocks have none."""
        return np.clip(stock / np.maximum(share, 1e-300), 0.0, 1.0) * (share > 1e-15)

    @staticmethod
    def mean_tenure(share, stock):
        """Mean days since first using RedNote per user of each stock (kept as share x days); empty stocks
        have none."""
        return np.maximum(stock / np.maximum(share, 1e-300), 0.0) * (share > 1e-15)

    def yesterdays_wave(self, history: np.ndarray) -> float:
        """Day i's ``Day.migration_wave`` from the states so far (y0 and the end of days 0..i-1): the first
        installs of RedNote booked during day i - 1, per 1,000 users; 0 on the first day, as in the ABM."""
        if len(history) < 2:
            return 0.0
        downloads = self.unpack(history[-2:])["totals"][:, self.TOTALS.index("downloads")]
        return migration_wave(float(downloads[1] - downloads[0]), 1.0)   # downloads are shares of all users

    def day_derivative(self, i: int, history: np.ndarray):
        """The right-hand side for day i, whose signals hold from t = i to i + 1; ``history`` holds the
        states so far (see ``integrate_days``), from which yesterday's migration wave is read."""
        p, s = self.params, self.signals
        service, stores = s.tiktok_service[i], s.tiktok_in_stores[i]
        threat, reactance, festival = s.threat[i], s.reactance[i], s.festival[i]
        start_share = self.unpack(history[-1])["share"].sum(axis=0)
        day = self._days[i] = day_from_shares(
            s, i, float(start_share @ self.on_tiktok), float(start_share @ self.on_rednote),
            self.yesterdays_wave(history), p, self._days.get(i - 1))
        moves = self.moves(service)
        moving, arrive, count = moves["moving"], moves["arrive"], moves["count"]
        enters_rednote = moves["enters_rednote"]
        available = rules.available_options(bool(stores), self.installed, p.outside_option)
        value_other = rules.other_apps_value(self.taste, threat, day.tiktok_gone, p)
        ever = self.ever.astype(float)
        on_platform = np.stack([self.on_tiktok, self.on_rednote])[:, None, :]
        on_tiktok, on_rednote = self.on_tiktok.astype(float), self.on_rednote.astype(float)
        creator_weight = np.stack([np.ones(self.shape[0]), self.classes.is_creator.astype(float)])
        n_classes, n_compartments = self.shape
        n = self.size
        carried = np.empty((5, n_classes, n_compartments, rules.N_OPTIONS))

        def derivative(_t, y):
            share = np.maximum(y[:n], 0.0).reshape(self.shape)
            # Mean stickiness of each stock (TikTok, RedNote) and mean familiarity; empty stocks have none.
            mean = self.stock_mean(share, y[n:3 * n].reshape(2, *self.shape))
            familiarity = self.stock_mean(share, y[3 * n:4 * n].reshape(self.shape))
            tenure = self.mean_tenure(share, y[4 * n:5 * n].reshape(self.shape))
            total = share.sum()
            tiktok_share, rednote_share = share.sum(axis=0) @ on_tiktok / total, share.sum(axis=0) @ on_rednote / total
            # Well mixed: the share of one's friends on a platform is the population's share.
            value_tiktok = rules.tiktok_value(self.taste, tiktok_share, mean[0], threat, self.is_creator,
                                              tiktok_share, p)
            value_rednote = rules.rednote_value(self.taste, rednote_share, mean[1], familiarity, threat,
                                                self.defiance, reactance, festival, self.is_creator,
                                                rednote_share, self.fit, tenure, p)
            utilities = rules.option_utilities(value_tiktok, value_rednote, value_other, self.installed,
                                               self.on_rednote, self.ever, day.install_drive, self.is_creator, p)
            chance = rules.choice_probabilities(utilities, available)
            flow = share[:, :, None] * flow_rates(chance * moving, self.rates)

            # Movers take their stock's mean stickiness, familiarity and tenure along: book share, habit,
            # familiarity and tenure flows together. A user who takes up RedNote knows it from then on (the rule gives
            # a user on RedNote that familiarity): such a mover leaves with the stock's mean familiarity
            # and arrives with what the rule gives.
            leaving = flow.sum(axis=2)
            carried[0] = flow
            carried[1:3] = flow * mean[:, :, :, None]
            known_on_rednote = np.broadcast_to(
                rules.update_familiarity(familiarity, True, rednote_share, day.buzz, p), self.shape)
            carried[3] = flow * np.where(enters_rednote, known_on_rednote[:, :, None], familiarity[:, :, None])
            carried[4] = flow * tenure[:, :, None]
            outflow = leaving * np.concatenate([np.ones((1, *self.shape)), mean, familiarity[None], tenure[None]])
            change = (carried.reshape(5 * n_classes, rules.N_OPTIONS * n_compartments) @ arrive
                      ).reshape(outflow.shape) - outflow
            friends = np.array([tiktok_share, rednote_share])[:, None, None]
            change[1:3] += share * (rules.update_stickiness(mean, on_platform, friends, p) - mean)
            # Users learn of RedNote as update_familiarity says, at its daily step as a rate: friends are
            # the population, the wave is yesterday's first installs.
            change[3] += share * (rules.update_familiarity(familiarity, self.on_rednote, rednote_share, day.buzz, p)
                                  - familiarity)
            # Days since first using RedNote pass at one a day for those who have (advance_tenure).
            change[4] += share * ever
            totals = creator_weight @ (flow.reshape(n_classes, rules.N_OPTIONS * n_compartments) @ count)
            return np.concatenate([change.ravel(), totals[0], totals[1, 1:]])

        return derivative

    def run(self, progress=None) -> pd.DataFrame:
        started = time.perf_counter()
        y0 = self.initial_state()
        path = integrate_days(self.day_derivative, y0, len(self.signals), rtol=self.rtol, atol=self.atol,
                              method=self.method, progress=progress)
        self.run_seconds = time.perf_counter() - started
        self.path = path
        return self.observe(y0, path)

    def observe(self, y0: np.ndarray, path: np.ndarray) -> pd.DataFrame:
        """The ABM's daily observables, in people, from the stocks at the end of each day."""
        p, days = self.params, len(path)
        scale = p.population
        # Not clipped at zero: the integrator conserves the total exactly, and its overshoots below zero are
        # within the tolerance (at most 1e-6 of the population, summed, in the default year).
        stocks = self.unpack(path)
        share = stocks["share"]
        mean = self.stock_mean(share[:, None], stocks["habit"])
        daily_totals = np.diff(np.vstack([self.unpack(y0)["totals"], stocks["totals"]]), axis=0) * scale
        by_state = np.stack([share[:, :, self.state == k].sum(axis=(1, 2)) for k in range(rules.N_OPTIONS)],
                            axis=1) * scale
        tenure = self.mean_tenure(share, stocks["tenure"])
        attention = np.array([self._days[i].attention for i in range(days)])[:, None, None]
        moment = rules.rednote_moment(tenure, attention, p)
        # Each stock's chance of opening RedNote at its means (0 off RedNote); TikTok's time shares it.
        rednote_activity = np.where(self.on_rednote, rules.activity_probability(mean[:, 1], p, moment), 0.0)
        tiktok_activity = rules.tiktok_activity_probability(mean[:, 0], rednote_activity, p)
        tiktok_dau = (share * tiktok_activity)[:, :, self.on_tiktok].sum(axis=(1, 2))
        rednote_dau = (share * rednote_activity)[:, :, self.on_rednote].sum(axis=(1, 2))
        accounts = share[:, :, self.ever].sum(axis=(1, 2))
        knows_rednote = stocks["familiarity"].sum(axis=(1, 2))
        records = [
            {
                **{name: by_state[i, code] for code, name in enumerate(rules.STATE_NAMES)},
                "tiktok_users": by_state[i, rules.uses_tiktok(np.arange(rules.N_OPTIONS))].sum(),
                "rednote_users": by_state[i, rules.uses_rednote(np.arange(rules.N_OPTIONS))].sum(),
                "tiktok_dau": tiktok_dau[i] * scale,
                "rednote_dau": rednote_dau[i] * scale,
                "knows_rednote": knows_rednote[i] * scale,
                "dormant_accounts": (accounts[i] - rednote_dau[i]) * scale,
                # The twin keeps no users' first days, only each stock's mean: no cohort to follow.
                "cohort_size": np.nan,
                "cohort_rednote_users": np.nan,
                "buzz": self._days[i].buzz,
                "chart": self._days[i].chart,
                **dict(zip(self.TOTALS, daily_totals[i], strict=True)),
            }
            for i in range(days)
        ]
        return to_frame(records, self.signals.dates, p.initial_rednote_share * scale, self.signals)


# --- the reduced setting: Bass diffusion -------------------------------------------------------------------

def bass_twin(innovation: float, imitation: float, n_days: int, *, rtol: float = 1e-10,
              atol: float = 1e-12, rates: str = "probability") -> np.ndarray:
    """Adopter share at the end of days 0..n_days (index 0 = start, F = 0) of the twin reduced to the Bass
    rule: non-adopters flow to adopters at the rate ``bass_adoption_probability`` per day."""
    def day_derivative(_i, _history):
        def derivative(_t, y):
            chance = rules.bass_adoption_probability(innovation, imitation, y[0])
            return flow_rates(np.array([chance]), rates) * (1.0 - y[0])
        return derivative

    path = integrate_days(day_derivative, np.zeros(1), n_days, rtol=rtol, atol=atol, method="RK45")
    return np.concatenate([[0.0], path[:, 0]])
