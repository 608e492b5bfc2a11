"""Issue 23 case 15: a small saved page kept its navigation links in the index, so words that stand only in the
menu found the page."""
from __future__ import annotations

import pytest

from qa import QA
from qa.documents.formats import read_html

SPAM = ["借贷宝秒批口子", "黑户必下款平台", "免征信小额贷款", "网贷大全入口"]
ARTICLE = "逾期以后应当主动联系平台客服，说明困难，申请延期还款或者分期还款。"


def small_page(menu: str) -> str:
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>协商还款_某站</title></head><body>
{menu}<article><h1>协商还款</h1><p>{ARTICLE}</p></article></body></html>"""


def links(items: list[str]) -> str:
    return "<ul>" + "".join(f'<li><a href="/s/{i}">{s}</a></li>' for i, s in enumerate(items)) + "</ul>"


MENUS = {
    "nav": f"<nav>{links(SPAM)}</nav>",
    "role": f'<div role="navigation">{links(SPAM)}</div>',
    "header": f"<header>{links(SPAM)}</header>",
    "link-dense": f'<div class="menu">{links(SPAM)}</div>',
}


@pytest.mark.parametrize("kind", sorted(MENUS))
def test_menu_links_of_a_small_page_are_not_text(kind):
    text = read_html(small_page(MENUS[kind]).encode()).text
    assert ARTICLE in text
    for spam in SPAM:
        assert spam not in text


def test_a_word_only_in_the_menu_does_not_find_the_page(tmp_path):
    (tmp_path / "page.html").write_text(small_page(MENUS["nav"]), encoding="utf-8")
    (tmp_path / "other.txt").write_text("信用卡分期手续费怎么计算，提前还款是否退还手续费。", encoding="utf-8")
    QA.build([tmp_path], tmp_path / "idx", model="hash:64")
    qa = QA.load(tmp_path / "idx")
    for spam in ("秒批口子", "黑户必下款"):
        assert all(hit.source != "page.html" for hit in qa.search(spam, k=3, mode="lexical").hits)
    assert qa.search("延期还款 分期还款", k=1, mode="lexical").hits[0].source == "page.html"


def test_an_article_with_its_own_header_and_a_list_of_references_keeps_them():
    refs = "".join(f'<li>《民法典》第{n}条规定了借款合同。</li>' for n in (667, 668, 669))
    page = (f'<html><body><nav>{links(SPAM)}</nav><article><header><h1>借款合同</h1><p>作者：小编</p></header>'
            f"<p>{ARTICLE}</p><ul>{refs}</ul></article></body></html>")
    text = read_html(page.encode()).text
    assert ARTICLE in text and "第668条规定了借款合同" in text and "作者：小编" in text
    assert "秒批口子" not in text
