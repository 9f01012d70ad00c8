"""Each mechanism matters: ensembles with one driver switched off against the default ensemble.

Runs use the array driver (the same rules as the Mesa agents) at a modest size; every comparison is of
means over several seeds, with margins far beyond the seed-to-seed spread.
"""

import numpy as np
import pandas as pd
import pytest

from model.array_model import ArrayMigrationModel
from model.observables import return_share
from model.params import Params
from model.timeline import Timeline

SEEDS = range(4)
N = 5000
SURGE_WEEK = slice("2025-01-13", "2025-01-19")
BASELINE = slice("2024-12-01", "2024-12-31")


def ensemble(params: Params, timeline) -> list[pd.DataFrame]:
    return [ArrayMigrationModel(params, timeline, rng=seed).run() for seed in SEEDS]


@pytest.fixture(scope="module")
def default_runs(timeline):
    return ensemble(Params(n_agents=N), timeline)


def surge_size(frames) -> float:
    """Mean downloads per day in the surge week over the December baseline's (mean over seeds)."""
    return float(np.mean([f.loc[SURGE_WEEK, "downloads"].mean() / max(f.loc[BASELINE, "downloads"].mean(), 1.0)
                          for f in frames]))


def test_default_has_a_surge(default_runs):
    assert surge_size(default_runs) > 5


def test_without_ban_events_there_is_no_surge(default_runs, timeline):
    ban_fields = ("tiktok_service", "tiktok_in_app_stores", "enforcement_deadline", "ban_resolved")
    no_ban = Timeline(tuple(e for e in timeline.events if not any(getattr(e, f) is not None for f in ban_fields)
                            and "Court" not in e.what and "Executive order" not in e.what),
                      source="no ban events")
    assert all(e.enforcement_deadline is None and e.tiktok_service is None for e in no_ban.events)
    runs = ensemble(Params(n_agents=N), no_ban)
    # December's downloads are too few (RedNote barely known) for a ratio to it to mean much: compare the
    # surge week's downloads themselves.
    week = np.mean([f.loc[SURGE_WEEK, "downloads"].sum() for f in runs])
    default_week = np.mean([f.loc[SURGE_WEEK, "downloads"].sum() for f in default_runs])
    assert week < 0.2 * default_week


def test_without_defiance_the_surge_is_clearly_smaller(default_runs, timeline):
    runs = ensemble(Params(n_agents=N, defiance_weight=0.0), timeline)
    week = np.mean([f.loc[SURGE_WEEK, "downloads"].sum() for f in runs])
    default_week = np.mean([f.loc[SURGE_WEEK, "downloads"].sum() for f in default_runs])
    assert week < 0.7 * default_week


def test_without_stickiness_rednote_keeps_fewer_users_by_june(default_runs, timeline):
    runs = ensemble(Params(n_agents=N, stickiness_weight=0.0), timeline)
    june = np.mean([f.loc["2025-06-30", "rednote_users"] for f in runs])
    default_june = np.mean([f.loc["2025-06-30", "rednote_users"] for f in default_runs])
    assert june < 0.8 * default_june


def test_creators_return_to_tiktok_at_a_higher_rate(default_runs):
    """Pooled over seeds (few creators migrate in one small run): returns per migrant, creators vs others."""
    end = pd.Timestamp("2025-12-31")
    creator_moved = sum(f.at[end, "cumulative_creator_migrants"] for f in default_runs)
    creator_back = sum(f.at[end, "cumulative_creator_return_migrants"] for f in default_runs)
    other_moved = sum(f.at[end, "cumulative_migrants"] for f in default_runs) - creator_moved
    other_back = sum(f.at[end, "cumulative_return_migrants"] for f in default_runs) - creator_back
    assert creator_moved > 0 and other_moved > 0
    assert creator_back / creator_moved > 1.5 * (other_back / other_moved)
    per_seed = [(return_share(f, end, creators=True), return_share(f, end, creators=False)) for f in default_runs]
    assert sum(c > o for c, o in per_seed if not np.isnan(c)) >= 3


def test_familiarity_holds_rednote_back_before_the_surge(default_runs, timeline):
    """RedNote was unranked in the US before January (A2): known to all, it would grow in December too.
    (Calibrated on the envelope of seeds, users learn of it earlier in December than they did, so the
    hold is looser: 1.6 times the December downloads without it and a surge 0.6 times as sharp, at
    N=5,000, 2026-11-29.)"""
    runs = ensemble(Params(n_agents=N, unfamiliarity_cost=0.0), timeline)
    december = np.mean([f.loc[BASELINE, "downloads"].sum() for f in runs])
    default_december = np.mean([f.loc[BASELINE, "downloads"].sum() for f in default_runs])
    assert december > 1.3 * default_december
    assert surge_size(runs) < 0.8 * surge_size(default_runs)


def test_the_wave_makes_the_surge(default_runs, timeline):
    """Without the coverage of the wave (charts, news), users learn of RedNote only from friends."""
    runs = ensemble(Params(n_agents=N, wave_coverage=0.0), timeline)
    week = np.mean([f.loc[SURGE_WEEK, "downloads"].sum() for f in runs])
    default_week = np.mean([f.loc[SURGE_WEEK, "downloads"].sum() for f in default_runs])
    assert week < 0.5 * default_week


def test_users_learn_of_rednote_on_a_day_set_by_the_news_not_by_the_seed_or_size(timeline):
    """The day most users come to know RedNote follows the ban's dated news, the same for every seed and
    model size: the coverage follows the ban's news attention, and the wave it covers is the population's
    expected installs, not a small model's draws. (When the news covered the model's own drawn installs
    at any attention, that day moved over 19-21 days across these seeds and sizes; since, over 5 days,
    2026-11-29.)"""
    days = []
    for n_agents in (2000, 20000):
        params = Params().replace(n_agents=n_agents, end="2025-02-15")
        for seed in range(3):
            frame = ArrayMigrationModel(params, timeline, rng=seed).run()
            known = frame["knows_rednote"] / params.population
            assert known.iloc[0] < 0.5 and known.iloc[-1] > 0.5
            days.append(int(np.argmax(known.to_numpy() > 0.5)))
    assert max(days) - min(days) <= 7, days
