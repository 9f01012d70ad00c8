"""The browser view, in process: the page renders; Step, Reset and the inputs work; bad input is a message.

Solara's test rendering builds the widgets without a browser (the real browser test is test_viz_browser.py).
"""

import textwrap
from pathlib import Path

import ipyvuetify as v
import ipywidgets
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import solara

from experiments import viz
from experiments.viz import (
    BrowserModel,
    ViewInputError,
    available_scenarios,
    make_page,
    network_image,
    network_picture,
    nice_ceiling,
    start_from_env,
    status_of,
)
from model.migration_model import MigrationModel
from model.params import Params

TIMELINE = textwrap.dedent("""
    [[event]]
    date = 2025-01-10
    what = "deadline set"
    enforcement_deadline = 2025-01-19

    [[event]]
    date = 2025-01-18
    time = "22:30"
    what = "dark and out of the stores"
    tiktok_service = false
    tiktok_in_app_stores = false

    [[event]]
    date = 2025-01-19
    time = "12:00"
    what = "service back"
    tiktok_service = true

    [[event]]
    date = 2025-01-20
    what = "deadline postponed"
    enforcement_deadline = 2025-04-05

    [[event]]
    date = 2025-02-13
    what = "back in the stores"
    tiktok_in_app_stores = true
    """)


def write_config(folder: Path, name: str, *, n_agents: int = 120, seed: int = 4,
                 timeline: str | Path | None = None) -> Path:
    """A config starting on 15 January 2025, so that a few Steps reach the blackout."""
    if timeline is None:
        timeline = folder / "timelines" / f"{name}.toml"
        timeline.parent.mkdir(exist_ok=True)
        timeline.write_text(TIMELINE)
    path = folder / f"{name}.toml"
    path.write_text(textwrap.dedent(f"""
        name = "{name}"
        description = "test: the blackout within a week"
        seed = {seed}
        timeline = "{Path(timeline).resolve()}"

        [params]
        n_agents = {n_agents}
        start = 2025-01-15
        end = 2025-03-31
        """))
    return path


@pytest.fixture
def blackout_scenario(tmp_path, monkeypatch):
    path = write_config(tmp_path, "blackout")
    monkeypatch.setenv("VIZ_CONFIG", str(path))
    return "blackout"


@pytest.fixture
def rendered():
    """Render a page for a model; yields (reactive model, render context) and closes it afterwards."""
    contexts = []

    def render(model):
        reactive = solara.reactive(model)
        _, rc = solara.render(solara.AppLayout(children=[make_page(reactive)]), handle_error=False)
        contexts.append(rc)
        return reactive, rc

    yield render
    for rc in contexts:
        rc.close()


def images(rc) -> dict[str, bytes]:
    found = rc.find(ipywidgets.Image).widgets
    return {next(c for c in w._dom_classes if c.startswith("rednote-")): bytes(w.value) for w in found}


def click(rc, label: str, times: int = 1) -> None:
    button = rc.find(v.Btn, children=[label])
    for _ in range(times):
        button.widget.click()


def set_slider(rc, label: str, value) -> None:
    rc.find(v.Slider, label=label).widget.v_model = value


def alerts(rc) -> list[str]:
    return [" ".join(map(str, w.children)) for w in rc.find(v.Alert).widgets]


def test_page_steps_resets_and_applies_a_slider(rendered, blackout_scenario):
    reactive, rc = rendered(BrowserModel(scenario_name=blackout_scenario))
    first = reactive.value
    before = images(rc)
    assert set(before) == {"rednote-network", "rednote-charts"}

    click(rc, "Step", 5)    # 15 to 19 January: into the blackout, when TikTok's users are off it
    assert reactive.value is first and first.day_index == 5
    after = images(rc)
    assert after["rednote-charts"] != before["rednote-charts"]
    assert after["rednote-network"] != before["rednote-network"]
    assert len(first.results()) == 5

    set_slider(rc, "Defiance: mean trait", 0.8)
    set_slider(rc, "Users (agents)", 60)
    click(rc, "Reset")
    fresh = reactive.value
    assert fresh is not first and fresh.day_index == 0
    assert fresh.params.defiance_mean == pytest.approx(0.8)
    assert fresh.params.n_agents == 60
    assert fresh.scenario_name == blackout_scenario and fresh.problem is None
    reset = images(rc)
    assert reset["rednote-charts"] != after["rednote-charts"]
    assert reset["rednote-network"] != after["rednote-network"]   # 60 users now, drawn afresh
    assert not alerts(rc)


