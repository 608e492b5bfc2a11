"""The web page's library side (qa/ui/render.py, service.py, server.py, qa/pipeline/distress.py): pure rendering on real
`Answer`/`Hit` values, and the service on a real index built with the fake `hash:64` embedder. No server, no
browser: those are in tests/ui/test_ui_web.py.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.ui_fixtures import XSS_QUESTION, qa_obj, ui_corpus  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parents[2]


def _hit(**kw):
    from qa.pipeline.retrieve import Hit

    base = dict(rank=1, score=0.5, doc_id="d", source="a.txt", title="标题", chunk_id=0, start=0, end=2,
                text="正文", heading=(), dense_score=0.9, lexical_score=1.5)
    base.update(kw)
    return Hit(**base)


def _answer(sentences=("正文",), **kw):
    from qa.pipeline.answer import Answer, AnswerSentence

    base = dict(question="问题", mode="hybrid", found=True,
                sentences=tuple(AnswerSentence(s, 1) for s in sentences), passages=(_hit(),))
    base.update(kw)
    return Answer(**base)


# ---------------------------------------------------------------------------------------------------- imports


def test_import_qa_and_api_does_not_import_gradio():
    code = ("import sys, qa, qa.api, qa.cli, qa.pipeline.distress; from qa import QA; "
            "assert 'gradio' not in sys.modules, 'qa imported gradio'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_importing_the_page_sets_no_environment():
    code = "import os; before = dict(os.environ); import qa.ui; assert dict(os.environ) == before"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# ---------------------------------------------------------------------------------------------------- render


def test_escape_and_highlight_never_emit_markup():
    from qa.ui.render import esc, highlight

    raw = '<script>alert(1)</script><img src=x onerror="x()"> ${a} `b` {{c}}'
    out = esc(raw)
    for bad in ("<script", "<img", "${", "{{", "`"):
        assert bad not in out
    marked = highlight("催收<b>催收</b>人员", ["催收"])
    assert marked == "<mark>催收</mark>&lt;b&gt;<mark>催收</mark>&lt;/b&gt;人员"
    # script folding: a Simplified term highlights Traditional text, and the original characters are shown
    assert highlight("協商還款的材料", ["协商", "还款"]) == "<mark>協商還款</mark>的材料"


def test_render_answer_escapes_corpus_marks_the_sentence_and_copies_plain_text():
    from qa.ui.render import render_answer

    text = "催收<script>bad()</script>。催收人员不得骚扰家人。其他内容。"
    hit = _hit(title="<b>T</b>", source="<x>.txt", text=text, heading=("<h>",), end=len(text))
    page = render_answer(_answer(("催收人员不得骚扰家人。",), question="催收", passages=(hit,)),
                         ["前文<img src=x onerror=y()>" + text])
    assert "<script" not in page and "<img" not in page and "<b>T" not in page and "<x>" not in page
    assert "&lt;script&gt;bad()&lt;/script&gt;" in page
    assert '<div class="qa-card" id="qa-p1">' in page and "[1]" in page and "展开上下文" in page
    assert "<mark>催收</mark>" in page
    # the answer sentence is marked inside its cited card (with the question's terms still highlighted)
    assert '<span class="qa-said"><mark>催收</mark>人员不得骚扰家人。</span>' in page
    # 复制答案 copies the answer with its markers and the cited sources, as text
    assert 'class="qa-copy"' in page and "催收人员不得骚扰家人。[1]\n\n来源：\n[1] &lt;b&gt;T&lt;/b&gt;（&lt;x&gt;.txt）" in page


def test_plain_text_lists_only_cited_sources():
    from qa.ui.render import plain_text

    two = _answer(("正文",), passages=(_hit(), _hit(rank=2, source="b.txt", title="乙", chunk_id=1)))
    assert plain_text(two) == "问题\n\n正文[1]\n\n来源：\n[1] 标题（a.txt）"


def test_render_states_not_found_lexical_and_notice():
    from qa.ui.render import LEXICAL_NOTICE, render_answer

    empty = render_answer(_answer((), found=False, passages=(), not_found_message="没有找到"))
    assert "没有找到" in empty and "<li>" in empty  # the Answer's own message, not a re-derived one
    lexical = render_answer(_answer(mode="lexical", warning="no model <x>"))
    assert LEXICAL_NOTICE in lexical and "&lt;x&gt;" in lexical
    other = render_answer(_answer(warning="索引是旧版本"))  # a warning that is not about lexical mode
    assert "索引是旧版本" in other and LEXICAL_NOTICE not in other
    truncated = render_answer(_answer(notice="问题过长，已截断"))
    assert "问题过长，已截断" in truncated


def test_found_without_sentences_shows_the_answers_own_text():
    from qa.ui.render import render_answer

    answer = _answer(())
    page = render_answer(answer)
    assert f"<p>{answer.text}</p>" in page and 'class="qa-card"' in page


def test_display_script_converts_what_is_shown_never_the_citation():
    from qa.ui.render import converter, render_answer

    text = "與平台協商還款時，應當說明自己的經濟困難。"
    hit = _hit(title="協商還款", source="協商.txt", text=text, end=len(text))
    answer = _answer((text,), question="协商还款", passages=(hit,))
    simplified = render_answer(answer, convert=converter("t2s"))
    assert "与平台<mark>协商还款</mark>时" in simplified and "<code>協商.txt</code>" in simplified
    assert "[1] 協商還款（協商.txt）" in simplified  # the copied citation keeps the original
    original = render_answer(answer, convert=converter(None))
    assert "與平台<mark>協商還款</mark>時" in original
    assert "与平台" in render_answer(_answer(("与平台",), passages=(_hit(text="与平台"),)),
                                      convert=converter("bogus"))


def test_answer_dict_for_the_api():
    from qa.ui.render import answer_dict

    out = answer_dict(_answer(), support=None)
    assert out["answer"] == "正文[1]" and out["passages"][0]["n"] == 1 and out["sources"] == ["a.txt"]
    assert out["message"] is None and out["warning"] is None and out["support"] is None
    missing = answer_dict(_answer((), found=False, passages=(), not_found_message="无"), support="求助")
    assert missing["message"] == "无" and missing["support"] == "求助"


# --------------------------------------------------------------------------------------------------- distress


@pytest.mark.parametrize("question", ["我想自杀", "活不下去了", "被催收逼得不想活了", "我想自殺", "I want to kill myself",
                                      "I don't want to live anymore", "thinking about SUICIDE"])
def test_distress_is_detected(question):
    from qa.pipeline.distress import is_distress, support_message

    assert is_distress(question)
    message = support_message(question)
    assert "12356" in message and "110" in message


@pytest.mark.parametrize("question", ["被强制下款的钱需要还吗？", "催收说要杀了我的家人怎么办", "how to end my loan",
                                      "死亡证明怎么开", "",
                                      "the collector threatened to kill me"])
def test_ordinary_questions_are_not_distress(question):
    from qa.pipeline.distress import is_distress

    assert not is_distress(question)


def test_distress_message_and_patterns_are_configurable():
    from qa.config import QueryConfig as Config
    from qa.pipeline.distress import support_message

    config = Config(distress_message="请拨打热线。", distress_patterns=("熬不住",))
    assert support_message("我真的熬不住了", config) == "请拨打热线。"
    assert support_message("我想自杀", config) is None


def test_distress_question_without_answer_gets_support_not_not_found():
    from qa.ui.render import render_answer

    page = render_answer(_answer((), question="我想自杀", found=False, passages=()), support="热线 12356")
    assert "qa-support" in page and "12356" in page and "未找到相关内容" not in page


# ---------------------------------------------------------------------------------------------------- service


def test_run_question_with_real_index(qa_obj):
    from qa.errors import EmptyQuestionError
    from qa.ui.render import render_answer
    from qa.ui.service import Service, run_question

    service = Service(qa_obj)
    reply = run_question(service, "被强制下款的钱需要还吗？")
    assert reply.answer.found and reply.answer.passages[0].source == "loan.txt" and reply.support is None
    page = render_answer(reply.answer, reply.contexts)
    assert "本金一般需要归还" in page and "<mark>" in page and "qa-said" in page
    with pytest.raises(EmptyQuestionError):
        run_question(service, "   \n ")
    xss = run_question(service, XSS_QUESTION)
    assert xss.answer.found and any(p.source == "xss.txt" for p in xss.answer.passages)
    page = render_answer(xss.answer, xss.contexts)
    assert "<script" not in page and "<img" not in page and "&lt;script&gt;" in page


def test_distress_question_through_the_service(qa_obj):
    from qa.ui.service import Service, run_question

    reply = run_question(Service(qa_obj), "我想自杀")
    assert reply.support == qa_obj.config.distress_message


@pytest.mark.parametrize("k", [0, 11, 50, -1, 2.5, "many"])
def test_top_k_outside_the_one_limit_is_refused(qa_obj, k):
    from qa.ui.service import InvalidInputError, Service, run_question

    with pytest.raises(InvalidInputError, match=f"1 到 {qa_obj.config.k_max}"):
        run_question(Service(qa_obj), "协商还款", k=k)


def test_top_k_within_the_limit(qa_obj):
    from qa.ui.service import Service, run_question

    service = Service(qa_obj)
    assert len(run_question(service, "还款", k=qa_obj.config.k_max).answer.passages) <= qa_obj.config.k_max
    assert len(run_question(service, "还款", k=1).answer.passages) == 1


def test_overlong_question_is_truncated_with_notice(qa_obj):
    from qa.ui.render import render_answer
    from qa.ui.service import Service, run_question

    reply = run_question(Service(qa_obj), "催收人员可以联系我的家人吗？" * 100)
    assert reply.answer.notice and len(reply.answer.question) <= qa_obj.config.max_question_chars
    assert "qa-notice" in render_answer(reply.answer, reply.contexts)


def test_missing_index_is_built_from_corpus(ui_corpus, tmp_path, monkeypatch):
    from qa.ui.service import Service, run_question

    monkeypatch.chdir(tmp_path)
    index_dir = tmp_path / "index"
    service = Service(index_dir, corpus_dir=ui_corpus, model="hash:64")
    assert service.ready.wait(120), "the background build did not finish"
    assert service.state.error is None, service.state.error
    status = service.status_html()
    assert index_dir.exists() and "资料库：4 篇文档" in status and "刚刚从" in status
    assert str(ui_corpus) not in status  # the server's absolute path is not shown to visitors
    reply = run_question(service, "协商还款需要准备哪些材料？")
    assert reply.answer.found and reply.answer.passages[0].source == "loan.txt"


def test_build_message_elapsed_time_and_relative_path(tmp_path, monkeypatch):
    from qa.ui.service import Service

    now = [1000.0]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "docs").mkdir()
    service = Service(tmp_path / "index", corpus_dir=tmp_path / "docs", model="hash:64", clock=lambda: now[0])
    service.ready.wait(60)  # an empty corpus: the build fails, reported on the page
    service.state.building, service.state.started, service.state.error = True, 1000.0, None
    now[0] = 1013.4
    status = service.status_html()
    assert "已用 13 秒" in status and "<code>docs/</code>" in status and str(tmp_path) not in status


def test_no_dense_model_shows_keyword_only_notice(ui_corpus, tmp_path):
    from qa import QA
    from qa.ui.render import render_answer
    from qa.ui.service import Service, run_question

    QA.build(sorted(ui_corpus.glob("*.txt")), tmp_path / "lexical", model="none", progress=False)
    reply = run_question(Service(QA.load(tmp_path / "lexical")), "可以向哪些部门投诉暴力催收？")
    assert reply.answer.mode == "lexical" and reply.answer.warning
    page = render_answer(reply.answer, reply.contexts)
    assert "qa-notice" in page and "语义模型不可用" in page and "collection.txt" in page


def test_missing_corpus_is_reported_not_raised(tmp_path):
    from qa.ui.service import Service

    service = Service(tmp_path / "index", corpus_dir=tmp_path / "nothing-here", model="hash:64")
    assert service.ready.wait(60)
    assert service.state.qa is None and "qa-error" in service.status_html()


# ----------------------------------------------------------------------------------------------------- server


def test_resolve_address(monkeypatch):
    from qa.ui import resolve_address

    monkeypatch.delenv("GRADIO_SERVER_PORT", raising=False)
    monkeypatch.delenv("GRADIO_SERVER_NAME", raising=False)
    assert resolve_address() == ("127.0.0.1", 7860)
    monkeypatch.setenv("GRADIO_SERVER_PORT", "8123")
    assert resolve_address() == ("127.0.0.1", 8123)
    assert resolve_address("0.0.0.0", 9000) == ("0.0.0.0", 9000)


def test_parse_auth(monkeypatch):
    from qa.errors import ConfigError
    from qa.ui.server import parse_auth

    monkeypatch.delenv("QA_AUTH", raising=False)
    assert parse_auth() is None
    assert parse_auth("ann:pa:ss") == ("ann", "pa:ss")
    monkeypatch.setenv("QA_AUTH", "bob:secret")
    assert parse_auth() == ("bob", "secret")
    with pytest.raises(ConfigError):
        parse_auth("nopassword")


def test_app_py_and_qa_serve_help():
    out = subprocess.run([sys.executable, str(ROOT / "app.py"), "--help"], capture_output=True, text=True,
                         check=True).stdout
    for option in ("--port", "--host", "--index", "--workers", "--auth"):
        assert option in out
    out = subprocess.run([sys.executable, "-m", "qa", "serve", "--help"], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout
    assert "--workers" in out and "--auth" in out


def test_a_rebuilt_index_is_picked_up_whole(ui_corpus, tmp_path):
    import shutil

    from qa import QA
    from qa.ui.service import Service, run_question

    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(ui_corpus / "loan.txt", docs)
    QA.build([docs], tmp_path / "index", model="hash:64", progress=False)
    service = Service(tmp_path / "index", corpus_dir=docs)
    old = service.get()
    assert service.sources() == ["loan.txt"]
    shutil.copy(ui_corpus / "collection.txt", docs)
    QA.build([docs], tmp_path / "index", model="hash:64", progress=False)  # `qa build` while the page runs
    reply = run_question(service, "可以向哪些部门投诉暴力催收？")
    assert service.get() is not old and sorted(service.sources()) == ["collection.txt", "loan.txt"]
    assert reply.answer.passages[0].source == "collection.txt"


def test_card_shows_page_article_and_escaped_link():
    from qa.ui.render import render_card

    html = render_card(1, _hit(page=3, article="第六百八十条", title="民法典", url="https://x.cn/a?b=1&c=<2>"), [])
    assert "第 3 页" in html
    assert "第六百八十条" in html and "《民法典》" in html
    assert 'href="https://x.cn/a?b=1&amp;c=&lt;2&gt;"' in html
    assert 'target="_blank" rel="noopener noreferrer"' in html
    assert "<2>" not in html


def test_card_never_links_a_non_http_url_and_plain_passages_show_no_location():
    from qa.ui.render import render_card

    html = render_card(1, _hit(url="javascript:alert(1)"), [])
    assert "<a " not in html and "javascript:alert(1)" in html
    plain = render_card(1, _hit(), [])
    assert "页" not in plain and "链接" not in plain and "条文" not in plain
