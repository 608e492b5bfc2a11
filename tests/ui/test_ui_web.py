"""The web page served for real: the `ask` API through gradio_client, concurrent callers, and a headless Chromium
driven by Playwright on desktop and on a 390×844 phone (uploads, login, phone layout, ?q=, copy,
history, Chinese chrome, top-k limit, 简/繁 display, the answer inside its card, people in distress).

Runs on a tiny index built in a temp dir with the fake `hash:64` embedder. Browser tests skip when
/usr/bin/chromium or Playwright is missing (.ci/run installs Debian's chromium).
"""
from __future__ import annotations

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.ui_fixtures import (  # noqa: F401 (fixtures)
    BOX, DESKTOP, PHONE, XSS_QUESTION, answered, ask_in_page, browser, free_port, open_page, page, qa_obj, running_page,
    ui_corpus,
)

pytestmark = pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword is deprecated).*")


@pytest.fixture(scope="module")
def server(qa_obj):
    with running_page(qa_obj, workers=2) as address:
        yield address


@pytest.fixture(scope="module")
def client(server):
    from gradio_client import Client

    return Client(server, verbose=False)


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
    with pytest.raises(Exception, match="1 到 10"):  # the page's limit, not silently clamped
        client.predict("催收", 50, api_name="/ask")
    assert len(client.predict("催收", 10, api_name="/ask")["passages"]) <= 10
    support = client.predict("我想自杀", api_name="/ask")
    assert "12356" in support["support"] and "110" in support["support"]
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


@pytest.mark.slow
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

    app = build_app(tmp_path / "index", corpus_dir=ui_corpus, model="hash:64")
    port = free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **launch_kwargs())
    try:
        result = Client(f"http://127.0.0.1:{port}/", verbose=False).predict("被强制下款的钱需要还吗？", api_name="/ask")
        assert result["found"] and result["passages"][0]["source"] == "loan.txt"
        assert (tmp_path / "index").is_dir()
    finally:
        app.close()


# ------------------------------------------------------------------------------------------------ real browser


@pytest.mark.slow
def test_browser_question_enter_shows_cited_passage(page, tmp_path):
    ask_in_page(page, "被强制下款的钱需要还吗？")
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
    ask_in_page(page, XSS_QUESTION, enter=False)
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
    ask_in_page(page, "   ")
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
    ask_in_page(page, "借款人遇到暴力催收，协商还款需要准备哪些材料？")  # both documents match
    page.locator("#qa-answer .qa-card").first.wait_for(timeout=30_000)
    text = page.locator("#qa-answer").inner_text()
    assert "collection.txt" in text and "loan.txt" not in text  # the filter holds
    assert "检索方式：关键词检索" in text


# ------------------------------- uploads, login, phone layout, ?q=, copy, history, chrome, limits: one test each


@pytest.mark.slow
def test_upload_over_the_size_limit_is_refused(page, server):
    import httpx

    from qa.config import DEFAULT

    assert DEFAULT.library_max_bytes == 50 * 1024 * 1024  # the documented limit (README: 50 MB), page and library
    # sent with httpx: Playwright's request API takes minutes to carry 100 MB to the browser process and back
    big = httpx.post(server + "gradio_api/upload", timeout=120,
                     files={"files": ("big.pdf", b"\0" * (100 * 1024 * 1024), "application/pdf")})
    assert big.status_code == 413, big.status_code
    assert str(DEFAULT.library_max_bytes) in big.text  # Gradio names the limit (the page says it in Chinese first)
    small = page.request.post(server + "gradio_api/upload", multipart={
        "files": {"name": "small.txt", "mimeType": "text/plain", "buffer": b"hello"}})
    assert small.ok  # the limit refuses size, not uploads as such


@pytest.mark.slow
def test_open_host_warns_and_auth_asks_visitors_to_log_in(qa_obj, open_page, capsys, monkeypatch):
    from gradio_client import Client

    from qa.ui.server import serve

    monkeypatch.delenv("QA_AUTH", raising=False)
    port = free_port()
    app = serve(qa_obj.directory, host="0.0.0.0", port=port, block=False, workers=1)
    app.close()
    out = capsys.readouterr().out
    warnings = [line for line in out.splitlines() if line.startswith("警告")]
    assert len(warnings) == 1 and "没有登录" in warnings[0] and "--auth" in warnings[0] and "QA_AUTH" in warnings[0]

    monkeypatch.setenv("QA_AUTH", "ann:s3cret")
    port = free_port()
    app = serve(qa_obj.directory, host="127.0.0.1", port=port, block=False, workers=1)
    try:
        assert "警告" not in capsys.readouterr().out
        base = f"http://127.0.0.1:{port}/"
        pg = open_page(base=base, wait_box=False)
        pg.locator("input[type=password]").wait_for(timeout=30_000)
        assert pg.locator(BOX).count() == 0  # nothing of the page before logging in
        pg.locator("input[type=text], input:not([type])").first.fill("ann")
        pg.locator("input[type=password]").fill("s3cret")
        pg.locator("input[type=password]").press("Enter")
        pg.locator(BOX).first.wait_for(timeout=30_000)
        with pytest.raises(Exception):  # noqa: B017 - the refusal's class is gradio_client's to choose
            Client(base, verbose=False).predict("催收", api_name="/ask")
        assert Client(base, auth=("ann", "s3cret"), verbose=False).predict("催收", api_name="/ask")["found"]
    finally:
        app.close()


