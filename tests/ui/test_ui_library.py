"""The web page's 资料库 panel below Gradio: `Librarian` over the page's `Service` on a real index (fake `hash:64`
embedder): add and remove swap the served QA once, one change at a time, read-only refused server-side, bad
uploads refused in Chinese with nothing else lost, questions during a rebuild answered from the old index."""
from __future__ import annotations

import threading

import pytest

from qa import QA
from qa.ui.librarian import BUSY, NOT_ALL, READ_ONLY, Librarian, LibraryRefused, Outcome, watch
from qa.ui.service import Service, read_only_from_env, run_question

from tests.ui_fixtures import write_corpus

UNIQUE = "本合同约定的借款年利率为百分之二十三点九，逾期罚息按日万分之五计收。"
QUESTION = "借款合同约定的年利率和逾期罚息是多少？"


@pytest.fixture()
def site(tmp_path):
    (tmp_path / "corpus").mkdir()
    corpus = write_corpus(tmp_path / "corpus")
    QA.build([corpus], tmp_path / "index", model="hash:64")
    return tmp_path


def _service(site, **kwargs) -> Service:
    return Service(site / "index", corpus_dir=site / "corpus", **kwargs)


def _files(site) -> list[str]:
    return sorted(p.name for p in (site / "corpus").iterdir())


def _cited(service: Service, question: str = QUESTION) -> set[str]:
    return {h.source for h in run_question(service, question, mode="lexical").answer.passages}


def test_add_and_remove_through_the_service_swap_the_served_index_once(site, monkeypatch):
    service = _service(site)
    librarian = Librarian(service)
    old = service.get()
    assert "合同.txt" not in _cited(service)
    outcome = librarian.add([("合同.txt", UNIQUE.encode())])
    assert isinstance(outcome, Outcome) and outcome.change.added == ("合同.txt",)
    assert "已加入 1 篇：合同.txt" in outcome.message and "索引已更新" in outcome.message
    assert service.get() is outcome.change.qa is not old  # swapped to the QA the change loaded
    loads = []
    monkeypatch.setattr(QA, "load", classmethod(lambda cls, *a, **k: loads.append(a) or pytest.fail("reloaded")))
    assert "合同.txt" in _cited(service) and "合同.txt" in service.sources()
    assert not loads  # the swap was the only load: no question reloaded the index again
    monkeypatch.undo()
    entry = {e.source: e for e in librarian.entries()}["合同.txt"]
    assert entry.kind == "txt" and entry.chunks >= 1 and entry.added

    outcome = librarian.remove(["合同.txt"])
    assert outcome.change.removed == ("合同.txt",) and "已删除 1 篇：合同.txt" in outcome.message
    assert "合同.txt" not in service.sources() and "合同.txt" not in _cited(service)
    assert list((site / "corpus" / ".removed").rglob("合同.txt"))  # moved aside, never deleted


def test_a_question_during_a_rebuild_is_answered_from_the_old_index_and_a_second_change_waits(site):
    service = _service(site)
    started, release = threading.Event(), threading.Event()

    class Held(Librarian):
        def _report(self, stage, done, total):  # the build's own progress calls: hold it mid-way
            super()._report(stage, done, total)
            started.set()
            release.wait(30)

    librarian = Held(service)
    old = service.get()
    steps = []
    runner = threading.Thread(target=lambda: steps.extend(
        watch(lambda: librarian.add([("合同.txt", UNIQUE.encode())]), librarian.progress_text, 0.05)))
    runner.start()
    try:
        assert started.wait(30)
        assert librarian.busy and librarian.progress_text().startswith("正在更新索引…")
        with pytest.raises(LibraryRefused, match=BUSY):
            librarian.add([("另一份.txt", "另一份内容。".encode())])
        with pytest.raises(LibraryRefused, match=BUSY):
            librarian.remove(["loan.txt"])
        # meanwhile questions are answered, from the index as it was
        reply = run_question(service, "被强制下款的钱需要还吗？")
        assert reply.answer.found and service.get() is old and "合同.txt" not in _cited(service)
    finally:
        release.set()
        runner.join(60)
    assert isinstance(steps[-1], Outcome) and all(isinstance(s, str) for s in steps[:-1])
    assert any("读取文档" in s or "写入索引" in s for s in steps[:-1])
    assert not librarian.busy and service.get() is not old and "合同.txt" in _cited(service)
    assert not (site / "corpus" / "另一份.txt").exists()


def test_read_only_refuses_on_the_server_whatever_the_page_shows(site, monkeypatch):
    service = _service(site, read_only=True)
    librarian = Librarian(service)
    before = _files(site)
    assert librarian.read_only and service.get().config.library_read_only
    with pytest.raises(LibraryRefused, match=READ_ONLY):
        librarian.add([("合同.txt", UNIQUE.encode())])
    with pytest.raises(LibraryRefused, match=READ_ONLY):
        librarian.remove(["loan.txt"])
    with pytest.raises(Exception, match="read-only"):  # the served QA itself refuses too
        service.get().add([("合同.txt", UNIQUE.encode())])
    assert _files(site) == before and [e.source for e in librarian.entries()] == sorted(before)

    for value, expected in (("1", True), ("true", True), ("YES", True), ("on", True), ("0", False), ("", False),
                            ("no", False)):
        monkeypatch.setenv("QA_READ_ONLY", value)
        assert read_only_from_env() is expected, value
    monkeypatch.setenv("QA_READ_ONLY", "1")
    assert read_only_from_env(False) is False and read_only_from_env(True) is True  # the flag wins
    monkeypatch.delenv("QA_READ_ONLY")
    assert read_only_from_env() is False


