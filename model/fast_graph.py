"""A Holme-Kim (powerlaw-cluster) graph for populations networkx cannot build: up to all 170 million users.

networkx grows the graph one node at a time in Python, with a dict of sets per node (minutes and
gigabytes at a million users). This generator grows the same process in one compiled pass (numba) over
a flat edge list and returns the friendship matrix in int32 CSR form directly. It holds 4 bytes per edge
while growing and 8 per edge for the matrix (both directions), nothing per edge besides: 170 million
users with 10 friends each build in about 11.5 GB at the peak and keep 7.5 GB (estimate: see
``peak_bytes``), where scipy's own conversion from an edge list would need over 30 GB.

The process, as in networkx: node ``t`` (from ``m`` on) brings ``m`` edges. Its first edge, and each later
one with probability ``1 - clustering``, is a preferential-attachment step: it picks an older user with
probability proportional to degree (+1 for the ``m`` seed users, as networkx's list of repeated nodes),
found as the value of a uniformly chosen *slot*: every edge has two slots, ``2e`` (the node that brought
it) and ``2e + 1`` (the friend it chose), so the edge list itself is that list of repeated nodes. The
other edges close a triangle around ``w``, the last attachment target: the first takes the partner of
the slot that chose ``w`` (a uniformly random current neighbour of ``w``, as in networkx); further ones
take one of the friends ``w`` chose when it arrived. A pick that is already a friend (or a closure with
no candidate) becomes a preferential-attachment step, and a node never befriends the same user twice:
repeated picks redraw, and after ``REDRAWS`` redraws the first older user not yet a friend, from a random
start, is taken, so every admissible ``m < n`` works (``mean_degree = 200`` at 202 users included).

Differences from ``networkx.powerlaw_cluster_graph`` (measured side by side in ``tests/test_fast_graph.py``
and ``python -m benchmarks.benchmark``): the seed is a star (node ``m`` tied to nodes ``0 .. m-1``, the
graph networkx has after its first step); a second or later triangle around the same ``w`` is closed with
a friend ``w`` chose rather than any current neighbour. Quantiles, tail exponent and clustering agree
within a few percent.

Without numba the same function runs as plain Python (the same graph from the same seed, slowly).
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp

try:
    import numba
except ImportError:   # the same code runs uncompiled: the same graph, slowly
    numba = None

REDRAWS = 64   # preferential-attachment redraws of a repeated pick before the scan for a new friend


def _compiled(function):
    return numba.njit(cache=True)(function) if numba is not None else function


def powerlaw_cluster_csr(n: int, m: int, clustering: float, rng: np.random.Generator) -> sp.csr_matrix:
    """Symmetric friendship matrix (ones, CSR with sorted int32 indices, rows and columns in node order)
    of a Holme-Kim graph with ``n`` nodes, ``m`` edges brought by each new node and triangle-closure
    probability ``clustering``; every random number is drawn from ``rng``. The matrix's ``data`` is one
    read-only 1 seen through every entry (no memory per edge). Errors: ValueError unless 1 <= m < n and
    0 <= clustering <= 1."""
    if not (isinstance(m, int | np.integer) and isinstance(n, int | np.integer) and 1 <= m < n):
        raise ValueError(f"need 1 <= m < n for a powerlaw-cluster graph, got m={m}, n={n}")
    if not 0.0 <= clustering <= 1.0:
        raise ValueError(f"clustering must be a probability in [0, 1], got {clustering}")
    if numba is None and n * m > 2_000_000:
        warnings.warn("numba is not installed: the graph generator runs as plain Python (the same graph, "
                      "many times slower)", RuntimeWarning, stacklevel=2)
    n_edges = m * (n - m)
    index = np.int32 if 2 * n_edges < 2**31 - 1 else np.int64
    friend = np.empty(n_edges, dtype=index)
    _grow(n, m, float(clustering), rng, friend)
    degree = _degrees(n, m, friend)
    indptr = np.zeros(n + 1, dtype=index)
    np.cumsum(degree, out=indptr[1:])
    del degree
    indices = np.empty(2 * n_edges, dtype=index)
    _fill_rows(n, m, friend, indptr, indices)
    del friend
    ones = np.broadcast_to(np.ones(1, dtype=np.int32), indices.shape)
    matrix = sp.csr_matrix((ones, indices, indptr), shape=(n, n), copy=False)
    matrix.has_sorted_indices = True
    return matrix


def peak_bytes(n: int, mean_degree: int) -> int:
    """Memory the generator holds at its peak for ``n`` users of ``mean_degree`` friends: the edge list,
    the matrix's indices and row pointers, the degrees."""
    m = mean_degree // 2
    n_edges = m * (n - m)
    index = 4 if 2 * n_edges < 2**31 - 1 else 8
    return index * (n_edges + 2 * n_edges + 2 * (n + 1))


