"""A vectorised Holme-Kim (powerlaw-cluster) graph for populations networkx cannot build in time.

networkx grows the graph one node at a time in Python (minutes and gigabytes at a million users). This
generator grows the same kind of graph with a handful of numpy passes and returns the friendship matrix
in CSR form directly.

How it stays a growth model without a Python loop (Batagelj and Brandes' trick, extended to triangles):
every edge has two *slots* in one long array, ``2e`` (the node that brought the edge) and ``2e + 1`` (the
friend it chose). Node ``t`` brings ``m`` edges. Its first edge, and each later one with probability
``1 - clustering``, is a preferential-attachment step: it copies the value of a uniformly chosen slot of
the older edges, which picks an older user with probability proportional to degree, exactly as
networkx's list of repeated nodes does. The other edges close triangles around the last attachment
target ``w``: the first such edge copies the *partner* of the slot that chose ``w`` (a uniformly random
neighbour of ``w`` as the graph stood, again as in networkx); further ones follow the chain of slots that
slot copied (each another edge of ``w``, a random one as the graph stood earlier) and, where the chain
ends, take the friends ``w`` chose when it arrived. Every slot then points to an earlier one, so all of
them are resolved together by pointer jumping (a few dozen array passes). A user who picked the same
friend twice redraws by preferential attachment, so, as in networkx, every node brings ``m`` distinct
friends.

Differences from ``networkx.powerlaw_cluster_graph`` (measured side by side in ``tests/test_fast_graph.py``
and ``python -m experiments.benchmark``): the seed is a star (node ``m`` tied to nodes ``0 .. m-1``, the
graph networkx has after its first step); a second or later triangle around the same ``w`` is closed with
a neighbour ``w`` had earlier rather than any current one; and a few slots that were copied from a
redrawn duplicate keep the value they copied. The hubs come out somewhat larger (early growth weighs on
them); quantiles, tail exponent and clustering agree within a few percent.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def powerlaw_cluster_csr(n: int, m: int, clustering: float, rng: np.random.Generator) -> sp.csr_matrix:
    """Symmetric friendship matrix (int32 ones, CSR, rows and columns in node order) of a Holme-Kim graph
    with ``n`` nodes, ``m`` edges brought by each new node and triangle-closure probability ``clustering``."""
    if not (isinstance(m, int | np.integer) and 1 <= m < n):
        raise ValueError(f"need 1 <= m < n for a powerlaw-cluster graph, got m={m}, n={n}")
    if not 0.0 <= clustering <= 1.0:
        raise ValueError(f"clustering must be a probability in [0, 1], got {clustering}")
    idx = np.int32 if 2 * m * n < 2**31 - 1 else np.int64
    sources, friends = _grow(n, m, clustering, rng, idx)
    return _symmetric_csr(n, sources, friends)


def _grow(n: int, m: int, p: float, rng: np.random.Generator, idx) -> tuple[np.ndarray, np.ndarray]:
    n_edges = m * (n - m)
    edge = np.arange(n_edges, dtype=idx)
    source = m + edge // m                            # node that brings edge e
    step = edge % m                                   # which of its m edges
    older_slots = 2 * m * (source - m)                # slots of all edges brought by older nodes

    attach = (step == 0) | (rng.random(n_edges) >= p)
    attach[:m] = True                                 # node m's edges are the seed star, fixed below
    # Preferential attachment: copy a uniformly chosen older slot (edges of node m have none: they are the seed).
    pointer = _attachment_slots(rng.random(n_edges), older_slots, m, idx)
    # Triangle closure refers to the last attachment step of the same node (step 0 always attaches).
    last_attach = np.maximum.accumulate(np.where(attach, edge, 0))
    closure_rank = edge - last_attach                # 1 for the first closure after an attachment, 2, ...
    chooser = pointer[last_attach]                    # the slot that chose w
    first_closure = ~attach & (closure_rank == 1)
    pointer[first_closure] = chooser[first_closure] ^ 1
    later_closure = ~attach & (closure_rank >= 2)
    # A later closure needs another neighbour of w. The chooser slot copied an older slot holding w, which
    # copied an older one still: each link of that chain is a different edge of w (a random one as the
    # graph stood then), so the k-th closure takes the partner of the k-th link.
    copies = attach | first_closure                   # slots whose pointer is known now
    copies[:m] = False
    later = np.flatnonzero(later_closure)
    link = chooser[later]
    rank = closure_rank[later]
    on_chain = np.ones(later.size, dtype=bool)
    for depth in range(1, m - 1):
        walk = np.flatnonzero(on_chain & (rank > depth))
        if walk.size == 0:
            break
        slot = link[walk]
        follows = ((slot & 1) == 1) & copies[slot >> 1]
        link[walk[follows]] = pointer[slot[follows] >> 1]
        on_chain[walk[~follows]] = False
    pointer[later[on_chain]] = link[on_chain] ^ 1
    later_closure[later[on_chain]] = False
    # Where the chain ends (w's own edge, or the seed) they take w's own first friends in turn, from a
    # random start; w is known only once its slot is resolved.
    first_friend = rng.integers(0, m, size=n_edges, dtype=idx)[last_attach]
    own_friend_rank = (first_friend + closure_rank - 2) % m
    fallback = _attachment_slots(rng.random(n_edges), older_slots, m, idx)
    del edge, step, attach, first_closure, copies, later, link, rank, on_chain

    friend = np.full(n_edges, -1, dtype=idx)
    friend[:m] = np.arange(m)                          # the seed star
    pending = np.flatnonzero(~later_closure)
    pending = pending[pending >= m]
    waiting = np.flatnonzero(later_closure)           # need w before they know where to point
    del later_closure
    unset = np.zeros(n_edges, dtype=bool)             # pointers not yet known: never jump through them
    unset[waiting] = True

    while pending.size or waiting.size:
        if waiting.size:
            w = _slot_value(chooser[waiting], source, friend, m)
            known = w >= 0
            ready, w = waiting[known], w[known]
            has_own = w >= m                            # the first m nodes brought no edges of their own
            pointer[ready] = np.where(has_own, 2 * (m * (w - m) + own_friend_rank[ready]) + 1, fallback[ready])
            unset[ready] = False
            pending = np.concatenate([pending, ready])
            waiting = waiting[~known]
        value = _slot_value(pointer[pending], source, friend, m)
        done = value >= 0
        friend[pending[done]] = value[done]
        pending = pending[~done]
        # Pointer jumping: an unresolved slot copies a slot that itself copies an earlier one.
        target_edge = pointer[pending] >> 1
        jump = ~unset[target_edge]
        pointer[pending[jump]] = pointer[target_edge[jump]]
    del pointer, chooser, own_friend_rank, fallback, unset

    _redraw_repeated_friends(friend, source, older_slots, m, rng)
    return source, friend


def _attachment_slots(uniform: np.ndarray, older_slots: np.ndarray, m: int, idx) -> np.ndarray:
    """Slots picked by preferential attachment. As in networkx, the m seed nodes also count once for
    themselves: a pick among those m extra entries lands on the seed slot holding that node."""
    uniform *= older_slots + m
    pick = uniform.astype(idx)
    return np.where(pick < m, 2 * pick + 1, pick - m)


def _slot_value(slot: np.ndarray, source: np.ndarray, friend: np.ndarray, m: int) -> np.ndarray:
    """Node in each slot, -1 where still unresolved."""
    edge = slot >> 1
    value = friend[edge]
    brought = (slot & 1) == 0
    value[brought] = m + edge[brought] // m
    return value


def _redraw_repeated_friends(friend, source, older_slots, m, rng, max_rounds: int = 100) -> None:
    """A node never befriends the same user twice: repeated picks redraw by preferential attachment."""
    rows = np.arange(1, friend.size // m)             # node m's seed star is distinct by construction
    for _ in range(max_rounds):
        block = friend.reshape(-1, m)[rows]
        row_hit, col_hit = np.nonzero(_repeats(block))
        if row_hit.size == 0:
            return
        edges = rows[row_hit] * m + col_hit
        slot = _attachment_slots(rng.random(edges.size), older_slots[edges], m, friend.dtype)
        friend[edges] = _slot_value(slot, source, friend, m)
        rows = np.unique(rows[row_hit])
    raise RuntimeError("could not draw distinct friends for every node; is m close to n?")


def _repeats(block: np.ndarray) -> np.ndarray:
    """Entries equal to an earlier entry of their row."""
    m = block.shape[1]
    repeated = np.zeros(block.shape, dtype=bool)
    if m <= 16:   # a few column comparisons beat a sort of many tiny rows
        for j in range(1, m):
            for i in range(j):
                repeated[:, j] |= block[:, j] == block[:, i]
        return repeated
    order = np.argsort(block, axis=1, kind="stable")
    ranked = np.take_along_axis(block, order, axis=1)
    np.put_along_axis(repeated, order[:, 1:], ranked[:, 1:] == ranked[:, :-1], axis=1)
    return repeated


def _symmetric_csr(n: int, sources: np.ndarray, friends: np.ndarray) -> sp.csr_matrix:
    """Both directions of every edge, rows in node order (scipy's counting sort, linear in the edges)."""
    rows = np.concatenate([sources, friends])
    cols = np.concatenate([friends, sources])
    data = np.ones(rows.size, dtype=np.int32)
    matrix = sp.coo_matrix((data, (rows, cols)), shape=(n, n)).tocsr()
    matrix.sort_indices()
    return matrix


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
