"""Shared by the web-page tests: a tiny corpus (with an XSS document) and its index with the fake embedder, and
a headless Chromium opening the page served by the test module's own `server` fixture (pytest fixtures: import
them into the test module)."""
from __future__ import annotations

import socket
from contextlib import contextmanager
from pathlib import Path

import pytest

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
TRADITIONAL = """協商還款的步驟

與平台協商還款時，應當說明自己的經濟困難，並提出分期還款的方案。
"""
XSS = """脚本注入测试文档

特殊标记测试：<script>window.__xss=1</script> 这一段用来检查网页是否把文本当作代码执行。
图片标记测试：<img src=x onerror="window.__xss=2"> 模板标记测试：${window.__xss=3} {{constructor}} 结束。
"""
XSS_QUESTION = "特殊标记测试 <script>window.__xss=9</script> 脚本注入"


def write_corpus(d: Path) -> Path:
    (d / "loan.txt").write_text(LOAN, encoding="utf-8")
    (d / "collection.txt").write_text(COLLECTION, encoding="utf-8")
    (d / "traditional.txt").write_text(TRADITIONAL, encoding="utf-8")
    (d / "xss.txt").write_text(XSS, encoding="utf-8")
    return d


@pytest.fixture(scope="module")
def ui_corpus(tmp_path_factory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def qa_obj(ui_corpus, tmp_path_factory):
    """A real index of the corpus above, with the fake `hash:64` embedder."""
    from qa import QA

    idx = tmp_path_factory.mktemp("ui") / "idx"
    QA.build(sorted(ui_corpus.glob("*.txt")), idx, model="hash:64", progress=False)
    return QA.load(idx)


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
DESKTOP = {"width": 1100, "height": 1300}
PHONE = {"width": 390, "height": 844}
BOX = "#qa-question textarea, #qa-question input"


def hash_site(root: Path) -> Path:
    """`root/corpus` with the UI texts and `root/index` built from it with the fake hash:64 embedder."""
    from qa import QA

    (root / "corpus").mkdir()
    write_corpus(root / "corpus")
    QA.build([root / "corpus"], root / "index", model="hash:64")
    return root


@contextmanager
def running_page(qa_obj, workers: int):
    """The page served on 127.0.0.1 (a free port) as `qa serve` serves it; yields its address."""
    from qa.ui import build_app, launch_kwargs

    app = build_app(qa_obj, workers=workers)
    port = free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
               **launch_kwargs(workers=workers))
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        app.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
def open_page(browser, server):
    """Opens the page in a fresh browser context (desktop by default) and checks nothing leaves 127.0.0.1."""
    contexts, external, errors = [], [], []

    def record(request):
        if not request.url.startswith(("http://127.0.0.1", "data:", "blob:", "about:")):
            external.append(request.url)

    def open_(path: str = "", viewport: dict = DESKTOP, *, base: str | None = None, wait_box: bool = True,
              **options):
        phone = viewport == PHONE
        context = browser.new_context(locale="zh-CN", viewport=viewport, has_touch=phone, is_mobile=phone,
                                      **options)
        context.on("request", record)
        contexts.append(context)
        pg = context.new_page()
        pg.on("pageerror", lambda exc: errors.append(str(exc)))
        pg.goto((base or server) + path, wait_until="domcontentloaded", timeout=60_000)
        if wait_box:
            pg.locator(BOX).first.wait_for(timeout=60_000)
        return pg

    yield open_
    for context in contexts:
        context.close()
    assert not external, f"the page tried to reach outside 127.0.0.1: {external}"
    assert not errors, errors


@pytest.fixture
def page(open_page):
    return open_page()


def ask_in_page(pg, question: str, *, enter: bool = True) -> None:
    box = pg.locator(BOX).first
    box.fill(question)
    if enter:
        box.press("Enter")
    else:
        pg.locator("#qa-ask").click()


def answered(pg) -> None:
    pg.locator("#qa-answer .qa-card, #qa-answer .qa-support, #qa-answer .qa-error").first.wait_for(timeout=30_000)
