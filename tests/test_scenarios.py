"""Counterfactual scenarios: shipped files load, edit the timeline as they say, run, and compare."""

import datetime as dt
import json
import textwrap

import numpy as np
import pandas as pd
import pytest

from agents import rules
from batch.ensemble import saved_identity
from experiments import run as run_cli
from experiments import scenarios as scen
from model.config import load_config, make_model
from model.params import Params

SHIPPED = scen.shipped_scenarios()


def test_the_promised_scenarios_are_shipped():
    assert {"default", "ban-enforced", "never-back-in-stores", "deal-collapses", "no-defiance",
            "no-lunar-new-year", "creators-paid", "stickier-rednote"} <= {p.stem for p in SHIPPED}


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_each_shipped_scenario_loads_and_runs(path):
    config = load_config(path, n_agents=120, end="2025-02-20")
    assert config.name == path.stem and config.description
    frame = make_model(config, seed=0).run()
    assert len(frame) == config.params.n_days
    states = frame[list(rules.STATE_NAMES)].sum(axis=1)
    assert np.allclose(states, config.params.population)


def signals(name):
    config = load_config(scen.SCENARIO_DIR / f"{name}.toml")
    s = config.timeline().signals(config.params)
    dates = pd.DatetimeIndex(s.dates)
    return config, pd.DataFrame({"service": s.tiktok_service, "stores": s.tiktok_in_stores,
                                 "festival": s.festival}, index=dates)


def test_ban_enforced_keeps_tiktok_dark_and_out_of_stores():
    _, ban = signals("ban-enforced")
    _, base = signals("default")
    after = ban.loc["2025-01-19":]
    assert not after["service"].any() and not after["stores"].any()
    assert base.loc["2025-01-20":, "service"].all(), "the default restores service"
    assert ban.loc[:"2025-01-18"].equals(base.loc[:"2025-01-18"])
    assert ban["festival"].equals(base["festival"]), "the Lunar New Year stays"


def test_never_back_in_stores_restores_service_only():
    _, s = signals("never-back-in-stores")
    assert s.loc["2025-01-20":, "service"].all()
    assert not s.loc["2025-01-19":, "stores"].any()


def test_deal_collapses_enforces_the_september_deadline():
    _, s = signals("deal-collapses")
    _, base = signals("default")
    assert s.loc["2025-01-20":"2025-09-16", "service"].all()
    assert not s.loc["2025-09-17":, "service"].any() and not s.loc["2025-09-17":, "stores"].any()
    assert s.loc[:"2025-09-14", ["service", "stores"]].equals(base.loc[:"2025-09-14", ["service", "stores"]])


def test_parameter_scenarios_change_only_their_lever():
    default = load_config(scen.SCENARIO_DIR / "default.toml")
    expected = {"no-defiance": {"defiance_weight": 0.0}, "no-lunar-new-year": {"festival_boost": 0.0}}
    for name, changed in expected.items():
        config = load_config(scen.SCENARIO_DIR / f"{name}.toml")
        assert config.params == default.params.replace(**changed)
        assert config.timeline().events == default.timeline().events
    assert load_config(scen.SCENARIO_DIR / "creators-paid.toml").params.creator_rednote_bonus > 0
    assert load_config(scen.SCENARIO_DIR / "stickier-rednote.toml").params.rednote_habit_extra > 0


def test_scenario_levers_add_exactly_what_they_say():
    stickiness = np.array([0.0, 0.5, 1.0, 0.5])
    creator = np.array([False, False, True, True])
    assert np.array_equal(rules.rednote_levers(stickiness, creator, Params()), np.zeros(4))
    paid = Params(creator_rednote_bonus=2.5)
    assert np.array_equal(rules.rednote_levers(stickiness, creator, paid), [0.0, 0.0, 2.5, 2.5])
    doubled = Params(rednote_habit_extra=1.0)
    assert np.allclose(rules.rednote_levers(stickiness, creator, doubled), rules.habit_value(stickiness, doubled))


