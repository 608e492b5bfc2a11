"""Readers for documents that are not plain text: saved web pages, PDF, Word (DOCX) and images (OCR).

Each reader turns a file's bytes into the plain text the rest of the pipeline cleans, chunks and indexes, plus
where things are in that text: the start offset of every PDF page (so each passage knows its page) and a web page's
canonical URL. A file that cannot be read raises `UnreadableError` with a one-line reason; the caller reports it by
name and goes on. Library choices are measured in docs/FORMATS.md. Heavy parsers are imported only when a file of
their kind is read.
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass, field

from ..config import DEFAULT_READ_LIMITS, ReadLimits
from .decoding import decode
from .unreadable import REASON_CODES as REASON_CODES  # the readers' reasons, offered here with them
from .unreadable import UnreadableError

HTML_SUFFIXES = {".html", ".htm"}
PDF_SUFFIXES = {".pdf"}
DOCX_SUFFIXES = {".docx"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}
SUFFIXES = HTML_SUFFIXES | PDF_SUFFIXES | DOCX_SUFFIXES | IMAGE_SUFFIXES
OCR_HINT = 'needs the OCR extra: pip install -e ".[ocr]"'


@dataclass(frozen=True)
class Extracted:
    text: str
    title: str | None = None
    url: str | None = None  # a web page's canonical link
    page_starts: tuple[int, ...] = ()  # offset in `text` where page 1, 2, … begins (PDF and images)
    notes: tuple[str, ...] = field(default=())  # pages left out, with why


def extract(suffix: str, data: bytes, limits: ReadLimits = DEFAULT_READ_LIMITS) -> Extracted:
    suffix = suffix.lower()
    if suffix in HTML_SUFFIXES:
        return read_html(data)
    if suffix in PDF_SUFFIXES:
        return read_pdf(data, limits)
    if suffix in DOCX_SUFFIXES:
        return read_docx(data, limits)
    if suffix in IMAGE_SUFFIXES:
        return read_image(data, limits)
    raise UnreadableError(f"unsupported file type {suffix}", "unsupported")


# -- line joining -----------------------------------------------------------------------------------------------
_LATIN_END = re.compile(r"[A-Za-z0-9,.;:)]$")
_LATIN_START = re.compile(r"^[A-Za-z0-9(]")
# A line that starts one of these begins a new paragraph even when the previous one ran to the margin.
_NEW_ITEM = re.compile(
    r"^\s*(第[零一二三四五六七八九十百千\d]+[条章节编]|[一二三四五六七八九十]+[、.．]|[（(][一二三四五六七八九十\d]+[)）]"
    r"|\d+\s*[.、．](?!\d)|[•·●■◆▪\-–]\s)"
)
_PARAGRAPH_END = re.compile(r"[。！？!?：:；;”」』）)]$")


def join_lines(lines: list[str], width: float | None = None, widths: list[float] | None = None) -> str:
    """Wrapped lines of one text block → paragraphs separated by newlines.

    A line break is kept where the next line starts a numbered item or article, or where the line ends a sentence
    short of the block's right edge; otherwise the lines are one paragraph: Chinese joins without a space, Latin
    words with one, and a hyphen at the end of a Latin line is dropped.
    """
    out = ""
    previous_width = None
    for i, line in enumerate(lines):
        line = line.strip()
        if not line:
            continue
        if not out:
            out, previous_width = line, widths[i] if widths else None
            continue
        previous_short = previous_width is not None and width and previous_width < 0.85 * width
        previous_width = widths[i] if widths else None
        if _NEW_ITEM.match(line) or (_PARAGRAPH_END.search(out) and (previous_short or width is None)):
            out += "\n" + line
        elif out.endswith("-") and re.search(r"[A-Za-z]-$", out) and line[:1].islower():
            out = out[:-1] + line
        elif _LATIN_END.search(out) and _LATIN_START.match(line):
            out += " " + line
        else:
            out += line
    return out


# -- HTML -------------------------------------------------------------------------------------------------------
def read_html(data: bytes) -> Extracted:
    """Main content by trafilatura; where it finds none, the page minus scripts, navigation, header and footer."""
    from lxml import html as lxml_html

    try:
        markup = _XML_DECLARATION.sub("", _html_decode(data, decode), count=1)
        tree = lxml_html.document_fromstring(markup)
    except Exception as exc:  # decode's ValueError, lxml's ParserError for empty or broken documents
        raise UnreadableError(f"cannot parse HTML ({exc})", "html_broken") from exc
    url = _canonical_url(tree)
    title = _html_title(tree)
    import trafilatura

    # On a small page trafilatura falls back to the whole body, navigation included: spam links in a <nav> then
    # made the page a hit for words that stand only there. The page goes to it without its boilerplate.
    _strip_boilerplate(tree)
    text = trafilatura.extract(lxml_html.tostring(tree, encoding="unicode"), include_tables=True,
                               include_comments=False, favor_recall=True, deduplicate=False) or ""
    if not text.strip():
        text = html_fallback(tree)
    if not text.strip():
        raise UnreadableError("no text in the page (only scripts, styles or markup)", "html_empty")
    if title and text.startswith(title + "\n"):
        text = text[len(title) + 1 :]  # the headline is the title; do not make it the first passage's lead
    return Extracted(text=text.strip(), title=title, url=url)


_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")  # lxml refuses a str that declares its encoding
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-]+)""", re.IGNORECASE)
_SUPERSETS = {"gb2312": "gb18030", "gbk": "gb18030", "big5": "big5hkscs"}  # pages say gb2312 and use GBK


