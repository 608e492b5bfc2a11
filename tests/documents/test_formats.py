"""Web pages, PDF, DOCX and images: fixtures made here from the seeds and statutes; assertions on content."""
from __future__ import annotations

import json

import pytest

from qa import QA
from qa.documents.corpus import discover, read_documents
from qa.documents.formats import OCR_HINT, UnreadableError, join_lines, ocr_engine, read_docx, read_html, read_pdf

from tests.docmakers import (cjk_font, make_docx, make_encrypted_pdf, make_html, make_pdf, make_png, recovered_share,
                        seed_paragraphs, statute_articles)

pytest.importorskip("reportlab")
pytest.importorskip("docx")

PARAS = seed_paragraphs()
PDF_PAGES = [PARAS[0:5], PARAS[5:10], PARAS[10:16]]  # page 3 is set in two columns


@pytest.fixture(scope="module")
def pdf_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("pdf") / "支付宝逾期.pdf"
    make_pdf(path, PDF_PAGES, two_column_page=3)
    return path


def test_pdf_text_pages_and_two_columns(pdf_file):
    found = read_pdf(pdf_file.read_bytes())
    assert len(found.page_starts) == 3
    pages = [found.text[a:b] for a, b in zip(found.page_starts, [*found.page_starts[1:], len(found.text)])]
    for source, page in zip(PDF_PAGES, pages):
        assert recovered_share("\n".join(source), page) >= 0.98
    # the two-column page reads column 1 then column 2, and wrapped lines are joined into their paragraph
    third = pages[2]
    assert third.index(PDF_PAGES[2][0][-10:]) < third.index(PDF_PAGES[2][-1][:10])
    assert PDF_PAGES[1][1] in pages[1].split("\n")  # a whole paragraph is one line again


def test_pdf_passages_cite_their_page(pdf_file, tmp_path):
    QA.build([pdf_file], tmp_path / "idx", model="hash:64")
    qa = QA.load(tmp_path / "idx")
    assert {c.page for c in qa.index.chunks} == {1, 2, 3}
    target = PDF_PAGES[1][2][:30]
    hit = next(h for h in qa.search(target, k=3, mode="lexical").hits if target[:12] in h.text)
    assert hit.page == 2
    assert hit.to_dict()["page"] == 2
    assert "p. 2" in qa.ask(target, mode="lexical").to_markdown()


def test_statute_pdf_cites_page_and_article(tmp_path):
    articles = statute_articles(first=667, count=24)
    path = tmp_path / "民法典合同编节选.pdf"
    make_pdf(path, [["中华人民共和国民法典"] + articles[:12], articles[12:]])
    QA.build([path], tmp_path / "idx", model="hash:64")
    qa = QA.load(tmp_path / "idx")
    hit = qa.search("民法典第680条", k=3).hits[0]
    assert hit.article == "第六百八十条" and hit.page == 2 and hit.text.startswith("第六百八十条")


def test_line_joins_keep_items_and_sentences_apart():
    lines = ["借款人应当按照约定的期限返", "还借款。", "1. 借款合同：保障合同内容完整，", "涵盖借款金额。", "第六百八十条 禁止高利放贷。"]
    assert join_lines(lines, 100, [100, 20, 100, 40, 80]).split("\n") == [
        "借款人应当按照约定的期限返还借款。", "1. 借款合同：保障合同内容完整，涵盖借款金额。", "第六百八十条 禁止高利放贷。"]
    assert join_lines(["The borrower shall re-", "pay the loan"], 100, [100, 50]) == "The borrower shall repay the loan"


def test_docx_headings_paragraphs_and_table(tmp_path):
    path = tmp_path / "协商指南.docx"
    sections = [("一、理解相关法律法规", PARAS[2:4]), ("二、继续协商", PARAS[5:7])]
    table = [["证据", "说明"], ["借款合同", "保障合同内容完整"], ["转账记录", "保留所有的转账凭证"]]
    make_docx(path, "支付宝逾期协商指南", sections, table)
    found = read_docx(path.read_bytes())
    source = "\n".join(["支付宝逾期协商指南"] + [h + "\n" + "\n".join(p) for h, p in sections]
                       + [" ".join(r) for r in table])
    assert recovered_share(source, found.text) >= 0.98
    assert found.title == "支付宝逾期协商指南"
    assert "借款合同 | 保障合同内容完整" in found.text
    QA.build([path], tmp_path / "idx", model="hash:64")
    qa = QA.load(tmp_path / "idx")
    hit = qa.search(PARAS[6][:25], k=1, mode="lexical").hits[0]
    assert hit.heading[-1] == "二、继续协商"


