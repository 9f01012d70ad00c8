"""Every TOML reader names the file and the line of the key at fault (guide: "file and line where there is
one"): one bad value per reader, and the error must point at the line that sets it, not at its table's
header or at the file alone."""

import re
import textwrap
from pathlib import Path

import pytest

from batch.errors import InputError

ROOT = Path(__file__).resolve().parent.parent


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def line_of(path: Path, marker: str) -> int:
    """The 1-based line of ``path`` holding ``marker`` (exactly one line must)."""
    hits = [n for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if marker in line]
    assert len(hits) == 1, (marker, hits)
    return hits[0]


def assert_names_line(err: pytest.ExceptionInfo, path: Path, marker: str) -> None:
    message = str(err.value)
    found = re.match(rf"{re.escape(str(path))}:(\d+): ", message)
    assert found, message
    assert int(found.group(1)) == line_of(path, marker), message


def test_observation_outside_the_run_names_its_on_line(tmp_path):
    from model.observations import ObservationError, load_observations

    path = write(tmp_path / "obs.toml", """
        [sources.firm]
        description = "a firm"

        [[observation]]
        id = "dau"
        observable = "rednote_dau"
        reading = "level"
        value = 1
        uncertainty = { sd = 1 }
        on = 2027-01-13
        source = "firm"
        kind = "estimate"
        """)
    with pytest.raises(ObservationError, match="outside the run") as err:
        load_observations(path)
    assert_names_line(err, path, "on = 2027-01-13")


@pytest.mark.parametrize("key,bad", [("window", "[2025-01-10, 2027-01-01]"), ("base", "[2023-01-01, 2023-01-07]")])
def test_a_window_outside_the_run_names_its_line(tmp_path, key, bad):
    from model.observations import ObservationError, load_observations

    window = bad if key == "window" else "[2025-01-13, 2025-01-19]"
    base = bad if key == "base" else "[2025-01-06, 2025-01-12]"
    path = write(tmp_path / "obs.toml", f"""
        [sources.firm]
        description = "a firm"

        [[observation]]
        id = "dau"
        observable = "rednote_dau"
        reading = "ratio"
        stat = "mean"
        window = {window}
        base = {base}
        uncertainty = {{ band = [1, 3] }}
        source = "firm"
        kind = "estimate"
        """)
    with pytest.raises(ObservationError, match="outside the run") as err:
        load_observations(path)
    assert_names_line(err, path, f"{key} = {bad}")


def test_scenario_parameter_out_of_range_names_its_line(tmp_path):
    from model.config import ConfigError, load_config

    path = write(tmp_path / "scenario.toml", """
        name = "s"
        [params]
        n_agents = 500
        defiance_weight = -3.0
        """)
    with pytest.raises(ConfigError, match="defiance_weight") as err:
        load_config(path)
    assert_names_line(err, path, "defiance_weight = -3.0")


def test_timeline_event_bad_value_names_its_line(tmp_path):
    from model.timeline import Timeline, TimelineError

    path = write(tmp_path / "timeline.toml", """
        [[event]]
        date = 2025-01-10
        what = "Court hears the case"

        [[event]]
        date = 2025-01-19
        what = "TikTok goes dark"
        tiktok_service = "no"
        """)
    with pytest.raises(TimelineError, match="tiktok_service") as err:
        Timeline.load(path)
    assert_names_line(err, path, 'tiktok_service = "no"')
    assert "event 2" in str(err.value)


def test_timeline_bad_time_names_its_line(tmp_path):
    from model.timeline import Timeline, TimelineError

    path = write(tmp_path / "timeline.toml", """
        [[event]]
        date = 2025-01-19
        time = "25:00"
        what = "TikTok goes dark"
        """)
    with pytest.raises(TimelineError, match="'time' must be") as err:
        Timeline.load(path)
    assert_names_line(err, path, 'time = "25:00"')


def test_timeline_edit_bad_value_names_its_line(tmp_path):
    from model.config import ConfigError, load_config

    path = write(tmp_path / "scenario.toml", """
        [[timeline_edits.add]]
        date = 2025-09-17
        what = "Deal collapses"
        tiktok_service = false

        [[timeline_edits.add]]
        date = 2025-10-01
        what = "Deal revived"
        ban_resolved = "yes"
        """)
    with pytest.raises(ConfigError, match="ban_resolved") as err:
        load_config(path)
    assert_names_line(err, path, 'ban_resolved = "yes"')