def _html_decode(data: bytes, fallback) -> str:
    """The charset the page declares, where it decodes cleanly; else detection like any text file."""
    declared = _META_CHARSET.search(data[:4096])
    if declared:
        name = declared.group(1).decode("ascii").lower()
        try:
            return data.decode(_SUPERSETS.get(name, name))
        except (LookupError, UnicodeDecodeError):
            pass
    return fallback(data)


def _canonical_url(tree) -> str | None:
    for xpath in ('//link[@rel="canonical"]/@href', '//meta[@property="og:url"]/@content'):
        found = [v.strip() for v in tree.xpath(xpath) if v.strip()]
        if found:
            return found[0]
    return None


def _html_title(tree) -> str | None:
    heading = [" ".join(h.text_content().split()) for h in tree.xpath("//h1")]
    heading = [h for h in heading if h]
    if heading:
        return heading[0]
    title = " ".join((tree.findtext(".//title") or "").split())
    # "文章标题_站点名" / "文章标题 - 站点名": the article's part
    return re.split(r"\s*[_|｜]\s*|\s+[-–—]\s+", title)[0] or None


_BOILERPLATE = ("//script|//style|//noscript|//template|//nav|//aside|//form|//menu"
                "|//*[@role='navigation' or @role='banner' or @role='contentinfo' or @role='complementary'"
                " or @role='search' or @role='menu' or @role='menubar']")
# the page's header and footer; an article's own <header> (its headline) and <footer> stay
_PAGE_FRAME = "//header[not(ancestor::article or ancestor::main)]|//footer[not(ancestor::article or ancestor::main)]"
_LINK_BLOCKS = "//ul|//ol|//dl|//div|//section|//table|//p|//td"


def _strip_boilerplate(tree) -> None:
    """Remove navigation, page header and footer, sidebars, forms and link-dense blocks (lists of links: menus,
    "related articles", tag clouds) from a parsed page, in place."""
    for bad in tree.xpath(_BOILERPLATE + "|" + _PAGE_FRAME):
        if bad.getparent() is not None:
            bad.drop_tree()
    for block in tree.xpath(_LINK_BLOCKS):
        if block.getparent() is not None and _link_dense(block):
            block.drop_tree()


def _link_dense(block) -> bool:
    """At least three links, and their text nearly all the block's text. A block holding the article (an <article>,
    <main> or <h1>) is kept whatever its links."""
    links = block.xpath(".//a")
    if len(links) < 3 or block.xpath(".//article|.//main|.//h1"):
        return False
    text = "".join(block.text_content().split())
    linked = sum(len("".join(a.text_content().split())) for a in links)
    return bool(text) and linked >= 0.8 * len(text)


