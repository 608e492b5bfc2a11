"""Statute-aware chunking and article look-up, on text from ../shared/data/laws (fixtures made here)."""
from __future__ import annotations

from qa import QA
from qa.documents.chunking import chunk_document
from qa.documents.corpus import Document
from qa.documents.statutes import article_refs, citation, cn_number, parse_number

from tests.docmakers import statute_articles

LAW = """# 中华人民共和国民法典

## 第三编 合同

### 第二分编 典型合同

## 第十二章 借款合同

{articles}

## 第十三章 保证合同

### 第一节 一般规定

第六百八十一条 保证合同是为保障债权的实现，保证人和债权人约定，当债务人不履行到期债务或者发生当事人约定的情形时，保证人履行债务或者承担责任的合同。
"""


def test_numbers_both_ways():
    for n in (1, 10, 11, 20, 100, 105, 110, 679, 680, 1000, 1005, 1260):
        assert parse_number(cn_number(n)) == n
    assert cn_number(679) == "六百七十九" and cn_number(10) == "十" and cn_number(1005) == "一千零五"
    assert article_refs("民法典第680条规定了什么") == [680]
    assert article_refs("第六百八十条 和 第 12 条") == [680, 12]


def _law_doc():
    articles = "\n\n".join(a.replace("\n", "\n\n") for a in statute_articles(first=667, count=14))
    return Document("民法典.md", "民法典.md", "中华人民共和国民法典", LAW.format(articles=articles))


def test_one_article_per_chunk_with_heading_path():
    chunks = chunk_document(_law_doc(), size=320, overlap=80, maximum=600)
    by_article = {c.article: c for c in chunks}
    c = by_article["第六百七十九条"]
    assert c.text.startswith("第六百七十九条") and "第六百八十条" not in c.text
    assert c.heading == ("第三编 合同", "第二分编 典型合同", "第十二章 借款合同")
    assert citation(c.title, c.article) == "《民法典》第六百七十九条"
    # 第六百八十条 has three 款: all in its one chunk
    assert by_article["第六百八十条"].text.count("\n") == 2
    assert by_article["第六百八十一条"].heading[-2:] == ("第十三章 保证合同", "第一节 一般规定")
    assert all(c.article for c in chunks)


def test_a_long_article_is_split_between_its_paragraphs():
    paragraphs = [f"第{i}款的内容" + "借款人应当按照约定的期限返还借款。" * 8 for i in range(1, 6)]
    text = "第一条 " + "\n".join(paragraphs) + "\n第二条 短条。\n第三条 短条。"
    chunks = chunk_document(Document("a.md", "a.md", "某某法", text), size=320, overlap=80, maximum=400)
    first = [c for c in chunks if c.article == "第一条"]
    assert len(first) >= 2 and all(len(c.text) <= 400 for c in first)
    assert first[1].heading[-1] == "第一条（续）" and first[1].text.startswith("第")


def test_plain_text_quoting_articles_is_not_a_statute():
    from tests.docmakers import seed_paragraphs

    quoted = statute_articles(first=679, count=3)
    text = "\n".join(seed_paragraphs()[:10] + [q.split("\n")[0] for q in quoted] + seed_paragraphs()[10:20])
    chunks = chunk_document(Document("a.txt", "a.txt", "文章", text), size=320, overlap=80, maximum=600)
    assert len(chunks) > 3 and not any(c.article for c in chunks)


def test_a_question_naming_an_article_finds_it(tmp_path):
    (tmp_path / "民法典.md").write_text(_law_doc().text, encoding="utf-8")
    (tmp_path / "note.txt").write_text("第六百八十条提到利率。网贷利率过高怎么办？可以向法院起诉。", encoding="utf-8")
    QA.build([tmp_path], tmp_path / "idx", model="hash:64")
    qa = QA.load(tmp_path / "idx")
    for question in ("民法典第680条", "民法典第六百八十条是怎么规定的", "第680条"):
        hit = qa.search(question, k=3).hits[0]
        assert hit.article == "第六百八十条" and hit.source == "民法典.md", question
        assert hit.to_dict()["article"] == "第六百八十条"
    answer = qa.ask("民法典第679条")
    assert answer.passages[0].article == "第六百七十九条"
    assert "《民法典》第六百七十九条" in str(answer) and "《民法典》第六百七十九条" in answer._repr_html_()


def test_jsonl_article_records_carry_their_article(tmp_path):
    (tmp_path / "stard.jsonl").write_text(
        '{"_id": "1", "title": "中华人民共和国民法典第六百八十条", "text": "禁止高利放贷，借款的利率不得违反国家有关规定。"}\n',
        encoding="utf-8")
    QA.build([tmp_path], tmp_path / "idx", model="hash:64")
    hit = QA.load(tmp_path / "idx").search("民法典第680条", k=1).hits[0]
    assert hit.article == "第六百八十条" and hit.to_dict()["line"] == 1


def test_statute_chunking_can_be_turned_off():
    chunks = chunk_document(_law_doc(), size=320, overlap=80, maximum=600, statutes=False)
    assert not any(c.article for c in chunks)
