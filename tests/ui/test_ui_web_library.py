"""The 资料库 panel in a real browser: upload a PDF, wait for the rebuild, ask what only it answers and
see its passage cited with its page; remove it and the answer is gone; bad uploads refused in Chinese with nothing
lost; a read-only page (QA_READ_ONLY=1) lists documents without upload or remove controls; the phone layout.

Served on a writable copy of the tiny UI corpus, indexed with the fake `hash:64` embedder.
"""
from __future__ import annotations

import pytest

from tests.docmakers import make_pdf, seed_paragraphs
from tests.ui_fixtures import (  # noqa: F401 (fixtures)
    DESKTOP, LOAN, PHONE, ask_in_page, browser, free_port, open_page, write_corpus,
)

pytestmark = [pytest.mark.slow,
              pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword is deprecated).*")]
UNIQUE = "本合同约定的借款年利率为百分之二十三点九，逾期罚息按日万分之五计收。"
QUESTION = "借款合同约定的年利率和逾期罚息是多少？"
UPLOAD = "#qa-upload input[type=file]"
STATUS = "#qa-library-status"


def _serve(tmp_path_factory, **build):
    from qa import QA
    from qa.ui import build_app, launch_kwargs

    site = tmp_path_factory.mktemp("site")
    (site / "corpus").mkdir()
    write_corpus(site / "corpus")
    QA.build([site / "corpus"], site / "index", model="hash:64")
    app = build_app(site / "index", corpus_dir=site / "corpus", workers=2, **build)
    port = free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
               **launch_kwargs(workers=2))
    return app, site, f"http://127.0.0.1:{port}/"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    app, site, url = _serve(tmp_path_factory, read_only=False)
    try:
        yield site, url
    finally:
        app.close()


@pytest.fixture(scope="module")
def server(served):  # what `open_page` opens
    return served[1]


def _files(site) -> list[str]:
    return sorted(p.name for p in (site / "corpus").iterdir() if p.is_file())


def _open_library(pg) -> None:
    pg.locator("#qa-library .label-wrap").first.click()
    pg.locator("#qa-library-list").first.wait_for(timeout=30_000)


def _status(pg, text: str) -> str:
    """Waits until the panel's status line says `text`; returns the whole line."""
    line = pg.locator(STATUS)
    line.filter(has_text=text).wait_for(timeout=60_000)
    return line.inner_text()


def _record_status(pg) -> None:
    """Keeps every text the status line shows (a fast rebuild shows 「正在更新索引…」 only briefly)."""
    pg.evaluate("""() => { window.__qaSeen = [];
      const el = document.querySelector('#qa-library-status');
      new MutationObserver(() => window.__qaSeen.push(el.innerText)).observe(el, {childList: true, subtree: true,
        characterData: true}); }""")


def _answer(pg, question: str) -> str:
    """Asks and waits for this answer (not the one already shown); returns the answer block's text."""
    pg.evaluate("() => document.querySelectorAll('#qa-answer .qa-answer').forEach((e) => e.setAttribute('data-old', ''))")
    ask_in_page(pg, question)
    pg.locator(f'#qa-answer .qa-answer[data-question="{question}"]:not([data-old])').wait_for(timeout=30_000)
    return pg.locator("#qa-answer").inner_text()


def _pick(pg, selector: str, option: str) -> None:
    pg.locator(f"{selector} input").first.click()
    pg.get_by_role("option", name=option).click()
    pg.keyboard.press("Escape")


def test_upload_a_pdf_ask_what_only_it_answers_then_remove_it(open_page, served, tmp_path):
    site, _ = served
    pdf = tmp_path / "借款合同.pdf"
    make_pdf(pdf, [seed_paragraphs("维信催收怎么处理.txt", 3), [UNIQUE]])
    pg = open_page()
    assert "借款合同.pdf" not in _answer(pg, QUESTION)

    _open_library(pg)
    _record_status(pg)
    pg.locator(UPLOAD).set_input_files(str(pdf))
    line = _status(pg, "已加入 1 篇：借款合同.pdf")
    assert "索引已更新" in line
    assert any("正在更新索引…" in seen for seen in pg.evaluate("window.__qaSeen"))  # progress was shown
    assert "借款合同.pdf" in pg.locator("#qa-library-list").inner_text() and "PDF（2 页）" in pg.locator(
        "#qa-library-list").inner_text()
    assert "借款合同.pdf" in _files(site)

    # the source filter offers the new document at once
    pg.locator("#qa-sources input").first.click()
    assert pg.get_by_role("option", name="借款合同.pdf").count() == 1
    pg.keyboard.press("Escape")

    _answer(pg, QUESTION)
    card = pg.locator("#qa-answer .qa-card").filter(has_text="借款合同.pdf").first
    assert "第 2 页" in card.inner_text() and "百分之二十三点九" in card.inner_text()

    _pick(pg, "#qa-library-pick", "借款合同.pdf")
    pg.locator("#qa-library-remove").click()
    pg.locator("#qa-library-confirm").get_by_text("确定从资料库删除这 1 篇文档吗").wait_for(timeout=10_000)
    pg.locator("#qa-library-yes").click()
    _status(pg, "已删除 1 篇：借款合同.pdf")
    assert not pg.locator("#qa-library-confirm").is_visible()
    assert "借款合同.pdf" not in pg.locator("#qa-library-list").inner_text()
    assert "借款合同.pdf" not in _files(site) and list((site / "corpus" / ".removed").rglob("借款合同.pdf"))

    text = _answer(pg, QUESTION)
    assert "借款合同.pdf" not in text and "百分之二十三点九" not in text  # the answer is gone


