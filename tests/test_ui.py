"""The web page (qa/ui.py, app.py): rendering, the `ask` API through gradio_client, 20 concurrent questions, and a
real headless Chromium driven by Playwright (typing, Enter, example click, XSS, no external requests, screenshot).

Runs on a tiny index built in a temp dir with the fake `hash:256` embedder. Browser tests skip when
/usr/bin/chromium or Playwright is missing (.ci/run installs Debian's chromium).
"""
from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pytest

pytestmark = pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword is deprecated).*")
ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]

LOAN = """被强制下款的处理办法

一、被强制下款的钱需要还吗
如果网贷平台在借款人没有同意的情况下强制下款，借款人应当保存短信、转账记录等证据。
被强制下款的本金一般需要归还，但借款人可以拒绝支付高额利息和砍头息等不合理费用。

二、怎样协商还款
协商还款需要准备身份证明、收入证明、借款合同和还款记录等材料，并说明自己的困难。
"""
COLLECTION = """暴力催收的投诉渠道

催收人员不得骚扰借款人的家人和同事，也不得使用威胁、辱骂等暴力催收手段。
遇到暴力催收，可以向银保监会12378热线、中国人民银行、互联网金融协会投诉，情节严重的可以报警。
"""
XSS = """脚本注入测试文档

特殊标记测试：<script>window.__xss=1</script> 这一段用来检查网页是否把文本当作代码执行。
图片标记测试：<img src=x onerror="window.__xss=2"> 模板标记测试：${window.__xss=3} {{constructor}} 结束。
"""
XSS_QUESTION = "特殊标记测试 <script>window.__xss=9</script> 脚本注入"


# ------------------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def ui_corpus(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("corpus")
    (d / "loan.txt").write_text(LOAN, encoding="utf-8")
    (d / "collection.txt").write_text(COLLECTION, encoding="utf-8")
    (d / "xss.txt").write_text(XSS, encoding="utf-8")
    return d


@pytest.fixture(scope="module")
def qa_obj(ui_corpus, tmp_path_factory):
    from qa import QA

    idx = tmp_path_factory.mktemp("ui") / "idx"
    QA.build(sorted(ui_corpus.glob("*.txt")), idx, model="hash:256", progress=False)
    return QA.load(idx)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(qa_obj):
    from qa.ui import build_app, launch_kwargs

    app = build_app(qa_obj)
    port = _free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **launch_kwargs())
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        app.close()


@pytest.fixture(scope="module")
def client(server):
    from gradio_client import Client

    return Client(server, verbose=False)


# ---------------------------------------------------------------------------------------------------- unit level


def test_import_qa_does_not_import_gradio():
    code = "import sys, qa; import qa.cli; assert 'gradio' not in sys.modules, 'qa imported gradio'"
    code_min = "import sys, qa; assert 'gradio' not in sys.modules, 'qa imported gradio'"
    try:
        import qa.cli  # noqa: F401
    except ImportError:
        code = code_min
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_escape_and_highlight_never_emit_markup():
    from qa.ui import esc, highlight

    raw = '<script>alert(1)</script><img src=x onerror="x()"> ${a} `b` {{c}}'
    out = esc(raw)
    for bad in ("<script", "<img", "${", "{{", "`"):
        assert bad not in out
    marked = highlight("催收<b>催收</b>人员", ["催收"])
    assert marked == "<mark>催收</mark>&lt;b&gt;<mark>催收</mark>&lt;/b&gt;人员"
    # script folding: a Simplified term highlights Traditional text, and the original characters are shown
    assert highlight("協商還款的材料", ["协商", "还款"]) == "<mark>協商還款</mark>的材料"


def _hit(**kw):
    base = dict(rank=1, score=0.5, doc_id="d", source="a.txt", title="标题", chunk_id=0, start=0, end=4,
                text="正文", heading=(), dense_score=0.9, lexical_score=None)
    base.update(kw)
    return SimpleNamespace(**base)