def test_enforced_ban_ends_with_far_fewer_tiktok_users():
    """Over a small ensemble (same seeds for both), the enforced ban leaves far fewer TikTok users at the end."""
    def final_tiktok_users(name):
        config = load_config(scen.SCENARIO_DIR / f"{name}.toml", n_agents=300)
        return np.median([make_model(config, seed=s).run()["tiktok_users"].iloc[-1] for s in range(3)])

    default, ban = final_tiktok_users("default"), final_tiktok_users("ban-enforced")
    assert default > 0
    assert ban < 0.2 * default


# --- edits ------------------------------------------------------------------------------------------

def write(tmp_path, text, name="s.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def test_edits_drop_move_add_and_resort(tmp_path):
    path = write(tmp_path, """
        name = "edited"
        [[timeline_edits.drop]]
        match = { date = 2025-01-29, what = "lunar new year" }
        [[timeline_edits.move]]
        match = { date = 2025-02-13, what = "back in the Apple" }
        to = 2024-12-20
        [[timeline_edits.add]]
        date = 2025-03-01
        what = "A new event"
        tiktok_service = false
    """)
    base = load_config(None).timeline().events
    events = load_config(path).timeline().events
    assert len(events) == len(base)
    assert not [e for e in events if "Lunar" in e.what]
    moved = [e for e in events if "back in the Apple" in e.what]
    assert [e.date for e in moved] == [dt.date(2024, 12, 20)] and moved[0].tiktok_in_app_stores is True
    added = [e for e in events if e.what == "A new event"]
    assert added[0].tiktok_service is False
    assert [e.date for e in events] == sorted(e.date for e in events)


def test_saved_config_keeps_the_edits_and_reruns_identically(tmp_path):
    out = tmp_path / "out"
    scenario = scen.SCENARIO_DIR / "deal-collapses.toml"
    assert run_cli.main(["--config", str(scenario), "--agents", "150", "--seed", "2", "--out", str(out),
                         "--quiet"]) == 0
    saved = load_config(out / "config.toml")
    assert saved.timeline().events == load_config(scenario).timeline().events
    again = tmp_path / "again"
    assert run_cli.main(["--config", str(out / "config.toml"), "--out", str(again), "--quiet"]) == 0
    assert (out / "daily.csv").read_text() == (again / "daily.csv").read_text()


TIMELINE = """
    [[event]]
    date = 2025-01-10
    what = "Deadline set"
    enforcement_deadline = 2025-02-01
    [[event]]
    date = 2025-01-20
    what = "Court ruling A"
    [[event]]
    date = 2025-01-20
    what = "Court ruling B"
"""

# Each malformed scenario, and what its error must say: file:line (and column for TOML syntax) and the problem.
MALFORMED = {
    "unknown top-level key": ('name = "x"\nseeed = 3\n', r"s\.toml:2: unknown key.*'seeed'"),
    "unknown parameter": ('name = "x"\n\n[params]\nfestival_boost = 0.0\ndefiance_wieght = 0.0\n',
                          r"s\.toml:5: unknown parameter 'defiance_wieght' \(did you mean 'defiance_weight'\?\)"),
    "parameter out of range": ('[params]\n# why\ndefiance_weight = -1.0\n', r"s\.toml:3: parameter 'defiance_weight'"),
    "impossible date (TOML syntax)": ('[[timeline_edits.add]]\ndate = 2025-13-45\nwhat = "x"\n',
                                      r"s\.toml:2:\d+: not valid TOML"),
    "date written as a string": ('[[timeline_edits.add]]\ndate = 2025-02-01\nwhat = "a"\n'
                                 '[[timeline_edits.add]]\nwhat = "b"\ndate = "2025-03-01"\n',
                                 r"s\.toml:6: .*'date' must be a TOML date"),
    "added events out of order": ('[[timeline_edits.add]]\ndate = 2025-05-01\nwhat = "a"\n\n'
                                  '[[timeline_edits.add]]\ndate = 2025-04-01\nwhat = "b"\n',
                                  r"s\.toml:6: timeline_edits\.add #2: added events out of order"),
    "unknown event field in an added event": ('[[timeline_edits.add]]\ndate = 2025-05-01\nwhat = "a"\n'
                                              'tiktok_servise = false\n', r"s\.toml:4: .*tiktok_servise"),
    "drop matching nothing": ('[[timeline_edits.drop]]\nmatch = { date = 2025-01-20, what = "ruling A" }\n'
                              '[[timeline_edits.drop]]\n# the second\nmatch = { date = 2025-01-21, what = "ruling" }\n',
                              r"s\.toml:5: timeline_edits\.drop #2: match 2025-01-21 / 'ruling' matches no event"),
    "drop matching two events": ('[[timeline_edits.drop]]\nmatch = { date = 2025-01-20, what = "court" }\n',
                                 r"s\.toml:2: .*matches 2 events"),
    "move matching nothing": ('[[timeline_edits.move]]\nmatch = { date = 2025-01-10, what = "nope" }\nto = 2025-02-01\n',
                              r"s\.toml:2: timeline_edits\.move #1: .*matches no event.*Deadline set"),
    "move without a new date": ('[[timeline_edits.move]]\nmatch = { date = 2025-01-10, what = "Deadline" }\n',
                                r"s\.toml:1: timeline_edits\.move #1: missing required key 'to'"),
    "move to a non-date": ('[[timeline_edits.move]]\nmatch = { date = 2025-01-10, what = "Deadline" }\nto = "soon"\n',
                           r"s\.toml:3: .*'to' must be a TOML date"),
    "match without its text": ('[[timeline_edits.drop]]\nmatch = { date = 2025-01-10 }\n',
                               r"s\.toml:2: .*'match' needs 'what'"),
    "unknown kind of edit": ('name = "x"\n[[timeline_edits.dorp]]\nmatch = { date = 2025-01-10, what = "D" }\n',
                             r"s\.toml:2: unknown key\(s\) \['dorp'\] in timeline_edits"),
    "unknown key in an edit": ('[[timeline_edits.drop]]\nmatch = { date = 2025-01-10, what = "D" }\nwhy = "x"\n',
                               r"s\.toml:3: .*unknown key\(s\) \['why'\]"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_scenario_named_with_file_and_line(tmp_path, case):
    write(tmp_path, TIMELINE, "t.toml")
    body, expected = MALFORMED[case]
    path = tmp_path / "s.toml"
    path.write_text('timeline = "t.toml"\n' + body, encoding="utf-8")
    # The line numbers above count from the body; the first line of the file names the timeline.
    with pytest.raises(ValueError) as info:
        load_config(path)
    shifted = _shift_lines(expected, 1)
    assert _search(shifted, str(info.value)), f"{str(info.value)!r} does not match {shifted!r}"


def _shift_lines(pattern, by):
    import re
    return re.sub(r"s\\\.toml:(\d+)", lambda m: rf"s\.toml:{int(m.group(1)) + by}", pattern)


def _search(pattern, text):
    import re
    return re.search(pattern, text) is not None


def test_line_finder_is_not_fooled_by_strings_and_comments(tmp_path):
    path = write(tmp_path, '''
        description = """
        [[timeline_edits.drop]]
        match = { date = 2025-01-29, what = "Lunar" }
        """
        # [[timeline_edits.drop]]
        [[timeline_edits.drop]]   # the real one
        match = { date = 2025-01-29, what = "Lunar" }

        [ timeline_edits.drop ]
    ''')
    with pytest.raises(ValueError):   # the last header redefines an array as a table: TOML refuses it
        load_config(path)
    path = write(tmp_path, '''
        description = """
        [[timeline_edits.drop]]
        match = { date = 2025-01-29, what = "Lunar" }
        """
        # [[timeline_edits.drop]]
        [[timeline_edits.drop]]   # the real one
        match = { date = 2025-01-29, what = "Lunar" }

        [[ timeline_edits.drop ]]
        "match" = { date = 2025-01-30, what = "Lunar" }
    ''')
    with pytest.raises(ValueError, match=r"s\.toml:10: timeline_edits\.drop #2"):
        load_config(path)


# --- the ensemble command ---------------------------------------------------------------------------

def run_scenarios(out, *extra):
    return scen.main(["ban-enforced", "--seeds", "2", "--agents", "120", "--out", str(out), "--quiet", *extra])


def test_ensemble_command_compares_with_default_and_resumes(tmp_path, monkeypatch, capsys):
    out = tmp_path / "cmp"
    assert run_scenarios(out) == 0
    assert {p.name for p in out.iterdir()} >= {"comparison.csv", "comparison.md", "report.md", "figures", "ensembles"}
    assert {p.name for p in (out / "ensembles").iterdir()} == {"default", "ban-enforced"}
    meta = json.loads((out / "ensembles" / "ban-enforced" / "ensemble.json").read_text())
    assert meta["seeds"] == [0, 1]
    assert (out / "figures" / "overlay_tiktok_users.png").stat().st_size > 0
    assert (out / "figures" / "vs_default_ban-enforced.png").stat().st_size > 0

    table = pd.read_csv(out / "comparison.csv")
    assert len(table) == 2 * len(scen.OUTCOMES)
    row = table[(table.scenario == "ban-enforced") & (table.outcome == "tiktok_users_2025_12_31")].iloc[0]
    runs = sorted((out / "ensembles" / "ban-enforced" / "runs").glob("seed-*.parquet"))
    frames = [pd.read_parquet(p) for p in runs]
    assert row["median"] == pytest.approx(np.median([f["tiktok_users"].iloc[-1] for f in frames]))
    assert row["diff_median"] < 0
    report = (out / "report.md").read_text()
    assert "## ban-enforced" in report and "TikTok users on 2025-12-31" in report
    assert "Would users have stayed on RedNote if TikTok had not come back?" in report
    # The report's words carry the table's numbers.
    assert f"TikTok users on 2025-12-31: {scen.millions(row['median'])} against " \
           f"{scen.millions(row['default_median'])} in the default" in report

    # A finished ensemble is not run again.
    saved = out / "ensembles" / "default" / "runs" / "seed-00000.parquet"
    before = saved.read_bytes()
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("ensembles/*/runs/*.parquet")}
    monkeypatch.setattr(scen, "write_figures", lambda *args: [])   # drawn and checked above; slow to redraw
    assert run_scenarios(out) == 0
    assert {p: p.stat().st_mtime_ns for p in out.glob("ensembles/*/runs/*.parquet")} == stamps
    # Other settings are refused, and nothing saved is lost.
    assert scen.main(["ban-enforced", "--seeds", "2", "--agents", "140", "--out", str(out), "--quiet"]) == 2
    assert "number of agents" in capsys.readouterr().err
    assert saved.read_bytes() == before
    # --overwrite reruns them with the new settings.
    assert scen.main(["ban-enforced", "--seeds", "2", "--agents", "140", "--out", str(out), "--quiet",
                      "--overwrite"]) == 0
    assert saved_identity(saved)["n_agents"] == 140


def test_ensemble_command_bad_input_writes_nothing(tmp_path, capsys):
    out = tmp_path / "cmp"
    assert scen.main(["ban-enforcd", "--out", str(out), "--quiet"]) == 2
    assert "unknown scenario 'ban-enforcd'" in capsys.readouterr().err
    bad = write(tmp_path, '[params]\ndefiance_wieght = 0\n', "bad.toml")
    assert scen.main([str(bad), "--out", str(out), "--quiet"]) == 2
    assert "bad.toml:2: unknown parameter" in capsys.readouterr().err
    assert not out.exists()
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    assert scen.main(["--out", str(foreign), "--quiet"]) == 2
    assert "did not write" in capsys.readouterr().err
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize("text,line", [
    ('name = "x"\nparams.defiance_wieght = 0.0\n', 2),
    ('name = "x"\n\nparams = { festival_boost = 0.0, defiance_wieght = 0.0 }\n', 3),
])
def test_unknown_parameter_line_in_dotted_and_inline_forms(tmp_path, text, line):
    path = write(tmp_path, text)
    with pytest.raises(ValueError, match=rf"s\.toml:{line}: unknown parameter 'defiance_wieght'"):
        load_config(path)
