"""The target evaluation itself, on synthetic series built to lie inside (or outside) each band."""

import numpy as np
import pandas as pd
import pytest

from model.observables import COLUMNS, monthly_growth
from model.targets import all_pass, distance, envelope, envelope_distance, evaluate, load_targets, mean_distance

POPULATION = 170e6


def month_ends(growth_by_month: dict[str, float], jan_total: float) -> pd.Series:
    """Cumulative downloads at each month end from January's total and month-over-month growth."""
    ends = {"2024-12": 1.0e6, "2025-01": jan_total}
    level = jan_total
    for month, g in growth_by_month.items():
        level *= 1 + g
        ends[month] = level
    return pd.Series(ends)


def synthetic(growth=None, jan_total=11e6, pre_week=1.0e6, surge_week=4.0e6, dau_before=1.5e6, dau_surge=4.1e6,
              peak_day="2025-01-15", returns_early=0.05, creator_extra=0.1, dual_share=0.7, tiktok_share=0.9,
              rednote_floor=2.0):
    """A daily frame with every column the targets read, whose values are set by the arguments."""
    growth = growth or {"2025-02": 0.25, "2025-03": 0.25, "2025-04": 0.15, "2025-05": 0.15, "2025-06": 0.15,
                        "2025-07": 0.08, "2025-08": 0.07, "2025-09": 0.07, "2025-10": 0.06, "2025-11": 0.06,
                        "2025-12": 0.06}
    dates = pd.date_range("2024-12-01", "2025-12-31", freq="D", name="date")
    frame = pd.DataFrame(0.0, index=dates, columns=list(COLUMNS))

    # Daily downloads: flat within each month, so month ends are exact; the surge fortnight set apart.
    ends = month_ends(growth, jan_total)
    downloads = pd.Series(0.0, index=dates)
    previous = 0.0
    for month, end in ends.items():
        days = downloads.loc[month].index
        downloads.loc[days] = (end - previous) / len(days)
        previous = end
    january = downloads.loc["2025-01"].sum()
    before = pd.date_range("2025-01-06", "2025-01-12")
    week = pd.date_range("2025-01-13", "2025-01-19")
    downloads.loc[before] = pre_week / 7
    peak = pd.Timestamp(peak_day)
    if peak in week:   # the peak is a day of the surge week with twice the others' downloads
        downloads.loc[week] = surge_week / 8
        downloads.loc[peak] += surge_week / 8
    else:
        downloads.loc[week] = surge_week / 7
        downloads.loc[peak] += surge_week / 7
    rest = downloads.loc["2025-01"].index.difference(before.union(week).union([pd.Timestamp(peak_day)]))
    downloads.loc[rest] += (january - downloads.loc["2025-01"].sum()) / len(rest)
    frame["downloads"] = downloads
    frame["cumulative_downloads"] = downloads.cumsum()

    # Before the surge RedNote's DAU is half the week-before level; from February it is rednote_floor times that.
    dau = pd.Series(dau_surge, index=dates)
    dau.loc[:"2025-01-05"] = dau_before / 2
    dau.loc[before] = dau_before
    dau.loc[week] = dau_surge
    dau.loc["2025-02-01":] = dau_before / 2 * rednote_floor
    frame["rednote_dau"] = dau

    rednote_users = frame["cumulative_downloads"] * 0.8
    frame["dual_users"] = rednote_users * dual_share
    frame["rednote_only"] = rednote_users * (1 - dual_share)
    frame["rednote_users"] = rednote_users
    frame["tiktok_users"] = POPULATION * tiktok_share
    frame["tiktok_only"] = frame["tiktok_users"] - frame["dual_users"]
    frame["neither"] = POPULATION - frame[["tiktok_only", "rednote_only", "dual_users"]].sum(axis=1)

    # Migration: migrants follow downloads; returns grow slowly; creators return at a share above others.
    frame["cumulative_migrants"] = frame["cumulative_downloads"]
    frame["cumulative_creator_migrants"] = frame["cumulative_migrants"] * 0.05
    ramp = np.clip((dates - pd.Timestamp("2025-01-20")).days / 70.0, 0, None)
    share = returns_early * ramp
    frame["cumulative_return_migrants"] = frame["cumulative_migrants"] * share
    frame["cumulative_creator_return_migrants"] = frame["cumulative_creator_migrants"] * (share + creator_extra)
    return frame


