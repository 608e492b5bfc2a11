"""What statute-aware chunking changes on the statute texts of ../shared/data/laws.

    python -m bench.statutes --laws ../shared/data/laws --stard ../shared/data/stard --model none --out /tmp/st

Builds the laws folder twice (BuildConfig.statutes on and off, same model) and reports, for each:
- chunks, and how many articles are cut across chunks or share a chunk with another article;
- STARD train questions whose relevant articles are in these laws (mapped by law name and article number):
  hit@1/hit@10/MRR@10, a passage counting as relevant when it holds the start of a relevant article;
- how much is shown: article starts and characters in the top 10 (a prose chunk holds several articles);
- questions that name an article, made mechanically from every 7th article (「民法典第680条」,
  「民法典第六百八十条是怎么规定的」): hit@1 of that article.
"""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from qa import QA
from qa.config import BuildConfig
from qa.documents.statutes import ARTICLE_LINE, cn_number, law_of, parse_number, short_law_name
from qa.text import fold


def _articles_in(chunk) -> list[int]:
    """Article numbers whose first line is in the passage (statute chunks: their article)."""
    if chunk.article:
        return [] if "（续）" in "".join(chunk.heading) else [parse_number(chunk.article[1:-1])]
    return [parse_number(m.group(2)) for m in (ARTICLE_LINE.match(line) for line in chunk.text.split("\n")) if m]


def _stard_questions(stard: Path, laws: set[str]) -> list[tuple[str, set[tuple[str, int]]]]:
    titles = {}
    with (stard / "corpus.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            match = re.match(r"^(.*?)第([零一二三四五六七八九十百千\d]+)条$", row.get("title", ""))
            if match and fold(match.group(1)) in laws:
                titles[str(row["_id"])] = (fold(match.group(1)), parse_number(match.group(2)))
    relevant: dict[str, set] = {}
    for line in (stard / "qrels" / "train.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        qid, cid, score = line.split("\t")
        if cid in titles and int(score) > 0:
            relevant.setdefault(qid, set()).add(titles[cid])
    out = []
    with (stard / "queries.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            if str(row["_id"]) in relevant:
                out.append((row["text"], relevant[str(row["_id"])]))
    return out


def _score(qa: QA, questions, mode: str) -> dict:
    hit1 = hit10 = rr = shown = chars = 0.0
    for question, wanted in questions:
        hits = qa.search(question, k=10, mode=mode).hits
        shown += sum(len([a for a in _articles_in(qa.index.chunks[h.chunk_id]) if a]) for h in hits)
        chars += sum(len(h.text) for h in hits)
        ranks = [n for n, h in enumerate(hits, start=1)
                 if any((fold(law_of(h.title)), a) in wanted for a in _articles_in(qa.index.chunks[h.chunk_id]))]
        hit1 += bool(ranks and ranks[0] == 1)
        hit10 += bool(ranks)
        rr += 1 / ranks[0] if ranks else 0.0
    n = max(1, len(questions))
    return {"questions": len(questions), "hit@1": round(hit1 / n, 3), "hit@10": round(hit10 / n, 3),
            "mrr@10": round(rr / n, 3), "article starts in top 10": round(shown / n, 1),
            "characters in top 10": round(chars / n)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--laws", default="../shared/data/laws")
    parser.add_argument("--stard", default="../shared/data/stard")
    parser.add_argument("--model", default="none")
    parser.add_argument("--out", default="/tmp/bench-statutes")
    args = parser.parse_args()
    mode = "lexical" if args.model == "none" else "hybrid"
    results = {}
    for statutes in (False, True):
        target = Path(args.out) / ("statutes" if statutes else "prose")
        report = QA.build([args.laws], target, build=BuildConfig(model=args.model, statutes=statutes))
        qa = QA.load(target)
        chunks = qa.index.chunks
        starts = [[n for n in _articles_in(c) if n] for c in chunks]
        laws = {fold(law_of(c.title)) for c in chunks}
        named = []
        for i, c in enumerate(chunks):
            for number in starts[i][:1]:
                if i % 7 == 0:
                    law = fold(law_of(c.title))
                    short = short_law_name(law_of(c.title))
                    named.append((f"{short}第{number}条", {(law, number)}))
                    named.append((f"{short}第{cn_number(number)}条是怎么规定的", {(law, number)}))
        results["statutes" if statutes else "prose"] = {
            "chunks": report.chunks,
            "chunks holding more than one article start": sum(len(s) > 1 for s in starts),
            "stard_train_in_laws": _score(qa, _stard_questions(Path(args.stard), laws), mode),
            "named_articles": _score(qa, named, mode) if statutes else None,
        }
        if statutes:
            # the same questions against the prose chunks, for comparison
            prose = QA.load(Path(args.out) / "prose")
            results["prose"]["named_articles"] = _score(prose, [(q, w) for q, w in named], mode)
    print(json.dumps({"model": args.model, "mode": mode, **results}, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