def test_html_main_content_title_and_canonical_url(tmp_path):
    url = "https://example.org/wangdai/zhifubao-yuqi.html"
    (tmp_path / "saved.html").write_text(make_html("支付宝逾期协商不成的应对办法", PARAS[1:], url), encoding="utf-8")
    found = read_html((tmp_path / "saved.html").read_bytes())
    assert found.title == "支付宝逾期协商不成的应对办法" and found.url == url
    assert recovered_share("\n".join(PARAS[1:]), found.text) >= 0.98
    for boilerplate in ("网贷知识", "信用卡逾期被起诉怎么办", "版权所有", "极速借款", "_hmt", "关于我们"):
        assert boilerplate not in found.text
    QA.build([tmp_path], tmp_path / "idx", model="hash:64")
    hit = QA.load(tmp_path / "idx").search(PARAS[4][:30], k=1, mode="lexical").hits[0]
    assert hit.url == url and json.loads(json.dumps(hit.to_dict()))["url"] == url


def test_unreadable_files_are_reported_by_name_and_skipped(pdf_file, tmp_path):
    make_encrypted_pdf(tmp_path / "locked.pdf", pdf_file)
    make_pdf(tmp_path / "scan.pdf", [], blank_page=True)
    (tmp_path / "broken.docx").write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    (tmp_path / "scripts.html").write_text("<html><head><script>var a=1;</script></head><body><script>b()</script>"
                                           "</body></html>", encoding="utf-8")
    (tmp_path / "good.txt").write_text(PARAS[3], encoding="utf-8")
    files, skipped = discover([tmp_path])
    docs = list(read_documents(files, skipped))
    assert [d.doc_id for d in docs] == ["good.txt"]
    reasons = {s.path: s.reason for s in skipped}
    codes = {s.path: s.code for s in skipped}
    assert codes["locked.pdf"] == "encrypted" and codes["broken.docx"] == "docx_broken"
    assert codes["scripts.html"] == "html_empty"
    assert codes["scan.pdf"] == ("needs_ocr" if ocr_engine() is None else "ocr_no_text")
    assert "encrypted" in reasons["locked.pdf"]
    assert "DOCX" in reasons["broken.docx"]
    assert "no text" in reasons["scripts.html"]
    assert "page 1" in reasons["scan.pdf"]
    if ocr_engine() is None:
        assert OCR_HINT in reasons["scan.pdf"]


def test_image_without_ocr_names_the_extra(monkeypatch, tmp_path):
    import qa.documents.formats as formats

    monkeypatch.setattr(formats, "ocr_engine", lambda: None)
    with pytest.raises(UnreadableError, match=r"\.\[ocr\]") as info:
        formats.read_image(b"\x89PNG")
    assert info.value.code == "needs_ocr" and info.value.code in formats.REASON_CODES


@pytest.mark.slow
def test_ocr_reads_a_png_of_a_seed_paragraph(tmp_path):
    if ocr_engine() is None:
        pytest.skip("the ocr extra is not installed")
    font = cjk_font()
    if font is None:
        pytest.skip("no CJK font (fc-list :lang=zh) to draw the fixture")
    make_png(tmp_path / "scan.png", PARAS[3][:120], font)
    files, skipped = discover([tmp_path])
    docs = list(read_documents(files, skipped))
    assert docs and recovered_share(PARAS[3][:120], docs[0].text) >= 0.9


def test_html_in_its_declared_charset_with_an_xml_declaration():
    body = "".join(f"<p>{p}</p>" for p in PARAS[2:5])
    page = (f'<?xml version="1.0" encoding="gb2312"?><html><head><meta http-equiv="Content-Type" '
            f'content="text/html; charset=gb2312"><title>协商指南_某站</title></head><body>{body}</body></html>')
    found = read_html(page.encode("gb18030"))
    assert found.title == "协商指南" and recovered_share("\n".join(PARAS[2:5]), found.text) >= 0.98
