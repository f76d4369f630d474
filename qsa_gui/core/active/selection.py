"""Bootstrap resampling and the representativeness (generalised max-cover) selection of SA/QSA.

Representativeness of a chosen set S_a for the unlabelled pool S_u (Yang et al. 2017):

    F(S_a) = sum over x in S_u of  max(0, max over s in S_a of cos(d_s, d_x))

The ``max(0, .)`` is the usual facility-location convention that the max over the empty set is
0 (F(empty) = 0): a pool image whose best similarity is negative simply is not covered. With it,
F is monotone submodular for *any* descriptors, so greedy selection is within (1 - 1/e) of the
optimum. For the FCN descriptors (spatial means of post-ReLU maps, all >= 0) cosines are never
negative and the clamp changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "bootstrap_indices",
    "centred",
    "cosine_similarity",
    "coverage_gains",
    "greedy_max_cover",
    "kmeans",
    "representativeness",
    "stratified_picks",
    "typical_picks",
    "uncertain_per_stratum",
]


def _rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be a numpy Generator or an int seed, got {type(rng).__name__}")


def bootstrap_indices(n: int, k: int, rng: np.random.Generator | int | None) -> list[np.ndarray]:
    """``k`` bootstrap resamples (size ``n``, with replacement) of indices ``0..n-1``.

    Each resample holds at least 2 distinct images when ``n >= 2`` (a degenerate draw of one
    image repeated is drawn again), so no suggestive FCN trains on a single image. Pass a seeded
    Generator (or an int seed) for reproducible ensembles.
    """
    n = int(n)
    k = int(k)
    if n < 1:
        raise ValueError(f"cannot bootstrap from {n} images: need at least 1")
    if k < 0:
        raise ValueError(f"number of resamples must be >= 0, got {k}")
    gen = _rng(rng)
    out: list[np.ndarray] = []
    for _ in range(k):
        while True:
            idx = gen.integers(0, n, size=n, dtype=np.int64)
            if n < 2 or np.any(idx != idx[0]):
                break
        out.append(idx)
    return out


def _as_2d(x: np.ndarray | Sequence[Sequence[float]], name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr.reshape(0, 0) if arr.size == 0 else arr[None, :]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a (n, d) array of descriptors, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Matrix of cosines, shape (len(a), len(b)); a zero vector has similarity 0 to everything.

    1-D inputs count as one descriptor. Values are clipped to [-1, 1] against rounding.
    """
    a2 = _as_2d(a, "a")
    b2 = _as_2d(b, "b")
    if a2.shape[0] == 0 or b2.shape[0] == 0:
        return np.zeros((a2.shape[0], b2.shape[0]))
    if a2.shape[1] != b2.shape[1]:
        raise ValueError(f"descriptor lengths differ: {a2.shape[1]} vs {b2.shape[1]}")
    return np.clip(_unit_rows(a2) @ _unit_rows(b2).T, -1.0, 1.0)


def _unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero); pre-scaled by max|x| against under/overflow."""
    scale = np.abs(x).max(axis=1, keepdims=True)
    y = np.divide(x, scale, out=np.zeros_like(x), where=scale > 0)
    norm = np.linalg.norm(y, axis=1, keepdims=True)
    return np.divide(y, norm, out=np.zeros_like(y), where=norm > 0)


def representativeness(selected_desc: np.ndarray, pool_desc: np.ndarray) -> float:
    """F(S_a) = sum over pool of max(0, max over selected of cos); 0 for an empty selection."""
    pool = _as_2d(pool_desc, "pool_desc")
    sel = np.asarray(selected_desc, dtype=np.float64)
    if sel.size == 0 or pool.shape[0] == 0:
        return 0.0
    sim = cosine_similarity(sel, pool)
    return float(np.maximum(sim.max(axis=0), 0.0).sum())


def coverage_gains(
    candidate_desc: np.ndarray, pool_desc: np.ndarray, selected: Sequence[int] = ()
) -> np.ndarray:
    """Marginal gain F(selected + {c}) - F(selected) of every candidate c (0 for selected ones).

    Lets a GUI show how much each remaining candidate would still add.
    """
    sim = cosine_similarity(candidate_desc, pool_desc)
    cover = np.zeros(sim.shape[1])
    sel = [int(i) for i in selected]
    if sel:
        cover = np.maximum(sim[sel].max(axis=0), 0.0)
    return np.maximum(sim - cover[None, :], 0.0).sum(axis=1)


def greedy_max_cover(candidate_desc: np.ndarray, pool_desc: np.ndarray, k: int) -> list[int]:
    """Greedy max-cover: indices into ``candidate_desc`` in the order they were picked.

    Each step adds the candidate with the largest marginal gain in F (vectorised over all
    candidates and pool images); ties go to the lowest index. ``k`` larger than the number of
    candidates returns all of them, still in greedy order.
    """
    sim = cosine_similarity(candidate_desc, pool_desc)
    n_cand = sim.shape[0]
    k = min(int(k), n_cand)
    if k <= 0:
        return []
    cover = np.zeros(sim.shape[1])
    taken = np.zeros(n_cand, dtype=bool)
    chosen: list[int] = []
    for _ in range(k):
        gains = np.maximum(sim - cover[None, :], 0.0).sum(axis=1)
        gains[taken] = -np.inf
        best = int(np.argmax(gains))  # first maximum = lowest index
        chosen.append(best)
        taken[best] = True
        cover = np.maximum(cover, sim[best])
    return chosen


def centred(desc: np.ndarray, *, whiten: bool = False) -> np.ndarray:
    """Descriptors minus the pool mean (and, with ``whiten``, each dimension over its spread).

    The FCN descriptors are means of post-ReLU maps, all positive, so their raw cosines crowd
    near 1 (0.95-1.00 measured) and max-cover can barely tell images apart; centred on the pool
    mean they spread over [-1, 1]. Dimensions that do not vary stay 0 when whitened.
    """
    d = _as_2d(desc, "desc")
    if d.shape[0] == 0:
        return d
    out = d - d.mean(axis=0, keepdims=True)
    if whiten:
        sd = out.std(axis=0, keepdims=True)
        out = np.divide(out, sd, out=np.zeros_like(out), where=sd > 1e-12 * max(1.0, float(sd.max())))
    return out


def kmeans(x: np.ndarray, k: int, seed: int = 0, iterations: int = 50) -> np.ndarray:
    """Cluster index of every row: Lloyd's iterations from a seeded k-means++ start."""
    x = _as_2d(x, "x")
    n = x.shape[0]
    k = max(1, min(int(k), n))
    rng = np.random.default_rng(seed)
    centres = [x[int(rng.integers(n))]]
    for _ in range(1, k):
        d2 = np.min(((x[:, None, :] - np.asarray(centres)[None]) ** 2).sum(-1), axis=1)
        total = d2.sum()
        centres.append(x[int(rng.choice(n, p=d2 / total))] if total > 0 else x[int(rng.integers(n))])
    c = np.asarray(centres)
    assign = np.zeros(n, dtype=np.int64)
    for it in range(iterations):
        new = np.argmin(((x[:, None, :] - c[None]) ** 2).sum(-1), axis=1)
        if it and np.array_equal(new, assign):
            break
        assign = new
        for j in range(k):
            if np.any(assign == j):
                c[j] = x[assign == j].mean(axis=0)
    return assign


