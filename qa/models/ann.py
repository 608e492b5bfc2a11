"""Choice and construction of the FAISS vector index (exact or approximate).

Vectors are L2-normalised float32, so inner product == cosine. Small corpora get an exact
``IndexFlatIP``; from ``AUTO_ANN_THRESHOLD`` vectors up ``kind="auto"`` builds the ANN index
chosen by the scale benchmark (docs/BENCHMARKS.md, ``python -m bench.scale``).

The returned ``info`` dict is JSON-serialisable and goes into the index manifest; after
``faiss.read_index`` call ``prepare_for_search(index, info)`` to re-apply the search-time
parameters (efSearch / nprobe), which FAISS does not always persist.

faiss is imported lazily: importing this module is cheap.
"""
from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import faiss

from ..config import ANN_KINDS as KINDS  # noqa: E402  (the one list of kinds)

# From this many vectors up, kind="auto" builds the ANN index (DEFAULT_ANN) instead of exact
# search. Measured (docs/BENCHMARKS.md, 2-core machine, 1 search thread): exact search costs
# ~0.1 ms per 1,000 vectors per query: p95 0.6 ms at 10k, 1.9 ms at 20k, ~9 ms (p50) at 100k,
# 110 ms at 1M. From ~20k on it is past "a few ms" and grows linearly, while HNSW is
# < 1 ms with recall@10 0.999 at 20k and costs only seconds of build time there.
AUTO_ANN_THRESHOLD: int = 20_000

# The ANN kind "auto" uses above the threshold, and its parameters. At 1M synthetic e5-like
# vectors: recall@10 0.995, p95 1.5 ms, build 8 min on 2 cores, index 1.7 GB (vectors 1.4 GB
# + graph). Chosen over IVF-Flat because one fixed efSearch keeps recall >= 0.995 at every size
# from 10k to 1M, where IVF needs per-size nprobe tuning (fixed nprobe=64: 0.971 at 20k).
DEFAULT_ANN: str = "hnsw"
HNSW_M: int = 32
HNSW_EF_CONSTRUCTION: int = 80
HNSW_EF_SEARCH: int = 256

# IVF-Flat (kept as a forced alternative: kind="ivf").
IVF_LISTS_PER_SQRT_N: float = 4.0  # nlist ~ 4 * sqrt(n), rounded to a power of two
IVF_MAX_LIST_FRACTION: float = 1 / 39  # faiss wants >= 39 training points per list
IVF_PROBE_FRACTION: float = 1 / 64  # nprobe ~ nlist / 64 (scan ~1.6% of the vectors) ...
IVF_MIN_NPROBE: int = 64  # ... but at least this many lists
IVF_MIN_LISTS: int = 4  # below this many lists IVF is pointless: fall back to flat
IVF_TRAIN_POINTS_PER_LIST: int = 64
IVF_NITER: int = 10
_SEED = 1234

# OpenMP threads for a single (or few-) query search. One: a single-query search over an
# ANN index runs in one thread anyway, and for exact search a 2-thread OpenMP team on a
# 2-core machine that is also busy with anything else waits for scheduler time slices
# (measured: flat search over 10k vectors p95 16 ms with 2 threads vs 0.6 ms with 1).
# Batches of >= SEARCH_BATCH_MIN queries (evaluation) use all cores.
SEARCH_OMP_THREADS: int = 1
SEARCH_BATCH_MIN: int = 20


def default_threads() -> int:
    """The thread count OpenMP would use by default (OMP_NUM_THREADS or the usable cores)."""
    env = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _faiss():
    import faiss  # noqa: PLC0415 - lazy on purpose

    return faiss


def resolve_kind(n: int, kind: str = "auto") -> str:
    """The index kind that build_vector_index would try for n vectors ("flat"/"hnsw"/"ivf")."""
    if kind not in KINDS:
        raise ValueError(f"unknown vector index kind {kind!r}; expected one of {', '.join(KINDS)}")
    if kind == "auto":
        return DEFAULT_ANN if n >= AUTO_ANN_THRESHOLD else "flat"
    return kind