def html_fallback(tree) -> str:
    """A page's text minus its boilerplate (`_strip_boilerplate`): `read_html` when trafilatura finds no main
    content (and `bench.formats` measures it alone)."""
    _strip_boilerplate(tree)
    body = tree.find("body")
    if body is None:
        return ""
    blocks = []
    for element in body.iter("p", "h1", "h2", "h3", "h4", "li", "td", "div"):
        if element.tag == "div" and element.xpath("./p|./div|./ul|./table"):
            continue
        text = " ".join(element.text_content().split())
        if text:
            blocks.append(text)
    return "\n".join(dict.fromkeys(blocks))


# -- PDF --------------------------------------------------------------------------------------------------------
def _mb(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.0f} MB"


def _too_large(what: str, size: int, limit: int, unit=_mb) -> UnreadableError:
    return UnreadableError(f"{what} {unit(size)}, over the limit of {unit(limit)} (a decompression bomb?): not read",
                           "too_large")


_PDF_STREAM = re.compile(rb"(?<!end)stream\r?\n")


def check_pdf_streams(data: bytes, limit: int) -> None:
    """Raise `too_large` when the PDF's zlib (FlateDecode) streams inflate to more than `limit` bytes in all: pdfminer
    inflates each stream whole, so a small PDF could ask for gigabytes. Streamed here in bounded pieces (nothing kept),
    stopping as soon as the limit is passed."""
    import zlib

    total = 0
    for match in _PDF_STREAM.finditer(data):
        inflater, pos, stuck = zlib.decompressobj(), match.end(), False
        try:
            while pos < len(data) and not inflater.eof and not stuck:
                chunk, pos = data[pos : pos + (1 << 16)], pos + (1 << 16)
                while chunk and not inflater.eof:
                    piece = inflater.decompress(chunk, 1 << 20)
                    total += len(piece)
                    if total > limit:
                        raise _too_large("its compressed streams expand to more than", total, limit)
                    if not piece and inflater.unconsumed_tail == chunk:  # the stream ended (trailing bytes left)
                        stuck = True
                        break
                    chunk = inflater.unconsumed_tail
        except zlib.error:  # not a zlib stream (an image, plain or otherwise encoded): pdfminer does not inflate it
            continue


def read_pdf(data: bytes, limits: ReadLimits = DEFAULT_READ_LIMITS) -> Extracted:
    """pdfminer.six layout analysis (reading order, CID fonts via their CMaps); pages without text go to OCR."""
    check_pdf_streams(data, limits.max_expanded_bytes)
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LAParams, LTTextContainer, LTTextLine
    from pdfminer.pdfdocument import PDFEncryptionError

    pages: list[str] = []
    try:
        for page in extract_pages(io.BytesIO(data), laparams=LAParams()):
            blocks = []
            for element in _reading_order([e for e in page if isinstance(e, LTTextContainer)], page.width):
                lines = [line for line in element if isinstance(line, LTTextLine)] or [element]
                texts = [line.get_text().replace("\n", "") for line in lines]
                blocks.append(join_lines(texts, element.width, [line.width for line in lines]))
            pages.append("\n".join(b for b in blocks if b.strip()))
    except PDFEncryptionError as exc:
        raise UnreadableError("encrypted (password protected)", "encrypted") from exc
    except Exception as exc:  # pdfminer raises many types for a broken file: bad xref, not a PDF at all, …
        raise UnreadableError(f"cannot parse PDF ({type(exc).__name__}: {exc})", "pdf_broken") from exc
    if not pages:
        raise UnreadableError("PDF has no pages", "pdf_empty")
    notes, code = [], "pdf_no_text"
    empty = [i for i, text in enumerate(pages) if not _has_text(text)]
    if empty:
        ocr_texts, note, code = _ocr_pdf_pages(data, empty, limits)
        for i, text in zip(empty, ocr_texts):
            pages[i] = text
        if note:
            notes.append(note)
    if not any(_has_text(text) for text in pages):
        raise UnreadableError(notes[0] if notes else "no text in any page", code)
    text, starts = "", []
    for page_text in pages:
        if text:
            text += "\n\n"
        starts.append(len(text))
        text += page_text.strip()
    return Extracted(text=text, title=_pdf_title(data), page_starts=tuple(starts), notes=tuple(notes))