def _answer(**kw):
    base = dict(question="问题", mode="hybrid", warning=None, notice=None, found=True,
                sentences=(SimpleNamespace(text="第一句。", citation=1),), passages=(_hit(),))
    base.update(kw)
    return SimpleNamespace(**base)


def test_render_answer_escapes_corpus_and_shows_cards():
    from qa.ui import render_answer

    hit = _hit(title="<b>T</b>", source="<x>.txt", text="催收<script>bad()</script>", heading=("<h>",))
    page = render_answer(_answer(question="催收", passages=(hit,)), ["前文<img src=x onerror=y()>" + hit.text])
    assert "<script" not in page and "<img" not in page and "<b>T" not in page and "<x>" not in page
    assert "&lt;script&gt;bad()&lt;/script&gt;" in page
    assert '<div class="qa-card" id="qa-p1">' in page and "[1]" in page and "展开上下文" in page
    assert "<mark>催收</mark>" in page


def test_render_states_not_found_and_notices():
    from qa.config import QueryConfig as Config
    from qa.ui import LEXICAL_NOTICE, render_answer

    empty = render_answer(_answer(found=False, sentences=(), passages=()))
    assert Config().not_found_message in empty and "<li>" in empty
    lexical = render_answer(_answer(mode="lexical", warning="no model <x>"))
    assert LEXICAL_NOTICE in lexical and "&lt;x&gt;" in lexical
    truncated = render_answer(_answer(notice="问题过长，已截断"))
    assert "问题过长，已截断" in truncated


def test_resolve_address(monkeypatch):
    from qa.ui import resolve_address

    monkeypatch.delenv("GRADIO_SERVER_PORT", raising=False)
    monkeypatch.delenv("GRADIO_SERVER_NAME", raising=False)
    assert resolve_address() == ("127.0.0.1", 7860)
    monkeypatch.setenv("GRADIO_SERVER_PORT", "8123")
    assert resolve_address() == ("127.0.0.1", 8123)
    assert resolve_address("0.0.0.0", 9000) == ("0.0.0.0", 9000)


def test_app_py_help():
    out = subprocess.run([sys.executable, str(ROOT / "app.py"), "--help"], capture_output=True, text=True,
                         check=True).stdout
    assert "--port" in out and "--host" in out and "--index" in out


# --------------------------------------------------------------------------------------------- library in the loop


def test_run_question_with_real_index(qa_obj):
    from qa.errors import EmptyQuestionError
    from qa.ui import Service, render_answer, run_question

    service = Service(qa_obj)
    answer, contexts = run_question(service, "被强制下款的钱需要还吗？")
    assert answer.found and answer.passages[0].source == "loan.txt"
    page = render_answer(answer, contexts)
    assert "本金一般需要归还" in page and "<mark>" in page
    with pytest.raises(EmptyQuestionError):
        run_question(service, "   \n ")
    xss, contexts = run_question(service, XSS_QUESTION)
    assert xss.found and any(p.source == "xss.txt" for p in xss.passages)
    page = render_answer(xss, contexts)
    assert "<script" not in page and "<img" not in page and "&lt;script&gt;" in page


def test_overlong_question_is_truncated_with_notice(qa_obj):
    from qa.config import QueryConfig as Config
    from qa.ui import Service, render_answer, run_question

    answer, contexts = run_question(Service(qa_obj), "催收人员可以联系我的家人吗？" * 100)
    assert answer.notice and len(answer.question) <= Config().max_question_chars
    assert "qa-notice" in render_answer(answer, contexts)


def test_missing_index_is_built_from_corpus(ui_corpus, tmp_path):
    from qa.ui import Service, run_question

    index_dir = tmp_path / "index"
    service = Service(index_dir, corpus_dir=ui_corpus, model="hash:256")
    assert "正在从" in service.status_html() or service.ready.is_set()
    assert service.ready.wait(120), "the background build did not finish"
    assert service.state.error is None, service.state.error
    assert (index_dir).exists() and "资料库：3 篇文档" in service.status_html()
    answer, _ = run_question(service, "协商还款需要准备哪些材料？")
    assert answer.found and answer.passages[0].source == "loan.txt"


