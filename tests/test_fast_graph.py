"""The vectorised graph generator grows the same kind of graph as networkx's Holme-Kim generator."""

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp

import model.population as population
from model.fast_graph import average_clustering, degree_summary, powerlaw_cluster_csr
from model.params import Params
from model.population import adjacency, build_friendships, draw_population, graph_method

N, M, P = 20_000, 5, 0.5


@pytest.fixture(scope="module")
def side_by_side():
    """Degree statistics and clustering of both generators, two seeds each, at a size networkx can do."""
    fast = [powerlaw_cluster_csr(N, M, P, np.random.default_rng(seed)) for seed in (1, 2)]
    slow = [adjacency(nx.powerlaw_cluster_graph(N, M, P, seed=seed)) for seed in (1, 2)]

    def describe(graphs):
        rows = [{**degree_summary(g, tail_from=4 * M), "clustering": average_clustering(g)} for g in graphs]
        return {key: np.mean([r[key] for r in rows]) for key in rows[0]}

    return describe(fast), describe(slow), fast


def test_same_degree_distribution_as_networkx(side_by_side):
    fast, slow, _ = side_by_side
    assert fast["mean"] == pytest.approx(2 * M, rel=0.002)
    assert fast["mean"] == pytest.approx(slow["mean"], rel=0.005)
    assert abs(fast["median"] - slow["median"]) <= 1
    assert fast["q90"] == pytest.approx(slow["q90"], rel=0.15)
    assert fast["q99"] == pytest.approx(slow["q99"], rel=0.2)
    assert fast["tail_exponent"] == pytest.approx(slow["tail_exponent"], abs=0.3)
    assert 0.4 * slow["max"] < fast["max"] < 2.5 * slow["max"]


def test_same_clustering_as_networkx(side_by_side):
    fast, slow, _ = side_by_side
    assert fast["clustering"] == pytest.approx(slow["clustering"], rel=0.15)