def _reading_order(boxes: list, width: float) -> list:
    """Text boxes in reading order. pdfminer's own order can put a right column's heading before the end of the
    left column; on a page with two columns: full-width boxes above them, the left column top-down, the right
    column top-down, then full-width boxes below."""
    middle = width / 2
    # page numbers and short headings alone do not make columns: at least two real blocks side by side
    text_boxes = [b for b in boxes if len(b.get_text().strip()) >= 4]
    left = [b for b in text_boxes if b.x1 <= middle + 5]
    right = [b for b in text_boxes if b.x0 >= middle - 5]
    if len(left) < 2 or len(right) < 2:
        return boxes
    if min(max(b.y1 for b in left), max(b.y1 for b in right)) <= max(min(b.y0 for b in left), min(b.y0 for b in right)):
        return boxes  # one above the other, not side by side
    columns_top = max(b.y1 for b in left + right)

    def key(box):
        if box.x1 <= middle + 5 and box.y0 < columns_top:
            return (1, 0, -box.y1)
        if box.x0 >= middle - 5 and box.y0 < columns_top:
            return (1, 1, -box.y1)
        return (0 if box.y0 >= columns_top - 1 else 2, 0, -box.y1)

    return sorted(boxes, key=key)


def _has_text(text: str) -> bool:
    return sum(ch.isalnum() for ch in text) >= 2


def _pdf_title(data: bytes) -> str | None:
    try:
        from pypdf import PdfReader

        title = (PdfReader(io.BytesIO(data)).metadata or {}).get("/Title")
    except Exception:  # a title is a nicety; the text was read already
        return None
    title = " ".join(str(title).split()) if title else ""
    return title if title and title.lower() not in {"untitled", "untitled document"} else None


def _pages_label(pages: list[int]) -> str:
    numbers = [str(i + 1) for i in pages]
    return ("page " if len(numbers) == 1 else "pages ") + ", ".join(numbers[:10]) + (" …" if len(numbers) > 10 else "")


def _ocr_pdf_pages(data: bytes, pages: list[int], limits: ReadLimits = DEFAULT_READ_LIMITS
                   ) -> tuple[list[str], str | None, str]:
    """OCR of the images on pages that have no text layer (scans): their texts, a note naming the pages where that
    was not possible (None if none) and its reason code."""
    engine = ocr_engine()
    if engine is None:
        return [""] * len(pages), f"{_pages_label(pages)}: no text layer; OCR {OCR_HINT}", "needs_ocr"
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    texts, failed = [], []
    for i in pages:
        parts = []
        try:
            for image in reader.pages[i].images:
                parts.append(_ocr_bytes(engine, image.data, limits))
        except Exception:  # an image pypdf cannot decode: the page is reported below
            parts = []
        text = "\n".join(p for p in parts if p)
        texts.append(text)
        if not _has_text(text):
            failed.append(i)
    return texts, (f"{_pages_label(failed)}: no text found (no text layer, OCR found none)" if failed else None), (
        "ocr_no_text")


# -- DOCX -------------------------------------------------------------------------------------------------------
_HEADING_STYLE = re.compile(r"^(?:heading|标题)\s*(\d)$", re.IGNORECASE)


def check_zip(data: bytes, limits: ReadLimits) -> None:
    """Raise `too_large` when a zip-based file (DOCX) declares more than the limit unzipped, or too many parts, before
    anything is unzipped: python-docx reads every part whole. The declared sizes are binding, as Python's zipfile stops
    each part at its declared size (and fails its CRC check if the data is longer)."""
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return  # not a zip: the reader says what is wrong with it
    if len(infos) > limits.max_zip_entries:
        raise _too_large("it holds", len(infos), limits.max_zip_entries, unit=lambda n: f"{n:,} parts")
    total = sum(info.file_size for info in infos)
    if total > limits.max_expanded_bytes:
        raise _too_large("it unzips to", total, limits.max_expanded_bytes)


