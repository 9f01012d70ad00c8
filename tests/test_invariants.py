"""Invariants that must hold every day of a run, checked user by user on the array driver."""

import numpy as np
import pytest

from agents import rules
from model.array_model import ArrayMigrationModel


@pytest.fixture(scope="module", params=[0, 1])
def run(request, small_params, timeline):
    """Step a run by hand and keep each day's per-user view alongside the observables."""
    # A strong ban push makes some users delete TikTok, so the out-of-stores rule is exercised.
    params = small_params.replace(ban_push=8.0, tiktok_appeal=0.0)
    model = ArrayMigrationModel(params, timeline, rng=request.param)
    days = []
    while model.running:
        before = dict(state=model.state.copy(), ever=model.ever_on_rednote.copy(),
                      installed=model.has_tiktok_installed.copy(), index=model.day_index)
        model.step()
        days.append((before, dict(state=model.state.copy(), ever=model.ever_on_rednote.copy())))
    return model, days, model.results()


def test_states_partition_population(run):
    model, _, frame = run
    total = frame[list(rules.STATE_NAMES)].sum(axis=1)
    assert np.allclose(total, model.params.population)
    assert (frame[list(rules.STATE_NAMES)] >= 0).all().all()


def test_cumulative_downloads_never_fall(run):
    _, _, frame = run
    assert (frame["cumulative_downloads"].diff().dropna() >= 0).all()
    assert frame["cumulative_downloads"].iloc[-1] > frame["cumulative_downloads"].iloc[0]


def test_download_only_at_first_install(run):
    model, days, frame = run
    scale = model.params.people_per_agent
    for (before, after), downloads in zip(days, frame["downloads"], strict=True):
        first = rules.uses_rednote(after["state"]) & ~before["ever"]
        assert downloads == pytest.approx(first.sum() * scale)
        # Coming back to RedNote after leaving it is not a download.
        returning = rules.uses_rednote(after["state"]) & before["ever"] & ~rules.uses_rednote(before["state"])
        assert not (first & returning).any()


def test_nobody_on_tiktok_while_service_off(run):
    model, days, frame = run
    off = ~model.signals.tiktok_service
    assert off.any(), "the default timeline has a blackout day"
    assert (frame.loc[off, "tiktok_users"] == 0).all()
    assert (frame.loc[off, "tiktok_dau"] == 0).all()


def test_no_new_tiktok_installs_out_of_stores(run):
    model, days, _ = run
    out_of_stores = ~model.signals.tiktok_in_stores
    assert out_of_stores.any()
    checked = 0
    for before, after in days:
        if out_of_stores[before["index"]]:
            newly_on = rules.uses_tiktok(after["state"]) & ~before["installed"]
            assert not newly_on.any()
            checked += (~before["installed"]).sum()
    assert checked > 0, "some users had deleted TikTok while it was out of the stores"
