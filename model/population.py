"""The world at the start: the social graph and who the users are, drawn from the model's rng.

Both drivers draw the initial population here, in the same order from the same generator, so a seed
gives the same users, friendships and traits whichever driver runs them.
"""

from __future__ import annotations

import dataclasses

import networkx as nx
import numpy as np
import scipy.sparse as sp

from agents.rules import BOTH, TENURE_CAP, TIKTOK
from model.fast_graph import powerlaw_cluster_csr
from model.params import Params

# Above this many users the graph is grown by the vectorised generator (model/fast_graph.py): networkx
# takes minutes and gigabytes at a million nodes. Below it networkx builds it, as it always has, so runs
# of the usual sizes keep their graphs. Both drivers follow the same rule, so a seed still gives one
# population whichever driver runs it.
FAST_GRAPH_ABOVE = 20_000
GRAPH_METHODS = ("auto", "networkx", "vectorised")

# How each user's state is stored: the narrowest type that keeps the results (docs/ODD.md 3.1). Traits
# and habits are numbers in [0, 1] that the rules weigh by a few logit units: single precision (7
# digits) moves a utility by less than 1e-6, far below anything the model resolves, and halves the
# memory of the population's largest arrays (170 million users: 3.4 GB instead of 6.8 GB for these five).
# Every rule still computes in double precision: only the stored value is rounded. States are one byte;
# yes/no facts one byte each; days on RedNote int16 (they stop at rules.TENURE_CAP); friend counts int32
# (a hub may have more friends than int16 holds).
STATE_DTYPES = {
    "state": np.int8, "is_creator": np.bool_, "has_tiktok_installed": np.bool_, "ever_on_rednote": np.bool_,
    "taste": np.float32, "defiance": np.float32,
    "tiktok_stickiness": np.float32, "rednote_stickiness": np.float32, "familiarity": np.float32,
    "rednote_fit": np.float32, "rednote_days": np.int16, "degree": np.int32,
}


