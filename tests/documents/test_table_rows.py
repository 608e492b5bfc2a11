"""Issue 23 case 16: on a small library (a PDF, a DOCX, a web page) a question answered only by one row of a DOCX
table (a hotline and its number) was turned away with 「未找到相关内容」. Cleaning took the row's short cells for a
list of links and dropped them, so the index never held the row; the answer composer took a short row for a label."""
from __future__ import annotations

import pytest

from qa import QA
from qa.text import clean

from tests.docmakers import make_docx, make_html, make_pdf, seed_paragraphs

pytest.importorskip("reportlab")
pytest.importorskip("docx")

PARAS = seed_paragraphs()
TABLE = [["渠道", "电话"], ["消费者投诉热线", "12315"], ["金融消费者投诉热线", "12378"]]


def library(folder):
    """Three documents from the seed article; the hotline numbers stand only in the DOCX's table."""
    folder.mkdir()
    make_pdf(folder / "支付宝逾期.pdf", [PARAS[0:9], PARAS[9:16]])
    make_docx(folder / "投诉指南.docx", "支付宝投诉指南", [("一、委托专业律师", PARAS[16:22]),
                                                         ("二、向相关部门投诉", PARAS[23:28])], TABLE)
    (folder / "page.html").write_text(make_html("支付宝逾期媒体曝光", PARAS[29:], "https://example.org/a"),
                                      encoding="utf-8")
    return folder


def check_offsets(original: str) -> str:
    cleaned = clean(original)
    assert all(cleaned.text[i] == original[cleaned.offsets[i]] for i in range(len(cleaned.text)))
    return cleaned.text


def test_table_rows_survive_cleaning():
    docx_rows = "在投诉期间,使用者应留意以下几点。\n渠道 | 电话\n消费者投诉热线 | 12315\n金融消费者投诉热线 | 12378"
    assert check_offsets(docx_rows).splitlines()[1:] == ["渠道 | 电话", "消费者投诉热线 | 12315", "金融消费者投诉热线 | 12378"]
    # trafilatura's Markdown table: the rule row and the outer bars are markup
    markdown = "遇到暴力催收可以投诉。\n| 渠道 | 电话 | \n|---|---|\n| 消费者投诉热线 | 12315 | \n| 市场监管 | 12315 | 全国 |"
    assert check_offsets(markdown).splitlines() == ["遇到暴力催收可以投诉。", "渠道 | 电话", "消费者投诉热线 | 12315"]
    # a lone line of "|"-separated short items is still a menu, and a space-separated one a list of links
    assert check_offsets("正文一句。\n首页 | 网贷知识 | 催收投诉 | 征信修复\n短信验证码 酒店设计 直播下载") == "正文一句。"


def test_a_docx_table_row_is_found_and_quoted(tmp_path):
    QA.build([library(tmp_path / "lib")], tmp_path / "idx", model="hash:64")
    qa = QA.load(tmp_path / "idx")
    answer = qa.ask("消费者投诉热线是多少", mode="lexical")
    assert answer.found and answer.sentences[0].text == "消费者投诉热线 | 12315"
    assert answer.passages[answer.sentences[0].citation - 1].source == "投诉指南.docx"


@pytest.mark.slow
def test_a_docx_table_row_answers_with_the_real_model(tmp_path):
    QA.build([library(tmp_path / "lib")], tmp_path / "idx")
    qa = QA.load(tmp_path / "idx")
    for question in ("消费者投诉热线电话是多少", "12315是什么电话"):
        answer = qa.ask(question)
        assert answer.found and answer.sentences, question
        assert answer.sentences[0].text == "消费者投诉热线 | 12315", question
