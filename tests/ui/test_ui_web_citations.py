"""Tapping a citation [n] in a real browser (issue 23, item 1): the page scrolls to passage n's card and keeps the
answer and the address (`?q=…`). Gradio's `<base href>` and the page's `history.replaceState` made the plain
`href="#qa-pn"` point at another URL, so the tap used to load `/#qa-p1`: answer gone, page back at the top.

Desktop 1366×900 and phone 390×844, zh-CN, headless Chromium; a tiny index with the fake `hash:64` embedder.
"""
from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from tests.ui_fixtures import PHONE, answered, browser, open_page, qa_obj, running_page, ui_corpus  # noqa: F401

pytestmark = [pytest.mark.slow,
              pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword is deprecated).*")]
DESKTOP = {"width": 1366, "height": 900}
QUESTION = "可以向哪些部门投诉暴力催收？"


@pytest.fixture(scope="module")
def server(qa_obj):
    with running_page(qa_obj, workers=1) as address:
        yield address


def _in_view(pg, selector: str, viewport: dict) -> bool:
    box = pg.locator(selector).bounding_box()
    return box is not None and box["y"] < viewport["height"] and box["y"] + box["height"] > 0


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_a_citation_scrolls_to_its_card_and_keeps_the_answer(open_page, viewport):
    pg = open_page("?q=" + QUESTION, viewport=viewport)
    answered(pg)
    pg.locator(f'#qa-answer .qa-answer[data-question="{QUESTION}"]').wait_for(timeout=30_000)
    answer = pg.locator("#qa-answer .qa-sentences").inner_text()
    cites = pg.locator("#qa-answer .qa-cite")
    assert cites.count() >= 1
    n = cites.last.inner_text().strip("[]")
    pg.evaluate("window.scrollTo(0, 0)")
    pg.wait_for_timeout(300)
    pg.evaluate("window.__qaSamePage = true")  # gone if the tap loads another page
    if viewport == PHONE:
        cites.last.tap()
    else:
        cites.last.click()
    pg.wait_for_timeout(1500)  # smooth scrolling
    assert pg.evaluate("window.__qaSamePage === true"), f"the tap loaded {pg.url}"
    assert parse_qs(urlparse(pg.url).query).get("q") == [QUESTION], pg.url
    assert pg.locator("#qa-answer .qa-sentences").inner_text() == answer  # the answer is still there
    assert _in_view(pg, f"#qa-p{n}", viewport), pg.locator(f"#qa-p{n}").bounding_box()
    # scrolled to the card: it starts at the top of the screen, unless the page ends before it could
    top = pg.locator(f"#qa-p{n}").bounding_box()["y"]
    at_bottom = pg.evaluate("window.scrollY + window.innerHeight >= document.documentElement.scrollHeight - 2")
    assert -2 <= top <= 40 or at_bottom, top
