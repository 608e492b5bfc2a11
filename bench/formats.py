"""How much of a document's text each reader recovers, on fixtures made from the five seed articles.

    python -m bench.formats [--ocr]

For every seed: a PDF (STSong-Light, 6 paragraphs a page, every second page in two columns), a DOCX (title,
paragraphs, a table) and a saved web page (navigation, related links, footer, scripts around the article). With
--ocr (needs the `ocr` extra and a CJK font): a PNG of three paragraphs of each seed, and a scanned PDF page (that PNG
as the page's only content). Reported: the share of the source's characters recovered in order (whitespace ignored;
difflib matching blocks), the share of source paragraphs that come out as one line (line-break joins), boilerplate
strings leaked (web pages), and the alternatives measured for the choice of library (docs/FORMATS.md).
"""
from __future__ import annotations

import argparse
import io
import json
import tempfile
import time
from pathlib import Path

from qa.documents.formats import join_lines, read_docx, read_html, read_image, read_pdf
from tests.docmakers import (NAV, RELATED, SEEDS, cjk_font, make_docx, make_html, make_pdf, make_png, recovered_share,
                             seed_paragraphs)

BOILERPLATE = [*NAV[1:], *RELATED, "版权所有", "极速借款", "_hmt", "发布时间"]


def _mean(values):
    return round(sum(values) / max(1, len(values)), 4)


def _intact(paragraphs, text):
    lines = {line.strip() for line in text.split("\n")}
    return sum(p.strip() in lines for p in paragraphs) / max(1, len(paragraphs))


def _pypdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(join_lines((page.extract_text() or "").split("\n")) for page in PdfReader(io.BytesIO(data)).pages)


def _pdfminer_plain(data: bytes) -> str:
    from pdfminer.high_level import extract_text

    return extract_text(io.BytesIO(data))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ocr", action="store_true")
    args = parser.parse_args()
    out: dict = {}
    rows: dict[str, list] = {k: [] for k in ("pdf", "pdf_intact", "pypdf", "pypdf_intact", "pdfminer_plain_intact",
                                             "docx", "html", "html_leaks", "html_fallback", "html_fallback_leaks",
                                             "ocr_png", "ocr_scanned_pdf")}
    seconds = {"pdfminer": 0.0, "pypdf": 0.0}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for n, seed in enumerate(sorted(SEEDS.glob("*.txt"))):
            paragraphs = seed_paragraphs(seed.name)
            source = "\n".join(paragraphs)
            pages = [paragraphs[i : i + 6] for i in range(0, len(paragraphs), 6)]
            pdf = tmp / f"{n}.pdf"
            make_pdf(pdf, pages, two_column_page=2)
            data = pdf.read_bytes()
            started = time.perf_counter()
            text = read_pdf(data).text
            seconds["pdfminer"] += time.perf_counter() - started
            rows["pdf"].append(recovered_share(source, text))
            rows["pdf_intact"].append(_intact(paragraphs, text))
            rows["pdfminer_plain_intact"].append(_intact(paragraphs, _pdfminer_plain(data)))
            started = time.perf_counter()
            text = _pypdf_text(data)
            seconds["pypdf"] += time.perf_counter() - started
            rows["pypdf"].append(recovered_share(source, text))
            rows["pypdf_intact"].append(_intact(paragraphs, text))

            docx = tmp / f"{n}.docx"
            table = [["项目", "说明"], ["借款合同", "保障合同内容完整"], ["通讯记录", "保存与平台协商的所有记录"]]
            make_docx(docx, paragraphs[0], [("正文", paragraphs[1:])], table)
            docx_source = "\n".join([paragraphs[0], "正文", *paragraphs[1:], *(" ".join(r) for r in table)])
            rows["docx"].append(recovered_share(docx_source, read_docx(docx.read_bytes()).text))

            page = make_html(paragraphs[0], paragraphs[1:], f"https://example.org/{n}.html").encode("utf-8")
            found = read_html(page)
            body = "\n".join(paragraphs[1:])
            rows["html"].append(recovered_share(body, found.text))
            rows["html_leaks"].append(sum(b in found.text for b in BOILERPLATE))
            from lxml import html as lxml_html

            from qa.documents.formats import html_fallback

            fallback = html_fallback(lxml_html.document_fromstring(page))
            rows["html_fallback"].append(recovered_share(body, fallback))
            rows["html_fallback_leaks"].append(sum(b in fallback for b in BOILERPLATE))

            font = cjk_font() if args.ocr else None
            if font:
                sample = "".join(paragraphs[1:4])[:240]
                png = tmp / f"{n}.png"
                make_png(png, sample, font)
                rows["ocr_png"].append(recovered_share(sample, read_image(png.read_bytes()).text))
                from reportlab.lib.pagesizes import A4
                from reportlab.pdfgen import canvas

                scanned = tmp / f"{n}-scan.pdf"
                c = canvas.Canvas(str(scanned), pagesize=A4)
                c.drawImage(str(png), 40, 300, width=515, preserveAspectRatio=True)
                c.showPage()
                c.save()
                rows["ocr_scanned_pdf"].append(recovered_share(sample, read_pdf(scanned.read_bytes()).text))
    out = {k: (_mean(v) if k.endswith(("leaks",)) is False else sum(v)) for k, v in rows.items() if v}
    out["seconds"] = {k: round(v, 2) for k, v in seconds.items()}
    print(json.dumps(out, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