def test_bad_uploads_get_chinese_messages_and_nothing_is_lost(open_page, served, tmp_path):
    site, _ = served
    before = _files(site)
    pg = open_page()
    _open_library(pg)

    big = tmp_path / "big.pdf"
    big.write_bytes(b"\0" * (100 * 1024 * 1024))
    pg.locator(UPLOAD).set_input_files(str(big))
    note = pg.locator("#qa-upload-note .qa-error")
    note.wait_for(timeout=10_000)
    assert "big.pdf：文件大小 100 MB，超过上限 50 MB" in note.inner_text()

    pg.locator(UPLOAD).set_input_files([{"name": "run.exe", "mimeType": "application/octet-stream",
                                         "buffer": b"MZ\x90\x00"}])
    assert "run.exe：不支持 .exe 类型的文件" in _status(pg, "未加入任何文件")
    assert pg.locator("#qa-upload-note .qa-error").count() == 0  # the size note went with the new selection

    pg.locator(UPLOAD).set_input_files([{"name": "../../x.txt", "mimeType": "text/plain",
                                         "buffer": UNIQUE.encode()}])
    _status(pg, "已加入 1 篇：x.txt")
    assert _files(site) == sorted([*before, "x.txt"])  # in the corpus folder, nothing else touched
    assert not (site / "x.txt").exists() and not (site.parent / "x.txt").exists()
    assert "loan.txt" in pg.locator("#qa-library-list").inner_text()

    _pick(pg, "#qa-library-pick", "x.txt")
    pg.locator("#qa-library-remove").click()
    pg.locator("#qa-library-no").click()  # cancelled: nothing removed
    pg.locator("#qa-library-confirm").wait_for(state="hidden", timeout=10_000)
    assert "x.txt" in _files(site)
    pg.locator("#qa-library-remove").click()
    pg.locator("#qa-library-yes").click()
    _status(pg, "已删除 1 篇：x.txt")
    assert _files(site) == before


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_refusals_name_the_uploaded_file_in_chinese_and_a_taken_name_says_why(open_page, served, viewport):
    """Issue 23: no server path (Gradio's temporary copy) and no English reader detail; an upload whose name and
    content are already there says the existing file is not overwritten, not just 「资料库没有变化」."""
    site, _ = served
    before = _files(site)
    pg = open_page(viewport=viewport)
    _open_library(pg)
    pg.locator(UPLOAD).set_input_files([
        {"name": "empty.txt", "mimeType": "text/plain", "buffer": b""},
        {"name": "fake.pdf", "mimeType": "application/pdf", "buffer": b"MZ\x90\x00\x03\x00" * 100}])
    line = _status(pg, "未加入任何文件")
    assert line.strip() == "未加入任何文件：empty.txt：文件是空的；fake.pdf：PDF 文件已损坏或无法解析。", line
    assert "/" not in line and "gradio" not in line.lower()

    pg.locator(UPLOAD).set_input_files([{"name": "loan.txt", "mimeType": "text/plain",
                                         "buffer": LOAN.encode("utf-8")}])
    line = _status(pg, "已存在同名")
    assert "loan.txt" in line and "未覆盖" in line and line.strip() != "资料库没有变化。"
    assert _files(site) == before


def test_library_panel_fits_a_phone(open_page):
    pg = open_page(viewport=PHONE)
    _open_library(pg)
    pg.locator("#qa-upload").wait_for()
    assert pg.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    for button in ("#qa-library-remove", "#qa-library .label-wrap"):
        assert pg.locator(button).first.bounding_box()["height"] >= 44


def test_read_only_page_lists_documents_without_controls(browser, tmp_path_factory, monkeypatch):
    monkeypatch.setenv("QA_READ_ONLY", "1")  # as a public deployment sets it
    app, site, url = _serve(tmp_path_factory)
    try:
        assert app.qa_librarian.read_only
        context = browser.new_context(locale="zh-CN")
        pg = context.new_page()
        pg.goto(url, wait_until="domcontentloaded", timeout=60_000)
        _open_library(pg)
        listed = pg.locator("#qa-library-list").inner_text()
        assert all(name in listed for name in _files(site))
        assert "只读" in pg.locator("#qa-library").inner_text()
        for control in ("#qa-upload", UPLOAD, "#qa-library-pick", "#qa-library-remove", "#qa-library-yes"):
            assert pg.locator(control).count() == 0, control
        context.close()
    finally:
        app.close()
