"""Scale benchmark: exact vs. approximate vector search, and BM25, at growing corpus sizes.

    python -m bench.scale --sizes 10000 100000 1000000 --out docs/ --doc docs/BENCHMARKS.md
    python -m bench.scale --sizes 2000 --queries 50 --out /tmp/smoke     # smoke run, seconds

For every size n it generates n synthetic e5-like vectors (bench/synth.py), builds each
vector index kind with ``qa.models.ann.build_vector_index`` (the code ``qa build`` runs) and measures
build time, serialized index size, RSS growth, single-query latency (k=10, p50/p95/p99 over
--queries fresh queries, after a warm-up) and recall@10 against exact search; ANN kinds also
get a sweep of their search parameter. For BM25 it generates n Zipfian Chinese-like token
documents, indexes them with bm25s and times single queries both through the library's
reader (``qa.models.lexical.BM25Index`` + top-k) and through ``bm25s.BM25.retrieve``.

Outputs under --out: bench_scale.json (all numbers), bench_scale.png (p95 latency vs.
size, and recall vs. latency at the largest size), and bench_scale.md (the tables) unless
--doc is given: then the block between ``<!-- bench:scale:begin -->`` and ``<!-- bench:scale:end -->``
in that file is replaced by the tables.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from . import synth
from .report import update_block


SWEEPS = {"hnsw": ("efSearch", (16, 32, 64, 128, 256)), "ivf": ("nprobe", (8, 16, 32, 64, 128, 256))}


# ----------------------------------------------------------------------------- helpers

def rss_bytes() -> int:
    """Resident set size of this process (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def settle() -> int:
    gc.collect()
    return rss_bytes()


def percentiles(seconds: Sequence[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1e3
    return {"p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95)),
            "p99_ms": float(np.percentile(ms, 99)), "mean_ms": float(ms.mean())}


def time_each(fn: Callable[[int], Any], n: int, warmup: int = 10) -> list[float]:
    for i in range(min(warmup, n)):
        fn(i)
    out = []
    for i in range(n):
        t = time.perf_counter()
        fn(i)
        out.append(time.perf_counter() - t)
    return out


def recall_at(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    hits = [len(set(f[:k].tolist()) & set(t[:k].tolist())) for f, t in zip(found, truth)]
    return float(np.mean(hits) / k)


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def human_n(n: int) -> str:
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else (f"{n // 1000}k" if n % 1000 == 0 else str(n))


def log(msg: str) -> None:
    print(time.strftime("%H:%M:%S"), msg, flush=True)


# ----------------------------------------------------------------------------- vectors

def bench_vectors(n: int, queries: np.ndarray, kinds: Sequence[str], k: int, one_thread: bool,
                  sweep: bool, filtered: bool, tmp: Path) -> dict[str, Any]:
    import faiss

    from qa.models import ann

    base = settle()
    t = time.perf_counter()
    x = synth.make_embeddings(n)
    gen_s = time.perf_counter() - t
    log(f"  generated {n} vectors in {gen_s:.1f}s")

    # ground truth: exact search, batched
    exact = faiss.IndexFlatIP(x.shape[1])
    exact.add(x)
    _, truth = exact.search(queries, k)
    del exact
    settle()

    row: dict[str, Any] = {"n": n, "generate_s": gen_s, "vectors_bytes": int(x.nbytes), "kinds": {}}
    for kind in kinds:
        before = settle()
        t = time.perf_counter()
        index, info = ann.build_vector_index(x, kind=kind)
        build_s = time.perf_counter() - t
        rss_delta = settle() - before
        path = tmp / f"{kind}.faiss"
        faiss.write_index(index, str(path))
        size = path.stat().st_size
        path.unlink()

        def search(i: int, kk: int = k) -> None:
            index.search(queries[i : i + 1], kk)

        res: dict[str, Any] = {"info": info, "build_s": build_s, "index_bytes": size, "rss_delta_bytes": rss_delta}
        faiss.omp_set_num_threads(2)
        res["threads2"] = percentiles(time_each(search, len(queries)))
        res["threads2_k100"] = percentiles(time_each(lambda i: search(i, 100), len(queries)))
        if one_thread:
            faiss.omp_set_num_threads(1)
            res["threads1"] = percentiles(time_each(search, len(queries)))
            faiss.omp_set_num_threads(2)
        _, found = index.search(queries, k)
        res["recall"] = recall_at(found, truth, k)
        log(f"  {kind:5s} {info} build {build_s:.1f}s size {human_bytes(size)} rss +{human_bytes(rss_delta)} "
            f"p95 {res['threads2']['p95_ms']:.2f} ms recall@{k} {res['recall']:.4f}")

        if sweep and info["kind"] in SWEEPS:
            name, values = SWEEPS[info["kind"]]
            points = []
            for v in values:
                if info["kind"] == "ivf" and v > info["nlist"]:
                    continue
                ann.prepare_for_search(index, {**info, name: v})
                lat = percentiles(time_each(search, len(queries)))
                _, found = index.search(queries, k)
                points.append({name: v, "recall": recall_at(found, truth, k), **lat})
                log(f"    {name}={v}: recall {points[-1]['recall']:.4f} p95 {lat['p95_ms']:.2f} ms")
            ann.prepare_for_search(index, info)
            res["sweep"] = points

        if filtered and info["kind"] != "flat":
            res["filtered"] = bench_filtered(index, x, queries, k)
        row["kinds"][kind] = res
        index = None  # free it before the next kind
        settle()
    del x
    row["rss_after_bytes"] = settle() - base
    return row


def bench_filtered(index, x: np.ndarray, queries: np.ndarray, k: int) -> list[dict[str, Any]]:
    """A source filter keeping a fraction of the rows: ANN + IDSelector vs. exact scoring of the subset."""
    import faiss

    from qa.models import ann

    out = []
    rng = np.random.default_rng(5)
    for frac in (0.1, 0.01):
        # a "source" is a contiguous run of rows (chunks of the same documents)
        n = len(x)
        m = max(k, int(n * frac))
        start = int(rng.integers(0, n - m + 1))
        ids = np.arange(start, start + m, dtype=np.int64)
        truth = np.stack([ann.exact_subset_search(x, q, ids, k)[1] for q in queries])
        params = ann.search_parameters(index, faiss.IDSelectorRange(start, start + m))

        def via_ann(i: int) -> None:
            index.search(queries[i : i + 1], k, params=params)

        def via_exact(i: int) -> None:
            ann.exact_subset_search(x, queries[i], ids, k)

        found = np.stack([index.search(queries[i : i + 1], k, params=params)[1][0] for i in range(len(queries))])
        entry = {"fraction": frac, "rows": m,
                 "ann": {"recall": recall_at(found, truth, k),
                         "returned_mean": float((found >= 0).sum(1).mean()),
                         **percentiles(time_each(via_ann, len(queries)))},
                 "exact_subset": percentiles(time_each(via_exact, len(queries)))}
        log(f"    filter {frac:.0%} ({m} rows): ann recall {entry['ann']['recall']:.3f} "
            f"p95 {entry['ann']['p95_ms']:.2f} ms; exact subset p95 {entry['exact_subset']['p95_ms']:.2f} ms")
        out.append(entry)
    return out


# ----------------------------------------------------------------------------- BM25

def bench_bm25(n: int, n_queries: int, k: int, tmp: Path) -> dict[str, Any]:
    import bm25s

    vocab = np.array(synth.make_vocab(), dtype=object)
    t = time.perf_counter()
    docs = synth.make_token_docs(n, vocab_size=len(vocab))
    corpus_tokens = [vocab[d].tolist() for d in docs]
    n_tokens = int(sum(len(d) for d in docs))
    del docs
    gen_s = time.perf_counter() - t
    queries = [vocab[q].tolist() for q in synth.make_token_queries(n_queries, vocab_size=len(vocab))]

    before = settle()
    t = time.perf_counter()
    retriever = bm25s.BM25(k1=1.2, b=0.75, method="lucene")
    retriever.index(corpus_tokens, show_progress=False)
    build_s = time.perf_counter() - t
    rss_delta = settle() - before
    del corpus_tokens
    settle()
    out_dir = tmp / "bm25"
    retriever.save(str(out_dir), show_progress=False)
    indptr = retriever.scores["indptr"]
    np.save(out_dir / "df.npy", np.diff(indptr).astype(np.int32))  # as qa.models.lexical.build_bm25 writes
    size = dir_bytes(out_dir)

    res: dict[str, Any] = {"n": n, "tokens": n_tokens, "generate_s": gen_s, "build_s": build_s,
                           "index_bytes": size, "rss_delta_bytes": rss_delta,
                           "postings": int(indptr[-1])}

    def bm25s_retrieve(i: int) -> None:
        retriever.retrieve([queries[i]], k=k, show_progress=False)

    res["bm25s_retrieve"] = percentiles(time_each(bm25s_retrieve, n_queries))
    try:
        from qa.stores.local import read_bm25
    except ImportError as exc:  # the library reader is not there (yet)
        res["library"] = {"error": str(exc)}
    else:
        reader = read_bm25(out_dir, n)

        def library(i: int) -> None:
            scores = reader.scores(queries[i])
            top = np.argpartition(-scores, k - 1)[:k]
            top[np.argsort(-scores[top])]

        res["library"] = percentiles(time_each(library, n_queries))
        # the two paths must agree on the top-k (ties aside)
        scores = reader.scores(queries[0])
        ref_docs, ref_scores = retriever.retrieve([queries[0]], k=k, show_progress=False)
        assert np.allclose(np.sort(scores)[::-1][:k], ref_scores[0], rtol=1e-4, atol=1e-4), "BM25 paths disagree"
        reader = None
    shutil.rmtree(out_dir)
    log(f"  bm25 build {build_s:.1f}s size {human_bytes(size)} rss +{human_bytes(rss_delta)} "
        f"bm25s p95 {res['bm25s_retrieve']['p95_ms']:.2f} ms library p95 {res['library'].get('p95_ms', float('nan')):.2f} ms")
    retriever = None
    settle()
    return res


# ----------------------------------------------------------------------------- report

def environment() -> dict[str, Any]:
    import bm25s
    import faiss

    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            cpu = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "faiss": faiss.__version__, "bm25s": bm25s.__version__,
            "numpy": np.__version__, "python": platform.python_version(),
            "omp_max_threads": faiss.omp_get_max_threads(), "date": time.strftime("%Y-%m-%d"),
            "loadavg_at_start": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}


def _fmt_ms(d: dict[str, Any] | None, key: str = "p95_ms") -> str:
    return "–" if not d or key not in d else f"{d[key]:.2f}"


def _params(info: dict[str, Any]) -> str:
    if info["kind"] == "hnsw":
        return f"HNSW M={info['M']} efC={info['efConstruction']} efS={info['efSearch']}"
    if info["kind"] == "ivf":
        return f"IVF-Flat nlist={info['nlist']} nprobe={info['nprobe']}"
    return "exact (IndexFlatIP)"


def markdown(result: dict[str, Any]) -> str:
    env, k = result["env"], result["k"]
    lines = [
        f"Machine: {env['cpu']}, {env['cores']} cores; faiss {env['faiss']}, bm25s {env['bm25s']}, numpy {env['numpy']}, "
        f"Python {env['python']}; {result['queries']} single-query searches per cell (k={k}) after 10 warm-up queries; "
        f"run {env['date']}, {result['total_s'] / 60:.0f} min in all"
        + (f"; 1-min load average {env['loadavg_at_start']:.1f} at the start (the machine is shared)"
           if env.get("loadavg_at_start") is not None else "") + ".",
        "",
        f"**Vector search** (d={result['dim']}, synthetic e5-like vectors; single-query latency in ms, k={k}; "
        f"p50/p95/p99 with 1 OpenMP thread, as `qa.models.ann.search` runs single queries, then p95 with 2 threads "
        f"(the machine default) at k={k} and k=100 (the retriever's candidate depth); recall@{k} against exact search; "
        f"build with 2 threads):",
        "",
        "| vectors | index | build | index size | RSS Δ | p50 | p95 | p99 | p95 2 threads | p95 2 thr. k=100 | recall@10 |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in result["vectors"]:
        for r in row["kinds"].values():
            t1 = r.get("threads1") or {}
            lines.append(
                f"| {human_n(row['n'])} | {_params(r['info'])} | {r['build_s']:.1f} s | {human_bytes(r['index_bytes'])} | "
                f"{human_bytes(r['rss_delta_bytes'])} | {_fmt_ms(t1, 'p50_ms')} | **{_fmt_ms(t1)}** | {_fmt_ms(t1, 'p99_ms')} | "
                f"{_fmt_ms(r['threads2'])} | {_fmt_ms(r.get('threads2_k100'))} | {r['recall']:.4f} |")
    sweeps = [(row["n"], kind, r) for row in result["vectors"] for kind, r in row["kinds"].items() if r.get("sweep")]
    if sweeps:
        lines += ["", "**Search-parameter sweeps** (same queries; recall@10 / p95 ms, 2 threads):", "",
                  "| vectors | index | parameter | " + " | ".join(["value", "recall@10", "p95"]) + " |",
                  "|---:|---|---|---:|---:|---:|"]
        for n, kind, r in sweeps:
            for p in r["sweep"]:
                name = SWEEPS[r["info"]["kind"]][0]
                chosen = " (default)" if p[name] == r["info"].get(name) else ""
                lines.append(f"| {human_n(n)} | {kind} | {name} | {p[name]}{chosen} | {p['recall']:.4f} | {p['p95_ms']:.2f} |")
    filt = [(row["n"], kind, r) for row in result["vectors"] for kind, r in row["kinds"].items() if r.get("filtered")]
    if filt:
        lines += ["", "**Filtered search** (a source filter keeping a contiguous fraction of rows; recall@10 against "
                  "exact search within the filter; p95 ms, 2 threads):", "",
                  "| vectors | index | rows kept | ANN + IDSelector recall@10 | ANN results returned (of 10) | ANN p95 | exact subset p95 |",
                  "|---:|---|---:|---:|---:|---:|---:|"]
        for n, kind, r in filt:
            for f in r["filtered"]:
                lines.append(f"| {human_n(n)} | {kind} | {f['rows']} ({f['fraction']:.0%}) | {f['ann']['recall']:.4f} | "
                             f"{f['ann']['returned_mean']:.1f} | {f['ann']['p95_ms']:.2f} | {f['exact_subset']['p95_ms']:.2f} |")
    if result.get("bm25"):
        lines += ["", f"**BM25** (bm25s, method lucene, k1=1.2, b=0.75; Zipfian Chinese-like documents of ~100 tokens, "
                  f"50k-term vocabulary; queries of 3-6 terms; top-{k}):", "",
                  "| documents | tokens | build | index size (on disk) | RSS Δ | p50 qa reader | p95 qa reader | p95 bm25s.retrieve |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in result["bm25"]:
            lines.append(f"| {human_n(r['n'])} | {r['tokens'] / 1e6:.1f}M | {r['build_s']:.1f} s | {human_bytes(r['index_bytes'])} | "
                         f"{human_bytes(r['rss_delta_bytes'])} | {_fmt_ms(r['library'], 'p50_ms')} | **{_fmt_ms(r['library'])}** | "
                         f"{_fmt_ms(r['bm25s_retrieve'])} |")
    lines += ["", f"Command: `{result['command']}`"]
    return "\n".join(lines) + "\n"


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    sizes = [row["n"] for row in result["vectors"]]
    labels = {"flat": "exact (flat)", "hnsw": "HNSW", "ivf": "IVF-Flat"}
    colors = {"flat": "C0", "hnsw": "C1", "ivf": "C2", "auto": "C4"}
    short = {"efSearch": "ef", "nprobe": "np"}
    for kind in result["kinds"]:
        rows = [row["kinds"][kind] for row in result["vectors"] if kind in row["kinds"]]
        ys = [(r.get("threads1") or r["threads2"])["p95_ms"] for r in rows]
        line, = ax.plot(sizes[: len(ys)], ys, marker="o", color=colors.get(kind), label=labels.get(kind, kind))
        if kind == "flat" and all(r.get("threads1") for r in rows):
            ax.plot(sizes[: len(ys)], [r["threads2"]["p95_ms"] for r in rows], marker="o", ls=":",
                    color=line.get_color(), alpha=0.6, label="exact, 2 OpenMP threads")
    if result.get("bm25"):
        rows = [r for r in result["bm25"] if "p95_ms" in r["library"]]
        ax.plot([r["n"] for r in rows], [r["library"]["p95_ms"] for r in rows], marker="s", ls="--", color="C3", label="BM25 (qa reader)")
    ax.axhline(20, color="red", lw=0.8, ls=":", label="20 ms bar")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("corpus size (vectors / documents)")
    ax.set_ylabel(f"p95 single-query latency, ms (k={result['k']})")
    ax.set_title("p95 single-query latency vs. corpus size (1 thread)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)

    last = result["vectors"][-1]
    for kind, r in last["kinds"].items():
        if r.get("sweep"):
            name = SWEEPS[r["info"]["kind"]][0]
            xs = [p["p95_ms"] for p in r["sweep"]]
            ys = [p["recall"] for p in r["sweep"]]
            ax2.plot(xs, ys, marker="o", color=colors.get(kind), label=labels.get(kind, kind))
            below = kind == "hnsw"
            for p in r["sweep"]:
                ax2.annotate(f"{short.get(name, name)}={p[name]}", (p["p95_ms"], p["recall"]), fontsize=7,
                             color=colors.get(kind), textcoords="offset points",
                             xytext=(5, -9) if below else (-6, 5), ha="left" if below else "right")
    if "flat" in last["kinds"]:
        ax2.plot([last["kinds"]["flat"]["threads2"]["p95_ms"]], [1.0], marker="*", ms=12, ls="", color=colors["flat"], label="exact")
    ax2.axhline(0.95, color="red", lw=0.8, ls=":")
    ax2.axvline(20, color="red", lw=0.8, ls=":")
    ax2.set_xscale("log")
    ax2.set_xlabel("p95 latency, ms (2 threads)")
    ax2.set_ylabel(f"recall@{result['k']}")
    ax2.set_title(f"recall vs. latency at {human_n(last['n'])} vectors")
    ax2.grid(True, which="both", alpha=0.3)
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ----------------------------------------------------------------------------- main

def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--kinds", nargs="+", default=["flat", "hnsw", "ivf"], choices=["flat", "hnsw", "ivf", "auto"])
    ap.add_argument("--out", type=Path, default=Path("docs"))
    ap.add_argument("--doc", type=Path, default=None, help="markdown file whose bench:scale block is replaced")
    ap.add_argument("--no-bm25", action="store_true")
    ap.add_argument("--no-sweep", action="store_true")
    ap.add_argument("--no-one-thread", action="store_true", help="skip the 1-thread latency pass")
    ap.add_argument("--no-filtered", action="store_true", help="skip the filtered-search check at the largest size")
    ap.add_argument("--no-plot", action="store_true")
    ap.add_argument("--replot", type=Path, default=None, metavar="JSON",
                    help="measure nothing: redo the tables/plot/--doc block from a saved bench_scale.json")
    args = ap.parse_args(argv)
    if args.replot:
        result = json.loads(args.replot.read_text(encoding="utf-8"))
        return _report(result, args)

    import faiss

    faiss.omp_set_num_threads(2)
    started = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    queries = synth.make_queries(args.queries)
    result: dict[str, Any] = {
        "command": "python -m bench.scale " + " ".join(argv if argv is not None else sys.argv[1:]),
        "env": environment(), "dim": synth.DIM, "k": args.k, "queries": args.queries, "kinds": args.kinds,
        "synthetic": {"embeddings": repr(synth.EmbeddingModel()), "bm25": "Zipf s=1.05 over 50k terms, ~N(100, 25) tokens/doc"},
        "vectors": [], "bm25": [],
    }
    with tempfile.TemporaryDirectory(prefix="bench_scale_") as tmpname:
        tmp = Path(tmpname)
        for n in sorted(args.sizes):
            log(f"n={n}: vectors")
            result["vectors"].append(bench_vectors(
                n, queries, args.kinds, args.k, one_thread=not args.no_one_thread, sweep=not args.no_sweep,
                filtered=not args.no_filtered and n == max(args.sizes), tmp=tmp))
            if not args.no_bm25:
                log(f"n={n}: bm25")
                result["bm25"].append(bench_bm25(n, args.queries, args.k, tmp))
            partial = {**result, "total_s": time.perf_counter() - started}  # checkpoint
            (args.out / "bench_scale.json").write_text(json.dumps(partial, indent=1, ensure_ascii=False), encoding="utf-8")
    result["total_s"] = time.perf_counter() - started
    result["env"]["loadavg_at_end"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    (args.out / "bench_scale.json").write_text(json.dumps(result, indent=1, ensure_ascii=False), encoding="utf-8")
    return _report(result, args)


def _report(result: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    args.out.mkdir(parents=True, exist_ok=True)
    block = markdown(result)
    if not args.doc:
        (args.out / "bench_scale.md").write_text(block, encoding="utf-8")
    if not args.no_plot:
        plot(result, args.out / "bench_scale.png")
    if args.doc:
        update_block(args.doc, "scale", block)
    print(block)
    return result


if __name__ == "__main__":
    main()