def test_scenario_keeps_its_lever_unless_a_slider_moved(rendered):
    """no-defiance sets defiance_weight = 0: an untouched slider keeps it, a moved one replaces it."""
    reactive, rc = rendered(BrowserModel(n_agents=60))
    rc.find(v.Select, label="Scenario").widget.v_model = "no-defiance"
    click(rc, "Reset")
    model = reactive.value
    assert model.scenario_name == "no-defiance" and model.problem is None
    assert model.params.defiance_weight == 0.0 and model.params.n_agents == 60
    assert model.overridden == {}

    set_slider(rc, "Defiance weight", 2.5)
    click(rc, "Reset")
    model = reactive.value
    assert model.params.defiance_weight == 2.5
    assert model.overridden == {"defiance_weight": (0.0, 2.5)}
    assert any("Sliders replaced" in w.unsafe_innerHTML for w in rc.find(solara.widgets.HTML).widgets)


def test_invalid_combination_is_a_message_not_a_crash(rendered):
    reactive, rc = rendered(BrowserModel(n_agents=60))
    set_slider(rc, "Users (agents)", 20)
    set_slider(rc, "Friends per user (mean)", 30)
    click(rc, "Reset")
    messages = alerts(rc)
    assert len(messages) == 1
    assert "mean_degree" in messages[0] and "n_agents" in messages[0]
    model = reactive.value
    assert model.problem and model.params.n_agents == viz.VIEW_AGENTS   # the default scenario instead
    click(rc, "Step")
    assert model.day_index == 1

    set_slider(rc, "Friends per user (mean)", 10)
    seed = rc.find(v.TextField, label="Seed (whole number)").widget
    seed.v_model = "12x"
    seed.fire_event("keyup.enter", None)
    click(rc, "Reset")
    messages = alerts(rc)
    assert len(messages) == 1 and "seed" in messages[0] and "12x" in messages[0]

    seed.v_model = "12"
    seed.fire_event("keyup.enter", None)
    click(rc, "Reset")
    assert not alerts(rc)
    assert reactive.value.seed == 12 and reactive.value.params.n_agents == 20


def test_scenario_selector_lists_config_files(tmp_path, monkeypatch):
    monkeypatch.delenv("VIZ_CONFIG", raising=False)
    assert available_scenarios(tmp_path / "missing") == {"default": None}
    write_config(tmp_path, "b_second")
    write_config(tmp_path, "a_first")
    assert list(available_scenarios(tmp_path)) == ["default", "a_first", "b_second"]
    shipped = available_scenarios()
    assert set(shipped) == {"default"} | {p.stem for p in viz.SCENARIO_DIR.glob("*.toml")}
    for name in shipped:     # each one the page can build (the view always runs the Mesa driver)
        model = BrowserModel(scenario_name=name, n_agents=40)
        assert model.problem is None and model.scenario_name == name
        assert model.config.driver == "mesa"


def test_scenario_timeline_edits_reach_the_page():
    """ban-enforced: TikTok goes dark on 19 January 2025 and stays dark; the status says so."""
    model = BrowserModel(scenario_name="ban-enforced", n_agents=40)
    dates = list(model.signals.dates)
    dark = dates.index(pd.Timestamp("2025-01-19").date())
    assert model.signals.tiktok_service[:dark].all() and not model.signals.tiktok_service[dark:].any()
    for _ in range(dark + 1):
        model.step()
    status = status_of(model)
    assert status.day == dates[dark] and not status.tiktok_service and not status.tiktok_in_stores


def test_unknown_or_broken_scenario_is_a_message(tmp_path, monkeypatch):
    model = BrowserModel(scenario_name="nowhere", n_agents=40)
    assert "unknown scenario 'nowhere'" in model.problem
    broken = tmp_path / "broken.toml"
    broken.write_text("[params]\ndefiance_mean = 7\n")
    monkeypatch.setenv("VIZ_CONFIG", str(broken))
    model = BrowserModel(scenario_name="broken")
    assert "defiance_mean" in model.problem and model.scenario_name == "default"
    with pytest.raises(ViewInputError, match="VIZ_CONFIG.*defiance_mean"):
        start_from_env()


def test_bad_starting_environment_named(monkeypatch):
    monkeypatch.delenv("VIZ_CONFIG", raising=False)
    monkeypatch.setenv("VIZ_AGENTS", "many")
    with pytest.raises(ViewInputError, match="VIZ_AGENTS='many'"):
        start_from_env()
    monkeypatch.setenv("VIZ_AGENTS", "5")
    with pytest.raises(ViewInputError, match="n_agents"):
        start_from_env()
    monkeypatch.setenv("VIZ_AGENTS", "250")
    assert start_from_env() == {"n_agents": 250}


def test_seed_typed_as_text_runs_the_same_model_as_code():
    """The page's seed box gives text; the run must equal the Mesa driver's with that integer seed."""
    shown = BrowserModel(seed=" 3 ", n_agents=60)
    reference = MigrationModel(Params(n_agents=60), rng=3)
    for _ in range(12):
        shown.step()
        reference.step()
    network_image(shown)   # drawing the network must not draw from the model's generator
    shown.step()
    reference.step()
    pd.testing.assert_frame_equal(shown.results(), reference.results())