@pytest.mark.slow
def test_phone_scrolls_to_the_answer_and_touch_targets_are_44px(open_page):
    pg = open_page(viewport=PHONE)
    # the 高级 accordion's header too (it was 20 px high, issue 23)
    for button in pg.locator(".qa-example").all() + [pg.locator("#qa-ask"), pg.locator("#qa-advanced .label-wrap")]:
        assert button.bounding_box()["height"] >= 44, button
    ask_in_page(pg, "被强制下款的钱需要还吗？")
    answered(pg)
    pg.wait_for_timeout(1200)  # smooth scrolling
    top = pg.locator("#qa-answer").bounding_box()["y"]
    assert -2 <= top < PHONE["height"] / 2, f"the answer starts at {top}px on an {PHONE['height']}px screen"
    targets = pg.locator("#qa-answer .qa-cite").all() + [pg.locator("#qa-answer .qa-copy"),
                                                         pg.locator("#qa-answer .qa-context summary").first]
    for target in targets:
        box = target.bounding_box()
        assert box["height"] >= 44 and box["width"] >= 44, box
    # the page does not scroll sideways on a phone
    assert pg.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


@pytest.mark.slow
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_q_in_the_address_asks_on_load(open_page, viewport):
    pg = open_page("?q=" + "协商还款需要准备哪些材料？", viewport=viewport)
    answered(pg)
    assert pg.locator(BOX).first.input_value() == "协商还款需要准备哪些材料？"
    assert "loan.txt" in pg.locator("#qa-answer").inner_text()


@pytest.mark.slow
def test_the_address_follows_the_question_so_reload_keeps_the_answer(open_page):
    from urllib.parse import parse_qs, urlparse

    pg = open_page(viewport=PHONE)
    ask_in_page(pg, "可以向哪些部门投诉暴力催收？")
    pg.locator('#qa-answer .qa-answer[data-question="可以向哪些部门投诉暴力催收？"]').wait_for(timeout=30_000)
    assert parse_qs(urlparse(pg.url).query)["q"] == ["可以向哪些部门投诉暴力催收？"]
    pg.reload(wait_until="domcontentloaded")
    answered(pg)
    assert "collection.txt" in pg.locator("#qa-answer").inner_text()


@pytest.mark.slow
def test_copy_button_copies_sentences_and_sources(open_page):
    pg = open_page(permissions=["clipboard-read", "clipboard-write"])
    ask_in_page(pg, "被强制下款的钱需要还吗？")
    answered(pg)
    pg.locator("#qa-answer .qa-copy").click()
    pg.get_by_text("已复制").wait_for(timeout=5_000)
    copied = pg.evaluate("navigator.clipboard.readText()")
    sentences = [s.strip() for s in pg.locator("#qa-answer .qa-sentences p").all_inner_texts()]
    assert copied.startswith("被强制下款的钱需要还吗？")
    assert all(s.replace(" ", "") in copied.replace(" ", "") for s in sentences)
    assert "来源：" in copied and "（loan.txt）" in copied and "<" not in copied


@pytest.mark.slow
def test_recent_questions_are_kept_in_this_browser_only(open_page, browser, server):
    pg = open_page(viewport=PHONE)
    for q in ("协商还款需要准备哪些材料？", "可以向哪些部门投诉暴力催收？"):
        ask_in_page(pg, q)
        pg.locator(f'#qa-answer .qa-answer[data-question="{q}"]').wait_for(timeout=30_000)
    pg.reload(wait_until="domcontentloaded")
    items = pg.locator("#qa-history-list .qa-history-item")
    items.first.wait_for(timeout=30_000)
    assert items.all_inner_texts() == ["可以向哪些部门投诉暴力催收？", "协商还款需要准备哪些材料？"]
    assert _box(items.first)["height"] >= 44
    items.last.click()  # asks it again
    pg.locator('#qa-answer .qa-answer[data-question="协商还款需要准备哪些材料？"]').wait_for(timeout=30_000)
    assert json.loads(pg.evaluate("localStorage.getItem('qa-history')"))[0] == "协商还款需要准备哪些材料？"
    pg.locator("#qa-history-list .qa-history-clear").click()
    assert pg.locator("#qa-history-list .qa-history-item").count() == 0
    # another browser (a fresh context: another visitor) sees none of it
    assert open_page().locator("#qa-history-list .qa-history-item").count() == 0


