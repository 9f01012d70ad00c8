"""The array engine's day as one compiled loop (numba), on every core, calling the rules in agents/rules.py.

Why: the numpy path runs each rule as a chain of array temporaries over blocks of users; here a block of
256 users (in the L1 cache) goes through four compiled passes, the users' chunks split over threads,
after its uniforms are drawn (numpy's PCG64 stream, each chunk's from the stream advanced to its first
user, so that no thread waits for one drawing them all): the options' utilities (friend shares, the
platform values), vectorised, one user per SIMD lane; the logit's weights, user by user (the C library's exponentials, which have no vector form with the same
bits: about 17 of a day's 30 ms at a million users); the choice, the first-install chance, the habit,
familiarity and install updates and the day's counts, vectorised; and the real-valued tallies summed in
user order. Each pass does in each lane the arithmetic of the one-user rules, so the run is the one the
Mesa driver gives, bit for bit.

One rulebook: the rule functions are not rewritten here. ``agents/rules.py`` writes each rule once on
scalars-or-arrays through a few small helpers (``_select``, ``_minimum``, ``_platform_options``,
``_logit_weights``, ...); this module makes every rule callable from numba (``register_jitable``) and
gives the helpers their one-user form for numba (``overload``), step for step the arithmetic of the Mesa
agent's one-user path (on tuples of one type). Parameters reach the loop as a namedtuple of floats with
``Params``' field names (``kernel_params``), the day as a namedtuple with ``Day``'s (``kernel_day``), so
``p.stickiness_weight`` and ``day.threat`` read as in the rules.

Results do not depend on the number of threads: users are split into fixed chunks of
``observables.SUM_CHUNK``, each chunk's tallies are summed from its first user to its last, and the
chunks' tallies are added in user order afterwards (``observables.ordered_sum``'s order). The Mesa driver
sums in the same order and calls the same rules with the same C-library exponential, so this engine and
the Mesa driver give identical runs; the numpy path differs from both only where numpy's vectorised
``exp`` differs from the C library's in the last bit (``tests/test_compiled_day.py``).

Without numba (``available()`` is False, with the reason in ``UNAVAILABLE``) the array engine says so and
runs its numpy path.

Adding a rule or a state: write the rule in agents/rules.py (through the helpers), add its name to
``RULES``, the state's array to ``decide_and_adopt``'s arguments, and the call to the pass it belongs to
(what a user's utilities read, the first; what follows the choice, the third; a value the next pass needs
goes through a block-sized buffer); a new helper needs its one-user overload here. Keep the vectorised
passes free of ``if`` statements around a user's work (compute it, then pick with ``_select``) and of
calls that LLVM cannot inline (an exponential): one such call keeps a whole pass scalar, several times slower, without any
change in its results.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from agents import rules
from model import observables
from model.day import Day
from model.params import Params

try:
    import numba
    from numba.core import types
    from numba.cpython.unsafe.tuple import tuple_setitem
    from numba.extending import overload, register_jitable
except ImportError as error:   # numba is a dependency; a platform without its wheels still runs numpy
    numba = None
    UNAVAILABLE = f"numba cannot be imported ({error})"
else:
    UNAVAILABLE = ""
    # Numba's own thread pool, not GNU OpenMP's (numba's first choice where tbb is absent): a process that
    # has run the compiled day and then forks (pyABC's local samplers fork their workers) kills the child
    # under OpenMP ("fork() called from a process already using GNU OpenMP"), and the workqueue pool is
    # rebuilt in a forked child. The workqueue pool serves one parallel region at a time (two threads
    # entering it abort the process), so the regions are entered under ``PARALLEL_REGION`` below: threads
    # of one process (a threaded Dask worker) take turns. The user's own NUMBA_THREADING_LAYER still wins.
    if "NUMBA_THREADING_LAYER" not in os.environ:
        numba.config.THREADING_LAYER = "workqueue"

# Held while a compiled parallel loop runs (see above); a forked child starts with a free one, whatever the
# parent's threads held at the fork.
PARALLEL_REGION = threading.Lock()


def _free_parallel_region_in_child() -> None:
    global PARALLEL_REGION
    PARALLEL_REGION = threading.Lock()


os.register_at_fork(after_in_child=_free_parallel_region_in_child)

# --- the day's uniforms, one stream in user order, filled by several threads ---------------------------

# Bit generators whose ``advance(k)`` moves the stream as if k numbers had been drawn, one per float64
# uniform (numpy's PCG64 family): a copy advanced to a piece's first user draws exactly that piece's
# numbers. Others (MT19937, Philox: its ``advance`` counts blocks of four) are drawn in one thread.
ADVANCEABLE = (np.random.PCG64, np.random.PCG64DXSM)

# Users a drawing thread should have at least: numpy draws about 2.5 ms of uniforms per million users on
# one core here, and handing a piece to a thread costs some tens of microseconds.
USERS_PER_DRAW_PIECE = 1 << 16

_draw_pool: ThreadPoolExecutor | None = None
_draw_pool_size = 0
_draw_pool_lock = threading.Lock()


def _drawing_threads(threads: int) -> ThreadPoolExecutor:
    global _draw_pool, _draw_pool_size
    with _draw_pool_lock:
        if _draw_pool is None or _draw_pool_size < threads:
            if _draw_pool is not None:
                _draw_pool.shutdown(wait=True)
            _draw_pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="choice-uniforms")
            _draw_pool_size = threads
        return _draw_pool


def _no_drawing_threads_in_child() -> None:
    # A forked child has none of the parent's threads: its pool object would wait for them for ever.
    global _draw_pool, _draw_pool_size, _draw_pool_lock
    _draw_pool, _draw_pool_size, _draw_pool_lock = None, 0, threading.Lock()


os.register_at_fork(after_in_child=_no_drawing_threads_in_child)


def fill_choice_uniforms(rng: np.random.Generator, out: np.ndarray, threads: int) -> np.ndarray:
    """``out`` (float64, shape (n_users,)) filled with the numbers ``rules.draw_choice_uniforms(rng,
    n_users)`` gives, leaving ``rng`` where that draw leaves it, drawn by up to ``threads`` threads.

    The compiled day draws numpy's default generator's (PCG64) numbers inside its loop; this serves the
    others. Why: one thread drawing a million users' uniforms is 2.5-3.7 ms of a day, work that would
    otherwise stay serial while the compiled loop runs on every core. Each piece of ``out`` is
    drawn by a copy of ``rng``'s bit generator advanced to the piece's first user (numpy fills it without
    the GIL), so the pieces together are the one stream, bit for bit, whatever the number of threads
    (``tests/test_compiled_day.py``). A generator that cannot be advanced so (``ADVANCEABLE``), or too few
    users for more than one piece (``USERS_PER_DRAW_PIECE``), is drawn by the rule in this thread. Returns
    ``out``."""
    n = out.size
    bit_generator = rng.bit_generator
    pieces = min(threads, n // USERS_PER_DRAW_PIECE)
    if pieces <= 1 or type(bit_generator) not in ADVANCEABLE:
        return rules.draw_choice_uniforms(rng, n, out=out)
    start_state = bit_generator.state
    bounds = [n * k // pieces for k in range(pieces + 1)]

    def draw_piece(k: int) -> np.random.BitGenerator:
        piece = type(bit_generator)(0)   # its seed is replaced at once by the state
        piece.state = start_state
        piece.advance(bounds[k])
        np.random.Generator(piece).random(out=out[bounds[k]: bounds[k + 1]])
        return piece

    list(_drawing_threads(pieces).map(draw_piece, range(pieces)))
    advance_as_drawn(bit_generator, n)
    return out


def advance_as_drawn(bit_generator, draws: int) -> None:
    """Move an ``ADVANCEABLE`` bit generator on as ``draws`` float64 uniforms drawn from it would: ``advance``
    also clears the half of a 32-bit draw it may hold, which a draw of doubles leaves as it was."""
    kept = bit_generator.state
    bit_generator.advance(draws)
    state = bit_generator.state
    state["has_uint32"], state["uinteger"] = kept["has_uint32"], kept["uinteger"]
    bit_generator.state = state


def pcg64_stream(bit_generator: np.random.PCG64) -> tuple:
    """A PCG64's state and increment as four uint64 (each number's high half, then its low), for the
    compiled loop."""
    numbers = bit_generator.state["state"]
    low = (1 << 64) - 1
    return (np.uint64(numbers["state"] >> 64), np.uint64(numbers["state"] & low), np.uint64(numbers["inc"] >> 64),
            np.uint64(numbers["inc"] & low))


_NO_UNIFORMS = np.empty(0)   # the loop draws them (from ``stream``)
_NO_STREAM = (np.uint64(0),) * 4   # the loop reads ``uniforms``

# The rule functions the compiled day calls (every public rule of agents/rules.py that a day uses).
RULES = (
    "_holds_any", "uses_tiktok", "uses_rednote", "friend_share", "content_fit", "network_pull", "habit_value", "ban_push",
    "substitute_pull", "felt_defiance", "creator_audience", "unfamiliarity", "wave_coverage",
    "update_familiarity", "festival_pull", "rednote_levers", "revealed_share", "experienced_fit", "tiktok_value",
    "rednote_value", "other_apps_value", "dual_use_cost", "rednote_take_up_cost", "option_utilities",
    "available_options", "usage_during_service", "logit_weights", "choose_option", "choose_by_weights",
    "first_install_chance", "first_install_chance_by_weights", "update_stickiness", "advance_tenure",
    "keeps_tiktok_installed", "rednote_moment", "activity_probability", "_inverse_cdf_one",
    "tiktok_activity_probability",
)
OBSERVATION_RULES = ("moved_to_rednote", "went_back")

# Per-chunk tallies: whole numbers (users per state, then observables.TALLIES: exact in any order) and
# real totals (summed in the fixed order).
COUNT_TALLIES = (*rules.STATE_NAMES, *observables.TALLIES)
TOTAL_TALLIES = ("first_install_chance", "tiktok_activity", "rednote_activity", "familiarity")

# Users a thread should have at least: waking a second thread costs about a millisecond on a busy machine,
# more than a small population's whole day (1,000 users: 0.2 ms on one thread, 3.6 ms on two, measured
# under a load average of 8), so smaller populations run on fewer threads (the results are the same).
# 32,768 users are about 1.5 ms of a thread's work: 50,000 users (the article's runs) take one thread,
# 100,000 two.
USERS_PER_THREAD = 1 << 15

# The share of a day's switching above which the friends' counts are counted afresh rather than moved
# switcher by switcher, in both engines: the compiled day compares the users who switched with all users
# (at a million users a recount cost 29 ms on one thread, moving every user's friends 70 ms, 2026-12-01: a
# recount is cheaper above about 0.4 on one thread and sooner on more), the numpy path the friendships its
# platform-changers touch with all friendships. Either gives the same counts.
RECOUNT_SHARE = 0.25
_WORDS_PER_GROUP = 32   # eight users a word: the groups of 256 users that the search for switchers skips
_NO_SWITCHERS = np.empty(0, dtype=np.int64)

# Chunks of users a thread takes at a time from the day's queue (numba's dynamic schedule), rather than
# each thread a fixed, contiguous share: users do not all cost the same (a user off TikTok's stores or on
# RedNote takes other branches), so equal shares finish unequally. Which thread runs a chunk changes nothing.
CHUNKS_PER_TAKE = 4

# Users whose uniforms are drawn at once when the loop cannot draw them (a generator other than PCG64): the
# day's random numbers never need a population-sized array (170 million users would need 1.4 GB for them);
# a multiple of the chunk, so chunks never straddle it.
DRAW_BLOCK = observables.SUM_CHUNK * 256

_PARAM_FIELDS = tuple(f.name for f in dataclasses.fields(Params) if f.type in ("float", "int"))
KernelParams = collections.namedtuple("KernelParams", _PARAM_FIELDS)
KernelDay = collections.namedtuple("KernelDay", [f.name for f in dataclasses.fields(Day)])


def available() -> bool:
    return numba is not None


def kernel_params(p: Params) -> KernelParams:
    """``p``'s numbers as a namedtuple of floats with the same field names (dates left out: no rule reads one)."""
    return KernelParams(*(float(getattr(p, name)) for name in _PARAM_FIELDS))


