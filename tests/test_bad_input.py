"""Bad input fails early with an error that names the problem, and leaves nothing half-written."""

import textwrap

import pytest

from experiments import run as run_cli
from model.config import ConfigError, load_config
from model.params import ParameterError, Params
from model.timeline import Timeline, TimelineError


def test_unknown_parameter_named_with_suggestion():
    with pytest.raises(ParameterError, match=r"unknown parameter 'network_pul'.*network_pull"):
        Params().replace(network_pul=1.0)


@pytest.mark.parametrize("name,value", [("defiance_mean", 1.5), ("n_agents", 3), ("stickiness_decay", -0.1),
                                        ("mean_degree", 7)])
def test_out_of_range_value_named(name, value):
    with pytest.raises(ParameterError, match=name):
        Params().replace(**{name: value})


def test_wrong_type_named():
    with pytest.raises(ParameterError, match="n_agents"):
        Params().replace(n_agents="many")


def test_end_before_start():
    with pytest.raises(ParameterError, match="end"):
        Params(start=Params().end, end=Params().start)


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_timeline_missing_file(tmp_path):
    with pytest.raises(TimelineError, match="not found"):
        Timeline.load(tmp_path / "nope.toml")


def test_timeline_not_toml(tmp_path):
    with pytest.raises(TimelineError, match="not valid TOML"):
        Timeline.load(write(tmp_path, "t.toml", "[[event]\ndate = 2025-01-01\n"))


def test_timeline_out_of_order(tmp_path):
    path = write(tmp_path, "t.toml", """
        [[event]]
        date = 2025-02-01
        what = "later"
        [[event]]
        date = 2025-01-01
        what = "earlier"
    """)
    with pytest.raises(TimelineError, match="out of order"):
        Timeline.load(path)


@pytest.mark.parametrize("body,needle", [
    ('date = 2025-01-01\nwhat = "x"\ntiktok_servise = false', "tiktok_servise"),
    ('what = "x"', "date"),
    ('date = "2025-01-01"\nwhat = "x"', "date"),
    ('date = 2025-01-01\nwhat = "x"\ntiktok_service = "off"', "tiktok_service"),
    ('date = 2025-01-01\nwhat = "x"\ntime = "late"', "time"),
    ('date = 2025-01-13\nwhat = "x"\nmigration_news = 1', "migration_news"),
])
def test_timeline_malformed_event(tmp_path, body, needle):
    path = write(tmp_path, "t.toml", "[[event]]\n" + body + "\n")
    with pytest.raises(TimelineError, match=needle):
        Timeline.load(path)


def test_config_unknown_key(tmp_path):
    path = write(tmp_path, "c.toml", 'seeed = 3\n')
    with pytest.raises(ConfigError, match="seeed"):
        load_config(path)


def test_config_unknown_parameter(tmp_path):
    path = write(tmp_path, "c.toml", '[params]\nnetwork_pul = 2.0\n')
    with pytest.raises(ConfigError, match=r"c\.toml.*network_pul"):
        load_config(path)


def test_config_bad_timeline_reported_before_running(tmp_path):
    bad = write(tmp_path, "t.toml", "[[event]]\nwhat = 'no date'\n")
    path = write(tmp_path, "c.toml", f'timeline = "{bad.name}"\n')
    with pytest.raises(ConfigError, match="date"):
        load_config(path)


def test_cli_bad_config_writes_nothing(tmp_path, capsys):
    config = write(tmp_path, "c.toml", "[params]\ndefiance_mean = 7.0\n")
    out = tmp_path / "out"
    assert run_cli.main(["--config", str(config), "--out", str(out), "--quiet"]) == 2
    assert "defiance_mean" in capsys.readouterr().err
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["c.toml"]


def test_cli_refuses_to_overwrite_results(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "daily.csv").write_text("precious")
    assert run_cli.main(["--agents", "50", "--out", str(out), "--quiet"]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (out / "daily.csv").read_text() == "precious"


def test_cli_writes_complete_output(tmp_path):
    out = tmp_path / "out"
    assert run_cli.main(["--agents", "200", "--seed", "4", "--out", str(out), "--quiet"]) == 0
    names = {p.name for p in out.iterdir()}
    assert {"daily.csv", "config.toml", "summary.json", "users_by_state.png", "dau.png", "migrants.png",
            "rednote_daily_downloads.png", "rednote_cumulative_downloads.png"} <= names
    # The saved config reproduces the run exactly.
    again = tmp_path / "again"
    assert run_cli.main(["--config", str(out / "config.toml"), "--out", str(again), "--quiet"]) == 0
    assert (out / "daily.csv").read_text() == (again / "daily.csv").read_text()
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]


@pytest.mark.parametrize(("body", "needle"), [
    ('name = "x"\ntimeline = 3\n', r"c\.toml:2: 'timeline' must be"),             # was a raw TypeError
    ('name = "x"\n\ntimeline = "missing.toml"\n', r"c\.toml:3: timeline file not found"),   # named no config
    ('name = ["x"]\n', r"c\.toml:1: 'name' must be"),
    ('description = 3\n', r"c\.toml:1: 'description' must be"),
])
def test_config_names_its_own_line_for_a_bad_timeline_name_or_description(tmp_path, body, needle):
    path = write(tmp_path, "c.toml", body)
    with pytest.raises(ConfigError, match=needle):
        load_config(path)