@pytest.mark.slow
def test_gradio_chrome_is_chinese_without_traffic_stats(page, server):
    footer = page.locator("footer").inner_text()
    assert "·" not in footer and "通过 API 使用" in footer and "Use via API" not in footer  # Gradio's zh-CN texts
    page.locator("footer button.show-api, footer a:has-text('API'), footer button:has-text('API')").first.click()
    page.get_by_text("/ask").first.wait_for(timeout=30_000)
    panel = page.locator("body").inner_text()
    assert not re.search(r"\d+ requests|p50:", panel), "request counts/latency shown to visitors"
    assert page.request.get(server + "monitoring/summary").status != 200
    # while a question is being answered, no English progress text either
    page.keyboard.press("Escape")
    page.goto(server + "?q=催收", wait_until="domcontentloaded")
    page.locator("#qa-answer .qa-searching, #qa-answer .qa-card").first.wait_for(timeout=30_000)
    assert "processing" not in page.locator("#qa-answer").inner_text().lower()


@pytest.mark.slow
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_top_k_out_of_range_is_refused_visibly(open_page, viewport):
    from playwright.sync_api import expect

    pg = open_page(viewport=viewport)
    pg.locator("#qa-advanced").get_by_text("高级").click()
    k = pg.locator("#qa-topk input").first

    def set_k(value: str) -> None:
        # As a person does: type, move on (the blur commits the number before the question is sent), and look that
        # the box kept it, typing again if not: on a loaded CI machine an edit made while the page was still applying
        # its start-up updates was once put back to the default 5 (Gradio re-sets the component's props).
        for _ in range(3):
            k.fill(value)
            k.press("Tab")
            try:
                expect(k).to_have_value(value, timeout=2_000)
                pg.wait_for_timeout(300)
                if k.input_value() == value:
                    return
            except AssertionError:
                pass
        expect(k).to_have_value(value)  # fails, saying what the box shows

    error = pg.locator("#qa-answer .qa-error")
    for question in ("催收", "催收电话", "催收短信"):  # a new question each time, so that a reply is never a stale one
        set_k("50")
        ask_in_page(pg, question)
        pg.locator(f'#qa-answer .qa-error, #qa-answer .qa-answer[data-question="{question}"]').first.wait_for(
            timeout=30_000)
        if error.count() == 1 or k.input_value() == "50":
            break  # refused, or answered with 50 in the box (the failure this test is for)
        # answered because the page had put the default back before the question went out: type it again
    assert error.count() == 1, pg.locator("#qa-answer").inner_text()
    assert "1 到 10" in error.inner_text() and "50" in error.inner_text()
    set_k("0")
    ask_in_page(pg, "协商还款")
    pg.locator("#qa-answer .qa-error:has-text('收到 0')").wait_for(timeout=30_000)
    set_k("2")
    ask_in_page(pg, "协商还款")
    pg.locator("#qa-answer .qa-card").first.wait_for(timeout=30_000)
    assert pg.locator("#qa-answer .qa-card").count() <= 2


@pytest.mark.slow
def test_simplified_traditional_toggle_converts_display_not_citation(open_page):
    pg = open_page()
    ask_in_page(pg, "与平台协商还款时应当说明什么困难")
    card = pg.locator("#qa-answer .qa-card:has(code:text-is('traditional.txt'))").first
    card.wait_for(timeout=30_000)
    assert "與平台" in card.inner_text()
    pg.locator("#qa-script").get_by_text("简体", exact=True).click()
    pg.wait_for_function("document.querySelector('#qa-answer').innerText.includes('与平台')", timeout=10_000)
    card = pg.locator("#qa-answer .qa-card:has(code:text-is('traditional.txt'))").first
    assert "与平台" in card.inner_text() and "與平台" not in card.inner_text()
    copied = pg.locator("#qa-answer .qa-copy-text").input_value()
    assert "與平台協商還款時" in copied and "（traditional.txt）" in copied  # the citation stays the original
    pg.locator("#qa-script").get_by_text("繁體", exact=True).click()
    pg.wait_for_function("!document.querySelector('#qa-answer').innerText.includes('被强制')", timeout=10_000)
    pg.locator("#qa-script").get_by_text("原文", exact=True).click()
    pg.wait_for_function("document.querySelector('#qa-answer').innerText.includes('與平台')", timeout=10_000)