@pytest.fixture(scope="module")
def spec():
    return load_targets()


def keys_failing(frame, spec):
    return {r.target.key for r in evaluate(frame, spec) if not r.passed}


def test_synthetic_series_passes_every_target(spec):
    results = evaluate(synthetic(), spec)
    assert all_pass(results), [(r.target.key, r.value) for r in results if not r.passed]
    assert distance(results) == 0.0


def test_monthly_growth_is_cumulative_month_end_over_month_end():
    frame = synthetic()
    growth = monthly_growth(frame)
    assert growth["2025-02"] == pytest.approx(0.25)
    assert growth["2025-07"] == pytest.approx(0.08)
    assert "2024-12" not in growth.index   # no month before the first


@pytest.mark.parametrize("change,key", [
    (dict(surge_week=6.0e6), "surge.downloads_week_ratio"),
    (dict(surge_week=2.0e6), "surge.downloads_week_ratio"),
    (dict(dau_surge=5.0e6), "surge.dau_week_ratio"),
    (dict(dau_surge=3.0e6), "surge.dau_week_ratio"),
    (dict(peak_day="2025-01-12", surge_week=4.4e6, pre_week=1.1e6), "surge.peak_daily_downloads_between"),
    (dict(jan_total=8e6), "short_term.cumulative_downloads"),
    (dict(jan_total=16e6), "short_term.cumulative_downloads"),
    (dict(growth={"2025-02": 0.35, "2025-03": 0.16, "2025-04": 0.15, "2025-05": 0.15, "2025-06": 0.15,
                  "2025-07": 0.08, "2025-08": 0.07, "2025-09": 0.07, "2025-10": 0.06, "2025-11": 0.06,
                  "2025-12": 0.06}), "short_term.mom_growth[2025-02]"),
    (dict(growth={"2025-02": 0.25, "2025-03": 0.25, "2025-04": 0.15, "2025-05": 0.05, "2025-06": 0.25,
                  "2025-07": 0.08, "2025-08": 0.07, "2025-09": 0.07, "2025-10": 0.06, "2025-11": 0.06,
                  "2025-12": 0.06}), "medium_term.mom_growth[2025-05]"),
    (dict(growth={"2025-02": 0.25, "2025-03": 0.25, "2025-04": 0.15, "2025-05": 0.15, "2025-06": 0.15,
                  "2025-07": 0.08, "2025-08": 0.07, "2025-09": 0.12, "2025-10": 0.06, "2025-11": 0.06,
                  "2025-12": 0.06}), "long_term.mom_growth[2025-09]"),
    (dict(growth={"2025-02": 0.25, "2025-03": 0.25, "2025-04": 0.15, "2025-05": 0.15, "2025-06": 0.15,
                  "2025-07": 0.08, "2025-08": 0.07, "2025-09": 0.07, "2025-10": 0.06, "2025-11": 0.06,
                  "2025-12": 0.03}), "long_term.mom_growth[2025-12]"),
    (dict(returns_early=0.4), "return_migration.small_by"),
    (dict(returns_early=0.0), "return_migration.exists"),
    (dict(creator_extra=-0.02), "return_migration.creators_return_more"),
    (dict(dual_share=0.4), "coexistence.dual_users_largest"),
    (dict(tiktok_share=0.45), "coexistence.tiktok_keeps_majority"),
    (dict(rednote_floor=0.5), "coexistence.rednote_above_pre_surge"),
])
def test_series_outside_a_band_fails_that_target(spec, change, key):
    failing = keys_failing(synthetic(**change), spec)
    assert key in failing
    assert distance(evaluate(synthetic(**change), spec)) > 0


