"""Issue 23: bad input and faults from the command line and the notebook API. One regression test per case of
docs/RELIABILITY.md ("Bad input and faults")."""
import os
import threading
import time
import zipfile

import pytest

from qa import QA
from qa.errors import EmptyQuestionError

DOC = "被强制下款的钱需要还吗？法律上，未经同意的强制借款无需偿还本金以外的费用。"


def _one_line_error(result):
    assert result.exit_code == 2, result.output
    assert result.output.startswith("qa: error:") and result.output.count("\n") == 1, result.output
    assert "Traceback" not in result.output and "Usage:" not in result.output
    return result.output


# -- odd questions (item 7) ---------------------------------------------------------------------------------------
def test_ask_with_lone_surrogates_answers_like_search(qa_hash):
    question = "\udcff被强制下款的钱需要还吗\ud800"
    assert qa_hash.search(question).question
    answer = qa_hash.ask(question)  # UnicodeEncodeError from OpenCC before
    assert answer.question == qa_hash.search(question).question == "\ufffd被强制下款的钱需要还吗\ufffd"


@pytest.mark.parametrize("question", ["？！。，", "😀🙃🎉", "征信" * 5000, "强制\x00下款", "\x00", "",
                                      "征信 credit история 信用 🙂", "\ud800", "   \n\t"])
def test_odd_questions_answer_or_say_nothing_found(qa_hash, question):
    if not question.replace("\x00", "").strip():
        with pytest.raises(EmptyQuestionError):
            qa_hash.ask(question)
        return
    result = qa_hash.search(question)
    assert isinstance(result.hits, (list, tuple))
    answer = qa_hash.ask(question)
    assert isinstance(answer.text, str)


# -- bad options are one line like every other error (item 13) ----------------------------------------------------
@pytest.mark.parametrize("args, says", [
    (["ask", "x", "-k", "0"], "k must be a positive integer"),
    (["search", "x", "-k", "abc"], "Invalid value for '-k'"),
    (["ask", "x", "--mode", "fuzzy"], "Invalid value for '--mode'"),
    (["search", "x", "--fusion", "borda"], "Invalid value for '--fusion'"),
    (["build", "--chunk-size", "5"], "Invalid value for '--chunk-size'"),
    (["ask"], "Missing argument 'QUESTION'"),
    (["ask", "x", "--no-such-option"], "No such option"),
    (["no-such-command"], "No such command"),
])
def test_bad_options_are_one_error_line(run, hash_index, args, says):
    result = run(*args, "-i", hash_index) if args[0] in ("ask", "search") and len(args) > 1 else run(*args)
    line = _one_line_error(result)
    assert says in line
    assert "--help)" in line or "k must be" in says  # click's usage errors say where the usage is


def test_help_is_still_help(run):
    assert run("ask", "--help").output.startswith("Usage:")
    assert "Usage:" in run().output  # plain `qa` shows the commands


