"""The twin-comparison command and the graph variants it uses."""

import json

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from experiments import compare_twins
from model.array_model import ArrayMigrationModel
from model.graphs import friendships_of_kind
from model.params import ParameterError, Params
from model.population import build_friendships


@pytest.fixture(scope="module")
def graphs():
    params = Params(n_agents=2000)
    out = {kind: friendships_of_kind(params, kind, np.random.default_rng(3))
           for kind in ("configuration", "erdos_renyi")}
    out["clustered"], _ = build_friendships(params, np.random.default_rng(3))   # the one they start from
    return out


def degrees(matrix):
    return np.diff(matrix.indptr)


def test_configuration_keeps_degrees_and_loses_triangles(graphs):
    base, config, er = graphs["clustered"], graphs["configuration"], graphs["erdos_renyi"]
    # Only the configuration model's self-loops and duplicate ties are dropped (2.2% of ties measured here,
    # mostly between hubs).
    assert np.abs(degrees(config) - degrees(base)).sum() < 0.05 * degrees(base).sum()
    transitivity = {k: nx.transitivity(nx.from_scipy_sparse_array(m)) for k, m in graphs.items()}
    assert transitivity["configuration"] < 0.6 * transitivity["clustered"]
    assert er.nnz == base.nnz
    assert degrees(er).max() < 0.2 * degrees(base).max()   # no hubs


def test_graph_choice_is_seeded(graphs):
    again = friendships_of_kind(Params(n_agents=2000), "configuration", np.random.default_rng(3))
    assert (again != graphs["configuration"]).nnz == 0
    other = friendships_of_kind(Params(n_agents=2000), "configuration", np.random.default_rng(4))
    assert (other != graphs["configuration"]).nnz > 0
    assert friendships_of_kind(Params(n_agents=2000), "clustered", np.random.default_rng(3)) == "auto"
    with pytest.raises(ParameterError, match="unknown graph kind"):
        friendships_of_kind(Params(n_agents=100), "smallworld", np.random.default_rng(0))


def test_model_runs_on_another_graph(timeline, graphs):
    """The model puts its users on the graph given; creators are still its best-connected users."""
    params = Params(n_agents=2000).replace(end="2024-12-05")
    model = ArrayMigrationModel(params, timeline, rng=9, graph=graphs["configuration"])
    assert (model.friends != graphs["configuration"]).nnz == 0
    assert model.degree[model.is_creator].min() >= np.median(model.degree)
    assert len(model.run()) == params.n_days


def test_bad_arguments_fail_before_any_work(tmp_path, capsys):
    out = tmp_path / "out"
    assert compare_twins.main(["--seeds", "1", "--out", str(out)]) == 2
    assert "at least 2" in capsys.readouterr().err
    assert compare_twins.main(["--config", str(tmp_path / "missing.toml"), "--out", str(out)]) == 2
    assert "not found" in capsys.readouterr().err
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert compare_twins.main(["--seeds", "2", "--out", str(out)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (out / "keep.txt").read_text() == "mine"
    assert not list(tmp_path.glob(".out.runs"))


def test_small_comparison_end_to_end(tmp_path):
    config = tmp_path / "short.toml"
    config.write_text('seed = 5\n[params]\nn_agents = 300\nend = 2025-02-01\n', encoding="utf-8")
    out = tmp_path / "twins"
    assert compare_twins.main(["--config", str(config), "--seeds", "2", "--out", str(out), "--quiet"]) == 0
    names = {p.name for p in out.iterdir()}
    assert {"twin_probability.csv", "twin_hazard.csv", "ensemble_configuration.csv", "ensemble_clustered.csv",
            "gaps.csv", "graph_effect.csv", "twin_vs_abm.png", "twin_vs_abm_surge.png", "report.md",
            "config.toml", "summary.json"} <= names
    gaps = pd.read_csv(out / "gaps.csv")
    assert len(gaps) == 2 * 2 * len(compare_twins.COMPARED)
    assert gaps["largest_gap_relative"].notna().all()
    assert "| clustered | probability | downloads |" in (out / "report.md").read_text()
    assert not (tmp_path / ".twins.runs").exists(), "finished runs are cleared once the outputs are written"
    # The saved config reruns the same comparison.
    rerun = tmp_path / "again"
    assert compare_twins.main(["--config", str(out / "config.toml"), "--seeds", "2", "--out", str(rerun),
                               "--quiet"]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(out / "ensemble_clustered.csv"),
                                  pd.read_csv(rerun / "ensemble_clustered.csv"))


def test_first_seed_chooses_the_runs_and_is_saved(tmp_path):
    config = tmp_path / "short.toml"
    config.write_text('seed = 5\n[params]\nn_agents = 300\nend = 2025-01-20\n', encoding="utf-8")
    runs = {}
    for first in ("5", "40"):
        out = tmp_path / f"from{first}"
        assert compare_twins.main(["--config", str(config), "--seeds", "2", "--first-seed", first, "--out", str(out),
                                   "--quiet"]) == 0
        runs[first] = pd.read_csv(out / "ensemble_clustered.csv")
        summary = json.loads((out / "summary.json").read_text())
        assert summary["seed_range"] == f"{first}-{int(first) + 1}"
        assert f"seed = {first}" in (out / "config.toml").read_text()
    assert not runs["5"].equals(runs["40"]), "other seeds give other runs"