def test_clustering_follows_its_parameter():
    rng = np.random.default_rng(3)
    low = average_clustering(powerlaw_cluster_csr(N // 4, M, 0.0, rng))
    high = average_clustering(powerlaw_cluster_csr(N // 4, M, 0.9, rng))
    assert high > 3 * low


def test_a_simple_undirected_graph(side_by_side):
    *_, graphs = side_by_side
    friends = graphs[0]
    assert friends.shape == (N, N)
    assert friends.diagonal().sum() == 0, "no one is their own friend"
    assert (friends != friends.T).nnz == 0, "friendship goes both ways"
    assert set(np.unique(friends.data)) == {1}, "no friendship counted twice"
    assert friends.has_sorted_indices
    # Every user after the seed brought m distinct friends: nobody has fewer than m.
    assert np.diff(friends.indptr)[M:].min() >= M
    assert friends.nnz == 2 * M * (N - M)


def test_seeded():
    a = powerlaw_cluster_csr(3000, M, P, np.random.default_rng(9))
    b = powerlaw_cluster_csr(3000, M, P, np.random.default_rng(9))
    c = powerlaw_cluster_csr(3000, M, P, np.random.default_rng(10))
    assert (a != b).nnz == 0
    assert (a != c).nnz > 0


@pytest.mark.parametrize("n,m,p,needle", [(5, 5, 0.5, "m < n"), (100, 0, 0.5, "m < n"), (100, 3, 1.5, "clustering")])
def test_bad_arguments_named(n, m, p, needle):
    with pytest.raises(ValueError, match=needle):
        powerlaw_cluster_csr(n, m, p, np.random.default_rng(0))


def test_auto_switches_to_vectorised_above_threshold():
    assert graph_method(Params(n_agents=population.FAST_GRAPH_ABOVE)) == "networkx"
    assert graph_method(Params(n_agents=population.FAST_GRAPH_ABOVE + 1)) == "vectorised"
    assert graph_method(Params(n_agents=500), "vectorised") == "vectorised"
    with pytest.raises(ValueError, match="unknown graph method 'igraph'"):
        graph_method(Params(), "igraph")


def test_large_population_never_calls_networkx(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("networkx was asked to build a large graph")

    monkeypatch.setattr(nx, "powerlaw_cluster_graph", refuse)
    params = Params(n_agents=population.FAST_GRAPH_ABOVE + 10)
    pop = draw_population(params, np.random.default_rng(0))
    assert pop.networkx_graph is None
    assert np.array_equal(pop.degree, np.diff(pop.friends.indptr))
    assert pop.is_creator.sum() == round(params.creator_share * params.n_agents)


@pytest.mark.parametrize("method", ["networkx", "vectorised"])
def test_each_generator_takes_one_number_from_the_model_rng(method):
    """The graph's own generator is seeded from one draw of the model's rng, whichever builds it."""
    used, untouched = np.random.default_rng(4), np.random.default_rng(4)
    build_friendships(Params(n_agents=300), used, method)
    untouched.integers(2**31 - 1)
    assert used.random() == untouched.random()


def test_networkx_view_of_a_vectorised_graph():
    params = Params(n_agents=600)
    pop = draw_population(params, np.random.default_rng(5), graph="vectorised")
    graph = pop.graph
    assert sorted(graph.nodes) == list(range(600))
    assert (adjacency(graph) != pop.friends).nnz == 0


def test_supplied_matrix_checked():
    params = Params(n_agents=50)
    friends, _ = build_friendships(params, np.random.default_rng(0), "vectorised")
    with pytest.raises(ValueError, match="50"):
        draw_population(params.replace(n_agents=60), np.random.default_rng(0), graph=friends)
    lopsided = sp.lil_matrix(friends)
    lopsided[0, 49] = 0 if lopsided[0, 49] else 1
    with pytest.raises(ValueError, match="symmetric"):
        draw_population(params, np.random.default_rng(0), graph=lopsided)
    with pytest.raises(TypeError, match="scipy.sparse"):
        draw_population(params, np.random.default_rng(0), graph=[[0, 1], [1, 0]])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_initial_rednote_users_are_exactly_the_share_at_random(seed):
    """The pre-surge RedNote base is a fixed share, not a coin toss per user, so it does not move the
    surge's week-before from seed to seed; who they are is still drawn from the model's rng."""
    params = Params(n_agents=5_000, initial_rednote_share=0.01)
    pops = [draw_population(params, np.random.default_rng(s)) for s in (seed, seed + 10)]
    for pop in pops:
        on_rednote = pop.ever_on_rednote
        assert on_rednote.sum() == 50
        assert (pop.state[on_rednote] == population.BOTH).all()
        assert (pop.familiarity[on_rednote] == 1.0).all()
    assert not np.array_equal(pops[0].ever_on_rednote, pops[1].ever_on_rednote)


def _check_simple_graph(friends, n, m):
    assert friends.shape == (n, n)
    assert friends.diagonal().sum() == 0
    assert (friends != friends.T).nnz == 0
    assert friends.nnz == 2 * m * (n - m), "every node after the seed brought m distinct friends"
    degree = np.diff(friends.indptr)
    assert degree[m:].min() >= m
    assert friends.has_sorted_indices and all(
        np.all(np.diff(friends.indices[friends.indptr[i]:friends.indptr[i + 1]]) > 0) for i in range(0, n, max(1, n // 50)))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_mean_degree_200_at_the_default_size(seed):
    """Issue 14, fault 7: mean_degree = 200 (inside its range) at 50,000 users failed for seeds 1-3."""
    params = Params(n_agents=50_000, mean_degree=200)
    friends, _ = build_friendships(params, np.random.default_rng(seed), "vectorised")
    _check_simple_graph(friends, 50_000, 100)
    assert np.diff(friends.indptr).mean() == pytest.approx(200, rel=0.01)


@pytest.mark.parametrize("mean_degree", [60, 80, 100, 120, 140, 160, 180, 200])
def test_every_admissible_mean_degree_builds(mean_degree):
    """Degrees from 60 failed for some seeds; every admissible value must work, down to the smallest
    population that admits it (mean_degree < n_agents: m = n/2, where each node needs almost all older ones)."""
    for n, seeds in ((3_000, range(4)), (mean_degree + 2, range(3))):
        for seed in seeds:
            params = Params(n_agents=n, mean_degree=mean_degree)
            friends, _ = build_friendships(params, np.random.default_rng(seed), "vectorised")
            _check_simple_graph(friends, n, mean_degree // 2)


def test_the_matrix_is_int32_csr_with_no_memory_per_entry_for_its_ones():
    friends = powerlaw_cluster_csr(5_000, M, P, np.random.default_rng(0))
    assert friends.format == "csr"
    assert friends.indices.dtype == np.int32 and friends.indptr.dtype == np.int32
    assert friends.data.strides == (0,) and not friends.data.flags.writeable
    # It still counts friends as a matrix: each user's number of friends on a platform.
    on = np.random.default_rng(1).random(5_000) < 0.3
    assert np.array_equal(friends @ on.astype(np.int32), np.array([on[friends.indices[a:b]].sum() for a, b in
                                                                   zip(friends.indptr[:-1], friends.indptr[1:], strict=True)]))


def test_peak_memory_estimate_of_the_full_population():
    """170 million users of 10 friends: the generator's arrays stay under 12 GB (int32 throughout)."""
    from model.fast_graph import peak_bytes
    assert peak_bytes(170_000_000, 10) < 12e9
    assert peak_bytes(1_000, 10) == 4 * (5 * 995 * 3 + 2 * 1001)


def test_the_same_graph_without_the_compiler():
    """Without numba the generator runs as plain Python: the same graph from the same seed."""
    from model import fast_graph
    compiled = powerlaw_cluster_csr(400, 3, 0.6, np.random.default_rng(11))
    fast_graph_grow = fast_graph._grow.py_func if hasattr(fast_graph._grow, "py_func") else fast_graph._grow
    friend = np.empty(3 * 397, dtype=np.int32)
    fast_graph_grow(400, 3, 0.6, np.random.default_rng(11), friend)
    rows = np.repeat(np.arange(3, 400), 3)
    plain = sp.csr_matrix((np.ones(2 * friend.size, dtype=np.int32),
                           (np.concatenate([rows, friend]), np.concatenate([friend, rows]))), shape=(400, 400))
    assert (plain != compiled).nnz == 0


def test_creators_are_the_best_connected_with_ties_at_the_cut_broken_at_random():
    from model.population import best_connected
    degree = np.array([9, 1, 5, 5, 5, 5, 2, 7], dtype=np.int32)
    picks = [best_connected(degree, 4, np.random.default_rng(seed)) for seed in range(30)]
    for chosen in picks:
        assert chosen.sum() == 4 and chosen[0] and chosen[7], "more friends than the cut: always creators"
        assert chosen[[2, 3, 4, 5]].sum() == 2 and not chosen[[1, 6]].any()
    assert len({tuple(np.flatnonzero(c)) for c in picks}) > 3, "the tie at the cut is broken at random"
    assert not best_connected(degree, 0, np.random.default_rng(0)).any()
    assert best_connected(degree, 8, np.random.default_rng(0)).all()
