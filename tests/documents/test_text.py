from qa.text import clean, fold, strip_control


def test_ruby_pinyin_removed_and_offsets_point_into_original():
    original = "時(shí)間:2025\n如果協(xié)商不成,可以(APP)投訴。"
    c = clean(original)
    assert "協商不成" in c.text and "(xié)" not in c.text
    assert "(APP)" in c.text  # no tone mark: not pinyin
    for i, ch in enumerate(c.text):
        if ch != "\n":
            assert original[c.offsets[i]] == ch


def test_boilerplate_lines_and_related_links_dropped():
    original = (
        "正文第一句。\n短信验证码 酒店vi设计 NBA直播 币安下载\n"
        "Copyright © 2025 hfw.cc Inc. All Rights Reserved.\nICP備06013414號-3 公安備 42010502001045\n"
        "辽B2-20140004-27.\n正文第二句。\n大家还在看\n京东白条怎么改还款日\n"
    )
    text = clean(original).text
    assert text == "正文第一句。\n正文第二句。"


def test_markdown_markup_removed_and_headings_recorded():
    c = clean("#### **一、薪分期官方協商客服**\n**1. 客服電話**\n內容在這裡。")
    assert c.text.splitlines()[0] == "一、薪分期官方協商客服"
    assert [level for _, level, _ in c.headings] == [1, 3]


def test_fold_maps_traditional_and_fullwidth_to_simplified():
    assert fold("協商還款ＡＢＣ１２３") == "协商还款abc123"


def test_strip_control():
    assert strip_control("a\x00b\x1bc\u200bd") == "abcd"