def typical_picks(desc: np.ndarray, k: int, seed: int = 0, neighbours: int = 20) -> list[int]:
    """TypiClust-style cold start (Hacohen et al., ICML 2022): ``k`` clusters, then from each the
    most *typical* image, typicality = 1 / mean distance to its nearest neighbours. Largest
    clusters first, so a smaller ``k`` keeps the most common kinds of image."""
    x = _as_2d(desc, "desc")
    n = x.shape[0]
    k = max(0, min(int(k), n))
    if k == 0:
        return []
    dist = np.sqrt(((x[:, None, :] - x[None]) ** 2).sum(-1))
    m = max(1, min(neighbours, n - 1))
    near = np.sort(dist, axis=1)[:, 1 : m + 1] if n > 1 else np.zeros((1, 1))
    typicality = 1.0 / (near.mean(axis=1) + 1e-12)
    assign = kmeans(x, k, seed)
    clusters = sorted(set(assign.tolist()), key=lambda j: (-int(np.sum(assign == j)), j))
    picks = [int(np.flatnonzero(assign == j)[np.argmax(typicality[assign == j])]) for j in clusters]
    rest = [int(i) for i in np.argsort(-typicality, kind="stable") if int(i) not in set(picks)]
    return (picks + rest)[:k]  # k-means may merge clusters: fill up with the most typical


def stratified_picks(desc: np.ndarray, k: int, seed: int = 0) -> list[int]:
    """One image at random from each of ``k`` k-means strata (then at random among the rest)."""
    x = _as_2d(desc, "desc")
    n = x.shape[0]
    k = max(0, min(int(k), n))
    if k == 0:
        return []
    rng = np.random.default_rng(seed)
    assign = kmeans(x, k, seed)
    picks = [int(rng.choice(np.flatnonzero(assign == j))) for j in sorted(set(assign.tolist()))]
    rest = [int(i) for i in rng.permutation(n) if int(i) not in set(picks)]
    return (picks + rest)[:k]


def uncertain_per_stratum(desc: np.ndarray, uncertainty: np.ndarray, k: int, seed: int = 0) -> list[int]:
    """The most uncertain image of each of ``k`` k-means strata of the (centred) descriptors.

    Why: the top-uncertain candidates can crowd into one kind of image (on generated glands
    QSA's first picks under-sampled one stain style); strata keep every kind covered, and within
    a stratum the ensemble's disagreement chooses instead of chance. Best first: by uncertainty,
    then the remaining images by uncertainty if k-means merged strata.
    """
    x = centred(_as_2d(desc, "desc"))
    u = np.asarray(uncertainty, dtype=np.float64)
    n = x.shape[0]
    if u.shape != (n,):
        raise ValueError(f"uncertainty must have one value per descriptor ({n}), got shape {u.shape}")
    k = max(0, min(int(k), n))
    if k == 0:
        return []
    assign = kmeans(x, k, seed)
    picks = [
        int(np.flatnonzero(assign == j)[np.argmax(u[assign == j])]) for j in sorted(set(assign.tolist()))
    ]
    picks.sort(key=lambda i: (-u[i], i))
    taken = set(picks)
    rest = [int(i) for i in np.argsort(-u, kind="stable") if int(i) not in taken]
    return (picks + rest)[:k]