def ivf_params(n: int) -> tuple[int, int]:
    """(nlist, nprobe) for n vectors; nlist == 0 means IVF is not sensible (too few vectors)."""
    target = IVF_LISTS_PER_SQRT_N * math.sqrt(max(n, 1))
    nlist = 1 << max(0, round(math.log2(target)))
    nlist = min(nlist, int(n * IVF_MAX_LIST_FRACTION))
    if nlist < IVF_MIN_LISTS:
        return 0, 0
    nprobe = min(nlist, max(IVF_MIN_NPROBE, round(nlist * IVF_PROBE_FRACTION)))
    return nlist, nprobe


def _as_matrix(vectors: np.ndarray) -> np.ndarray:
    x = np.asarray(vectors)
    if x.ndim != 2:
        raise ValueError(f"vectors must be a 2-D array (n, d), got shape {x.shape}")
    if x.shape[1] < 1:
        raise ValueError("vectors must have at least one dimension")
    return np.ascontiguousarray(x, dtype=np.float32)


def _flat(x: np.ndarray):
    faiss = _faiss()
    index = faiss.IndexFlatIP(x.shape[1])
    if len(x):
        index.add(x)
    return index


def build_vector_index(vectors: np.ndarray, kind: str = "auto") -> tuple["faiss.Index", dict[str, Any]]:
    """Build an inner-product FAISS index over L2-normalised float32 vectors of shape (n, d).

    kind: "auto" (exact below AUTO_ANN_THRESHOLD vectors, DEFAULT_ANN from there on),
    "flat" (exact), "hnsw" or "ivf". Returns (index, info) where info is a JSON-able dict
    for the manifest, e.g. {"kind": "flat"} or {"kind": "hnsw", "M": HNSW_M, "efConstruction":
    HNSW_EF_CONSTRUCTION, "efSearch": HNSW_EF_SEARCH}, plus "requested" (the kind asked for) and, for "auto",
    "auto_threshold". Row i of the index is row i of ``vectors``.

    n == 0 gives an empty flat index. IVF on too few vectors to train a useful number of
    lists falls back to flat; info then says {"kind": "flat", "requested": "ivf"}.
    """
    x = _as_matrix(vectors)
    n, d = x.shape
    chosen = resolve_kind(n, kind)
    faiss = _faiss()
    faiss.omp_set_num_threads(default_threads())  # per calling thread; a search may have lowered it
    info: dict[str, Any]

    if n == 0 or chosen == "flat":
        index, info = _flat(x), {"kind": "flat"}
    elif chosen == "hnsw":
        index = faiss.IndexHNSWFlat(d, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.add(x)
        info = {"kind": "hnsw", "M": HNSW_M, "efConstruction": HNSW_EF_CONSTRUCTION,
                "efSearch": HNSW_EF_SEARCH}
    else:  # ivf
        nlist, nprobe = ivf_params(n)
        if nlist == 0:
            index, info = _flat(x), {"kind": "flat"}
        else:
            quantizer = faiss.IndexFlatIP(d)
            index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
            index.cp.niter = IVF_NITER
            index.cp.spherical = True  # centroids re-normalised: cosine k-means
            index.cp.seed = _SEED
            n_train = min(n, IVF_TRAIN_POINTS_PER_LIST * nlist)
            index.cp.max_points_per_centroid = max(IVF_TRAIN_POINTS_PER_LIST, -(-n_train // nlist))
            if n_train < n:
                rows = np.sort(np.random.default_rng(_SEED).choice(n, n_train, replace=False))
                train = x[rows]
            else:
                train = x
            index.train(train)
            index.add(x)
            info = {"kind": "ivf", "nlist": nlist, "nprobe": nprobe}
    info["requested"] = kind
    if kind == "auto":
        info["auto_threshold"] = AUTO_ANN_THRESHOLD
    prepare_for_search(index, info)
    return index, info


def prepare_for_search(index, info: dict[str, Any]) -> None:
    """Re-apply the search-time parameters recorded in ``info`` (after faiss.read_index)."""
    kind = (info or {}).get("kind", "flat")
    if kind == "hnsw":
        faiss = _faiss()
        hnsw_index = faiss.downcast_index(index) if not hasattr(index, "hnsw") else index
        hnsw_index.hnsw.efSearch = int(info.get("efSearch", HNSW_EF_SEARCH))
    elif kind == "ivf":
        faiss = _faiss()
        ivf_index = faiss.extract_index_ivf(index)
        ivf_index.nprobe = int(info.get("nprobe", IVF_MIN_NPROBE))
    elif kind != "flat":
        raise ValueError(f"unknown vector index kind {kind!r} in index info")


def search(index, queries: np.ndarray, k: int, params=None) -> tuple[np.ndarray, np.ndarray]:
    """``index.search`` with the query-time OpenMP thread count (SEARCH_OMP_THREADS for fewer
    than SEARCH_BATCH_MIN queries, all cores for batches). omp_set_num_threads applies to the
    calling thread only, so this is safe in a multi-threaded server. queries: (m, d) or (d,)."""
    faiss = _faiss()
    q = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
    faiss.omp_set_num_threads(SEARCH_OMP_THREADS if len(q) < SEARCH_BATCH_MIN else default_threads())
    if params is None:
        return index.search(q, k)
    return index.search(q, k, params=params)


def search_parameters(index, sel=None):
    """SearchParameters of the right FAISS subclass for ``index``, carrying its own efSearch /
    nprobe, plus an optional IDSelector (e.g. a source filter). Use this instead of a bare
    ``faiss.SearchParameters(sel=...)``: IndexIVF rejects the base class ("params have
    incorrect type"), and a typed params object with default values would silently reset
    efSearch to 16 / nprobe to 1.

    Filtering inside an ANN index loses recall when the selector keeps only a small fraction
    of the vectors (the graph / the probed lists hold too few allowed ids); for selective
    filters it is better to score the allowed rows exactly (see ``exact_subset_search``).
    """
    faiss = _faiss()
    if hasattr(index, "hnsw"):
        params = faiss.SearchParametersHNSW()
        params.efSearch = int(index.hnsw.efSearch)
    else:
        try:
            ivf = faiss.extract_index_ivf(index)
        except RuntimeError:
            ivf = None
        if ivf is not None:
            params = faiss.SearchParametersIVF()
            params.nprobe = int(ivf.nprobe)
        else:
            params = faiss.SearchParameters()
    if sel is not None:
        params.sel = sel
    return params


# Below this many allowed rows a filtered search should score them exactly with numpy
# instead of asking the ANN index with an IDSelector: at 1M vectors a filter keeping 1% of
# the rows gives HNSW recall@10 0.68 (IVF 0.81), keeping 10% gives 0.97. Exact scoring costs
# ~0.05 ms per 1,000 rows if they are one contiguous run, ~0.47 ms per 1,000 scattered rows
# (30k scattered rows ~ 14 ms p95, under the 20 ms bar).
EXACT_SUBSET_MAX: int = 30_000


def exact_subset_search(vectors: np.ndarray, query: np.ndarray, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k by inner product among rows ``ids`` of ``vectors`` (may be a memmap).

    Returns (scores, row_ids), best first, each of length min(k, len(ids))."""
    ids = np.asarray(ids, dtype=np.int64)
    if len(ids) == 0 or k <= 0:
        return np.empty(0, np.float32), np.empty(0, np.int64)
    q = np.asarray(query, dtype=np.float32).reshape(-1)
    lo, hi = int(ids[0]), int(ids[-1])
    if hi - lo + 1 == len(ids) and (len(ids) == 1 or bool(np.all(np.diff(ids) == 1))):
        rows = vectors[lo : hi + 1]  # a contiguous run (one source's chunks): no gather copy
    else:
        rows = vectors[ids]
    scores = np.asarray(rows, dtype=np.float32) @ q
    k = min(k, len(ids))
    top = np.argpartition(-scores, k - 1)[:k] if k < len(ids) else np.arange(len(ids))
    top = top[np.argsort(-scores[top], kind="stable")]
    return scores[top], ids[top]
