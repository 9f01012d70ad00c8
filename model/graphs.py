"""Other social graphs for the same users: to see what the default graph's structure does to the model.

The default graph (``model.population.build_friendships``) is a Holme-Kim graph: heavy-tailed degrees
and clustered friendship circles. ``friendships_of_kind`` gives the friendship matrix to pass to
``ArrayMigrationModel(..., graph=...)``, which then draws the users' traits as the default model does
(creators are the best-connected users of the graph given):

- ``clustered``: the default graph (returned as ``"auto"``: the model builds it as always).
- ``configuration``: a random graph with the same degree sequence as a default graph (configuration
  model; its self-loops and duplicate ties, mostly between hubs, are dropped: 2.2% of ties at 2,000
  users). Hubs stay hubs, but triangles and degree correlations are gone, so the comparison with
  ``clustered`` isolates clustering.
- ``erdos_renyi``: a G(n, m) random graph with as many ties as a default graph: no clustering and no
  hubs (Poisson degrees).

Everything is drawn from the generator passed in, so a seed gives the same graph.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import scipy.sparse as sp

from model.params import ParameterError, Params
from model.population import adjacency, build_friendships

GRAPH_KINDS = ("clustered", "configuration", "erdos_renyi")


def check_graph_kind(kind: str) -> None:
    if kind not in GRAPH_KINDS:
        raise ParameterError(f"unknown graph kind {kind!r}; choose one of {GRAPH_KINDS}")


def friendships_of_kind(p: Params, kind: str, rng: np.random.Generator) -> str | sp.csr_matrix:
    """The ``graph`` argument of ``ArrayMigrationModel`` for a kind of graph (see the module's text)."""
    check_graph_kind(kind)
    if kind == "clustered":
        return "auto"
    default, _ = build_friendships(p, rng)
    seed = int(rng.integers(2**31 - 1))
    if kind == "erdos_renyi":
        graph = nx.gnm_random_graph(p.n_agents, default.nnz // 2, seed=seed)
    else:
        degrees = np.diff(default.indptr).tolist()
        graph = nx.Graph(nx.configuration_model(degrees, seed=seed))
        graph.remove_edges_from(list(nx.selfloop_edges(graph)))
    graph.add_nodes_from(range(p.n_agents))
    return adjacency(nx.convert_node_labels_to_integers(graph, ordering="sorted"))
