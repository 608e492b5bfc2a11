"""Vector index choice (placeholder until the scale benchmark settles the ANN default)."""
from __future__ import annotations

import numpy as np

AUTO_ANN_THRESHOLD = 200_000


def build_vector_index(vectors: np.ndarray, kind: str = "auto"):
    import faiss

    n, d = vectors.shape
    if kind == "auto":
        kind = "hnsw" if n >= AUTO_ANN_THRESHOLD else "flat"
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(d, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        index.add(vectors)
        info = {"kind": "hnsw", "M": 32, "efConstruction": 80, "efSearch": 64}
        prepare_for_search(index, info)
        return index, info
    index = faiss.IndexFlatIP(d)
    index.add(vectors)
    return index, {"kind": "flat"}


def prepare_for_search(index, info: dict) -> None:
    if info.get("kind") == "hnsw":
        index.hnsw.efSearch = int(info.get("efSearch", 64))
