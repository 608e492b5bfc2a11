import pytest

from qa import EmbedderError, EmptyQuestionError, QA
from qa import retrieve as retrieve_module


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

    monkeypatch.setattr(retrieve_module, "load_embedder", unavailable)
    qa = QA.load(hash_index)
    result = qa.search("强制下款会影响征信吗", mode="dense")
    assert result.mode == "lexical" and "model files are gone" in result.warning and result.hits
    answer = qa.ask("强制下款会影响征信吗")
    assert answer.mode == "lexical" and answer.warning and answer.found
