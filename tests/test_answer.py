from qa import QA


def test_answer_sentences_are_verbatim_and_cite_their_passage(qa_hash):
    answer = qa_hash.ask("起诉前需要准备哪些证据", k=5)
    assert answer.found and 1 <= len(answer.sentences) <= 3
    for sentence in answer.sentences:
        assert 1 <= sentence.citation <= len(answer.passages)
        assert sentence.text in answer.passages[sentence.citation - 1].text
        assert not sentence.text.endswith(("?", "？"))
    assert "[1]" in answer.text or "[2]" in answer.text or "[3]" in answer.text


def test_not_found_answer(qa_hash):
    answer = qa_hash.ask("如何做红烧肉", mode="lexical")
    assert not answer.found and answer.text == "未找到相关内容" and answer.passages == ()


def test_rendering_escapes_corpus_html(tmp_path):
    (tmp_path / "x.txt").write_text("<script>alert(1)</script>催收人员不得骚扰借款人的同事。", encoding="utf-8")
    QA.build([tmp_path], tmp_path / "idx", model="hash:64")
    answer = QA.load(tmp_path / "idx").ask("催收 同事", mode="lexical")
    assert answer.found
    assert "<script>" not in answer._repr_html_() and "&lt;script&gt;" in answer._repr_html_()
    assert "<script>" not in answer._repr_markdown_()
    assert answer.to_dict()["passages"][0]["text"].startswith("<script>")


def test_context_expands_around_the_passage(qa_hash):
    hit = qa_hash.search("12377是什么电话", k=1).hits[0]
    context = qa_hash.context(hit.chunk_id, chars=100)
    assert hit.text in context and len(context) > len(hit.text)
