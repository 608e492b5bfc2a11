"""Fixture documents made from the seed articles and statutes: Chinese PDFs (reportlab, CID font STSong-Light),
DOCX (python-docx), saved web pages, a PNG for OCR. Each maker returns the source text it laid out, so tests can
measure how much of it a reader recovers."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "corpus"
SHARED = ROOT.parent / "shared"


def seed_paragraphs(name: str = "支付宝逾期协商不成的应对办法.txt", limit: int | None = None) -> list[str]:
    lines = [line.strip() for line in (SEEDS / name).read_text(encoding="utf-8").splitlines() if line.strip()]
    return lines[:limit] if limit else lines


def statute_articles(law: str = "civil-code.md", first: int = 667, count: int = 12) -> list[str]:
    """`count` consecutive articles (with their 款 joined by newlines) from ../shared/data/laws, from the first-th."""
    from qa.documents.statutes import cn_number

    text = (SHARED / "data" / "laws" / law).read_text(encoding="utf-8")
    out = []
    for n in range(first, first + count):
        match = re.search(rf"^第{cn_number(n)}条[\s\S]*?(?=^第[零一二三四五六七八九十百千]+条|^#|\Z)", text, re.M)
        if match:
            out.append("\n".join(line.strip() for line in match.group(0).splitlines() if line.strip()))
    return out


def _wrap(text: str, width: int) -> list[str]:
    return [text[i : i + width] for i in range(0, len(text), width)] or [""]


def make_pdf(path: Path, pages: list[list[str]], *, two_column_page: int | None = None, blank_page: bool = False) -> None:
    """One list of paragraphs per page, laid out in STSong-Light 11 pt; the page numbered `two_column_page`
    (1-based) is set in two columns; `blank_page` appends a page with no text layer (a drawn box only)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    c = canvas.Canvas(str(path), pagesize=A4)
    width, height = A4
    for number, paragraphs in enumerate(pages, start=1):
        columns = [(50, 40)] if number != two_column_page else [(50, 20), (310, 20)]
        per_column = -(-len(paragraphs) // len(columns))
        for col, (x, chars) in enumerate(columns):
            y = height - 60
            for paragraph in paragraphs[col * per_column : (col + 1) * per_column]:
                for row in _wrap(paragraph, chars):
                    c.setFont("STSong-Light", 11)
                    c.drawString(x, y, row)
                    y -= 16
                y -= 10
        c.setFont("Helvetica", 9)
        c.drawString(width / 2, 30, str(number))  # a page number in the footer, as real documents have
        c.showPage()
    if blank_page:
        c.rect(100, 100, 300, 300)
        c.showPage()
    c.save()


def make_encrypted_pdf(path: Path, plain: Path) -> None:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(plain))
    writer.encrypt(user_password="secret", algorithm="AES-256")
    with path.open("wb") as handle:
        writer.write(handle)


def make_docx(path: Path, title: str, sections: list[tuple[str, list[str]]], table: list[list[str]]) -> None:
    import docx

    document = docx.Document()
    document.add_heading(title, level=1)
    for heading, paragraphs in sections:
        document.add_heading(heading, level=2)
        for paragraph in paragraphs:
            document.add_paragraph(paragraph)
    grid = document.add_table(rows=len(table), cols=len(table[0]))
    for r, row in enumerate(table):
        for c, cell in enumerate(row):
            grid.cell(r, c).text = cell
    document.save(str(path))


NAV = ["首页", "网贷知识", "催收投诉", "征信修复", "法律咨询", "关于我们"]
RELATED = ["网贷逾期三年没还会怎么样", "信用卡逾期被起诉怎么办", "花呗逾期一天影响征信吗", "借呗协商还款技巧大全"]


def make_html(title: str, paragraphs: list[str], url: str) -> str:
    """A saved article page: head with canonical link, navigation, the article, related links, footer, scripts."""
    nav = "".join(f'<li><a href="/c/{i}">{item}</a></li>' for i, item in enumerate(NAV))
    related = "".join(f'<li><a href="/a/{i}.html">{item}</a></li>' for i, item in enumerate(RELATED))
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return f"""<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">
<title>{title}_网贷之家法律频道</title><link rel="canonical" href="{url}">
<meta property="og:url" content="{url}"><script>var _hmt = _hmt || []; window.dataLayer = [];</script>
<style>.nav{{display:flex}}</style></head><body>
<div class="header"><ul class="nav">{nav}</ul><div class="search"><input placeholder="搜索"></div></div>
<div class="breadcrumb"><a href="/">首页</a> &gt; <a href="/c/1">网贷知识</a> &gt; 正文</div>
<div class="content"><article><h1>{title}</h1><div class="meta">发布时间：2024-03-18 来源：网贷之家 作者：小编</div>
{body}</article>
<div class="related"><h3>相关推荐</h3><ul>{related}</ul></div>
<div class="ad">广告：极速借款，最高可借20万，点击申请</div></div>
<div class="footer"><p>Copyright © 2024 网贷之家 版权所有 京ICP备12345678号</p><p><a href="/about">关于我们</a> | <a href="/contact">联系我们</a></p></div>
<script>document.querySelectorAll('a').forEach(function(a){{a.target='_blank'}});</script></body></html>"""


def cjk_font() -> str | None:
    """A font file that has Chinese glyphs (fc-list :lang=zh), or None."""
    try:
        out = subprocess.run(["fc-list", ":lang=zh", "file"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    files = [line.split(":")[0].strip() for line in out.splitlines() if line.strip()]
    return files[0] if files else None


def make_png(path: Path, text: str, font_file: str, chars_per_line: int = 18) -> None:
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(font_file, 32)
    rows = _wrap(text, chars_per_line)
    image = Image.new("RGB", (chars_per_line * 34 + 60, len(rows) * 48 + 60), "white")
    draw = ImageDraw.Draw(image)
    for i, row in enumerate(rows):
        draw.text((30, 30 + i * 48), row, font=font, fill="black")
    image.save(path)


def recovered_share(source: str, extracted: str) -> float:
    """Share of the source's characters (whitespace ignored) that the extraction holds, in order (difflib)."""
    import difflib

    a = re.sub(r"\s+", "", source)
    b = re.sub(r"\s+", "", extracted)
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    return sum(block.size for block in matcher.get_matching_blocks()) / max(1, len(a))
