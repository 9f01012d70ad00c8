"""The twin-comparison command and the graph variants it uses."""

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from experiments import compare_twins
from model.array_model import ArrayMigrationModel
from model.graphs import population_on_graph
from model.params import ParameterError, Params


@pytest.fixture(scope="module")
def graphs():
    params = Params(n_agents=2000)
    return {kind: population_on_graph(params, np.random.default_rng(3), kind)
            for kind in ("clustered", "configuration", "erdos_renyi")}


def test_same_users_different_friendships(graphs):
    base = graphs["clustered"]
    for kind in ("configuration", "erdos_renyi"):
        other = graphs[kind]
        assert np.array_equal(other.taste, base.taste) and np.array_equal(other.is_creator, base.is_creator)
        assert not nx.utils.graphs_equal(other.graph, base.graph)
        assert np.array_equal(other.degree, [d for _, d in sorted(other.graph.degree())])


def test_configuration_keeps_degrees_and_loses_triangles(graphs):
    base, config, er = graphs["clustered"], graphs["configuration"], graphs["erdos_renyi"]
    # Only the configuration model's self-loops and duplicate ties are dropped (2.2% of ties measured here,
    # mostly between hubs).
    assert np.abs(config.degree - base.degree).sum() < 0.05 * base.degree.sum()
    assert nx.transitivity(config.graph) < 0.6 * nx.transitivity(base.graph)
    assert er.graph.number_of_edges() == base.graph.number_of_edges()
    assert er.degree.max() < 0.2 * base.degree.max()   # no hubs


def test_graph_choice_is_seeded(graphs):
    again = population_on_graph(Params(n_agents=2000), np.random.default_rng(3), "configuration")
    assert nx.utils.graphs_equal(again.graph, graphs["configuration"].graph)
    with pytest.raises(ParameterError, match="unknown graph kind"):
        population_on_graph(Params(n_agents=100), np.random.default_rng(0), "smallworld")


def test_model_runs_on_a_drawn_population(timeline):
    params = Params(n_agents=300).replace(end="2025-01-05")
    rng = np.random.default_rng(4)
    population = population_on_graph(params, rng, "erdos_renyi")
    model = ArrayMigrationModel(params, timeline, rng=rng, drawn_population=population)
    assert (model.degree == population.degree).all()
    model.run()
    with pytest.raises(ValueError, match="300 users but n_agents = 400"):
        ArrayMigrationModel(params.replace(n_agents=400), timeline, rng=0, drawn_population=population)


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