@pytest.mark.slow
def test_answer_sentence_is_marked_inside_its_cited_card(page):
    ask_in_page(page, "被强制下款的钱需要还吗？")
    answered(page)
    first = page.locator("#qa-answer .qa-sentences p").first
    n = re.search(r"\[(\d+)\]", first.inner_text()).group(1)
    sentence = first.inner_text().rsplit("[", 1)[0].strip()
    said = page.locator(f"#qa-p{n} .qa-said")
    assert said.count() >= 1 and sentence in said.all_inner_texts()
    assert said.first.evaluate("e => getComputedStyle(e).backgroundColor") != "rgba(0, 0, 0, 0)"


@pytest.mark.slow
def test_a_caution_leads_an_answer_given_on_thin_evidence(qa_obj, open_page):
    from qa.config import DEFAULT
    from qa.ui import build_app, launch_kwargs

    # every model-graded answer is "thin" here, and every admitted one is quoted (no middle band)
    app = build_app(qa_obj.with_config(caution_below=1.0, gate_answer_min_probability=0.0), workers=1)
    port = free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
               **launch_kwargs(workers=1))
    try:
        pg = open_page(base=f"http://127.0.0.1:{port}/")
        ask_in_page(pg, "平台强制下款到我银行卡怎么办")  # let through by the model, not by full coverage
        answered(pg)
        caution = pg.locator("#qa-answer .qa-caution")
        assert caution.count() == 1, pg.locator("#qa-answer").inner_text()
        assert caution.inner_text() == DEFAULT.caution_message and caution.is_visible()
        assert pg.locator("#qa-answer .qa-sentences p").count() >= 1  # the answer is still there, flagged
    finally:
        app.close()


@pytest.mark.slow
@pytest.mark.parametrize("question", ["我想自杀", "被催收逼得活不下去了", "I want to end my life"])
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_people_in_distress_get_the_hotline_not_not_found(open_page, question, viewport):
    pg = open_page(viewport=viewport)
    ask_in_page(pg, question)
    support = pg.locator("#qa-answer .qa-support")
    try:
        support.wait_for(timeout=30_000)
    except Exception:
        raise AssertionError(pg.locator("#qa-answer").inner_html()[-1500:]) from None
    pg.wait_for_timeout(1200)  # smooth scrolling on a phone
    assert "12356" in support.inner_text() and "110" in support.inner_text()
    assert "未找到相关内容" not in pg.locator("#qa-answer").inner_text()
    assert support.is_visible() and 0 <= support.bounding_box()["y"] < viewport["height"]


@pytest.mark.slow
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_distress_gets_the_calm_message_first_then_what_the_documents_say(open_page, viewport):
    """「活不下去了，网贷逼死我了」: the hotline message first, then cited passages about the debt, as for any
    question (it used to get the message and nothing else)."""
    pg = open_page(viewport=viewport)
    ask_in_page(pg, "活不下去了，网贷逼死我了")
    answer = pg.locator("#qa-answer")
    answer.locator(".qa-card").first.wait_for(timeout=30_000)
    support = answer.locator(".qa-support")
    assert "12356" in support.inner_text()
    assert support.bounding_box()["y"] < answer.locator(".qa-card").first.bounding_box()["y"]
    assert "未找到相关内容" not in answer.inner_text()


def test_workers_default_by_cores_and_concurrent_callers_overlap(qa_obj):
    import os

    from gradio_client import Client

    from qa.ui import build_app, launch_kwargs
    from qa.ui.layout import default_workers

    assert default_workers() == max(1, os.cpu_count() or 1)
    app = build_app(qa_obj)
    assert app.qa_workers == default_workers()
    app = build_app(qa_obj, workers=4)
    port = free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
               **launch_kwargs(workers=4))
    try:
        url = f"http://127.0.0.1:{port}/"
        with ThreadPoolExecutor(max_workers=12) as pool:
            results = list(pool.map(lambda i: Client(url, verbose=False).predict(f"协商还款{i}", api_name="/ask"),
                                    range(12)))
        assert all(r["found"] for r in results)
    finally:
        app.close()


def _box(locator, tries: int = 50) -> dict:
    """The element's box once laid out: the page re-renders the history list right after a reload, so a box asked for
    at that moment can be None on a loaded machine."""
    for _ in range(tries):
        box = locator.bounding_box()
        if box:
            return box
        locator.page.wait_for_timeout(100)
    raise AssertionError("the element was never laid out")
