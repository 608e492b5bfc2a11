"""The dense list's share in hybrid fusion, chosen for one model on STARD questions that model never trained on.

The shipped model trained on STARD's tune part, so its dense scores on those questions are better than on unseen
ones, and a share chosen there leans towards dense. So a second model is trained exactly as the shipped one but
without a fold of the tune part (a quarter, by a hash of the question id), and the share is chosen on that fold:

    python -m bench.fusion prepare --out /tmp/fusion            # /tmp/fusion/stard (qrels without the fold) + fold.tsv
    qa tune corpus/ --questions eval/calibration.jsonl --stard /tmp/fusion/stard -o /tmp/fusion/model
    qa build ../shared/data/stard/corpus.jsonl -o /tmp/fusion/index --model onnx:/tmp/fusion/model
    python -m bench.fusion choose -i /tmp/fusion/index --qrels /tmp/fusion/fold.tsv [--write e5-tuned]

`choose` ranks the fold with the gate open at each share and takes the one with the highest nDCG@10; `--write SPEC`
records it in that model's gate file (`qa/data/gate.json` for the default model) as the share for statute articles,
which `QueryConfig.dense_shares` reads (every STARD passage is one article). STARD's held-out fifth
(`qa.config.held_out`) is in neither the fold nor the training.
"""
from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

from qa.config import held_out  # settings only: no third-party imports

ROOT = Path(__file__).resolve().parents[1]
STARD = ROOT.parent / "shared" / "data" / "stard"
SHARES = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def in_fold(query_id: str) -> bool:
    """A quarter of STARD's tune part, by a hash of the id (never a held-out question)."""
    return not held_out(query_id) and hashlib.sha256(f"fold:{query_id}".encode("utf-8")).digest()[0] % 4 == 0


def prepare(stard: Path, out: Path) -> tuple[int, int]:
    """OUT/stard: STARD with the fold's judgements removed (what `qa tune --stard` trains on); OUT/fold.tsv: the
    fold's judgements (what `choose` ranks). Returns (fold questions, judgements kept)."""
    header, *rows = (stard / "qrels" / "train.tsv").read_text(encoding="utf-8").splitlines()
    fold, kept = [], []
    for row in rows:
        (fold if in_fold(row.split("\t")[0]) else kept).append(row)
    target = out / "stard"
    (target / "qrels").mkdir(parents=True, exist_ok=True)
    for name in ("corpus.jsonl", "queries.jsonl"):
        link = target / name
        if not link.exists():
            link.symlink_to((stard / name).resolve())
    (target / "qrels" / "train.tsv").write_text("\n".join([header, *kept]) + "\n", encoding="utf-8")
    (out / "fold.tsv").write_text("\n".join([header, *fold]) + "\n", encoding="utf-8")
    return len({row.split("\t")[0] for row in fold}), len(kept)


def choose(index: str, qrels: Path, stard: Path = STARD, shares=SHARES) -> tuple[float, dict[float, dict]]:
    """The share with the highest nDCG@10 on the fold (the gate open: ranking alone), and every share's scores."""
    from qa import QA
    from qa.pipeline.evaluate import evaluate_beir

    qa = QA.load(index)
    scores = {share: evaluate_beir(qa.with_config(gate_min_probability=0.0, fusion="linear", dense_weight=share),
                                   stard / "queries.jsonl", qrels, mode="hybrid") for share in shares}
    return max(shares, key=lambda share: scores[share]["ndcg@10"]), scores


def write(spec: str, share: float, path: Path | None = None) -> Path:
    """Record SHARE in the gate file fitted for SPEC (PATH: that file elsewhere); a model without one is refused."""
    from dataclasses import replace

    from qa.config import GateModel, gate_file

    path = path or gate_file(spec)
    gate = GateModel.load(path)
    if gate.embedder != spec:
        raise SystemExit(f"{path.name} is fitted for {gate.embedder or 'an unnamed model'}, not {spec}: "
                         f"run python -m bench.calibrate on an index of {spec} first")
    replace(gate, statute_dense_weight=share).write(path)
    return path


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare", help="STARD without the fold (to train on) and the fold's judgements")
    p.add_argument("--stard", type=Path, default=STARD)
    p.add_argument("--out", type=Path, required=True)
    c = sub.add_parser("choose", help="rank the fold at each share; the best one, optionally written")
    c.add_argument("-i", "--index", required=True, help="STARD built with the model trained without the fold")
    c.add_argument("--qrels", type=Path, required=True, help="the fold's judgements (prepare's fold.tsv)")
    c.add_argument("--stard", type=Path, default=STARD, help="the STARD directory prepare was given (its questions)")
    c.add_argument("--write", metavar="SPEC", help="record the share in SPEC's gate file (e5-tuned: qa/data/gate.json)")
    args = parser.parse_args(argv)
    if args.command == "prepare":
        questions, kept = prepare(args.stard, args.out)
        print(f"fold: {questions} questions → {args.out / 'fold.tsv'}; training judgements kept: {kept} → "
              f"{args.out / 'stard'}")
        return
    best, scores = choose(args.index, args.qrels, args.stard)
    print("| dense share | nDCG@10 | R@100 |\n|---|---:|---:|")
    for share, r in scores.items():
        print(f"| {share:.1f}{' (chosen)' if share == best else ''} | {r['ndcg@10']:.4f} | {r['recall@100']:.4f} |")
    if args.write:
        print(f"dense share {best} → {write(args.write, best)}")


if __name__ == "__main__":
    main()