def test_medium_term_cumulative_band(spec):
    low = synthetic(growth={"2025-02": 0.2, "2025-03": 0.2, "2025-04": 0.1, "2025-05": 0.1, "2025-06": 0.1,
                            "2025-07": 0.08, "2025-08": 0.07, "2025-09": 0.07, "2025-10": 0.06, "2025-11": 0.06,
                            "2025-12": 0.06}, jan_total=11e6)
    assert "medium_term.cumulative_downloads" in keys_failing(low, spec)


def test_distance_grows_with_the_miss(spec):
    near = distance(evaluate(synthetic(jan_total=9.0e6), spec))
    far = distance(evaluate(synthetic(jan_total=6.0e6), spec))
    assert 0 < near < far


def test_margin_aims_inside_the_band_and_never_widens_it(spec):
    # February's growth at 0.21 is inside [0.20, 0.30] but within 20% of the width from its lower edge.
    growth = {"2025-02": 0.21, "2025-03": 0.25, "2025-04": 0.15, "2025-05": 0.15, "2025-06": 0.15,
              "2025-07": 0.08, "2025-08": 0.07, "2025-09": 0.07, "2025-10": 0.07, "2025-11": 0.07, "2025-12": 0.07}
    results = evaluate(synthetic(growth=growth, jan_total=11.5e6), spec)
    assert all_pass(results)
    assert distance(results) == 0.0
    # Its inner band is [0.22, 0.28]: the miss is 0.01, in units of the 0.20 edge's sd (a tenth of it, 0.02).
    assert distance(results, margin=0.2) == pytest.approx(0.5, abs=1e-9)
    outside = evaluate(synthetic(jan_total=8e6), spec)
    assert distance(outside, margin=0.2) > distance(outside) > 0
    # A one-sided ratio is aimed above its bound too: creators returning 1.1 times as often as others
    # pass, but sit inside the 20% margin above 1.
    barely = evaluate(synthetic(growth=growth, jan_total=11.5e6, returns_early=0.05, creator_extra=0.005), spec)
    ratio = next(r for r in barely if r.target.key == "return_migration.creators_return_more")
    assert ratio.passed and 1.0 < ratio.value < 1.2
    assert distance(barely, margin=0.2) > distance(results, margin=0.2)
    with pytest.raises(ValueError):
        distance(results, margin=0.5)


def test_envelope_is_zero_only_when_every_seed_passes(spec):
    inside = evaluate(synthetic(), spec)
    high = evaluate(synthetic(surge_week=6.0e6), spec)       # downloads ratio 6: above [3.5, 4.5]
    low = evaluate(synthetic(surge_week=2.0e6), spec)        # and 2: below it
    assert envelope_distance([inside, inside]) == 0.0
    # One seed out is enough, and the envelope sees it wherever the mean of the seeds would dilute it.
    assert envelope_distance([inside, high]) > 0
    assert envelope_distance([inside, inside, inside, high]) > mean_distance([inside, inside, inside, high])
    # Its lowest and highest values are the seeds' own, target by target.
    lows, highs = envelope([high, low, inside])
    key = "surge.downloads_week_ratio"
    values = [next(r.value for r in res if r.target.key == key) for res in (high, low, inside)]
    assert next(r.value for r in lows if r.target.key == key) == min(values)
    assert next(r.value for r in highs if r.target.key == key) == max(values)
    # A seed that cannot measure a target (NaN) is never hidden by the others.
    broken = [r if r.target.key != key else type(r)(r.target, float("nan")) for r in inside]
    assert envelope_distance([inside, broken]) > 0
    with pytest.raises(ValueError):
        envelope([])