def build_social_graph(p: Params, rng: np.random.Generator) -> nx.Graph:
    """Holme-Kim (powerlaw-cluster) graph: preferential attachment gives heavy-tailed degrees (a few
    users with large audiences), and triangle closure gives the clustering of friendship circles."""
    seed = int(rng.integers(2**31 - 1))
    return nx.powerlaw_cluster_graph(p.n_agents, p.mean_degree // 2, p.clustering, seed=seed)


def graph_method(p: Params, method: str = "auto") -> str:
    """The generator that builds the graph: ``auto`` picks networkx up to FAST_GRAPH_ABOVE users."""
    if method not in GRAPH_METHODS:
        raise ValueError(f"unknown graph method {method!r}; choose one of {GRAPH_METHODS}")
    if method == "auto":
        return "vectorised" if p.n_agents > FAST_GRAPH_ABOVE else "networkx"
    return method


def build_friendships(p: Params, rng: np.random.Generator, method: str = "auto") -> tuple[sp.csr_matrix, nx.Graph | None]:
    """The default graph as a CSR friendship matrix (and the networkx graph when networkx built it).

    Either way exactly one number is drawn from ``rng`` (the generator's seed), so the traits drawn
    after the graph come from the same point of the stream."""
    if graph_method(p, method) == "networkx":
        graph = build_social_graph(p, rng)
        return adjacency(graph), graph
    graph_rng = np.random.default_rng(int(rng.integers(2**31 - 1)))
    return powerlaw_cluster_csr(p.n_agents, p.mean_degree // 2, p.clustering, graph_rng), None


def adjacency(graph: nx.Graph) -> sp.csr_matrix:
    """Friendship matrix in CSR form, rows and columns in node order."""
    n = graph.number_of_nodes()
    edges = np.array(graph.edges(), dtype=np.int64).reshape(-1, 2)
    rows = np.concatenate([edges[:, 0], edges[:, 1]])
    cols = np.concatenate([edges[:, 1], edges[:, 0]])
    data = np.ones(len(rows), dtype=np.int32)
    return sp.csr_matrix((data, (rows, cols)), shape=(n, n))


def best_connected(degree: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Mask of the ``k`` users with the most friends, ties at the cut broken at random: creators have the
    audiences. Linear in the users (a sort of 170 million would take minutes and three arrays as large)."""
    is_creator = np.zeros(degree.size, dtype=STATE_DTYPES["is_creator"])
    if k <= 0:
        return is_creator
    at_least = np.cumsum(np.bincount(degree)[::-1])[::-1]   # at_least[d]: users with d friends or more
    cut = int(np.flatnonzero(at_least >= k)[-1])              # the most friends that k users reach
    np.greater(degree, cut, out=is_creator)
    ties = np.flatnonzero(degree == cut)
    is_creator[rng.choice(ties, size=k - int(at_least[cut + 1] if cut + 1 < at_least.size else 0),
                          replace=False)] = True
    return is_creator


def _beta(rng: np.random.Generator, mean, concentration: float, size: int) -> np.ndarray:
    return rng.beta(mean * concentration, (1.0 - mean) * concentration, size=size)


@dataclasses.dataclass
class Population:
    """Initial users, one entry per graph node (node i is user i)."""

    friends: sp.csr_matrix
    degree: np.ndarray
    is_creator: np.ndarray
    taste: np.ndarray
    defiance: np.ndarray
    state: np.ndarray
    tiktok_stickiness: np.ndarray
    rednote_stickiness: np.ndarray
    has_tiktok_installed: np.ndarray
    ever_on_rednote: np.ndarray
    familiarity: np.ndarray
    rednote_fit: np.ndarray      # float32: the user's own fit with RedNote, standardised (experience good)
    rednote_days: np.ndarray     # int16: days since first using RedNote (0: never)
    networkx_graph: nx.Graph | None = None

    @property
    def graph(self) -> nx.Graph:
        """The friendships as a networkx graph, for the Mesa driver's Network (built from the matrix
        when the vectorised generator grew it)."""
        if self.networkx_graph is None:
            self.networkx_graph = nx.from_scipy_sparse_array(self.friends)
        return self.networkx_graph


def draw_population(p: Params, rng: np.random.Generator, graph="auto") -> Population:
    """Graph and traits of the initial users. ``graph`` is a generator (one of GRAPH_METHODS) or a
    ready friendship matrix (n_agents square, symmetric, zero diagonal) to put the users on."""
    n = p.n_agents
    if isinstance(graph, str):
        friends, networkx_graph = build_friendships(p, rng, graph)
    else:
        friends, networkx_graph = _checked_friendships(graph, n), None
        rng.integers(2**31 - 1)   # the draw a generator would have used: traits stay where they were
    degree = np.diff(friends.indptr).astype(STATE_DTYPES["degree"])

    is_creator = best_connected(degree, round(p.creator_share * n), rng)
    taste_mean = np.where(is_creator, p.creator_lifestyle_taste_mean, p.lifestyle_taste_mean)
    taste = _beta(rng, taste_mean, p.taste_concentration, n).astype(STATE_DTYPES["taste"])
    del taste_mean
    defiance = (_beta(rng, p.defiance_mean, p.defiance_concentration, n) if p.defiance_mean > 0
                else np.zeros(n)).astype(STATE_DTYPES["defiance"])

    # Everyone is a US TikTok user; a few already use RedNote as well: exactly the share given (a known
    # market fact, not a coin toss per user), chosen at random. A binomial count moved the pre-surge user
    # base by +-7% from seed to seed at 50,000 agents, and with it the surge ratios' week before.
    on_rednote = np.zeros(n, dtype=bool)
    on_rednote[rng.choice(n, size=round(p.initial_rednote_share * n), replace=False)] = True
    state = np.full(n, TIKTOK, dtype=STATE_DTYPES["state"])
    state[on_rednote] = BOTH

    def where_on_rednote(name, on, off):
        values = np.full(n, off, dtype=STATE_DTYPES[name])
        values[on_rednote] = on
        return values

    # Each user's fit with RedNote, learned only by trying it (rules.experienced_fit): drawn last, and only
    # when the mechanism is on, so with it off a seed gives the very users and daily draws it gave before
    # the mechanism existed. Those already on RedNote chose it knowing their fit: they are the half who
    # fit (|z|), and have had it long enough to know it and for its novelty to be gone.
    if p.fit_spread > 0:
        rednote_fit = rng.standard_normal(n, dtype=STATE_DTYPES["rednote_fit"])
        rednote_fit[on_rednote] = np.abs(rednote_fit[on_rednote])
    else:
        rednote_fit = np.zeros(n, dtype=STATE_DTYPES["rednote_fit"])
    return Population(
        friends=friends,
        networkx_graph=networkx_graph,
        degree=degree,
        is_creator=is_creator,
        taste=taste,
        defiance=defiance,
        state=state,
        tiktok_stickiness=np.full(n, p.initial_tiktok_stickiness, dtype=STATE_DTYPES["tiktok_stickiness"]),
        rednote_stickiness=where_on_rednote("rednote_stickiness", p.initial_rednote_stickiness, 0.0),
        has_tiktok_installed=np.ones(n, dtype=STATE_DTYPES["has_tiktok_installed"]),
        ever_on_rednote=on_rednote.copy(),
        familiarity=where_on_rednote("familiarity", 1.0, p.initial_familiarity),
        rednote_fit=rednote_fit,
        rednote_days=where_on_rednote("rednote_days", TENURE_CAP, 0),
    )


def _checked_friendships(matrix, n: int) -> sp.csr_matrix:
    if not sp.issparse(matrix):
        raise TypeError(f"graph must be one of {GRAPH_METHODS} or a scipy.sparse matrix, got {type(matrix).__name__}")
    if matrix.shape != (n, n):
        raise ValueError(f"friendship matrix is {matrix.shape[0]}x{matrix.shape[1]}, but n_agents = {n}")
    friends = sp.csr_matrix(matrix, dtype=np.int32, copy=True)   # never edit the caller's matrix in place
    friends.eliminate_zeros()
    if (friends.data != 1).any():
        raise ValueError("friendship matrix must hold ones (a friendship) and zeros only")
    if friends.diagonal().any():
        raise ValueError("friendship matrix has self-friendships on its diagonal")
    if (friends != friends.T).nnz:
        raise ValueError("friendship matrix is not symmetric: friendship goes both ways")
    return friends