def test_no_dense_model_shows_keyword_only_notice(ui_corpus, tmp_path):
    from qa import QA
    from qa.ui import Service, render_answer, run_question

    QA.build(sorted(ui_corpus.glob("*.txt")), tmp_path / "lexical", model="none", progress=False)
    answer, contexts = run_question(Service(QA.load(tmp_path / "lexical")), "可以向哪些部门投诉暴力催收？")
    assert answer.mode == "lexical" and answer.warning
    page = render_answer(answer, contexts)
    assert "qa-notice" in page and "语义模型不可用" in page and "collection.txt" in page


def test_missing_corpus_is_reported_not_raised(tmp_path):
    from qa.ui import Service

    service = Service(tmp_path / "index", corpus_dir=tmp_path / "nothing-here", model="hash:256")
    assert service.ready.wait(60)
    assert service.state.qa is None and "qa-error" in service.status_html()


# ---------------------------------------------------------------------------------------------------- API (server)


def test_ask_endpoint_via_gradio_client(client):
    result = client.predict("被强制下款的钱需要还吗？", api_name="/ask")
    assert result["found"] is True
    assert "[1]" in result["answer"]
    assert result["passages"][0]["source"] == "loan.txt"
    assert "本金一般需要归还" in " ".join(p["text"] for p in result["passages"])
    assert all(p["title"] and p["source"] for p in result["passages"])
    # optional arguments: k, mode, sources
    filtered = client.predict("暴力催收投诉", 2, "lexical", ["collection.txt"], api_name="/ask")
    assert filtered["mode"] == "lexical" and {p["source"] for p in filtered["passages"]} == {"collection.txt"}
    with pytest.raises(Exception, match="unknown mode"):
        client.predict("催收", 5, "bogus", api_name="/ask")
    blank = client.predict("   ", api_name="/ask")
    assert blank["found"] is False and blank["passages"] == []
    assert "/ask" in json.dumps(client.view_api(print_info=False, return_format="dict"))


def test_twenty_concurrent_questions_all_answered(client):
    questions = [
        "被强制下款的钱需要还吗？",
        "催收人员可以联系我的家人和同事吗？",
        "协商还款需要准备哪些材料？",
        "可以向哪些部门投诉暴力催收？",
    ] * 5
    started = time.perf_counter()
    jobs = [client.submit(q, api_name="/ask") for q in questions]
    results = [job.result(timeout=120) for job in jobs]
    elapsed = time.perf_counter() - started
    assert len(results) == 20
    assert all(r["question"] == q and r["found"] for q, r in zip(questions, results))
    print(f"\n20/20 concurrent questions answered in {elapsed:.2f} s")


def test_twenty_concurrent_clients(server):
    """Twenty separate clients (separate sessions), each with its own request, in parallel threads."""
    from gradio_client import Client

    def one(i: int) -> dict:
        return Client(server, verbose=False).predict(f"协商还款需要准备哪些材料？{i}", api_name="/ask")

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(one, range(20)))
    assert len(results) == 20 and all(r["found"] for r in results)


def test_served_app_builds_missing_index_then_answers(ui_corpus, tmp_path):
    """A first start with no index: the page is up at once, a question asked meanwhile is answered after the build."""
    from gradio_client import Client

    from qa.ui import build_app, launch_kwargs

    app = build_app(tmp_path / "index", corpus_dir=ui_corpus, model="hash:256")
    port = _free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **launch_kwargs())
    try:
        result = Client(f"http://127.0.0.1:{port}/", verbose=False).predict("被强制下款的钱需要还吗？", api_name="/ask")
        assert result["found"] and result["passages"][0]["source"] == "loan.txt"
        assert (tmp_path / "index").is_dir()
    finally:
        app.close()


# ------------------------------------------------------------------------------------------------ real browser


