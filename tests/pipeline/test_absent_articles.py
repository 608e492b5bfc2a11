"""Issue 23 case 18: a question naming an article the documents do not hold (「民法典第99999条」) was answered with
another article (第148条) as if it were that one. Now the result says the article is not in the documents and shows
the nearest passages only as related: no sentence of them is quoted as the answer."""
from __future__ import annotations

from pathlib import Path

import pytest

from qa import QA
from qa.config import DEFAULT
from qa.documents.statutes import named_articles

from tests.docmakers import statute_articles

ABSENT = "资料中没有《民法典》第99999条"


@pytest.fixture(scope="module")
def statute_dir(tmp_path_factory):
    """Articles 143-150 of the Civil Code (the acts that can be revoked: 欺诈, 胁迫, 显失公平) in one file."""
    folder = tmp_path_factory.mktemp("laws")
    articles = "\n\n".join(statute_articles(first=143, count=8))
    (folder / "民法典节选.md").write_text(f"# 中华人民共和国民法典\n\n{articles}\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def statutes(statute_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("idx") / "index"
    QA.build([statute_dir], out, model="hash:64")
    return QA.load(out)


def test_the_article_a_question_names_and_how_to_cite_it():
    assert named_articles("请问民法典第99999条是什么") == [(99999, "《民法典》第99999条")]
    assert named_articles("《个人信息保护法》第八十条说了什么") == [(80, "《个人信息保护法》第八十条")]
    assert named_articles("第99999条是什么") == [(99999, "第99999条")]
    assert named_articles("被强制下款怎么办") == []


@pytest.mark.parametrize("mode", ["lexical", "hybrid"])
def test_an_article_not_in_the_documents_is_said_so_and_nothing_is_quoted_as_it(statutes, mode):
    for question in ("民法典第99999条", "民法典第99999条规定了什么，受欺诈的合同能撤销吗"):
        answer = statutes.ask(question, mode=mode)
        assert answer.notice == DEFAULT.absent_article_message.format(article="《民法典》第99999条")
        assert ABSENT in str(answer) and ABSENT in answer.to_markdown()
        assert answer.sentences == ()  # related passages at most, never an answer quoted as that article
        assert answer.text in (DEFAULT.related_only_message, DEFAULT.not_found_message)
        assert ABSENT in statutes.search(question, mode=mode).to_dict()["notice"]


def test_an_article_the_documents_hold_is_still_answered(statutes):
    answer = statutes.ask("民法典第148条规定了什么", mode="lexical")
    assert answer.notice is None and answer.sentences
    assert answer.passages[0].article == "第一百四十八条"
    # one named article held is enough: the other is not claimed absent, the held one answers
    assert statutes.ask("民法典第148条和第99999条", mode="lexical").sentences


def test_an_article_quoted_in_running_text_counts_as_held(tmp_path):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "guide.txt").write_text(
        "被強制下款後可以主張撤銷合同。\n根據《民法典》第148條,一方以欺詐手段使對方違背真實意思訂立的合同,受損害方有權請求撤銷。\n"
        "保留證據,向監管部門投訴。\n", encoding="utf-8")
    QA.build([tmp_path / "c"], tmp_path / "idx", model="hash:64")
    qa = QA.load(tmp_path / "idx")
    held = qa.ask("民法典第148条", mode="lexical")
    assert held.notice is None and "第148條" in held.text
    absent = qa.ask("民法典第99999条", mode="lexical")
    assert absent.notice and ABSENT in absent.notice and not absent.sentences


@pytest.mark.slow
def test_an_absent_article_with_the_real_model(statute_dir, tmp_path):
    QA.build([statute_dir], tmp_path / "idx")
    qa = QA.load(tmp_path / "idx")
    answer = qa.ask("民法典第99999条")
    assert answer.notice and ABSENT in answer.notice and not answer.sentences
    assert qa.ask("民法典第148条").passages[0].article == "第一百四十八条"


@pytest.mark.slow
def test_the_committed_index_does_not_quote_article_148_as_99999():
    qa = QA.load(Path(__file__).resolve().parents[2] / "index")
    answer = qa.ask("民法典第99999条")
    assert answer.notice and ABSENT in answer.notice and not answer.sentences
    assert qa.ask("民法典第148条").notice is None