def test_layout_computed_once_per_model_and_never_at_construction(monkeypatch):
    calls = []
    spring = nx.spring_layout

    def counting(*args, **kwargs):
        calls.append(args[0].number_of_nodes())
        return spring(*args, **kwargs)

    monkeypatch.setattr(nx, "spring_layout", counting)
    model = BrowserModel(n_agents=80)
    assert calls == []
    picture = network_picture(model)
    offsets = picture.dots.get_offsets().copy()
    for _ in range(3):
        model.step()
        network_image(model)
    assert calls == [80]
    assert network_picture(model) is picture
    np.testing.assert_array_equal(picture.dots.get_offsets(), offsets)


def test_large_population_shows_a_fixed_connected_sample():
    pictures = [network_picture(BrowserModel(n_agents=1200, seed=5)) for _ in range(2)]
    shown = pictures[0].shown
    assert len(shown) == viz.MAX_SHOWN
    np.testing.assert_array_equal(shown, pictures[1].shown)    # same seed, same sample
    other = network_picture(BrowserModel(n_agents=1200, seed=6)).shown
    assert not np.array_equal(shown, other)
    model = BrowserModel(n_agents=1200, seed=5)
    sub = model.grid.G.subgraph(shown.tolist())
    # A snowball sample: nearly every user drawn is a friend of another user drawn.
    assert sum(1 for _, d in sub.degree() if d > 0) >= 0.95 * len(shown)


def test_status_follows_the_timeline_day_by_day(blackout_scenario):
    model = BrowserModel(scenario_name=blackout_scenario, n_agents=40)
    status = status_of(model)
    assert status.days_done == 0 and status.headline == {}
    seen = {}
    for _ in range(6):
        model.step()
        status = status_of(model)
        seen[status.day.isoformat()] = (status.tiktok_service, status.tiktok_in_stores, status.deadline)
    assert seen["2025-01-15"] == (True, True, pd.Timestamp("2025-01-19").date())
    assert seen["2025-01-18"] == (True, True, pd.Timestamp("2025-01-19").date())
    assert seen["2025-01-19"][:2] == (False, False)     # the 22:30 blackout counts from the next day
    assert seen["2025-01-20"] == (True, False, pd.Timestamp("2025-04-05").date())
    assert status.days_to_deadline == 75
    frame = model.results()
    assert status.headline["TikTok users now"] == viz._people(frame["tiktok_users"].iloc[-1])


def test_nice_ceiling():
    assert [nice_ceiling(x) for x in (0.0, 0.8, 1.0, 1.2, 2.5, 4.0, 6.0, 8.0, 178.5)] == \
        [1.0, 1.0, 1.0, 1.5, 3.0, 5.0, 7.5, 10.0, 200.0]


def test_config_shown_on_the_page_reruns_the_same_run(tmp_path):
    """What the page shows can be repeated from the config it shows (seed included)."""
    from model.config import load_config, make_model

    shown = BrowserModel(seed="7", n_agents=50, defiance_mean=0.6, network_pull=5.0)
    saved = tmp_path / "config.toml"
    saved.write_text(shown.config.to_toml())
    rerun = make_model(load_config(saved))
    assert type(rerun) is MigrationModel
    for _ in range(15):
        shown.step()
        rerun.step()
    pd.testing.assert_frame_equal(shown.results(), rerun.results())


def test_sliders_keep_their_starting_values_on_the_browser_grid():
    """The browser snaps a slider to its step grid: a starting value off the grid must survive Reset."""
    model = BrowserModel(n_agents=250, attention_cost=2.1753)
    params = viz.model_params(model)
    users = params["n_agents"]
    assert (users.value - users.min) % users.step == 0 and users.min <= 250 <= users.max
    start = params["slider_start"]
    snapped = BrowserModel(n_agents=250, attention_cost=2.25, slider_start=start)   # untouched, snapped
    assert snapped.params.attention_cost == Params().attention_cost
    moved = BrowserModel(n_agents=250, attention_cost=2.5, slider_start=start)
    assert moved.params.attention_cost == 2.5


def test_the_page_shows_the_outside_option_dormant_accounts_and_cohort_retention():
    from experiments.viz.pictures import ChartsPicture

    shown = {column for _, columns in ChartsPicture.PANELS for column in columns}
    assert {"other_apps", "dormant_accounts"} <= shown
    model = BrowserModel(n_agents=60)
    for _ in range(50):                  # into the surge, past 13-14 January (the cohort's days)
        model.step()
    frame = model.results()
    headline = status_of(model).headline
    assert headline["on other apps now (the outside option)"] == viz._people(frame["other_apps"].iloc[-1])
    assert headline["dormant RedNote accounts now (installed, not opened today)"] == \
        viz._people(frame["dormant_accounts"].iloc[-1])
    retention = frame["cohort_retention"].iloc[-1]
    expected = "n/a" if retention != retention else f"{retention:.0%}"
    assert headline["13-14 January cohort still on RedNote now"] == expected