def kernel_day(day: Day) -> KernelDay:
    """The day's signals with ``Day``'s field names and types, for the compiled loop."""
    return KernelDay(*(getattr(day, f.name) for f in dataclasses.fields(Day)))


def max_threads() -> int:
    """The most threads the compiled day can use: numba's pool (all cores, or NUMBA_NUM_THREADS)."""
    return numba.config.NUMBA_NUM_THREADS if numba is not None else 1


# The thread count ``threads=None`` means in this process (None: every core); ``share_cores`` sets it.
_default_threads: int | None = None


def share_cores(workers: int) -> int:
    """Let ``threads=None`` mean this process's share of the cores, max(1, cores // ``workers``), where
    ``workers`` processes on this machine run compiled days at once (a batch executor's workers): each on
    every core would oversubscribe them. An explicit thread count is not changed. Returns the share."""
    global _default_threads
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a whole number of at least 1, got {workers!r}")
    _default_threads = max(1, max_threads() // workers)
    return _default_threads


def check_threads(threads) -> int:
    """``threads`` as a thread count: None means all cores (or this process's share, ``share_cores``);
    0, negatives and more than the pool are refused."""
    limit = max_threads()
    if threads is None:
        return min(_default_threads or limit, limit)
    if isinstance(threads, bool) or not isinstance(threads, int | np.integer) or threads < 1:
        raise ValueError(f"threads must be a whole number of at least 1, got {threads!r}")
    if threads > limit:
        raise ValueError(f"threads = {threads} is more than the {limit} this machine offers (numba's pool; "
                         "NUMBA_NUM_THREADS sets it)")
    return int(threads)


def _source_digest() -> str:
    """A digest of every file whose code the compiled day inlines: numba's cache only watches the file
    that holds the compiled function, so a changed rule must lead to another cache folder."""
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for name in ("agents/rules.py", "model/compiled_day.py", "model/observables.py", "model/day.py"):
        digest.update((root / name).read_bytes())
    digest.update(f"{numba.__version__ if numba else ''}/{np.__version__}".encode())
    return digest.hexdigest()[:16]


if numba is not None:
    _ZEROS = (0.0,) * rules.N_OPTIONS
    _NO_USERS = (0,) * rules.N_OPTIONS
    _FALSES = (False,) * rules.N_OPTIONS
    _DUAL_USE, _AVAILABILITY = rules._DUAL_USE, rules._AVAILABILITY
    _WEIGHTS_FLOOR, _WEIGHTS_CEILING = rules.WEIGHTS_RANGE

    # Compiled code is cached per version of the rules (see _source_digest), outside the source tree.
    if "NUMBA_CACHE_DIR" not in os.environ:
        _cache_root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "rednote-migration" / "numba"
        numba.config.CACHE_DIR = str(_cache_root / _source_digest())

    # --- the helpers' one-user form for numba (the Mesa agent's arithmetic) -------------------------

    @overload(rules._is_array)
    def _is_array_one(x):
        if not isinstance(x, types.Array):
            return lambda x: False

    @overload(rules._select)
    def _select_one(condition, if_true, if_false):
        if not isinstance(condition, types.Array):
            return lambda condition, if_true, if_false: if_true if condition else if_false

    @overload(rules._minimum)
    def _minimum_one(a, b):
        if not isinstance(a, types.Array) and not isinstance(b, types.Array):
            return lambda a, b: min(a, b)

    @overload(rules._maximum)
    def _maximum_one(a, b):
        if not isinstance(a, types.Array) and not isinstance(b, types.Array):
            return lambda a, b: max(a, b)

    @overload(rules._platform_options)
    def _platform_options_one(platform_values, dual_use_cost):
        if isinstance(platform_values, types.BaseTuple):
            def one_user(platform_values, dual_use_cost):
                # rules._platform_options, step for step, into a tuple of one type (an option is then
                # picked by a number).
                utilities = _ZEROS
                for option in range(rules.N_OPTIONS):
                    utility = 0.0
                    for j in range(rules._HELD.shape[1]):
                        platform = rules._HELD[option, j]
                        if platform < 0:
                            break
                        utility = platform_values[platform] if j == 0 else utility + platform_values[platform]
                    if _DUAL_USE[option]:
                        utility = utility - dual_use_cost
                    utilities = tuple_setitem(utilities, option, utility)
                return utilities
            return one_user

    @overload(rules._available_by_need)
    def _available_by_need_one(can_choose_tiktok, has_outside_option):
        if not isinstance(can_choose_tiktok, types.Array):
            def one_user(can_choose_tiktok, has_outside_option):
                available = _FALSES
                for option in range(rules.N_OPTIONS):
                    need = _AVAILABILITY[option]
                    available = tuple_setitem(available, option, True if need == 0 else
                                              bool(can_choose_tiktok) if need == 1 else bool(has_outside_option))
                return available
            return one_user

    @overload(rules._option)
    def _option_one(options, k):
        if isinstance(options, types.BaseTuple):
            return lambda options, k: options[k]

    @register_jitable
    def _shifted_logit_weights_one(utilities, available):
        # rules._shifted_logit_weights_one, step for step: the top of the available utilities, then
        # exp(U - top) (0 if unavailable), then their sum left to right.
        top = -math.inf
        for k in range(rules.N_OPTIONS):
            if available[k] and utilities[k] > top:
                top = utilities[k]
        weights = utilities
        for k in range(rules.N_OPTIONS):
            weights = tuple_setitem(weights, k, math.exp(utilities[k] - top) if available[k] else 0.0)
        total = weights[0]
        for k in range(1, rules.N_OPTIONS):
            total += weights[k]
        return weights, total

    @overload(rules._logit_weights, inline="always")
    def _logit_weights_one(utilities, available):
        if isinstance(utilities, types.BaseTuple):
            def one_user(utilities, available):
                # rules._logit_weights_one, step for step: exp(U) (1 for U = 0, 0 if unavailable), their
                # sum left to right, and the shifted weights where the sum leaves the range.
                weights = utilities
                for k in range(rules.N_OPTIONS):
                    utility = utilities[k]
                    weights = tuple_setitem(weights, k, (1.0 if utility == 0.0 else math.exp(utility))
                                            if available[k] else 0.0)
                total = weights[0]
                for k in range(1, rules.N_OPTIONS):
                    total += weights[k]
                if _WEIGHTS_FLOOR < total < _WEIGHTS_CEILING:
                    return weights, total
                return _shifted_logit_weights_one(utilities, available)
            return one_user

    @overload(rules._inverse_cdf)
    def _inverse_cdf_one(weights, position):
        if isinstance(weights, types.BaseTuple):
            return lambda weights, position: rules._inverse_cdf_one(weights, position)

    for _name in RULES:
        register_jitable(getattr(rules, _name))
    for _name in OBSERVATION_RULES:
        register_jitable(getattr(observables, _name))

    _uses_tiktok, _uses_rednote = rules.uses_tiktok, rules.uses_rednote
    _friend_share, _tiktok_value, _rednote_value = rules.friend_share, rules.tiktok_value, rules.rednote_value
    _option_utilities, _available_options = rules.option_utilities, rules.available_options
    _logit_weights, _choose_by_weights = rules.logit_weights, rules.choose_by_weights
    _first_install_chance_by_weights = rules.first_install_chance_by_weights
    _usage_during_service, _update_stickiness = rules.usage_during_service, rules.update_stickiness
    _update_familiarity, _keeps_tiktok_installed = rules.update_familiarity, rules.keeps_tiktok_installed
    _activity_probability, _rednote_moment = rules.activity_probability, rules.rednote_moment
    _tiktok_activity_probability = rules.tiktok_activity_probability
    _other_apps_value, _advance_tenure = rules.other_apps_value, rules.advance_tenure
    _N_OPTIONS = rules.N_OPTIONS
    _moved_to_rednote, _went_back = observables.moved_to_rednote, observables.went_back
    _CHUNK = observables.SUM_CHUNK
    _UNSIGNED = np.uint64

    # --- numpy's PCG64, step for step, for the day's uniforms drawn inside the loop ------------------
    # Why: each chunk of users draws its own uniforms, from the stream advanced to its first user, on its
    # own thread (one thread drawing them all is 2.5-3.7 ms of a day at a million users, serial while
    # the loop runs on every core), into the block's L1-resident buffer instead of a population-sized
    # array. The numbers are numpy's (``rules.draw_choice_uniforms``) bit for bit: PCG64 is a 128-bit
    # linear congruential generator (the state times a fixed multiplier plus the stream's increment, mod
    # 2^128) whose 64-bit output is the state's two halves XORed and rotated by its top 6 bits; a uniform
    # double is that output's top 53 bits times 2^-53 (numpy's pcg64.h and distributions.c). Here 128-bit
    # numbers are (high, low) pairs of uint64 (``tests/test_compiled_day.py`` checks against numpy).
    _M32, _S32 = np.uint64(0xFFFFFFFF), np.uint64(32)
    _PCG64_MULTIPLIER = (np.uint64(0x2360ED051FC65DA4), np.uint64(0x4385DF649FCCF645))

    @register_jitable
    def _full_product(a, b):
        # a * b as a 128-bit (high, low) pair, from four 32-bit products.
        a_low, a_high, b_low, b_high = a & _M32, a >> _S32, b & _M32, b >> _S32
        low_low, high_low, low_high = a_low * b_low, a_high * b_low, a_low * b_high
        cross = (low_low >> _S32) + (high_low & _M32) + low_high
        return (high_low >> _S32) + (cross >> _S32) + a_high * b_high, (cross << _S32) | (low_low & _M32)

    @register_jitable
    def _times_128(a, b):
        high, low = _full_product(a[1], b[1])
        return (high + a[0] * b[1] + a[1] * b[0], low)

    @register_jitable
    def _plus_128(a, b):
        low = a[1] + b[1]
        return (a[0] + b[0] + _UNSIGNED(low < b[1]), low)

    @register_jitable
    def _pcg64_step(state, increment):
        return _plus_128(_times_128(state, _PCG64_MULTIPLIER), increment)

    @register_jitable
    def _pcg64_uniform(state):
        # The output of the state just stepped to, as numpy's double in [0, 1).
        mixed, rotation = state[0] ^ state[1], state[0] >> _UNSIGNED(58)
        output = (mixed >> rotation) | (mixed << ((_UNSIGNED(64) - rotation) & _UNSIGNED(63)))
        return np.float64(output >> _UNSIGNED(11)) * (1.0 / 9007199254740992.0)

    @register_jitable
    def _pcg64_advance(state, increment, draws):
        # The state ``draws`` steps on, in log2(draws) squarings (F. Brown, "Random number generation with
        # arbitrary strides", 1994; numpy's pcg64_advance_r).
        multiplier, shift = (_UNSIGNED(0), _UNSIGNED(1)), (_UNSIGNED(0), _UNSIGNED(0))
        step_multiplier, step_shift = _PCG64_MULTIPLIER, increment
        draws = _UNSIGNED(draws)
        while draws > _UNSIGNED(0):
            if draws & _UNSIGNED(1):
                multiplier = _times_128(multiplier, step_multiplier)
                shift = _plus_128(_times_128(shift, step_multiplier), step_shift)
            step_shift = _times_128(_plus_128(step_multiplier, (_UNSIGNED(0), _UNSIGNED(1))), step_shift)
            step_multiplier = _times_128(step_multiplier, step_multiplier)
            draws = draws >> _UNSIGNED(1)
        return _plus_128(_times_128(multiplier, state), shift)

    # Users per block of the four passes below: what a block's users carry from one pass to the next (their
    # utilities, then weights, friend shares, chances and activity: 11 x 256 doubles, 22 KB) stays in the
    # L1 cache. 1,024 ran as fast (at 1e6 users, one thread).
    _BLOCK = 256

    # error_model="numpy": a division by zero would give inf or nan instead of raising. None can happen
    # (every divisor is at least 1 or a parameter whose range excludes 0: ``friend_share``, ``revealed_share``,
    # ``rednote_moment``; the weights' sum is kept in ``rules.WEIGHTS_RANGE``), and without the test before
    # each division LLVM vectorises the first pass (4x faster; the arithmetic in each lane is the same).
    @numba.njit(parallel=True, cache=True, error_model="numpy")
    def decide_and_adopt(start, stop, uniforms, stream_high, stream_low, increment_high, increment_low, day, p,
                         cohort_shortest, cohort_longest, state, next_state, is_creator, taste, defiance, rednote_fit, tiktok_stickiness, rednote_stickiness, familiarity,
                         has_tiktok_installed, ever_on_rednote, rednote_days, has_migrated, indptr, tiktok_friends,
                         rednote_friends, counts, totals):
        """Users ``start .. stop-1`` (whole chunks but the population's last) decide from yesterday's states
        and adopt their choices, user i by the uniform ``uniforms[i - start]`` or, when ``uniforms`` is
        empty, by the ``i - start``-th number of the PCG64 stream whose state and increment these are (each
        as its high and low uint64 halves, ``pcg64_stream``); each chunk's tallies go to its row of
        ``counts`` and ``totals``. The cohort of the observables is the users with ``cohort_shortest .. cohort_longest`` days on RedNote
        (``observables.cohort_days``)."""
        first_chunk = start // _CHUNK
        for c in numba.prange((stop - start + _CHUNK - 1) // _CHUNK):
            chunk = first_chunk + c
            # The chunk's tallies.
            in_state = _NO_USERS
            downloads = migrants = return_migrants = creator_migrants = creator_return_migrants = 0
            accounts = cohort_size = cohort_users = 0
            chance_total = tiktok_activity = rednote_activity = familiarity_total = 0.0
            option_utilities = np.empty((_N_OPTIONS, _BLOCK))
            friend_shares = np.empty((2, _BLOCK))
            weight_totals = np.empty(_BLOCK)
            chances = np.empty(_BLOCK)
            activity = np.empty((2, _BLOCK))
            block_uniforms = np.empty(_BLOCK)
            chunk_stop = min(start + (c + 1) * _CHUNK, stop)
            # (Tuples do not cross into numba's parallel loop: its state and increment go as halves.)
            increment = (increment_high, increment_low)
            drawn = uniforms.size == 0
            stream_state = (stream_high, stream_low)
            if drawn:
                stream_state = _pcg64_advance(stream_state, increment, c * _CHUNK)
            for block in range(start + c * _CHUNK, chunk_stop, _BLOCK):
                # Users counted in unsigned integers: numba indexes an array by an unsigned number without
                # the test and fix-up a negative index needs (a few instructions for each array read).
                first, last = _UNSIGNED(block), _UNSIGNED(min(block + _BLOCK, chunk_stop))

                # The block's uniforms, in user order (each number follows from the one before: a pass of
                # its own, which keeps the others free to vectorise).
                if drawn:
                    for j in range(last - first):
                        stream_state = _pcg64_step(stream_state, increment)
                        block_uniforms[j] = _pcg64_uniform(stream_state)
                else:
                    for i in range(first, last):
                        block_uniforms[i - first] = uniforms[i - _UNSIGNED(start)]

                # First pass: what each option is worth to each user of the block (no exponential, no
                # branch on a user: one user per vector lane).
                for i in range(first, last):
                    j = i - first
                    degree = indptr[i + _UNSIGNED(1)] - indptr[i]
                    tiktok_share = _friend_share(tiktok_friends[i], degree)
                    rednote_share = _friend_share(rednote_friends[i], degree)
                    creator = is_creator[i]
                    value_tiktok = _tiktok_value(taste[i], tiktok_share, tiktok_stickiness[i], day.threat, creator,
                                                 day.tiktok_user_share, p)
                    value_rednote = _rednote_value(taste[i], rednote_share, rednote_stickiness[i], familiarity[i],
                                                   day.threat, defiance[i], day.reactance, day.festival, creator,
                                                   day.rednote_user_share, rednote_fit[i], rednote_days[i], p)
                    value_other = _other_apps_value(taste[i], day.threat, day.tiktok_gone, p)
                    utilities = _option_utilities(value_tiktok, value_rednote, value_other, has_tiktok_installed[i],
                                                  _uses_rednote(state[i]), ever_on_rednote[i], day.install_drive,
                                                  creator, p)
                    for k in range(_N_OPTIONS):
                        option_utilities[k, j] = utilities[k]
                    friend_shares[0, j] = tiktok_share
                    friend_shares[1, j] = rednote_share

                # Second pass, user by user: the logit's weights (the exponentials are the C library's, one
                # user at a time), in place of the utilities.
                for i in range(first, last):
                    j = i - first
                    utilities = _ZEROS
                    for k in range(_N_OPTIONS):
                        utilities = tuple_setitem(utilities, k, option_utilities[k, j])
                    options = _available_options(day.tiktok_in_stores, has_tiktok_installed[i], p.outside_option)
                    weights, weight_totals[j] = _logit_weights(utilities, options)
                    for k in range(_N_OPTIONS):
                        option_utilities[k, j] = weights[k]

                # Third pass: each user's choice and first-install chance (from the weights: once for both),
                # the adoption of the choice (habits, familiarity, the app, tenure) and the day's counts; no
                # branch on a user (LLVM vectorises it), the real-valued tallies per user kept for the fourth.
                for i in range(first, last):
                    j = i - first
                    weights = _ZEROS
                    for k in range(_N_OPTIONS):
                        weights = tuple_setitem(weights, k, option_utilities[k, j])
                    ever = ever_on_rednote[i]
                    choice = _choose_by_weights(weights, weight_totals[j], block_uniforms[j])
                    chances[j] = _first_install_chance_by_weights(weights, weight_totals[j], ever)
                    previous, now = state[i], _usage_during_service(choice, day.tiktok_service)
                    next_state[i] = now
                    tiktok_share, rednote_share = friend_shares[0, j], friend_shares[1, j]
                    creator = is_creator[i]
                    now_on_tiktok, now_on_rednote = _uses_tiktok(now), _uses_rednote(now)
                    tiktok_stickiness[i] = _update_stickiness(tiktok_stickiness[i], now_on_tiktok, tiktok_share, p)
                    rednote_stickiness[i] = _update_stickiness(rednote_stickiness[i], now_on_rednote, rednote_share, p)
                    familiarity[i] = _update_familiarity(familiarity[i], now_on_rednote, rednote_share, day.buzz, p)
                    has_tiktok_installed[i] = _keeps_tiktok_installed(choice)
                    ever_on_rednote[i] = ever | now_on_rednote
                    days = _advance_tenure(rednote_days[i], ever | now_on_rednote)
                    rednote_days[i] = days

                    # The day's observation (model.observables.observe_day), read from the stored values.
                    for k in range(_N_OPTIONS):
                        in_state = tuple_setitem(in_state, k, in_state[k] + (now == k))
                    downloads += now_on_rednote & (not ever)
                    migrated = _moved_to_rednote(previous, now)
                    returned = _went_back(previous, now, has_migrated[i])
                    has_migrated[i] = has_migrated[i] | migrated
                    migrants += migrated
                    creator_migrants += migrated & creator
                    return_migrants += returned
                    creator_return_migrants += returned & creator
                    # The user's chance of opening RedNote today (which TikTok's time shares) and TikTok;
                    # 0 off the platform (adding 0 to a sum of chances leaves it as it was, bit for bit).
                    rednote_today = _activity_probability(rednote_stickiness[i], p,
                                                          _rednote_moment(days, day.attention, p))
                    rednote_today = rednote_today if now_on_rednote else 0.0
                    tiktok_today = _tiktok_activity_probability(tiktok_stickiness[i], rednote_today, p)
                    activity[0, j] = tiktok_today if now_on_tiktok else 0.0
                    activity[1, j] = rednote_today
                    accounts += days != 0
                    joined = (cohort_shortest <= days) & (days <= cohort_longest)
                    cohort_size += joined
                    cohort_users += joined & now_on_rednote

                # Fourth pass: the real-valued tallies, summed in user order.
                for i in range(first, last):
                    j = i - first
                    chance_total += chances[j]
                    tiktok_activity += activity[0, j]
                    rednote_activity += activity[1, j]
                    familiarity_total += familiarity[i]
            for k in range(_N_OPTIONS):
                counts[chunk, k] = in_state[k]
            counts[chunk, _N_OPTIONS + 0] = downloads   # observables.TALLIES' order
            counts[chunk, _N_OPTIONS + 1] = migrants
            counts[chunk, _N_OPTIONS + 2] = return_migrants
            counts[chunk, _N_OPTIONS + 3] = creator_migrants
            counts[chunk, _N_OPTIONS + 4] = creator_return_migrants
            counts[chunk, _N_OPTIONS + 5] = accounts
            counts[chunk, _N_OPTIONS + 6] = cohort_size
            counts[chunk, _N_OPTIONS + 7] = cohort_users
            totals[chunk, 0] = chance_total
            totals[chunk, 1] = tiktok_activity
            totals[chunk, 2] = rednote_activity
            totals[chunk, 3] = familiarity_total

    @numba.njit(cache=True)
    def ordered_totals(counts, totals):
        """The chunks' tallies added in user order (the totals as ``observables.ordered_sum`` adds them)."""
        count = np.zeros(counts.shape[1], dtype=np.int64)
        total = np.zeros(totals.shape[1])
        for chunk in range(counts.shape[0]):
            count += counts[chunk]
            for k in range(totals.shape[1]):
                total[k] += totals[chunk, k]
        return count, total

    @numba.njit(cache=True)
    def _find_switchers(previous, state, previous_words, state_words, switchers):
        """How many users' states differ between ``previous`` and ``state``; the first ``switchers.size`` of
        them are written there, in user order."""
        found = 0
        words = _UNSIGNED(previous_words.size)
        for group in range(_UNSIGNED(0), words, _UNSIGNED(_WORDS_PER_GROUP)):
            # 256 users' states compared at once, by an OR of XORs that LLVM vectorises (the words counted
            # in unsigned integers, as in the users' loop): a day's switchers are a few percent at most, so
            # most groups are unchanged and the pass is a fast stream.
            stop = min(group + _UNSIGNED(_WORDS_PER_GROUP), words)
            difference = np.uint64(0)
            for word in range(group, stop):
                difference |= previous_words[word] ^ state_words[word]
            if difference == 0:
                continue
            for word in range(group, stop):
                if previous_words[word] == state_words[word]:
                    continue
                for i in range(8 * word, 8 * word + 8):
                    if previous[i] != state[i]:
                        if found < switchers.size:
                            switchers[found] = i
                        found += 1
        for i in range(8 * words, state.size):   # the last users, short of a word
            if previous[i] != state[i]:
                if found < switchers.size:
                    switchers[found] = i
                found += 1
        return found

    @numba.njit(cache=True)
    def _move_friends_of(switchers, previous, state, indptr, indices, tiktok_friends, rednote_friends):
        for i in switchers:
            tiktok_change = np.int32(_uses_tiktok(state[i])) - np.int32(_uses_tiktok(previous[i]))
            rednote_change = np.int32(_uses_rednote(state[i])) - np.int32(_uses_rednote(previous[i]))
            if tiktok_change == 0 and rednote_change == 0:
                continue
            for k in range(indptr[i], indptr[i + 1]):
                friend = indices[k]
                tiktok_friends[friend] += tiktok_change
                rednote_friends[friend] += rednote_change

    @numba.njit(parallel=True, cache=True)
    def recount_friends(indptr, indices, state, tiktok_friends, rednote_friends):
        """Each user's friends on each platform counted afresh from ``state`` (every user, in parallel)."""
        for user in numba.prange(indptr.size - 1):
            on_tiktok = on_rednote = np.int32(0)
            for k in range(indptr[user], indptr[user + 1]):
                friend_state = state[indices[k]]
                on_tiktok += _uses_tiktok(friend_state)
                on_rednote += _uses_rednote(friend_state)
            tiktok_friends[user] = on_tiktok
            rednote_friends[user] = on_rednote

    def move_friend_counts(previous, state, indptr, indices, tiktok_friends, rednote_friends):
        """Each user who joined or left a platform moves its friends' counts of friends there by one; on a
        day when more than ``RECOUNT_SHARE`` of the users switched (the blackout: nearly all of them), every
        user's counts are counted afresh instead, on every thread (the same integers either way: moving
        one switcher's friends is one thread's work, since two switchers may share a friend, while a
        recount shares the users out, and costs less than moving a third of the users' friends).
        Returns how many users switched."""
        whole = state.size - state.size % 8
        previous_words, state_words = previous[:whole].view(np.uint64), state[:whole].view(np.uint64)
        switched = _find_switchers(previous, state, previous_words, state_words, _NO_SWITCHERS)
        if switched > RECOUNT_SHARE * state.size:
            recount_friends(indptr, indices, state, tiktok_friends, rednote_friends)
        elif switched:
            # At most a quarter of the users: 4 bytes each (42 million at full scale, 170 MB).
            switchers = np.empty(switched, dtype=np.int32 if state.size < 2**31 else np.int64)
            _find_switchers(previous, state, previous_words, state_words, switchers)
            _move_friends_of(switchers, previous, state, indptr, indices, tiktok_friends, rednote_friends)
        return switched


class CompiledDay:
    """Runs the array engine's days through the compiled loop (the model's arrays, updated in place), on
    at most ``threads`` threads (one per ``USERS_PER_THREAD`` users at most)."""

    def __init__(self, model, threads: int):
        if numba is None:
            raise RuntimeError(f"the compiled day needs numba: {UNAVAILABLE}")
        n = model.state.size
        self.threads = max(1, min(threads, n // USERS_PER_THREAD))
        n_chunks = -(-n // observables.SUM_CHUNK)
        self.counts = np.zeros((n_chunks, len(COUNT_TALLIES)), dtype=np.int64)
        self.totals = np.zeros((n_chunks, len(TOTAL_TALLIES)))
        self.uniforms = None   # a block of the day's uniforms, for a generator the loop cannot draw from
        self.params = kernel_params(model.params)

    def step(self, model, day: Day) -> tuple[dict[str, float], np.ndarray, float]:
        """One day for every user: (the day's observables, users per state, expected first installs)."""
        with PARALLEL_REGION:
            return self._step(model, day)

    def _step(self, model, day: Day) -> tuple[dict[str, float], np.ndarray, float]:
        numba.set_num_threads(self.threads)
        today = kernel_day(day)
        shortest, longest = observables.cohort_days(day.index, model.params)
        n = model.state.size
        friends = model.friends
        arrays = (model.state, model.next_state, model.is_creator, model.taste, model.defiance, model.rednote_fit,
                  model.tiktok_stickiness, model.rednote_stickiness, model.familiarity, model.has_tiktok_installed,
                  model.ever_on_rednote, model.rednote_days, model.ledger.has_migrated, friends.indptr,
                  model.tiktok_friends, model.rednote_friends, self.counts, self.totals)
        bit_generator = model.rng.bit_generator
        with numba.parallel_chunksize(CHUNKS_PER_TAKE):   # the users' loop only (not the recount's)
            if type(bit_generator) is np.random.PCG64:
                # The loop draws the day's uniforms itself, each chunk on its thread; then the generator moves
                # on past them, as if numpy had drawn them.
                decide_and_adopt(0, n, _NO_UNIFORMS, *pcg64_stream(bit_generator), today, self.params, shortest, longest,
                                 *arrays)
                advance_as_drawn(bit_generator, n)
            else:
                if self.uniforms is None:
                    self.uniforms = np.empty(min(n, DRAW_BLOCK))
                for start in range(0, n, DRAW_BLOCK):
                    stop = min(start + DRAW_BLOCK, n)
                    uniforms = fill_choice_uniforms(model.rng, self.uniforms[: stop - start], self.threads)
                    decide_and_adopt(start, stop, uniforms, *_NO_STREAM, today, self.params, shortest, longest, *arrays)
        move_friend_counts(model.state, model.next_state, friends.indptr, friends.indices,
                           model.tiktok_friends, model.rednote_friends)
        count, total = ordered_totals(self.counts, self.totals)
        in_state = count[: rules.N_OPTIONS].copy()
        tallies = dict(zip(observables.TALLIES, count[rules.N_OPTIONS:].tolist(), strict=True))
        chance, tiktok_activity, rednote_activity, familiarity = total.tolist()
        record = observables.daily_record(in_state, tallies, tiktok_activity, rednote_activity, familiarity, day,
                                          model.params)
        return record, in_state, chance
