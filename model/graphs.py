"""Other social graphs for the same users: to see what the default graph's structure does to the model.

The default graph (``model.population.build_social_graph``) is a Holme-Kim graph: heavy-tailed degrees
and clustered friendship circles. ``population_on_graph`` draws the users exactly as the default model
does, then, for another kind of graph, replaces their friendships:

- ``clustered``: the default graph, unchanged.
- ``configuration``: a random graph with the same degree sequence (configuration model; its self-loops
  and duplicate ties, mostly between hubs, are dropped: 2.2% of ties at 2,000 users). Hubs stay hubs - and creators, chosen as the
  best-connected users, keep their audiences - but triangles and degree correlations are gone, so the
  comparison with ``clustered`` isolates clustering.
- ``erdos_renyi``: a G(n, m) random graph with as many ties as the default graph: no clustering and no
  hubs (Poisson degrees).

Everything is drawn from the generator passed in, so a seed gives the same graph.
"""

from __future__ import annotations

import dataclasses

import networkx as nx
import numpy as np

from model.params import ParameterError, Params
from model.population import Population, draw_population

GRAPH_KINDS = ("clustered", "configuration", "erdos_renyi")


def check_graph_kind(kind: str) -> None:
    if kind not in GRAPH_KINDS:
        raise ParameterError(f"unknown graph kind {kind!r}; choose one of {GRAPH_KINDS}")


def random_graph_like(graph: nx.Graph, kind: str, rng: np.random.Generator) -> nx.Graph:
    """A random graph on the same nodes, keeping the degree sequence or only the number of ties."""
    check_graph_kind(kind)
    if kind == "clustered":
        return graph
    seed = int(rng.integers(2**31 - 1))
    n = graph.number_of_nodes()
    if kind == "erdos_renyi":
        return nx.gnm_random_graph(n, graph.number_of_edges(), seed=seed)
    degrees = [d for _, d in sorted(graph.degree())]
    simple = nx.Graph(nx.configuration_model(degrees, seed=seed))
    simple.remove_edges_from(list(nx.selfloop_edges(simple)))
    return simple


def population_on_graph(p: Params, rng: np.random.Generator, kind: str = "clustered") -> Population:
    """The default model's users (same draws, same traits), with friendships from the chosen kind of graph.
    Pass the same generator on to the model: ``ArrayMigrationModel(p, timeline, rng=rng, drawn_population=...)``."""
    check_graph_kind(kind)
    population = draw_population(p, rng)
    if kind == "clustered":
        return population
    graph = random_graph_like(population.graph, kind, rng)
    degree = np.array([d for _, d in sorted(graph.degree())], dtype=np.int64)
    return dataclasses.replace(population, graph=graph, degree=degree)