def test_bad_uploads_are_refused_in_chinese_and_nothing_else_is_lost(site):
    qa = QA.load(site / "index").with_config(library_max_bytes=1000)
    service = Service(qa, corpus_dir=site / "corpus")
    librarian = Librarian(service)
    before, sources = _files(site), service.sources()
    with pytest.raises(LibraryRefused) as info:
        librarian.add([("big.txt", "大".encode() * 1000), ("run.exe", b"MZ"), ("noext", b"x")])
    message = str(info.value)
    assert message.startswith("未加入任何文件")
    assert "big.txt：文件大小" in message and "超过上限" in message
    assert "run.exe：不支持 .exe 类型的文件" in message and "noext：不支持 无扩展名" in message
    with pytest.raises(LibraryRefused) as info:  # unreadable: the library's reason for it, in Chinese only
        librarian.add([("broken.docx", b"PK\x03\x04junk")])
    assert str(info.value) == "未加入任何文件：broken.docx：Word 文件已损坏或无法解析。"
    with pytest.raises(LibraryRefused, match="gone.pdf：上传的文件已不在服务器上"):
        librarian.add([str(site / "gone.pdf")])
    with pytest.raises(LibraryRefused, match="请先选择要上传的文件"):
        librarian.add([])
    with pytest.raises(LibraryRefused, match="请先选择要删除的文档"):
        librarian.remove([])
    with pytest.raises(LibraryRefused, match=NOT_ALL):
        librarian.remove(sources)
    with pytest.raises(LibraryRefused, match="删除失败"):
        librarian.remove(["nope.txt"])
    assert _files(site) == before and service.sources() == sources and service.get() is qa

    # a path in the name is dropped; the good file goes in beside a refused one, under the corpus folder only
    outcome = librarian.add([("../../x.txt", UNIQUE.encode()), ("run.exe", b"MZ")])
    assert outcome.change.added == ("x.txt",)
    assert "../../x.txt 的文件名含有路径或不安全的字符，已改名为 x.txt" in outcome.message
    assert "未加入：run.exe：不支持 .exe 类型的文件" in outcome.message
    assert (site / "corpus" / "x.txt").read_text(encoding="utf-8") == UNIQUE
    assert not (site / "x.txt").exists() and not (site.parent / "x.txt").exists()
    assert _files(site) == sorted([*before, "x.txt"])


def test_uploaded_files_are_added_by_their_path(site, tmp_path_factory):
    """Gradio hands the page the files it saved (paths); their names are the uploads' names."""
    upload = tmp_path_factory.mktemp("gradio") / "合同.md"
    upload.write_text(f"# 借款合同\n\n{UNIQUE}\n", encoding="utf-8")
    service = _service(site)
    outcome = Librarian(service).add([str(upload)])
    assert outcome.change.added == ("合同.md",) and "合同.md" in _cited(service)
    assert upload.exists()  # Gradio's copy is left to Gradio


def test_watch_reports_progress_then_the_outcome_or_one_clear_line():
    from qa.errors import CorpusError

    gate = threading.Event()

    def slow() -> str:
        gate.wait(5)
        return "done"

    steps = watch(slow, lambda: "正在更新索引…", 0.01)
    assert next(steps) == "正在更新索引…"
    gate.set()
    assert list(steps)[-1] == "done"

    def broken():
        raise CorpusError("disk on fire")

    last = list(watch(broken, lambda: "…", 0.01))[-1]
    assert isinstance(last, LibraryRefused) and str(last) == "资料库更新失败：disk on fire"


def test_library_table_is_escaped_and_the_page_limit_is_the_librarys():
    from qa.config import DEFAULT
    from qa.library import LibraryEntry
    from qa.ui import launch_kwargs
    from qa.ui.render import render_library, render_library_status

    entry = LibraryEntry("<b>x</b>.pdf", "<script>alert(1)</script>", "pdf", 1, 7, 3, None, "2026-11-24T14:31:29+0800")
    html = render_library([entry])
    assert "<script>" not in html and "&lt;script&gt;" in html and "&lt;b&gt;x&lt;/b&gt;.pdf" in html
    assert "PDF（3 页）" in html and "2026-11-24 14:31" in html and "共 1 个文件，7 个段落" in html
    assert "还没有文档" in render_library([])
    assert 'class="qa-error"' in render_library_status("<坏>", "error") and "&lt;坏&gt;" in render_library_status("<坏>")
    assert launch_kwargs()["max_file_size"] == DEFAULT.library_max_bytes == 50 * 1024 * 1024


@pytest.mark.parametrize("refusal, chinese", [
    (("a.pdf", "encrypted (password protected)", "encrypted"), "a.pdf：文件有密码保护，无法读取"),
    (("scan.pdf", "pages 1-2: no text layer; OCR needs the OCR extra", "needs_ocr"),
     "scan.pdf：扫描件或图片中的文字需要安装 OCR 组件才能识别"),
    (("page.html", "no text in the page (only scripts, styles or markup)", "html_empty"), "page.html：网页中没有正文"),
    (("big.txt", "2.0 MB is over the limit of 1 MB", "size"), "big.txt：文件太大"),
    (("odd.txt", "something new", "a-code-added-later"), "odd.txt：无法读取"),
    (("/tmp/gradio/ab12/x.txt", "empty file", "empty_file"), "x.txt：文件是空的"),  # never a server path
])
def test_reader_reasons_are_worded_in_chinese_only(refusal, chinese):
    from qa.library import Refusal
    from qa.ui.librarian import reader_reason_text

    assert reader_reason_text(Refusal(*refusal)) == chinese


def test_every_reader_reason_code_has_chinese_words():
    from qa.documents.formats import REASON_CODES
    from qa.messages import REASONS as _REASON_TEXT

    assert set(REASON_CODES) <= set(_REASON_TEXT)