@pytest.fixture(scope="module")
def browser():  # the tests that use it are marked slow (a real browser), still part of the default run
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="Python Playwright not installed")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(locale="zh-CN", viewport={"width": 1100, "height": 1300})
    external: list[str] = []

    def record(request):
        url = request.url
        if not url.startswith(("http://127.0.0.1", "data:", "blob:", "about:")):
            external.append(url)

    context.on("request", record)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.goto(server, wait_until="domcontentloaded", timeout=60_000)
    pg.locator("#qa-question textarea, #qa-question input").first.wait_for(timeout=60_000)
    yield pg
    context.close()
    assert not external, f"the page tried to reach outside 127.0.0.1: {external}"


def _ask_in_page(pg, question: str, *, enter: bool = True) -> None:
    box = pg.locator("#qa-question textarea, #qa-question input").first
    box.fill(question)
    if enter:
        box.press("Enter")
    else:
        pg.locator("#qa-ask").click()


@pytest.mark.slow
def test_browser_question_enter_shows_cited_passage(page, tmp_path):
    _ask_in_page(page, "被强制下款的钱需要还吗？")
    card = page.locator("#qa-answer .qa-card").first
    card.wait_for(timeout=30_000)
    text = page.locator("#qa-answer").inner_text()
    assert "本金一般需要归还" in text and "loan.txt" in text and "[1]" in text
    assert page.locator("#qa-answer .qa-passage mark").count() > 0  # the question's terms are highlighted
    # the surrounding text opens on click
    page.locator("#qa-answer .qa-context summary").first.click()
    assert page.locator("#qa-answer .qa-context-text").first.is_visible()
    page.screenshot(path=str(tmp_path / "answer.png"), full_page=True)
    assert (tmp_path / "answer.png").stat().st_size > 10_000


@pytest.mark.slow
def test_browser_script_passage_is_text_and_never_runs(page, tmp_path):
    _ask_in_page(page, XSS_QUESTION, enter=False)
    page.locator("#qa-answer .qa-card").first.wait_for(timeout=30_000)
    text = page.locator("#qa-answer").inner_text()
    # shown literally (the library's cleaning drops Markdown's "__" from window.__xss, nothing else)
    assert re.search(r"<script>window\.(__)?xss=1</script>", text), text
    assert re.search(r'<img src=x onerror="window\.(__)?xss=2">', text), text
    assert re.search(r"\$\{window\.(__)?xss=3\} \{\{constructor\}\}", text), text
    page.wait_for_timeout(300)  # give a would-be onerror handler time to fire
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.evaluate("typeof window.xss") == "undefined"
    assert page.locator("#qa-answer script, #qa-answer img").count() == 0
    # the question itself is shown as typed, as text
    assert page.locator("#qa-question textarea, #qa-question input").first.input_value() == XSS_QUESTION
    page.screenshot(path=str(tmp_path / "xss.png"), full_page=True)


@pytest.mark.slow
def test_browser_blank_question_prompts_and_example_click_answers(page):
    _ask_in_page(page, "   ")
    page.locator("#qa-answer .qa-prompt").wait_for(timeout=30_000)
    assert page.locator(".toast-body, .toast-wrap .error").count() == 0
    page.get_by_role("button", name="可以向哪些部门投诉暴力催收？").click()
    page.locator("#qa-answer .qa-card").first.wait_for(timeout=30_000)
    assert "collection.txt" in page.locator("#qa-answer").inner_text()
    assert page.locator("#qa-question textarea, #qa-question input").first.input_value() == "可以向哪些部门投诉暴力催收？"


@pytest.mark.slow
def test_browser_source_filter_and_advanced_options(page):
    page.locator("#qa-sources input").first.click()
    page.get_by_role("option", name="collection.txt").click()
    page.keyboard.press("Escape")
    page.get_by_text("高级").click()
    page.get_by_label("关键词检索").check()
    _ask_in_page(page, "借款人遇到暴力催收，协商还款需要准备哪些材料？")  # both documents match
    page.locator("#qa-answer .qa-card").first.wait_for(timeout=30_000)
    text = page.locator("#qa-answer").inner_text()
    assert "collection.txt" in text and "loan.txt" not in text  # the filter holds
    assert "检索方式：关键词检索" in text
