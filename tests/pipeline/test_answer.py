import pytest

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


@pytest.fixture(scope="module")
def faq_qa(tmp_path_factory):
    d = tmp_path_factory.mktemp("faq")
    (d / "faq.md").write_text(
        "# 催收问答\n\n"
        "在中国，针对催收行为的法律法规主要包括：\n"
        "《民法典》：明确了债务人和债权人的权利与义务。\n"
        "《反不正当竞争法》：禁止不当催收行为，维护市场秩序。\n\n"
        "Q1：强制下款的钱需要偿还吗？\n"
        "- A：法律上，未经同意的强制借款无需偿还。\n",
        encoding="utf-8",
    )
    QA.build([d], d / "idx", model="hash:64")
    return QA.load(d / "idx")


def test_lead_in_is_answered_by_the_list_after_it(faq_qa):
    answer = faq_qa.ask("哪些法律法规规范催收行为", mode="lexical")
    texts = [s.text for s in answer.sentences]
    assert "《反不正当竞争法》：禁止不当催收行为，维护市场秩序。" in texts
    assert not any(t.endswith("：") for t in texts)  # the lead-in announces the answer, it is not one


def test_faq_answer_label_and_bullet_are_not_part_of_the_sentence(faq_qa):
    answer = faq_qa.ask("强制下款的钱需要偿还吗", mode="lexical")
    assert answer.sentences[0].text == "法律上，未经同意的强制借款无需偿还。"


def test_a_list_question_is_answered_by_the_sections_of_a_list(tmp_path):
    """「哪些…」 whose answer is a document's numbered sections: each section's first sentence, in the document's
    order, not a general sentence from elsewhere."""
    sections = [("1、12378", "12378是银保监会的消费者投诉维权热线，可以投诉银行和持牌机构的暴力催收。"),
                ("2、12377", "12377是网信办的违法和不良信息举报电话，可以举报网络催收中的违规行为。"),
                ("3、12321", "12321是网络不良与垃圾信息举报受理中心，可以举报催收短信骚扰。")]
    body = "".join(f"## {head}\n\n{text}" + "这里还有一些补充说明的文字用来填满段落。" * 3 + "\n\n" for head, text in sections)
    (tmp_path / "hotlines.md").write_text(f"# 投诉催收的渠道\n\n{body}", encoding="utf-8")
    (tmp_path / "other.md").write_text("# 其他\n\n遇到暴力催收可以向有关部门投诉，保留证据。\n", encoding="utf-8")
    QA.build([tmp_path], tmp_path / "idx", model="hash:64", chunk_size=120, overlap=0)
    answer = QA.load(tmp_path / "idx").ask("可以向哪些部门投诉暴力催收", mode="lexical")
    texts = [s.text for s in answer.sentences]
    assert len(texts) >= 2 and all(t in [text for _, text in sections] for t in texts), texts
    assert texts == sorted(texts, key=lambda t: [text for _, text in sections].index(t))  # the document's order