# -- add/remove names (items 10, 11) -------------------------------------------------------------------------------
@pytest.fixture()
def library(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text(DOC, encoding="utf-8")
    (corpus / "b.txt").write_text("征信记录有误可以向征信中心提出异议，要求更正。", encoding="utf-8")
    QA.build(["corpus"], "index", model="none")
    return tmp_path


def test_a_name_with_a_newline_is_removed_by_that_name(library, run):
    src = library / "x\ny.txt"
    src.write_text("催收人员不得在晚上十点后打电话骚扰借款人。", encoding="utf-8")
    added = run("add", src, "-q")
    assert added.exit_code == 0, added.output
    removed = run("remove", "x\ny.txt", "-q")  # before: no document 'x\ny.txt' (it was stored as x_y.txt)
    assert removed.exit_code == 0, removed.output
    assert "x_y.txt" not in QA.load("index").sources


def test_a_corpus_file_with_a_newline_is_shown_on_one_line_and_removed(library, run):
    (library / "corpus" / "p\nq.txt").write_text("催收人员不得在晚上十点后打电话骚扰借款人。", encoding="utf-8")
    assert run("build", "corpus", "-o", "index", "--model", "none", "-q").exit_code == 0
    result = run("remove", "p\nq.txt", "-q")
    assert result.exit_code == 0 and "removed 1: p\\nq.txt;" in result.output
    assert result.output.count("\n") == 1  # the summary is one line


def test_a_long_legal_name_is_added(library):
    name = "被强制下款" * 15 + "的钱需要还.txt"  # 80 Chinese characters and .txt: 244 bytes, under NAME_MAX
    assert len(name.encode()) == 244
    src = library / name
    src.write_text("催收人员不得在晚上十点后打电话骚扰借款人。", encoding="utf-8")
    change = QA.load("index").add([src])  # before: refused, its temporary name .NAME.part-PID was over 255 bytes
    assert change.added == (name,) and (library / "corpus" / name).is_file()
    again = change.qa.add([(name, "另一份文件：逾期利息不得超过法定上限。".encode())])  # a second one gets NAME-2
    assert len(again.added[0].encode()) <= 255 and again.added[0].endswith("-2.txt")


def test_names_over_name_max_are_shortened_not_refused(library):
    change = QA.load("index").add([("征" * 119 + ".txt", "征信异议的处理期限是二十日。".encode())])
    assert len(change.added[0].encode()) <= 255 and change.added[0].endswith(".txt")


# -- add while another process changes the index (item 14) ---------------------------------------------------------
def _hold_build_lock(index_dir):
    """What a running `qa build` / `qa remove` holds: flock on .NAME.lock beside the index, naming its holder."""
    import fcntl

    fd = os.open(index_dir.parent / f".{index_dir.name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.write(fd, b"pid 4242 on elsewhere")
    return fd


def _corpus_files(library):
    return sorted(p.name for p in (library / "corpus").iterdir() if not p.name.startswith("."))


def _load(wait):
    from qa.config import QueryConfig

    return QA.load("index", config=QueryConfig(library_wait_seconds=wait))


def test_add_while_a_build_holds_the_index_copies_nothing(library):
    from qa.errors import QAError

    qa = _load(0.5)
    new = library / "new.txt"
    new.write_text("催收人员不得在晚上十点后打电话骚扰借款人。", encoding="utf-8")
    fd = _hold_build_lock(library / "index")
    try:
        with pytest.raises(QAError) as info:  # before: copied into the corpus, then failed on the build lock
            qa.add([new])
    finally:
        os.close(fd)
    assert "pid 4242 on elsewhere" in str(info.value) and "nothing was copied" in str(info.value)
    assert _corpus_files(library) == ["a.txt", "b.txt"]
    assert len(QA.load("index").sources) == 2


def test_add_waits_for_a_running_remove_then_adds(library, capsys):
    qa = _load(30)
    new = library / "new.txt"
    new.write_text("催收人员不得在晚上十点后打电话骚扰借款人。", encoding="utf-8")
    fd = _hold_build_lock(library / "index")
    threading.Timer(1.0, os.close, [fd]).start()
    started = time.monotonic()
    change = qa.add([new], progress=True)
    assert time.monotonic() - started >= 0.9 and change.added == ("new.txt",)
    assert "waiting for another qa build, add or remove" in capsys.readouterr().err
    assert _corpus_files(library) == ["a.txt", "b.txt", "new.txt"] and len(change.qa.sources) == 3


def test_add_takes_back_its_copies_when_the_rebuild_fails(library, monkeypatch):
    from qa import library as library_module
    from qa.errors import OutputError

    def busy(*args, **kwargs):  # a `qa build` that took the lock after add looked
        raise OutputError("another qa build is writing index (pid 1 on host)")

    monkeypatch.setattr(library_module, "build_into", busy)
    (library / "corpus" / "b.txt").write_bytes(b"old b")
    before = {n: (library / "corpus" / n).read_bytes() for n in _corpus_files(library)}
    new = library / "new.txt"
    new.write_text("催收人员不得在晚上十点后打电话骚扰借款人。", encoding="utf-8")
    replacement = library / "b.txt"
    replacement.write_text("新的内容：逾期利息不得超过法定上限。", encoding="utf-8")
    with pytest.raises(OutputError):
        QA.load("index").add([new, replacement], replace_existing=True)
    assert {n: (library / "corpus" / n).read_bytes() for n in _corpus_files(library)} == before


def test_remove_while_a_build_holds_the_index_moves_nothing(library):
    from qa.errors import QAError

    fd = _hold_build_lock(library / "index")
    try:
        with pytest.raises(QAError):
            _load(0.3).remove(["a.txt"])
    finally:
        os.close(fd)
    assert _corpus_files(library) == ["a.txt", "b.txt"] and not (library / "corpus" / ".removed").exists()


# -- keyword texts and one-line files are indexed; a reason given is true (item 9) ---------------------------------
def _build(tmp_path, files, **kwargs):
    d = tmp_path / "c"
    d.mkdir(exist_ok=True)
    for name, text in files.items():
        (d / name).write_text(text, encoding="utf-8")
    return QA.build([d], tmp_path / "idx", model="none", **kwargs)


def test_a_text_of_keywords_is_indexed(tmp_path):
    report = _build(tmp_path, {"kw.txt": "外部文件 强制下款 协商 还款 记录\n", "a.txt": DOC})
    assert not report.skipped  # before: skipped as "only whitespace, punctuation or markup" (false)
    hits = QA.load(tmp_path / "idx").search("强制下款 协商", mode="lexical").hits
    assert any(h.source == "kw.txt" for h in hits)


def test_keyword_lines_inside_prose_are_still_dropped_as_link_lists(tmp_path):
    _build(tmp_path, {"a.txt": DOC + "\n短信验证码 酒店设计 直播 币安下载\n"})
    assert "币安" not in QA.load(tmp_path / "idx").context(0)


@pytest.mark.slow
def test_one_long_line_of_sentences_is_indexed(tmp_path):
    sentence = "借款人可以与平台协商还款，上一篇文章讲过逾期利息的计算方法©。"
    report = _build(tmp_path, {"long.txt": sentence * 40_000})  # ~1.3 M characters, one line
    assert not report.skipped and report.chunks > 1000  # before: skipped whole (a boilerplate mark in the line)


@pytest.mark.parametrize("text, says", [
    ("。，！？ …… —— ", "only whitespace, punctuation or markup"),
    ("# \n**  **\n", "only whitespace, punctuation or markup"),
    ("Copyright © 2023 All Rights Reserved.\n京ICP备12345678号\n", "boilerplate"),
])
def test_the_reason_for_an_empty_document_is_true(tmp_path, text, says):
    report = _build(tmp_path, {"a.txt": DOC, "empty.txt": text})
    (skipped,) = report.skipped
    assert str(skipped).startswith("empty.txt: ") and says in str(skipped)


def test_qa_add_reports_what_the_build_will_skip(library):
    change = QA.load("index").add([("kw.txt", "外部文件 强制下款 协商 还款 记录".encode())])
    assert change.added == ("kw.txt",) and not change.report.skipped
    assert "kw.txt" in change.qa.sources
    from qa.library import NothingAdded

    with pytest.raises(NothingAdded) as info:  # before: "added", then skipped by the build
        change.qa.add([("c.txt", "Copyright © 2023 All Rights Reserved.".encode())])
    assert "boilerplate" in str(info.value)


# -- files that block on read (item 12) ----------------------------------------------------------------------------
@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
def test_links_into_proc_and_sys_are_skipped_without_reading(tmp_path):
    d = tmp_path / "c"
    d.mkdir()
    (d / "a.txt").write_text(DOC, encoding="utf-8")
    (d / "status.txt").symlink_to("/proc/self/status")  # a regular file to stat, endless or blocking to read
    report = QA.build([d], tmp_path / "idx", model="none")
    assert report.documents == 1  # before: /proc/self/status indexed as a document
    assert any(s.startswith("status.txt: a file of the kernel's proc file system") for s in map(str, report.skipped))


def test_a_file_replaced_by_a_fifo_after_discovery_is_skipped_at_once(tmp_path):
    from qa.documents.corpus import discover, read_documents

    d = tmp_path / "c"
    d.mkdir()
    (d / "a.txt").write_text(DOC, encoding="utf-8")
    (d / "b.txt").write_text(DOC + "第二份。", encoding="utf-8")
    files, skipped = discover([d])
    (d / "b.txt").unlink()
    os.mkfifo(d / "b.txt")  # swapped in between discovery and reading
    done = []
    reader = threading.Thread(target=lambda: done.append(list(read_documents(files, skipped))), daemon=True)
    reader.start()
    reader.join(10)
    if reader.is_alive():  # the old code blocks in open(): give it a writer so the test process can end
        with open(d / "b.txt", "wb"):
            pass
        pytest.fail("reading blocked on a FIFO")
    assert [doc.source for doc in done[0]] == ["a.txt"]
    assert str(skipped[0]) == "b.txt: cannot be read (no longer a regular file: a FIFO (named pipe))"


def test_qa_add_refuses_a_fifo_and_a_proc_file(library):
    os.mkfifo(library / "pipe.txt")
    from qa.library import NothingAdded

    with pytest.raises(NothingAdded) as info:
        QA.load("index").add([library / "pipe.txt", "/proc/self/status"])
    assert "FIFO" in str(info.value) and "proc file system" in str(info.value)


# -- decompression bombs (item 8) ----------------------------------------------------------------------------------
def _docx_bomb(path, expanded):
    """A real .docx (python-docx opens it) whose word/document.xml is padded with `expanded` bytes of whitespace,
    which compress ~1000:1; written in 1 MB pieces, so the test stays small in memory."""
    import io

    import docx

    seed = io.BytesIO()
    document = docx.Document()
    document.add_paragraph(DOC)
    document.save(seed)
    with zipfile.ZipFile(seed) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            if info.filename != "word/document.xml":
                archive.writestr(info.filename, source.read(info.filename))
                continue
            xml = source.read(info.filename)
            cut = xml.index(b"<w:body>") + len(b"<w:body>")
            with archive.open("word/document.xml", "w", force_zip64=True) as part:
                part.write(xml[:cut])
                block = b" " * (1 << 20)
                for _ in range(expanded >> 20):
                    part.write(block)
                part.write(xml[cut:])


def test_a_docx_bomb_is_skipped_before_it_is_unzipped(tmp_path):
    import tracemalloc

    from qa.documents.formats import UnreadableError, extract

    d = tmp_path / "c"
    d.mkdir()
    (d / "a.txt").write_text(DOC, encoding="utf-8")
    _docx_bomb(d / "bomb.docx", 300 << 20)  # 300 MB unzipped, ~300 KB on disk; the default limit is 256 MB
    data = (d / "bomb.docx").read_bytes()
    assert len(data) < 2 << 20
    tracemalloc.start()
    try:
        with pytest.raises(UnreadableError) as info:
            extract(".docx", data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.code == "too_large" and peak < 10 << 20  # before: python-docx read the 300 MB part whole
    report = QA.build([d], tmp_path / "idx", model="none")
    (skipped,) = report.skipped
    assert str(skipped).startswith("bomb.docx: it unzips to 315 MB, over the limit of 268 MB (a decompression bomb?)")


def test_too_many_zip_parts_and_a_lowered_limit(tmp_path):
    from qa.config import ReadLimits
    from qa.documents.formats import UnreadableError, read_docx

    path = tmp_path / "many.docx"
    with zipfile.ZipFile(path, "w") as archive:
        for i in range(30):
            archive.writestr(f"x/{i}.xml", "<a/>")
    with pytest.raises(UnreadableError) as info:
        read_docx(path.read_bytes(), ReadLimits(max_zip_entries=20))
    assert info.value.code == "too_large" and "30 parts" in str(info.value)


def _png_header(width, height):
    """A PNG that declares width × height pixels and holds almost nothing (decoding it would allocate them all)."""
    import struct
    import zlib

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("width, height", [(10_000, 10_000), (30_000, 30_000)])  # under and over PIL's own limit
def test_an_image_bomb_is_one_line_reason(monkeypatch, width, height):
    import qa.documents.formats as formats

    monkeypatch.setattr(formats, "ocr_engine", lambda: (lambda image: ([], None)))  # OCR installed or not
    with pytest.raises(formats.UnreadableError) as info:
        formats.read_image(_png_header(width, height))
    assert info.value.code == "too_large" and "\n" not in str(info.value)


def test_a_pdf_whose_streams_inflate_past_the_limit_is_skipped():
    import zlib

    from qa.config import ReadLimits
    from qa.documents.formats import UnreadableError, check_pdf_streams, read_pdf

    squeezer = zlib.compressobj()
    body = b"".join(squeezer.compress(b"\0" * (1 << 20)) for _ in range(64)) + squeezer.flush()  # 64 MB → 64 KB
    pdf = (b"%PDF-1.4\n1 0 obj\n<< /Length " + str(len(body)).encode() + b" /Filter /FlateDecode >>\nstream\n" + body
           + b"\nendstream\nendobj\n%%EOF\n")
    check_pdf_streams(pdf, 65 << 20)  # under the limit: nothing said
    with pytest.raises(UnreadableError) as info:
        read_pdf(pdf, ReadLimits(max_expanded_bytes=16 << 20))
    assert info.value.code == "too_large"


# -- the notebook API: odd arguments are typed errors or taken as meant ----------------------------------------------
@pytest.mark.parametrize("call", [
    lambda qa: QA.load(None),
    lambda qa: QA.load(b"index"),
    lambda qa: qa.with_config(no_such_setting=1),
    lambda qa: qa.search_many(None),
    lambda qa: qa.add(None),
    lambda qa: qa.remove(None),
    lambda qa: QA.build([], "never-written"),
])
def test_odd_api_arguments_are_typed_errors(qa_hash, call):
    from qa.errors import QAError

    with pytest.raises(QAError):  # before: TypeError / ValueError from deep inside
        call(qa_hash)


def test_one_string_is_one_item_not_its_characters(qa_hash, library):
    assert len(qa_hash.search_many("征信")) == 1  # before: one search per character
    assert qa_hash.search_many([]) == []  # before: ValueError from numpy
    qa = QA.load("index")
    from qa.library import NothingAdded

    with pytest.raises(NothingAdded) as info:
        qa.add("missing.txt")  # before: "m: no such file; i: no such file; …"
    assert str(info.value) == "nothing added: missing.txt: no such file"
    change = qa.add(("c.txt", "催收人员不得在晚上十点后打电话骚扰借款人。".encode()))  # one upload
    assert change.added == ("c.txt",)
    change = change.qa.add([("d.txt", "逾期利息不得超过法定上限。")])  # an upload's text given as str
    assert change.added == ("d.txt",) and (library / "corpus" / "d.txt").read_text(encoding="utf-8") == "逾期利息不得超过法定上限。"
    assert change.qa.remove("c.txt").removed == ("c.txt",)


def test_qa_add_of_several_paths_adds_each(library, run):
    for name in ("n1.txt", "n2.txt"):
        (library / name).write_text(f"{name}：催收人员不得在晚上十点后打电话骚扰借款人。", encoding="utf-8")
    result = run("add", library / "n1.txt", library / "n2.txt", "-q")
    assert result.exit_code == 0 and "added 2: n1.txt, n2.txt" in result.output
    assert (library / "corpus" / "n2.txt").read_text(encoding="utf-8").startswith("n2.txt：")


# -- encodings -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("data", [
    DOC.encode() + b"\x00\x00" + DOC.encode(),  # UTF-8 with stray NULs: before "binary file"
    DOC.encode("utf-32"),  # its BOM starts like UTF-16's: before decoded as UTF-16
    DOC.encode("utf-16") + b"\x00",  # cut short by a byte: before "'utf-16-le' codec can't decode …"
    DOC.encode("gbk"), DOC.encode("gb18030"), "被強制下款的錢需要還嗎？法律上未經同意的強制借款無需償還。".encode("big5"),
    DOC.encode("utf-16-le"), DOC.encode("utf-16-be"), b"\xef\xbb\xbf" + DOC.encode(),
])
def test_text_encodings_are_decoded(data):
    from qa.documents.corpus import decode

    text = decode(data)
    assert "强制下款" in text or "強制下款" in text


def test_mostly_nul_is_still_binary():
    from qa.documents.corpus import decode
    from qa.documents.formats import UnreadableError

    with pytest.raises(UnreadableError):
        decode(b"\x00\x01\x02\x03" * 1000 + DOC.encode())


def test_a_file_over_the_size_limit_is_skipped_unread(tmp_path, monkeypatch):
    from qa import config

    monkeypatch.setattr(config, "DEFAULT_READ_LIMITS", config.ReadLimits(max_file_bytes=100_000))
    report = _build(tmp_path, {"a.txt": DOC, "big.txt": DOC * 2000})  # 234 KB
    (skipped,) = report.skipped
    assert str(skipped).startswith("big.txt: 0.2 MB is over the limit of 0.1 MB for one file") and report.documents == 1


def test_remove_puts_back_what_it_moved_when_a_move_fails(library, monkeypatch):
    import errno
    import shutil

    from qa import library as library_module

    real_move, calls = shutil.move, []

    def move(src, dst):
        calls.append(src)
        if len(calls) == 2:  # the second file: disk full
            raise OSError(errno.ENOSPC, "No space left on device", dst)
        return real_move(src, dst)

    monkeypatch.setattr(library_module.shutil, "move", move)
    (library / "corpus" / "c.txt").write_text("逾期利息不得超过法定上限。", encoding="utf-8")
    QA.build(["corpus"], "index", model="none")
    with pytest.raises(OSError):
        QA.load("index").remove(["a.txt", "b.txt"])
    assert _corpus_files(library) == ["a.txt", "b.txt", "c.txt"]  # before: a.txt left in .removed/


def test_an_output_under_a_file_says_which_is_not_a_directory(run, tmp_path):
    d = tmp_path / "c"
    d.mkdir()
    (d / "a.txt").write_text(DOC, encoding="utf-8")
    line = _one_line_error(run("build", d, "-o", d / "a.txt" / "idx", "--model", "none", "-q"))
    assert f"{d / 'a.txt'} is not a directory" in line  # before: "File exists: …/a.txt"
    assert (d / "a.txt").read_text(encoding="utf-8") == DOC


def test_eval_of_an_empty_questions_file_says_so(run, hash_index, tmp_path):
    (tmp_path / "q.jsonl").write_text("\n", encoding="utf-8")
    line = _one_line_error(run("eval", tmp_path / "q.jsonl", "-i", hash_index))
    assert "no questions in it" in line  # before: a report of 0 questions, exit 0


def test_a_file_an_interrupted_add_copied_is_indexed_by_the_next_add(library):
    new = library / "new.txt"
    new.write_text("催收人员不得在晚上十点后打电话骚扰借款人。", encoding="utf-8")
    (library / "corpus" / "new.txt").write_bytes(new.read_bytes())  # copied, then kill -9 before the rebuild
    change = QA.load("index").add([new])
    assert change.added == ("new.txt",) and "new.txt" in change.qa.sources  # before: "already there", not indexed
