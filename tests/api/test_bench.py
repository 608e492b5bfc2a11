"""Smoke run of the speed harness (bench/perf.py): every quick figure is measured and lands in the doc block."""
import json

import pytest

from tests.conftest import ROOT, SHARED

pytestmark = pytest.mark.slow


@pytest.mark.skipif(not (SHARED / "data" / "laws").exists(), reason="../shared/data/laws not present")
def test_perf_harness_quick_run(tmp_path):
    from bench import perf
    from bench.report import markers

    doc = tmp_path / "BENCH.md"
    begin, end = markers("perf")
    doc.write_text(f"# B\n\n{begin}\nstale-table\n{end}\n\nkept\n", encoding="utf-8")
    perf.main(["all", "--quick", "--out", str(tmp_path), "--doc", str(doc)])
    results = json.loads((tmp_path / "bench_perf.json").read_text(encoding="utf-8"))
    latency = results["latency_default"]
    assert latency["hybrid"]["p50_ms"] > 0 and latency["embed_one_question"]["p50_ms"] > 0
    assert results["coldstart"]["heavy_modules_imported"] == "[]"  # no torch, gradio, scipy on `qa ask`
    assert results["coldstart"]["english_ratio"] > 0
    build = results["build"]
    assert build["unchanged_rebuild_embedded"] == 0
    assert 1 <= build["one_file_changed_embedded"] <= build["one_file_changed_file_chunks"]
    text = doc.read_text(encoding="utf-8")
    assert "stale-table" not in text and "cold start" in text and text.endswith("kept\n")
    assert (ROOT / "index" / "manifest.json").exists()


def test_cross_judge_reads_question_and_sentence_as_one_pair_and_learns_from_labels():
    """bench.crossjudge (a measurement, docs/EVALUATION.md): the pair keeps the question before the sentence with
    XLM-R's </s></s> between them, and a few steps on two labelled pairs move their scores apart."""
    from bench.crossjudge import QUERY_TOKENS, CrossJudge, auc

    judge = CrossJudge()
    tok = judge.tokenizer
    ids = judge.ids("强制下款要还吗", "法律上，未经同意的强制借款无需偿还。")
    question = tok.encode(["query: 强制下款要还吗"])[0]
    assert ids[:len(question)] == question and ids[len(question)] == tok.eos and ids[-1] == tok.eos
    sentence = tok.encode(["passage: 答"])[0]
    long = judge.ids("问" * 500, "答")  # a long question is cut to QUERY_TOKENS, the sentence kept whole after it
    assert len(long) == QUERY_TOKENS + len(sentence) and long[-len(sentence) + 1:] == sentence[1:]
    pairs = [("强制下款要还吗", "法律上，未经同意的强制借款无需偿还。", 1), ("强制下款要还吗", "本站将详细探讨投诉流程。", 0)]
    before = judge.scores("强制下款要还吗", [s for _, s, _ in pairs])
    judge.train(pairs * 2, steps=6, batch=4)
    after = judge.scores("强制下款要还吗", [s for _, s, _ in pairs])
    assert after[0] - after[1] > before[0] - before[1]
    assert auc([2.0, 3.0], [1.0]) == 1.0 and auc([1.0], [1.0]) == 0.5
