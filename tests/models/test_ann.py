"""qa.models.ann (choice/build of the FAISS index) and a smoke run of the scale benchmark."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

faiss = pytest.importorskip("faiss")

from qa.models import ann  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def _normalised(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def clustered() -> tuple[np.ndarray, np.ndarray]:
    """3,000 base vectors + 100 fresh queries from a small anisotropic Gaussian mixture (d=64)."""
    rng = np.random.default_rng(0)
    d, n_clusters = 64, 40
    scales = (np.arange(d) + 1.0) ** -0.5
    centres = rng.standard_normal((n_clusters, d)) * scales

    def draw(n: int) -> np.ndarray:
        comp = rng.integers(0, n_clusters, n)
        return _normalised(centres[comp] + 0.6 * rng.standard_normal((n, d)) * scales)

    return draw(3000), draw(100)


def _recall(index, queries: np.ndarray, truth: np.ndarray, k: int = 10) -> float:
    _, found = index.search(queries, k)
    return float(np.mean([len(set(f) & set(t)) / k for f, t in zip(found, truth)]))


@pytest.fixture(scope="module")
def truth(clustered):
    base, queries = clustered
    exact = faiss.IndexFlatIP(base.shape[1])
    exact.add(base)
    return exact.search(queries, 10)[1]


def test_import_is_cheap():
    code = "import sys, qa.models.ann; assert 'faiss' not in sys.modules, 'qa.models.ann imported faiss eagerly'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_auto_is_exact_below_threshold(clustered):
    base, _ = clustered
    assert len(base) < ann.AUTO_ANN_THRESHOLD
    index, info = ann.build_vector_index(base, "auto")
    assert info["kind"] == "flat" and info["requested"] == "auto"
    assert info["auto_threshold"] == ann.AUTO_ANN_THRESHOLD
    assert isinstance(index, faiss.IndexFlatIP) and index.ntotal == len(base)
    json.dumps(info)  # goes into the manifest


def test_threshold_is_a_sane_size():
    # exact search must stay the choice for small corpora, ANN before exact search gets slow (1M)
    assert 10_000 <= ann.AUTO_ANN_THRESHOLD <= 200_000
    assert ann.resolve_kind(ann.AUTO_ANN_THRESHOLD - 1) == "flat"
    assert ann.resolve_kind(ann.AUTO_ANN_THRESHOLD) == ann.DEFAULT_ANN != "flat"
    assert ann.resolve_kind(1_000_000) == ann.DEFAULT_ANN


@pytest.mark.parametrize("default", ["hnsw", "ivf"])
def test_auto_picks_ann_above_lowered_threshold(clustered, truth, monkeypatch, default):
    base, queries = clustered
    monkeypatch.setattr(ann, "AUTO_ANN_THRESHOLD", 1000)
    monkeypatch.setattr(ann, "DEFAULT_ANN", default)
    index, info = ann.build_vector_index(base, "auto")
    assert info["kind"] == default and info["auto_threshold"] == 1000
    assert index.ntotal == len(base)
    assert _recall(index, queries, truth) >= 0.9
    json.dumps(info)


def test_forced_hnsw_parameters_and_recall(clustered, truth):
    base, queries = clustered
    index, info = ann.build_vector_index(base, "hnsw")
    assert info == {"kind": "hnsw", "M": ann.HNSW_M, "efConstruction": ann.HNSW_EF_CONSTRUCTION,
                    "efSearch": ann.HNSW_EF_SEARCH, "requested": "hnsw"}
    assert index.hnsw.efSearch == ann.HNSW_EF_SEARCH
    assert _recall(index, queries, truth) >= 0.97


def test_forced_ivf_parameters_and_recall(clustered, truth):
    base, queries = clustered
    index, info = ann.build_vector_index(base, "ivf")
    assert info["kind"] == "ivf"
    assert (info["nlist"], info["nprobe"]) == ann.ivf_params(len(base))
    assert index.nlist == info["nlist"] and index.nprobe == info["nprobe"]
    assert _recall(index, queries, truth) >= 0.9


def test_ivf_params_scale():
    nlist, nprobe = ann.ivf_params(1_000_000)
    assert nlist == 4096 and 16 <= nprobe <= nlist
    for n in (10, 100, 150):
        assert ann.ivf_params(n) == (0, 0)  # too few points to train lists
    for n in (200, 2000, 50_000, 10**7):
        nlist, nprobe = ann.ivf_params(n)
        assert nlist >= ann.IVF_MIN_LISTS and 39 * nlist <= n and 1 <= nprobe <= nlist


@pytest.mark.parametrize("kind", ["auto", "flat", "hnsw", "ivf"])
def test_empty_gives_flat(kind):
    index, info = ann.build_vector_index(np.zeros((0, 16), np.float32), kind)
    assert info["kind"] == "flat" and index.ntotal == 0 and index.d == 16
    _, ids = index.search(_normalised(np.ones((1, 16))), 3)
    assert (ids == -1).all()


def test_tiny_ivf_falls_back_to_flat_but_tiny_hnsw_works():
    x = _normalised(np.random.default_rng(1).standard_normal((50, 8)))
    index, info = ann.build_vector_index(x, "ivf")
    assert info == {"kind": "flat", "requested": "ivf"}
    np.testing.assert_array_equal(index.search(x[:5], 1)[1][:, 0], np.arange(5))  # each finds itself
    index, info = ann.build_vector_index(x[:3], "hnsw")
    assert info["kind"] == "hnsw" and index.search(x[:1], 1)[1][0, 0] == 0


def test_bad_input():
    with pytest.raises(ValueError, match="unknown vector index kind"):
        ann.build_vector_index(np.zeros((3, 4), np.float32), "annoy")
    with pytest.raises(ValueError, match="2-D"):
        ann.build_vector_index(np.zeros(4, np.float32))
    with pytest.raises(ValueError, match="unknown vector index kind"):
        ann.prepare_for_search(faiss.IndexFlatIP(4), {"kind": "lsh"})


def test_float64_input_is_accepted(clustered):
    base, _ = clustered
    index, info = ann.build_vector_index(base[:100].astype(np.float64), "flat")
    assert index.ntotal == 100


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf"])
def test_prepare_for_search_round_trips(clustered, tmp_path, kind):
    base, queries = clustered
    index, info = ann.build_vector_index(base, kind)
    # a non-default search parameter must survive write/read (+ prepare_for_search)
    if kind == "hnsw":
        info["efSearch"] = 37
    elif kind == "ivf":
        info["nprobe"] = 3
    ann.prepare_for_search(index, info)
    before = index.search(queries, 10)
    path = tmp_path / "v.faiss"
    faiss.write_index(index, str(path))
    loaded = faiss.read_index(str(path))
    if kind == "hnsw":
        loaded.hnsw.efSearch = 500  # whatever the file or faiss default says ...
    elif kind == "ivf":
        loaded.nprobe = 1
    ann.prepare_for_search(loaded, json.loads(json.dumps(info)))  # ... the manifest wins
    if kind == "hnsw":
        assert loaded.hnsw.efSearch == 37
    elif kind == "ivf":
        assert loaded.nprobe == 3
    after = loaded.search(queries, 10)
    np.testing.assert_array_equal(before[1], after[1])


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf"])
def test_search_parameters_filter_and_keep_search_params(clustered, kind):
    base, queries = clustered
    index, info = ann.build_vector_index(base, kind)
    allowed = np.arange(0, len(base), 3, dtype=np.int64)
    params = ann.search_parameters(index, faiss.IDSelectorBatch(allowed))
    if kind == "hnsw":
        assert params.efSearch == info["efSearch"]
    elif kind == "ivf":
        assert params.nprobe == info["nprobe"]
    _, found = index.search(queries, 10, params=params)
    got = found[found >= 0]
    assert len(got) >= 0.9 * found.size and np.isin(got, allowed).all()
    # same answer as exact search restricted to the allowed rows, mostly
    truth = np.stack([ann.exact_subset_search(base, q, allowed, 10)[1] for q in queries])
    assert np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)]) >= 0.85


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf"])
def test_search_helper_matches_index_search_and_sets_threads(clustered, kind):
    base, queries = clustered
    index, info = ann.build_vector_index(base, kind)
    expect = index.search(queries[:3], 10)[1]
    try:
        d, ids = ann.search(index, queries[0], 10)  # a single 1-D query is fine
        assert faiss.omp_get_max_threads() == ann.SEARCH_OMP_THREADS
        np.testing.assert_array_equal(ids[0], expect[0])
        ann.search(index, queries[: ann.SEARCH_BATCH_MIN], 10)
        assert faiss.omp_get_max_threads() == ann.default_threads()
        sel = faiss.IDSelectorRange(0, 1000)
        _, ids = ann.search(index, queries[:3], 10, params=ann.search_parameters(index, sel))
        assert ((ids >= 0) & (ids < 1000) | (ids == -1)).all()
        ann.search(index, queries[0], 10)
        ann.build_vector_index(base[:100], "flat")  # building restores all cores
        assert faiss.omp_get_max_threads() == ann.default_threads()
    finally:
        faiss.omp_set_num_threads(ann.default_threads())


def test_exact_subset_search(clustered):
    base, queries = clustered
    ids = np.array([5, 17, 2, 999, 1234, 42], dtype=np.int64)
    scores, rows = ann.exact_subset_search(base, queries[0], ids, 4)
    expect = ids[np.argsort(-(base[ids] @ queries[0]))][:4]
    np.testing.assert_array_equal(rows, expect)
    assert np.all(np.diff(scores) <= 0)
    assert len(ann.exact_subset_search(base, queries[0], ids, 50)[1]) == len(ids)
    assert len(ann.exact_subset_search(base, queries[0], ids[:0], 5)[1]) == 0
    run = np.arange(100, 400, dtype=np.int64)  # contiguous rows take the no-copy path
    scores, rows = ann.exact_subset_search(base, queries[1], run, 5)
    np.testing.assert_array_equal(rows, 100 + np.argsort(-(base[100:400] @ queries[1]))[:5])
    np.testing.assert_allclose(scores, np.sort(base[100:400] @ queries[1])[::-1][:5], rtol=1e-5)


@pytest.mark.slow
def test_scale_benchmark_smoke(tmp_path):
    pytest.importorskip("bm25s")
    from bench import scale
    from bench.report import markers

    begin, end = markers("scale")
    doc = tmp_path / "BENCH.md"
    doc.write_text(f"# B\n\n## Scale\n\nintro\n\n{begin}\nstale-table\n{end}\n\n## Other\n\nkept\n", encoding="utf-8")
    result = scale.main(["--sizes", "1500", "--queries", "20", "--out", str(tmp_path), "--doc", str(doc),
                         "--no-one-thread", "--no-plot"])
    row = result["vectors"][0]
    assert row["n"] == 1500 and set(row["kinds"]) == {"flat", "hnsw", "ivf"}
    assert row["kinds"]["flat"]["recall"] == 1.0
    assert row["kinds"]["hnsw"]["recall"] >= 0.9 and row["kinds"]["hnsw"]["sweep"]
    for r in row["kinds"].values():
        assert r["index_bytes"] > 1500 * 384 * 4 and r["threads2"]["p95_ms"] > 0
    bm = result["bm25"][0]
    assert bm["n"] == 1500 and bm["index_bytes"] > 0 and bm["library"]["p95_ms"] > 0
    assert json.loads((tmp_path / "bench_scale.json").read_text(encoding="utf-8"))["k"] == 10
    text = doc.read_text(encoding="utf-8")
    assert "stale-table" not in text and "| 1500 |" in text and text.endswith("## Other\n\nkept\n") and "intro" in text


@pytest.mark.skipif(not __import__("importlib").util.find_spec("matplotlib"), reason="matplotlib (bench extra) missing")
def test_scale_plot(tmp_path):
    from bench import scale

    fake = {"k": 10, "kinds": ["flat", "hnsw"], "bm25": [{"n": 10, "library": {"p95_ms": 1.0}}],
            "vectors": [{"n": n, "kinds": {"flat": {"threads2": {"p95_ms": n / 1000}},
                                           "hnsw": {"threads2": {"p95_ms": 0.1}, "info": {"kind": "hnsw"},
                                                    "sweep": [{"efSearch": 16, "recall": 0.9, "p95_ms": 0.1}]}}}
                        for n in (10, 100)]}
    scale.plot(fake, tmp_path / "p.png")
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
