"""The array driver's shortcuts (blocks, kept-up-to-date friend counts, supplied graphs) change nothing."""

import numpy as np
import pandas as pd
import pytest

import model.population as population
from agents import rules
from experiments import run as run_cli
from model.array_model import ArrayMigrationModel
from model.migration_model import MigrationModel
from model.population import build_friendships


def test_blocks_do_not_change_the_run(small_params, timeline):
    params = small_params.replace(n_agents=2000)
    whole = ArrayMigrationModel(params, timeline, rng=5, block_size=4096, engine="numpy").run()
    blocks = ArrayMigrationModel(params, timeline, rng=5, block_size=333, engine="numpy").run()
    pd.testing.assert_frame_equal(whole, blocks, check_exact=True)


def test_choice_uniforms_drawn_in_blocks_equal_one_draw():
    """The array driver draws the day's uniforms block by block (into a buffer, when compiled); the Mesa
    driver draws them all at once."""
    whole = rules.draw_choice_uniforms(np.random.default_rng(2), 1001)
    rng = np.random.default_rng(2)
    parts = np.concatenate([rules.draw_choice_uniforms(rng, k) for k in (1, 500, 500)])
    assert np.array_equal(whole, parts)
    rng, buffer = np.random.default_rng(2), np.empty(600)
    buffered = np.concatenate([rules.draw_choice_uniforms(rng, k, out=buffer).copy() for k in (600, 401)])
    assert np.array_equal(whole, buffered)


@pytest.mark.parametrize("engine", ["numpy", "compiled"])
def test_friend_counts_kept_up_to_date(small_params, timeline, engine):
    """Counts (and the numpy path's shares) updated from the day's switchers equal a full recount, every day."""
    model = ArrayMigrationModel(small_params.replace(n_agents=1500), timeline, rng=2, block_size=500, engine=engine)
    degree = np.diff(model.friends.indptr)
    recounts = 0
    while model.running:
        model.step()
        for uses, counts, share in ((rules.uses_tiktok, model.tiktok_friends, "tiktok_friend_share"),
                                    (rules.uses_rednote, model.rednote_friends, "rednote_friend_share")):
            fresh = model.friends @ uses(model.state).astype(np.int32)
            assert np.array_equal(counts, fresh), f"day {model.day_index}"
            if engine == "numpy":
                assert np.array_equal(getattr(model, share), rules.friend_share(fresh, degree))
            recounts += 1
    assert recounts == 2 * len(model.signals)


def test_supplied_graph_is_used(small_params, timeline):
    params = small_params.replace(n_agents=700, end="2025-02-15")
    friends, _ = build_friendships(params, np.random.default_rng(8), "vectorised")
    supplied = ArrayMigrationModel(params, timeline, rng=8, graph=friends)
    grown = ArrayMigrationModel(params, timeline, rng=8, graph="vectorised")
    assert (supplied.friends != grown.friends).nnz == 0
    pd.testing.assert_frame_equal(supplied.run(), grown.run(), check_exact=True)


def test_drivers_identical_on_the_vectorised_graph(small_params, timeline, monkeypatch):
    """Above the threshold both drivers use the vectorised graph and still agree exactly."""
    monkeypatch.setattr(population, "FAST_GRAPH_ABOVE", 100)
    params = small_params.replace(n_agents=500, start="2025-01-01", end="2025-02-20")
    mesa_frame = MigrationModel(params, timeline, rng=13).run()
    array_model = ArrayMigrationModel(params, timeline, rng=13)
    assert population.graph_method(params) == "vectorised"
    pd.testing.assert_frame_equal(mesa_frame, array_model.run(), check_exact=True)
    assert mesa_frame["migrants"].sum() > 0


def test_bad_block_size_named(small_params, timeline):
    with pytest.raises(ValueError, match="block_size"):
        ArrayMigrationModel(small_params, timeline, rng=1, block_size=0)


def test_cli_driver_switch_gives_the_same_run(tmp_path):
    """experiments.run uses the array driver by default; --driver mesa gives the very same series."""
    common = ["--agents", "120", "--seed", "6", "--quiet"]
    assert run_cli.main([*common, "--out", str(tmp_path / "array")]) == 0
    assert run_cli.main([*common, "--driver", "mesa", "--out", str(tmp_path / "mesa")]) == 0
    assert '"driver": "array"' in (tmp_path / "array" / "summary.json").read_text()
    assert '"driver": "mesa"' in (tmp_path / "mesa" / "summary.json").read_text()
    assert (tmp_path / "array" / "daily.csv").read_text() == (tmp_path / "mesa" / "daily.csv").read_text()
