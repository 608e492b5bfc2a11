import pytest

from qa import EmbedderError, EmptyQuestionError, QA
from qa.stores import index as index_module


def test_hits_carry_source_offsets_and_text(qa_hash, corpus_dir):
    result = qa_hash.search("12378热线是哪个部门设立的", k=5)
    assert result.found and result.mode == "hybrid"
    top = next(h for h in result.hits[:3] if "12378" in h.text)
    original = (corpus_dir / top.source).read_text(encoding="utf-8")
    assert top.text[:5] in original[top.start : top.end]
    assert [h.rank for h in result.hits] == list(range(1, len(result.hits) + 1))


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_modes(qa_hash, mode):
    result = qa_hash.search("催收人员频繁打电话骚扰怎么办", k=3, mode=mode)
    assert result.mode == mode and len(result.hits) == 3


def test_simplified_question_finds_traditional_passage_and_back(qa_hash):
    simplified = qa_hash.search("蚂蚁金融有哪些投诉渠道", k=3, mode="lexical")
    assert any("螞蟻" in h.text for h in simplified.hits)
    traditional = qa_hash.search("網貸催收騷擾正確處理方案", k=3, mode="lexical")
    assert traditional.hits[0].title == "网贷催收骚扰正确处理方案"


def test_jsonl_ids_are_document_ids(qa_hash):
    result = qa_hash.search("高利放贷 利率", k=3, mode="lexical")
    assert result.hits[0].doc_id == "law-2"


def test_source_filter(qa_hash):
    source = "支付宝逾期协商不成的应对办法.txt"
    result = qa_hash.search("协商还款", k=5, sources=[source])
    assert result.hits and {h.source for h in result.hits} == {source}


def test_off_topic_question_finds_nothing(qa_hash):
    result = qa_hash.search("如何做红烧肉", mode="lexical")
    assert not result.found and result.hits == ()


@pytest.mark.parametrize("question", ["", "   ", "\x00\x01 \n"])
def test_empty_questions_raise(qa_hash, question):
    with pytest.raises(EmptyQuestionError):
        qa_hash.search(question)


def test_long_question_truncated_with_notice_and_controls_stripped(qa_hash):
    result = qa_hash.search("强制\x07下款" + "很" * 2000)
    assert result.notice and "500" in result.notice
    assert len(result.question) == 500 and "\x07" not in result.question


def test_unloadable_embedder_falls_back_to_lexical(hash_index, monkeypatch):
    def unavailable(spec):
        raise EmbedderError("model files are gone")

    monkeypatch.setattr(index_module, "load_embedder", unavailable)
    qa = QA.load(hash_index)
    result = qa.search("强制下款会影响征信吗", mode="dense")
    assert result.mode == "lexical" and "model files are gone" in result.warning and result.hits
    answer = qa.ask("强制下款会影响征信吗")
    assert answer.mode == "lexical" and answer.warning and answer.found


def test_rrf_fuse_weights_ranks_and_keeps_single_list_hits():
    from qa.pipeline.retrieve import rrf_fuse

    fused = rrf_fuse([7, 3], [3, 9], k=10, dense_weight=0.6)
    assert fused[3] == pytest.approx(0.6 / 12 + 0.4 / 11)
    assert fused[7] == pytest.approx(0.6 / 11) and fused[9] == pytest.approx(0.4 / 12)
    assert sorted(fused, key=fused.get, reverse=True) == [3, 7, 9]


def test_linear_fuse_scales_each_list_to_its_own_range():
    import numpy as np

    from qa.pipeline.retrieve import linear_fuse

    lexical = np.array([0.0, 4.0, 2.0, 0.0])
    fused = linear_fuse([0, 2, 1], np.array([0.9, 0.8, 0.7]), 2, lexical, [1, 2], dense_weight=0.5)
    assert fused[0] == pytest.approx(0.5)  # best cosine, no BM25
    assert fused[1] == pytest.approx(0.5)  # best BM25, cosine below the dense list: clipped to 0
    assert fused[2] == pytest.approx(0.0)  # last of both lists


@pytest.mark.parametrize("fusion", ["linear", "rrf"])
def test_fusion_is_a_config_choice(hash_index, fusion):
    from dataclasses import replace

    from qa.config import DEFAULT

    qa = QA.load(hash_index, config=replace(DEFAULT, fusion=fusion))
    result = qa.search("强制下款会影响征信吗", k=5)
    assert result.mode == "hybrid" and len(result.hits) == 5
    assert [h.score for h in result.hits] == sorted((h.score for h in result.hits), reverse=True)


def test_unknown_fusion_is_a_config_error():
    from qa.config import QueryConfig as Config
    from qa.errors import ConfigError

    with pytest.raises(ConfigError, match="fusion"):
        Config(fusion="borda")


@pytest.fixture(scope="module")
def many_sources(tmp_path_factory):
    """Enough one-chunk files (300) for an IVF index to train instead of falling back to exact search."""
    corpus = tmp_path_factory.mktemp("many")
    topics = ["强制下款", "暴力催收", "协商还款", "征信异议", "投诉渠道", "律师函"]
    for i in range(300):
        (corpus / f"doc{i:03d}.txt").write_text(f"第{i}篇：关于{topics[i % 6]}的说明，编号{i}。", encoding="utf-8")
    return corpus


@pytest.mark.parametrize("ann", ["hnsw", "ivf"])
@pytest.mark.parametrize("exact_subset_max", [30_000, 0])  # small filter scored exactly / through the ANN index
def test_source_filter_on_ann_indexes(many_sources, tmp_path, monkeypatch, ann, exact_subset_max):
    from qa.models import ann as ann_module

    out = tmp_path / "index"
    QA.build([many_sources], out, model="hash:64", ann=ann)
    qa = QA.load(out)
    assert qa.info()["vector_index"]["kind"] == ann
    monkeypatch.setattr(ann_module, "EXACT_SUBSET_MAX", exact_subset_max)
    wanted = ["doc001.txt", "doc007.txt"]  # both about 暴力催收, among 300 files
    result = qa.search("暴力催收", k=5, mode="dense", sources=wanted)
    assert result.hits and {h.source for h in result.hits} <= set(wanted)


def test_linear_fuse_single_candidate_scores_one():
    import numpy as np

    from qa.pipeline.retrieve import linear_fuse

    fused = linear_fuse([0], np.array([0.8]), 1, np.array([2.0]), [0], dense_weight=0.6)
    assert fused[0] == pytest.approx(1.0)


def test_a_term_repeated_in_the_question_counts_once_per_repeat(qa_hash):
    bm25 = qa_hash.index.terms
    term = next(t for t in bm25.vocab if bm25.scores([t]).max() > 0)
    once = bm25.scores([term])
    assert bm25.scores([term, term]) == pytest.approx(2 * once)
    other = next(t for t in bm25.vocab if t != term and bm25.scores([t]).max() > 0)
    assert bm25.scores([term, other, term]) == pytest.approx(2 * once + bm25.scores([other]))
    assert not bm25.scores(["词表里没有的词"]).any()