def test_timeline_edit_move_names_its_to_line(tmp_path):
    from model.config import ConfigError, load_config

    path = write(tmp_path / "scenario.toml", """
        [[timeline_edits.move]]
        match = { date = 2025-02-13, what = "back in the Apple" }
        to = "June"
        """)
    with pytest.raises(ConfigError, match="'to' must be") as err:
        load_config(path)
    assert_names_line(err, path, 'to = "June"')


def test_inference_space_range_names_its_line(tmp_path):
    from inference.space import PriorError, load_space

    path = write(tmp_path / "space.toml", """
        [rednote_appeal]
        low = -2.0
        high = 1.0

        [news_weight]
        low = 0.01
        high = 99.0
        log = true
        """)
    with pytest.raises(PriorError, match="admissible range") as err:
        load_space(path)
    assert_names_line(err, path, "high = 99.0")


def test_inference_defaults_names_its_line(tmp_path):
    from inference.space import PriorError, default_space
    from model.observations import load_observations

    path = write(tmp_path / "defaults.toml", """
        default_space = "space-news.toml"

        [spaces]
        "january-2025" = "no-such-space.toml"
        """)
    observations = load_observations(ROOT / "data" / "observations" / "january-2025.toml")
    with pytest.raises(PriorError, match="space file not found") as err:
        default_space(observations, path)
    assert_names_line(err, path, '"january-2025" = ')


def test_variants_parameter_names_its_line(tmp_path):
    from inference.space import PriorError, load_variants
    from model.params import Params

    path = write(tmp_path / "variants.toml", """
        [variants.with_defiance]
        description = "today's model"

        [variants.no_defiance]
        description = "none"

        [variants.no_defiance.params]
        n_agents = 500
        defiance_weight = -1.0
        """)
    with pytest.raises(PriorError, match="defiance_weight") as err:
        load_variants(path, Params())
    assert_names_line(err, path, "defiance_weight = -1.0")


def test_calibration_space_names_its_line(tmp_path):
    from experiments.calibrate import CalibrationError, load_space

    path = write(tmp_path / "space.toml", """
        [rednote_appeal]
        low = 2.0
        high = 6.0

        [defiance_weight]
        low = 0.0
        high = "eight"
        """)
    with pytest.raises(CalibrationError, match="is not a number") as err:
        load_space(path)
    assert_names_line(err, path, 'high = "eight"')


def test_calibration_start_names_its_line(tmp_path):
    from experiments.calibrate import CalibrationError, load_start

    path = write(tmp_path / "best_params.toml", """
        [params]
        rednote_appeal = 3.0
        defiance_weight = "high"
        """)
    space = {"rednote_appeal": {"low": 2.0, "high": 6.0}, "defiance_weight": {"low": 0.0, "high": 8.0}}
    with pytest.raises(CalibrationError, match="is not a number") as err:
        load_start(path, space)
    assert_names_line(err, path, 'defiance_weight = "high"')


@pytest.mark.parametrize("table", ["[params]\n", ""])      # a best_params.toml, or a plain table
@pytest.mark.parametrize("value,message", [
    ("999.0", r"parameter 'network_pull' = 999.0 is out of range \[0.0, 50.0\]"),   # beyond the parameter
    ("40.0", r"network_pull = 40.0 lies outside the search space's range \[1.0, 12.0\]"),   # beyond the box
    ("0.5", r"network_pull = 0.5 lies outside the search space's range \[1.0, 12.0\]"),
    ("nan", "is not a number"),
])
def test_calibration_start_value_names_its_line_and_a_start_outside_the_space_is_refused(tmp_path, table, value,
                                                                                            message):
    from experiments.calibrate import CalibrationError, load_start

    path = write(tmp_path / "best_params.toml", f"""
        {table}defiance_weight = 3.0
        network_pull = {value}
        """)
    space = {"network_pull": {"low": 1.0, "high": 12.0}, "defiance_weight": {"low": 0.0, "high": 8.0}}
    with pytest.raises(CalibrationError, match=message) as err:
        load_start(path, space)
    assert_names_line(err, path, f"network_pull = {value}")