def read_docx(data: bytes, limits: ReadLimits = DEFAULT_READ_LIMITS) -> Extracted:
    """Paragraphs and tables in document order; Heading N styles become Markdown headings (→ heading path)."""
    check_zip(data, limits)
    try:
        import docx
        from docx.table import Table
        from docx.text.paragraph import Paragraph

        document = docx.Document(io.BytesIO(data))
        lines: list[str] = []
        for block in document.element.body.iterchildren():
            tag = block.tag.rsplit("}", 1)[-1]
            if tag == "p":
                paragraph = Paragraph(block, document)
                text = paragraph.text.strip()
                if not text:
                    continue
                style = paragraph.style.name if paragraph.style is not None else ""
                level = _HEADING_STYLE.match(style or "")
                if level:
                    lines.append("#" * int(level.group(1)) + " " + text)
                elif style == "Title":
                    lines.append("# " + text)
                else:
                    lines.append(text)
            elif tag == "tbl":
                lines.extend(_table_lines(Table(block, document)))
        title = (document.core_properties.title or "").strip() or None
    except Exception as exc:  # zipfile.BadZipFile, KeyError for missing parts, lxml errors: all "cannot read"
        raise UnreadableError(f"cannot read DOCX ({type(exc).__name__}: {exc})", "docx_broken") from exc
    if not lines:
        raise UnreadableError("no text in the document", "docx_empty")
    if title is None:
        title = next((line.lstrip("#").strip() for line in lines if line.startswith("#")), None)
    return Extracted(text="\n".join(lines), title=title)


def _table_lines(table) -> list[str]:
    """A table as one line per row, cells joined by ' | ' (merged cells once), so a row reads as a record."""
    rows = []
    for row in table.rows:
        cells = []
        for cell in row.cells:
            text = " ".join(cell.text.split())
            if text and (not cells or cells[-1] != text):
                cells.append(text)
        if cells:
            rows.append(" | ".join(cells))
    return rows


# -- images (OCR) -----------------------------------------------------------------------------------------------
_ENGINE = None


def ocr_engine():
    """The rapidocr engine (PP-OCR Chinese models bundled in its wheel), or None without the `ocr` extra."""
    global _ENGINE
    if _ENGINE is None:
        try:
            from rapidocr_onnxruntime import RapidOCR
        except ImportError:
            return None
        _ENGINE = RapidOCR()
    return _ENGINE


def check_image(data: bytes, limits: ReadLimits) -> None:
    """Raise `too_large` when the image's header declares more pixels than the limit: decoding it would need
    width × height × 3 bytes (and OCR several times that). Only the header is read."""
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():  # PIL warns above its own limit; ours decides, in one line
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
    except Image.DecompressionBombError as exc:  # PIL's own limit (twice Image.MAX_IMAGE_PIXELS) refuses to open it
        raise UnreadableError(f"image too large: {exc}", "too_large") from exc
    except Exception:  # not an image PIL knows: the reader says so
        return
    if width * height > limits.max_image_pixels:
        raise _too_large(f"the image is {width}×{height} =", width * height, limits.max_image_pixels,
                         unit=lambda n: f"{n / 1e6:.0f} M pixels")


def read_image(data: bytes, limits: ReadLimits = DEFAULT_READ_LIMITS) -> Extracted:
    check_image(data, limits)
    engine = ocr_engine()
    if engine is None:
        raise UnreadableError(f"image {OCR_HINT}", "needs_ocr")
    try:
        text = _ocr_bytes(engine, data, limits)
    except UnreadableError:
        raise
    except Exception as exc:  # undecodable image
        raise UnreadableError(f"cannot read the image ({type(exc).__name__}: {exc})", "image_broken") from exc
    if not _has_text(text):
        raise UnreadableError("no text found in the image", "ocr_no_text")
    return Extracted(text=text, page_starts=(0,))


def _ocr_bytes(engine, data: bytes, limits: ReadLimits = DEFAULT_READ_LIMITS) -> str:
    """OCR lines top to bottom, wrapped lines joined as in PDFs (a line as wide as the widest continues)."""
    import numpy as np
    from PIL import Image

    check_image(data, limits)
    image = np.array(Image.open(io.BytesIO(data)).convert("RGB"))
    result, _ = engine(image)
    if not result:
        return ""
    rows = sorted(result, key=lambda r: (min(p[1] for p in r[0]), min(p[0] for p in r[0])))
    widths = [max(p[0] for p in r[0]) - min(p[0] for p in r[0]) for r in rows]
    return join_lines([r[1] for r in rows], max(widths), widths)
