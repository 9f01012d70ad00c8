"""Observation files: their format, every reading on hand-built series, the article's file against the
targets file, and bad files refused with the file and line."""

import datetime as dt
import math
import re
import textwrap
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from model.observables import COLUMNS
from model.observations import (
    ARTICLE_OBSERVATIONS,
    DEFAULT_EDGE_DAYS,
    DEFAULT_EDGE_RELATIVE,
    JANUARY_2025_OBSERVATIONS,
    OBSERVATIONS_DIR,
    ObservationError,
    date_of_day_number,
    day_number,
    load_observations,
    observable_series,
    parse_observations,
    peak_days_as_dates,
)
from model.targets import article_observations, evaluate, load_targets


def frame(days=("2024-12-01", "2025-03-31"), **columns) -> pd.DataFrame:
    """A daily frame with every column 0 except those given (a function of the day's index 0, 1, ...)."""
    dates = pd.date_range(*days, freq="D", name="date")
    out = pd.DataFrame(0.0, index=dates, columns=list(COLUMNS))
    t = np.arange(len(dates), dtype=float)
    for name, f in columns.items():
        out[name] = f(t)
    return out


def write(tmp_path, body: str, name="obs.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


HEAD = """\
[meta]
name = "t"

[sources.panel]
description = "a panel"
scale = { low = 0.5, high = 2.0, log = true }

[sources.firm]
description = "a firm"
"""


def one(tmp_path, body: str, **kw):
    return load_observations(write(tmp_path, HEAD + textwrap.dedent(body)), **kw)


# --- readings --------------------------------------------------------------------------------------

def test_each_reading_on_a_hand_built_series(tmp_path):
    # downloads = day index (0 on 1 Dec), so every statistic is known in closed form.
    run = frame(downloads=lambda t: t, rednote_dau=lambda t: 100 + t, cumulative_downloads=lambda t: 1000 + t * 10)
    observations = one(tmp_path, """
        [[observation]]
        id = "level"
        observable = "rednote_dau"
        reading = "level"
        on = 2024-12-11
        value = 1
        uncertainty = { sd = 1 }
        source = "panel"
        kind = "estimate"

        [[observation]]
        id = "sum"
        observable = "downloads"
        reading = "sum"
        window = [2024-12-02, 2024-12-04]
        uncertainty = { band = [0, inf] }
        source = "firm"
        kind = "claim"

        [[observation]]
        id = "mean"
        observable = "downloads"
        reading = "mean"
        window = [2024-12-02, 2024-12-04]
        value = 3
        uncertainty = { relative = 0.5 }
        source = "firm"
        kind = "measurement"

        [[observation]]
        id = "ratio"
        observable = "downloads"
        reading = "ratio"
        stat = "sum"
        window = [2024-12-11, 2024-12-12]
        base = [2024-12-02, 2024-12-03]
        value = 7
        uncertainty = { sd = 1 }
        source = "firm"
        kind = "estimate"

        [[observation]]
        id = "change"
        observable = "cumulative_downloads"
        reading = "change"
        window = [2024-12-02, "end"]
        uncertainty = { band = [0, inf] }
        source = "firm"
        kind = "claim"

        [[observation]]
        id = "growth"
        observable = "cumulative_downloads"
        reading = "growth"
        month = "2025-01"
        value = 0.3
        uncertainty = { sd = 0.1 }
        source = "firm"
        kind = "estimate"

        [[observation]]
        id = "peak"
        observable = "rednote_dau - downloads * downloads"
        reading = "peak_date"
        value = 2024-12-01
        uncertainty = { sd = 2 }
        source = "firm"
        kind = "estimate"

        [[observation]]
        id = "share"
        observable = "downloads / population"
        reading = "max"
        window = ["start", "end"]
        uncertainty = { band = [0, 1] }
        source = "panel"
        kind = "estimate"
        scaled = false
        """)
    run["neither"] = 1000.0       # the population: the four states' total on the first day
    got = observations.read(run)
    assert got["level"] == 110
    assert got["sum"] == 1 + 2 + 3
    assert got["mean"] == 2
    assert got["ratio"] == (10 + 11) / (1 + 2)
    last = len(run) - 1
    assert got["change"] == (1000 + last * 10) - (1000 + 10)
    # End of January is day 61, end of December day 30.
    assert got["growth"] == pytest.approx((1000 + 61 * 10) / (1000 + 30 * 10) - 1)
    assert date_of_day_number(got["peak"]) == dt.date(2024, 12, 1)
    assert got["share"] == pytest.approx(last / 1000)
    # Only readings in people from a source with a scale are scaled.
    assert observations["level"].is_scaled and not observations["share"].is_scaled
    assert not observations["ratio"].is_scaled
    assert observations.scale_priors() == {"scale_panel": (0.5, 2.0, True)}
    assert observations["mean"].sd == 1.5


def test_a_run_too_short_for_a_reading_gives_nan_not_a_miss(tmp_path):
    observations = one(tmp_path, """
        [[observation]]
        id = "late"
        observable = "downloads"
        reading = "mean"
        window = [2025-06-01, 2025-06-07]
        value = 1
        uncertainty = { sd = 1 }
        source = "firm"
        kind = "estimate"
        """)
    assert math.isnan(observations.read(frame())["late"])


def test_a_new_column_is_observable_without_code_changes(tmp_path):
    columns = COLUMNS + ("lemon8_dau",)
    observations = one(tmp_path, """
        [[observation]]
        id = "lemon8"
        observable = "lemon8_dau / rednote_users"
        reading = "level"
        on = 2025-01-31
        value = 0.5
        uncertainty = { sd = 0.1 }
        source = "firm"
        kind = "estimate"
        """, columns=columns)
    run = frame(rednote_users=lambda t: 10 + 0 * t)
    run["lemon8_dau"] = 4.0
    assert observations.read(run)["lemon8"] == pytest.approx(0.4)
    with pytest.raises(ObservationError, match="unknown observable 'lemon8_dau'"):
        one(tmp_path, """
            [[observation]]
            id = "lemon8"
            observable = "lemon8_dau"
            reading = "level"
            on = 2025-01-31
            value = 0.5
            uncertainty = { sd = 0.1 }
            source = "firm"
            kind = "estimate"
            """)


def test_expressions_compare_and_divide_like_the_targets():
    run = frame(dual_users=lambda t: 2 + 0 * t, rednote_only=lambda t: t)
    assert list(observable_series("dual_users > rednote_only", run).iloc[:4]) == [1.0, 1.0, 0.0, 0.0]
    assert observable_series("-dual_users * 2", run).iloc[0] == -4


# --- the two shipped files -----------------------------------------------------------------------------

def test_article_file_is_the_targets_file_band_for_band():
    shipped = load_observations(ARTICLE_OBSERVATIONS)
    generated = article_observations(load_targets())
    assert shipped.ids == generated.ids
    fields = ("observable", "reading", "on", "window", "base", "stat", "base_stat", "month", "band", "scaled",
              "claim", "source", "kind")
    for a, b in zip(shipped, generated, strict=True):
        assert {f: getattr(a, f) for f in fields} == {f: getattr(b, f) for f in fields}, a.id


def test_article_bands_are_the_targets_files_own():
    spec = load_targets()
    shipped = load_observations(ARTICLE_OBSERVATIONS)
    assert shipped["surge.downloads_week_ratio"].band == tuple(spec["surge"]["downloads_week_ratio"])
    assert shipped["surge.dau_week_ratio"].band == tuple(spec["surge"]["dau_week_ratio"])
    assert shipped["surge.peak_daily_downloads_between"].band == tuple(
        day_number(d) for d in spec["surge"]["peak_daily_downloads_between"])
    for phase in ("short_term", "medium_term"):
        assert shipped[f"{phase}.cumulative_downloads"].band == tuple(spec[phase]["cumulative_downloads"])
    for phase in ("short_term", "medium_term", "long_term"):
        for month in spec[phase]["mom_growth_months"]:
            assert shipped[f"{phase}.mom_growth[{month}]"].band == tuple(spec[phase]["mom_growth"])


def test_evaluating_the_shipped_file_equals_evaluating_the_targets_file():
    from tests.test_targets import synthetic
    for change in ({}, {"surge_week": 6e6}, {"peak_day": "2025-01-12", "surge_week": 4.4e6, "pre_week": 1.1e6},
                   {"returns_early": 0.4}, {"dual_share": 0.4}):
        run = synthetic(**change)
        a = evaluate(run)
        b = evaluate(run, load_observations(ARTICLE_OBSERVATIONS))
        assert [(r.target, r.value) for r in a] == [(r.target, r.value) for r in b]


def test_january_2025_file_reads_every_figure_and_leaves_lemon8_out():
    observations = load_observations(JANUARY_2025_OBSERVATIONS)
    assert {o.source for o in observations} == {"similarweb", "company", "sensor_tower"}
    assert observations["similarweb.rednote_dau.jan13"].value == 3_400_000
    assert observations["similarweb.tiktok_dau.jan13"].value == 82_200_000
    assert observations["sensor_tower.downloads.week_ratio"].value == pytest.approx(2.94)
    assert observations["company.new_users.jan13_14"].band == (700_000, math.inf)
    assert observations.scale_priors() == {"scale_similarweb": (0.2, 2.0, True)}
    assert not any("lemon8" in o.observable.lower() for o in observations)
    assert "Lemon8" in JANUARY_2025_OBSERVATIONS.read_text(encoding="utf-8")
    run = frame(rednote_dau=lambda t: 1e5 * (t + 1), tiktok_dau=lambda t: 1.7e8 + 0 * t,
                downloads=lambda t: 1e3 * (t + 1))
    readings = observations.read(run)
    assert all(math.isfinite(v) for v in readings.values())
    # 2025-01-13 is day 43 from 1 December.
    assert readings["similarweb.rednote_dau.jan13"] == pytest.approx(1e5 * 44)


# --- bad files ---------------------------------------------------------------------------------------

GOOD = """
[[observation]]
id = "x"
observable = "rednote_dau"
reading = "level"
on = 2025-01-13
value = 1
uncertainty = { sd = 1 }
source = "firm"
kind = "estimate"
"""


@pytest.mark.parametrize("old,new,message,line_key", [
    ('observable = "rednote_dau"', 'observable = "rednote_daus"', "unknown observable 'rednote_daus' .did you mean 'rednote_dau'", "observable"),
    ('on = 2025-01-13', 'on = "2025-01-13"', "date in the wrong format", "on"),
    ('on = 2025-01-13', 'on = "13/01/2025"', "date in the wrong format", "on"),
    ('on = 2025-01-13', 'on = 2027-01-13', "2027-01-13 .on. is outside the run", "on"),
    ('uncertainty = { sd = 1 }\n', '', "missing uncertainty", None),
    ('uncertainty = { sd = 1 }', 'uncertainty = { sd = -1 }', "sd must be a positive number", "uncertainty"),
    ('uncertainty = { sd = 1 }', 'uncertainty = { sd = 1, band = [0, 1] }', "exactly one of", "uncertainty"),
    ('uncertainty = { sd = 1 }', 'uncertainty = { band = [2, 1] }', "inverted", "uncertainty"),
    ('value = 1\n', '', "needs a value", None),
    ('reading = "level"', 'reading = "median"', "unknown reading 'median'", "reading"),
    ('source = "firm"', 'source = "nobody"', "unknown source 'nobody'", "source"),
    ('kind = "estimate"', 'kind = "rumour"', "unknown kind 'rumour'", "kind"),
    ('on = 2025-01-13', 'on = 2025-01-13\nmonth = "2025-01"', "unknown key 'month' for a level reading", "month"),
    ('observable = "rednote_dau"', 'observable = "__import__(1)"', "not allowed", "observable"),
    ('reading = "level"\non = 2025-01-13', 'reading = "mean"\nwindow = [2025-01-13, 2025-01-10]', "ends before it starts", "window"),
])
def test_bad_files_name_the_file_and_line(tmp_path, old, new, message, line_key):
    assert old in GOOD
    body = HEAD + GOOD.replace(old, new, 1)
    path = write(tmp_path, body)
    with pytest.raises(ObservationError, match=message) as err:
        load_observations(path)
    text = str(err.value)
    assert text.startswith(f"{path}:"), text
    line = int(text.split(":")[1])
    lines = body.splitlines()
    if line_key is not None:
        assert lines[line - 1].startswith(line_key), (line, lines[line - 1])
    else:
        assert lines[line - 1] == "[[observation]]", (line, lines[line - 1])


@pytest.mark.parametrize("body,message", [
    (HEAD, "no observations"),
    (HEAD + "[meta2]\n" + GOOD, "unknown top-level key"),
    (HEAD.replace("log = true", "log = 1") + GOOD, "scale: low and high must be numbers and log true or false"),
    (HEAD.replace("low = 0.5", "low = 0") + GOOD, "needs 0 < low < high"),
    (HEAD + GOOD + GOOD, "duplicate id 'x'"),
    (HEAD + GOOD.replace("on = 2025-01-13", "on = 2025-01-13 x"), "not valid TOML"),
])
def test_bad_files_whole(tmp_path, body, message):
    path = write(tmp_path, body)
    with pytest.raises(ObservationError, match=message) as err:
        load_observations(path)
    assert str(err.value).startswith(str(path))


def test_missing_file():
    with pytest.raises(ObservationError, match="not found"):
        load_observations("no/such/file.toml")


# --- checking a run against observations (experiments.check) -----------------------------------------

SCALED_PAIR = """
    [[observation]]
    id = "panel.a"
    observable = "rednote_dau"
    reading = "level"
    on = 2025-01-10
    value = 100
    uncertainty = { sd = 10 }
    source = "panel"
    kind = "estimate"

    [[observation]]
    id = "panel.b"
    observable = "rednote_dau"
    reading = "level"
    on = 2025-01-20
    value = 300
    uncertainty = { band = [0, 350] }
    source = "panel"
    kind = "estimate"

    [[observation]]
    id = "firm.c"
    observable = "downloads"
    reading = "level"
    on = 2025-01-10
    value = 50
    uncertainty = { sd = 5 }
    source = "firm"
    kind = "claim"
    """


def test_a_scaled_source_is_read_at_the_scale_that_fits_inside_its_prior(tmp_path):
    observations = one(tmp_path, SCALED_PAIR)
    # The panel sees half the model's people: its only figure with an sd fits a scale of 0.5 exactly.
    readings = {"panel.a": 200.0, "panel.b": 600.0, "firm.c": 50.0}
    scales = observations.fit_scales(readings)
    assert scales == {"scale_panel": pytest.approx(0.5)}
    figures = observations.figures(readings, scales)
    assert figures == {"panel.a": pytest.approx(100.0), "panel.b": pytest.approx(300.0), "firm.c": 50.0}
    assert observations.met(readings) == {"panel.a": True, "panel.b": True, "firm.c": True}
    # A scale the prior does not allow (0.1, under its low end 0.5) is held at the prior's edge, so a run
    # ten times too big misses the panel's figures instead of being scaled into them.
    too_big = {"panel.a": 1000.0, "panel.b": 3000.0, "firm.c": 50.0}
    assert observations.fit_scales(too_big) == {"scale_panel": pytest.approx(0.5)}
    assert observations.met(too_big) == {"panel.a": False, "panel.b": False, "firm.c": True}


def test_a_figure_with_an_sd_is_met_within_two_sds_and_a_run_too_short_meets_nothing(tmp_path):
    observation = one(tmp_path, SCALED_PAIR)["firm.c"]
    assert observation.meets(50 + 2 * 5) and observation.meets(50 - 2 * 5)
    assert not observation.meets(50 + 2 * 5 + 0.01)
    assert not observation.meets(math.nan)


def test_peak_days_are_written_as_dates():
    """Tables written for people give a peak_date figure as its date, every other figure as it was."""
    table = pd.DataFrame({"id": ["peak", "level"], "median": [day_number(dt.date(2025, 1, 19)) + 0.4, 3.4e6],
                          "q05": [day_number(dt.date(2025, 1, 13)), math.nan]})
    shown = peak_days_as_dates(table, ["peak_date", "level"], ["median", "q05"])
    assert shown.loc[0, "median"] == dt.date(2025, 1, 19) and shown.loc[0, "q05"] == dt.date(2025, 1, 13)
    assert shown.loc[1, "median"] == 3.4e6 and math.isnan(shown.loc[1, "q05"])
    assert table.loc[0, "median"] == day_number(dt.date(2025, 1, 19)) + 0.4        # the input is left as it was
    nan_peak = peak_days_as_dates(table.assign(median=[math.nan, 1.0]), ["peak_date", "level"], ["median"])
    assert nan_peak.loc[0, "median"] is None                                         # no peak measured: empty


# --- a band's edges: their uncertainty is the scale of a miss beyond them ------------------------------

def _one_band(uncertainty: str, reading: str = 'reading = "level"\non = 2025-01-12') -> str:
    return f"""
[sources.panel]
[[observation]]
id = "x"
observable = "rednote_dau"
{reading}
uncertainty = {uncertainty}
source = "panel"
kind = "estimate"
"""


def _band(uncertainty: str, **kw):
    return parse_observations(tomllib.loads(_one_band(uncertainty, **kw)))["x"]


def test_a_miss_beyond_a_band_counts_in_its_edges_sd_not_its_width():
    declared = _band("{ band = [0, 700_000], edge = { relative = 0.05 } }")
    assert declared.edge_sd == pytest.approx((35_000, 35_000))     # an edge at 0 takes the other edge's size
    assert declared.miss(770_000) == pytest.approx(2.0)
    assert declared.miss(350_000) == 0.0 and declared.miss(700_000) == 0.0
    assert math.isnan(declared.miss(math.nan))
    absolute = _band("{ band = [700_000, inf], edge = { sd = 50_000 } }")
    assert absolute.miss(600_000) == pytest.approx(-2.0) and absolute.miss(1e12) == 0.0
    # Undeclared: a tenth of each edge. The same overshoot misses a wide band as much as a narrow one,
    # and a one-sided band (no width at all) as much as a two-sided one with the same edge.
    wide, narrow, open_ended = (_band(u) for u in ("{ band = [0, 700_000] }", "{ band = [600_000, 700_000] }",
                                                   "{ band = [-inf, 700_000] }"))
    assert wide.miss(770_000) == narrow.miss(770_000) == open_ended.miss(770_000) == pytest.approx(1.0)
    assert narrow.miss(540_000) == pytest.approx(-1.0)              # below: in the low edge's sd (60,000)
    assert DEFAULT_EDGE_RELATIVE * 700_000 == pytest.approx(wide.edge_sd[1])


def test_a_date_bands_edge_is_in_days():
    peak = _band("{ band = [2025-01-13, 2025-01-21] }", reading='reading = "peak_date"')
    assert peak.edge_sd == (DEFAULT_EDGE_DAYS, DEFAULT_EDGE_DAYS)
    assert peak.miss(peak.band[1] + 3) == pytest.approx(3 / DEFAULT_EDGE_DAYS)
    assert _band("{ band = [2025-01-13, 2025-01-21], edge = { sd = 2 } }",
                 reading='reading = "peak_date"').miss(peak.band[0] - 3) == pytest.approx(-1.5)


@pytest.mark.parametrize("uncertainty,message", [
    ("{ band = [0, 700_000], edge = { relative = 0 } }", "edge relative must be a positive number"),
    ("{ band = [0, 700_000], edge = { sd = -1 } }", "edge sd must be a positive number"),
    ("{ band = [0, 700_000], edge = { width = 3 } }", "edge must be { sd = S } or { relative = R }"),
    ("{ band = [0, 700_000], edge = 0.05 }", "edge must be { sd = S } or { relative = R }"),
    ("{ sd = 3, edge = { sd = 1 } }", "give it with band = [low, high]"),
])
def test_bad_edge_uncertainty_is_an_error_naming_the_line(uncertainty, message):
    text = _one_band(uncertainty)
    with pytest.raises(ObservationError, match=re.escape(message)) as err:
        parse_observations(tomllib.loads(text), text=text, path=Path("bad.toml"))
    assert "bad.toml:" in str(err.value)


def test_a_dates_edge_is_not_relative():
    with pytest.raises(ObservationError, match="sd in days"):
        _band("{ band = [2025-01-13, 2025-01-21], edge = { relative = 0.1 } }", reading='reading = "peak_date"')


def test_every_band_of_every_shipped_file_scores_a_miss_in_edge_sds():
    """The kind, not one figure: in every observation file, a figure beyond any band's finite edge by that
    edge's sd (as declared, else a tenth of the edge, or a day) misses by exactly one unit, whatever the
    band's width, as a figure one sd from its value does."""
    for path in sorted(OBSERVATIONS_DIR.glob("*.toml")):
        for o in load_observations(path):
            if o.band is None:
                continue
            low, high = o.band
            kind, given = o.edge or (("sd", DEFAULT_EDGE_DAYS) if o.reading == "peak_date"
                                     else ("relative", DEFAULT_EDGE_RELATIVE))
            for edge, step in ((high, 1), (low, -1)):
                if not math.isfinite(edge):
                    continue
                size = abs(edge) or max(abs(b) for b in (low, high) if math.isfinite(b))
                sd = given if kind == "sd" else given * size
                assert o.miss(edge + step * sd) == pytest.approx(step), (path.name, o.id)
                assert o.miss(edge + step * 3 * sd) == pytest.approx(3 * step), (path.name, o.id)