def test_calibrate_refuses_a_start_outside_its_space_before_any_trial(tmp_path, capsys):
    from experiments import calibrate

    space = write(tmp_path / "space.toml", """
        [network_pull]
        low = 1.0
        high = 12.0
        """)
    start = write(tmp_path / "start.toml", """
        [params]
        network_pull = 20.0
        """)
    out = tmp_path / "cal"
    assert calibrate.main(["--space", str(space), "--start", str(start), "--trials", "1", "--seeds", "1",
                           "--agents", "120", "--workers", "1", "--quiet", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{start}:{line_of(start, 'network_pull = 20.0')}: " in err and "[1.0, 12.0]" in err
    assert not out.exists()


@pytest.mark.parametrize("bad,marker,message", [
    ("replications = 0", "replications = 0", "replications must be"),
    ("[options]\nagents = 400\nmorris_levels = 3", "morris_levels = 3", "morris_levels"),
    ("[fixed]\nn_agents = 400\ndefiance_weight = -1.0", "defiance_weight = -1.0", "defiance_weight"),
    ("[parameters.ban_push]\nlow = 0.5\nhigh = 4.0\nlog = 1", "log = 1", "log must be"),
    ("[parameters]\nswitching_cost = [16.0, 8.0]", "switching_cost = [16.0, 8.0]", "inverted range"),
    ("[parameters]\nswitching_costs = [8.0, 16.0]", "switching_costs = [8.0, 16.0]", "unknown parameter"),
])
def test_sweep_file_names_its_line(tmp_path, bad, marker, message):
    from experiments.sweep import SweepError, load_sweep

    path = tmp_path / "sweep.toml"
    path.write_text('name = "s"\ndesign = "lhs"\nsamples = 4\n' + bad + "\n", encoding="utf-8")
    if "[parameters" not in bad:
        path.write_text(path.read_text() + "[parameters.network_pull]\nlow = 4.0\nhigh = 14.0\n", encoding="utf-8")
    with pytest.raises(SweepError, match=message) as err:
        load_sweep(path)
    assert_names_line(err, path, marker)


def test_sweep_space_file_names_the_space_line(tmp_path):
    from experiments.sweep import SweepError, load_sweep

    space = write(tmp_path / "space.toml", """
        [rednote_appeal]
        low = 6.0
        high = 2.0
        """)
    path = write(tmp_path / "sweep.toml", """
        design = "lhs"
        samples = 4
        space = "space.toml"
        """)
    with pytest.raises(SweepError, match="inverted range") as err:
        load_sweep(path)
    assert_names_line(err, space, "low = 6.0")


def test_article_targets_band_names_its_line(tmp_path):
    from model.targets import TargetsError, load_targets

    text = (ROOT / "data" / "article_targets.toml").read_text(encoding="utf-8")
    assert "dau_week_ratio = [2.5, 3.0]" in text
    path = tmp_path / "targets.toml"
    path.write_text(text.replace("dau_week_ratio = [2.5, 3.0]", "dau_week_ratio = [3.0, 2.5]"), encoding="utf-8")
    with pytest.raises(TargetsError, match="inverted") as err:
        load_targets(path)
    assert_names_line(err, path, "dau_week_ratio = [3.0, 2.5]")


def test_not_valid_toml_names_its_line_in_every_reader(tmp_path):
    """The parse error itself: every reader goes through model.tomlfile, which names the line."""
    from experiments.calibrate import load_space as load_calibration_space
    from experiments.sweep import load_sweep
    from inference.space import load_space
    from model.config import load_config
    from model.observations import load_observations
    from model.targets import load_targets
    from model.timeline import Timeline

    path = tmp_path / "broken.toml"
    path.write_text('[meta]\nname = "x"\nbroken = = 1\n', encoding="utf-8")
    for reader in (load_calibration_space, load_sweep, load_space, load_config, load_observations,
                   load_targets, Timeline.load):
        with pytest.raises(InputError, match="not valid TOML") as err:
            reader(path)
        assert str(err.value).startswith(f"{path}:3"), (reader, str(err.value))


def test_a_top_level_key_in_a_space_file_names_its_line(tmp_path):
    """A key that is not a table (a defaults file given as a space) is named by its own line, never 'None'."""
    from inference.space import PriorError, load_space

    path = write(tmp_path / "space.toml", """
        # a defaults file, not a space
        default_space = "space-news.toml"
        """)
    with pytest.raises(PriorError, match="unknown parameter 'default_space'") as err:
        load_space(path)
    assert_names_line(err, path, "default_space = ")


# --- a misspelt required key: reported as unknown, at its own line, with the key it was meant to be -------------

def _observation_file(tmp_path: Path, typo: str, meant: str) -> Path:
    return write(tmp_path / "obs.toml", f"""
        [sources.firm]
        description = "a firm"

        [[observation]]
        id = "dau"
        {'observable' if 'observable' != meant else typo} = "rednote_dau"
        reading = "level"
        on = 2025-01-20
        value = 1
        uncertainty = {{ sd = 1 }}
        {'source' if 'source' != meant else typo} = "firm"
        {'kind' if 'kind' != meant else typo} = "estimate"
        """)


def _read_observations(path):
    from model.observations import load_observations
    return load_observations(path)


def _read_timeline(path):
    from model.timeline import Timeline
    return Timeline.load(path)


def _read_prior_space(path):
    from inference.space import load_space
    return load_space(path)


def _read_calibration_space(path):
    from experiments.calibrate import load_space
    return load_space(path)


def _read_variants(path):
    from inference.space import load_variants
    from model.params import Params
    return load_variants(path, Params())


def _read_sweep(path):
    from experiments.sweep import load_sweep
    return load_sweep(path)


@pytest.mark.parametrize("reader,text,typo,meant", [
    (_read_observations, None, "kindd", "kind"),
    (_read_observations, None, "sourse", "source"),
    (_read_observations, None, "observabel", "observable"),
    (_read_timeline, '[[event]]\ndate = 2025-01-10\nwhat = "Court hears the case"\n\n[[event]]\ndate = 2025-01-19\n'
                     'whatt = "TikTok goes dark"\n', "whatt", "what"),
    (_read_timeline, '[[event]]\ndatte = 2025-01-19\nwhat = "TikTok goes dark"\n', "datte", "date"),
    (_read_prior_space, "[rednote_appeal]\nlow = 2.0\nhihg = 6.0\n", "hihg", "high"),
    (_read_calibration_space, "[rednote_appeal]\nlow = 2.0\nhihg = 6.0\n", "hihg", "high"),
    (_read_variants, '[variants.a]\ndescription = "today"\n\n[variants.b]\ndescription = "none"\nparms = '
                     '{ defiance_weight = 0.0 }\n', "parms", "params"),
    (_read_sweep, 'name = "s"\ndesign = "lhs"\nsamples = 4\n[parameters.network_pull]\nlow = 4.0\nhihg = 14.0\n',
     "hihg", None),
])
def test_a_misspelt_key_is_reported_as_unknown_at_its_line_not_as_a_missing_one(tmp_path, reader, text, typo, meant):
    path = _observation_file(tmp_path, typo, meant) if text is None else write(tmp_path / "input.toml", text)
    with pytest.raises(InputError) as err:
        reader(path)
    assert_names_line(err, path, f"{typo} =")
    message = str(err.value)
    assert f"unknown key {typo!r}" in message or f"unknown key(s) [{typo!r}]" in message, message
    assert "missing" not in message and "needs" not in message, message
    if meant is not None:      # the sweep reader lists its known keys instead
        assert f"(did you mean {meant!r}?)" in message, message


def test_a_misspelt_key_in_an_uncertainty_is_unknown_with_the_key_meant(tmp_path):
    from model.observations import ObservationError, load_observations

    path = _observation_file(tmp_path, "kind", "kind")
    path.write_text(path.read_text().replace("uncertainty = { sd = 1 }", "uncertainty = { sdd = 1 }"))
    with pytest.raises(ObservationError, match=r"unknown key 'sdd' \(did you mean 'sd'\?\)") as err:
        load_observations(path)
    assert_names_line(err, path, "uncertainty = { sdd = 1 }")


@pytest.mark.parametrize("line,typo,meant", [
    ("week_start = 2025-01-13", "week_strat = 2025-01-13", "week_start"),         # was "missing key", no line
    ("exists = true", "exist = true", "exists"),                                   # was accepted: a claim unchecked
    ('mom_growth_months = ["2025-02", "2025-03"]', 'mom_growth_month = ["2025-02", "2025-03"]', "mom_growth_months"),
])
def test_a_misspelt_key_in_the_targets_file_is_unknown_at_its_line(tmp_path, line, typo, meant):
    from model.targets import DEFAULT_TARGETS, TargetsError, load_targets

    text = DEFAULT_TARGETS.read_text(encoding="utf-8")
    assert text.count(line) == 1
    path = tmp_path / "targets.toml"
    path.write_text(text.replace(line, typo), encoding="utf-8")
    with pytest.raises(TargetsError, match=rf"unknown key {typo.split(' =')[0]!r} \(did you mean {meant!r}\?\)") as err:
        load_targets(path)
    assert_names_line(err, path, typo)
    if meant == "exists":      # optional: without it the claim is not checked
        return
    # A required key really missing is named with its section, at the section's header.
    path.write_text(text.replace(line + "\n", ""), encoding="utf-8")
    with pytest.raises(TargetsError, match=rf"missing key {meant!r} in \[") as err:
        load_targets(path)
    assert re.match(rf"{re.escape(str(path))}:\d+: ", str(err.value)), str(err.value)