@_compiled
def _grow(n, m, clustering, rng, friend):
    """Fill ``friend[e]``, the user chosen by edge ``e`` (brought by node ``m + e // m``)."""
    for k in range(m):
        friend[k] = k                      # node m: the seed star
    for t in range(m + 1, n):
        base = (t - m) * m                 # t's first edge
        older_slots = 2 * base             # slots of the edges older nodes brought
        w = -1                             # last attachment target
        chooser = -1                       # the slot that chose it (-1: none)
        closures = 0                       # triangles closed around w so far
        for k in range(m):
            e = base + k
            node = -1
            if k > 0 and w >= 0 and rng.random() < clustering:
                closures += 1
                if closures == 1 and chooser >= 0:
                    node = _slot_value(chooser ^ 1, m, friend)
                elif w >= m:               # one of the friends w chose when it arrived
                    node = friend[(w - m) * m + int(rng.random() * m)]
                if node >= 0 and _chosen(friend, base, e, node):
                    node = -1
            if node < 0:                   # preferential attachment
                for _ in range(REDRAWS):
                    pick = int(rng.random() * (older_slots + m))
                    if pick < m:           # a seed user counted once for itself: the star edge holding it
                        slot = 2 * pick + 1
                    else:
                        slot = pick - m
                    node = _slot_value(slot, m, friend)
                    if not _chosen(friend, base, e, node):
                        break
                    node = -1
                if node < 0:               # t is short of older users not yet its friends: scan for one
                    slot = -1
                    node = int(rng.random() * t)
                    while _chosen(friend, base, e, node):
                        node = node + 1 if node + 1 < t else 0
                w, chooser, closures = node, slot, 0
            friend[e] = node


@_compiled
def _slot_value(slot, m, friend):
    edge = slot >> 1
    return m + edge // m if slot & 1 == 0 else friend[edge]


@_compiled
def _chosen(friend, base, e, node):
    """Whether ``node`` is among the friends the current node chose so far (edges base .. e-1)."""
    for j in range(base, e):
        if friend[j] == node:
            return True
    return False


@_compiled
def _degrees(n, m, friend):
    degree = np.zeros(n, dtype=friend.dtype)
    for e in range(friend.size):
        degree[m + e // m] += 1
        degree[friend[e]] += 1
    return degree


@_compiled
def _fill_rows(n, m, friend, indptr, indices):
    """Both directions of every edge, each row sorted. A row holds first the m friends its node chose
    (older, sorted here) and then, in the order edges were brought, the newer nodes that chose it."""
    cursor = indptr[:-1].copy()
    for e in range(friend.size):
        source, chosen = m + e // m, friend[e]
        indices[cursor[source]] = chosen
        cursor[source] += 1
        indices[cursor[chosen]] = source
        cursor[chosen] += 1
    for t in range(m, n):   # insertion sort of each row's first m entries (the only unsorted ones)
        start = indptr[t]
        for i in range(start + 1, start + m):
            value = indices[i]
            j = i - 1
            while j >= start and indices[j] > value:
                indices[j + 1] = indices[j]
                j -= 1
            indices[j + 1] = value


# --- measuring a graph: how the vectorised graph is compared with networkx's ---------------------------

def degree_summary(friends: sp.csr_matrix, tail_from: int) -> dict[str, float]:
    """Mean, quantiles and maximum of the degrees, and the power-law exponent of their tail."""
    degree = np.diff(friends.indptr)
    q50, q90, q99 = np.quantile(degree, [0.5, 0.9, 0.99])
    return {"mean": float(degree.mean()), "median": float(q50), "q90": float(q90), "q99": float(q99),
            "max": int(degree.max()), "tail_exponent": tail_exponent(degree, tail_from)}


def tail_exponent(degree: np.ndarray, tail_from: int) -> float:
    """Maximum-likelihood exponent alpha of P(d) ~ d^-alpha for d >= tail_from (Clauset, Shalizi and
    Newman 2009, eq. 3.7, the discrete approximation). Preferential attachment gives alpha = 3."""
    tail = degree[degree >= tail_from].astype(np.float64)
    return float(1.0 + tail.size / np.log(tail / (tail_from - 0.5)).sum())


def average_clustering(friends: sp.csr_matrix) -> float:
    """Mean over all users of the share of pairs of their friends who are friends (networkx's
    ``average_clustering``: users with fewer than two friends count as 0)."""
    a = sp.csr_matrix(friends, dtype=np.int64)
    triangles = np.asarray((a @ a).multiply(a).sum(axis=1)).ravel() / 2
    degree = np.diff(a.indptr)
    pairs = degree * (degree - 1) / 2
    return float(np.where(pairs > 0, triangles / np.maximum(pairs, 1), 0.0).mean())
