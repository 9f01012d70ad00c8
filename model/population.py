"""The world at the start: the social graph and who the users are, drawn from the model's rng.

Both drivers draw the initial population here, in the same order from the same generator, so a seed
gives the same users, friendships and traits whichever driver runs them.
"""

from __future__ import annotations

import dataclasses

import networkx as nx
import numpy as np
import scipy.sparse as sp

from agents.rules import BOTH, TIKTOK
from model.params import Params


def build_social_graph(p: Params, rng: np.random.Generator) -> nx.Graph:
    """Holme-Kim (powerlaw-cluster) graph: preferential attachment gives heavy-tailed degrees (a few
    users with large audiences), and triangle closure gives the clustering of friendship circles."""
    seed = int(rng.integers(2**31 - 1))
    return nx.powerlaw_cluster_graph(p.n_agents, p.mean_degree // 2, p.clustering, seed=seed)


def adjacency(graph: nx.Graph) -> sp.csr_matrix:
    """Friendship matrix in CSR form, rows and columns in node order."""
    n = graph.number_of_nodes()
    edges = np.array(graph.edges(), dtype=np.int64).reshape(-1, 2)
    rows = np.concatenate([edges[:, 0], edges[:, 1]])
    cols = np.concatenate([edges[:, 1], edges[:, 0]])
    data = np.ones(len(rows), dtype=np.int32)
    return sp.csr_matrix((data, (rows, cols)), shape=(n, n))


def _beta(rng: np.random.Generator, mean, concentration: float, size: int) -> np.ndarray:
    return rng.beta(mean * concentration, (1.0 - mean) * concentration, size=size)


@dataclasses.dataclass
class Population:
    """Initial users, one entry per graph node (node i is user i)."""

    graph: nx.Graph
    degree: np.ndarray
    is_creator: np.ndarray
    taste: np.ndarray
    defiance: np.ndarray
    state: np.ndarray
    tiktok_stickiness: np.ndarray
    rednote_stickiness: np.ndarray
    has_tiktok_installed: np.ndarray
    ever_on_rednote: np.ndarray


def draw_population(p: Params, rng: np.random.Generator) -> Population:
    n = p.n_agents
    graph = build_social_graph(p, rng)
    degree = np.array([d for _, d in sorted(graph.degree())], dtype=np.int64)

    # Creators are the best-connected users (ties broken at random): they have the audiences.
    order = np.lexsort((rng.random(n), -degree))
    is_creator = np.zeros(n, dtype=bool)
    is_creator[order[: round(p.creator_share * n)]] = True

    taste_mean = np.where(is_creator, p.creator_lifestyle_taste_mean, p.lifestyle_taste_mean)
    taste = _beta(rng, taste_mean, p.taste_concentration, n)
    defiance = _beta(rng, p.defiance_mean, p.defiance_concentration, n) if p.defiance_mean > 0 else np.zeros(n)

    # Everyone is a US TikTok user; a few already use RedNote as well.
    on_rednote = rng.random(n) < p.initial_rednote_share
    state = np.where(on_rednote, BOTH, TIKTOK).astype(np.int8)
    return Population(
        graph=graph,
        degree=degree,
        is_creator=is_creator,
        taste=taste,
        defiance=defiance,
        state=state,
        tiktok_stickiness=np.full(n, p.initial_tiktok_stickiness),
        rednote_stickiness=np.where(on_rednote, p.initial_rednote_stickiness, 0.0),
        has_tiktok_installed=np.ones(n, dtype=bool),
        ever_on_rednote=on_rednote.copy(),
    )
