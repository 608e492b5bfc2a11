"""Reliability: never lose a user's data, never crash on bad bytes. One regression test per case of docs/RELIABILITY.md."""
import os
import socket

import pytest
from click.testing import CliRunner

from qa import QA, IndexNotFoundError, OutputError
from qa.cli import main
from qa.stores.local import MANIFEST

DOC = "被强制下款的钱需要还吗？法律上，未经同意的强制借款无需偿还本金以外的费用。"


@pytest.fixture()
def corpus(tmp_path):
    d = tmp_path / "corpus"
    d.mkdir()
    (d / "a.txt").write_text(DOC, encoding="utf-8")
    return d


def _snapshot(path):
    """Every byte under path (a file or a tree), to prove a refused build changed nothing."""
    if path.is_file():
        return path.read_bytes()
    return {p.relative_to(path).as_posix(): p.read_bytes() if p.is_file() else None for p in sorted(path.rglob("*"))}


def _refused(result):
    assert result.exit_code == 2, result.output
    assert result.output.startswith("qa: error:") and result.output.count("\n") == 1, result.output
    return result.output


# -- data loss: `qa build -o` replaces only a qa index ------------------------------------------------------------
def test_build_refuses_to_overwrite_a_file(run, corpus, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes", encoding="utf-8")
    assert "refusing" in _refused(run("build", corpus, "-o", notes, "--model", "none", "-q"))
    assert notes.read_text(encoding="utf-8") == "my notes"


def test_build_refuses_a_folder_of_user_files(run, corpus, tmp_path):
    mydocs = tmp_path / "mydocs"
    (mydocs / "sub").mkdir(parents=True)
    (mydocs / "letter.docx").write_bytes(b"\x00\x01user data")
    (mydocs / "sub" / "x.txt").write_text("keep me", encoding="utf-8")
    before = _snapshot(mydocs)
    assert "not a qa index" in _refused(run("build", corpus, "-o", mydocs, "--model", "none", "-q"))
    assert _snapshot(mydocs) == before


def test_build_refuses_the_corpus_itself_and_a_folder_holding_it(run, corpus, tmp_path):
    before = _snapshot(corpus)
    assert "corpus" in _refused(run("build", corpus, "-o", corpus, "--model", "none", "-q"))
    assert "corpus" in _refused(run("build", corpus, "-o", tmp_path, "--model", "none", "-q"))
    assert _snapshot(corpus) == before


def test_build_refuses_the_current_directory(run, corpus, tmp_path, monkeypatch):
    empty = tmp_path / "empty-cwd"
    empty.mkdir()
    monkeypatch.chdir(empty)  # even an empty current directory: renaming it away would pull the floor
    assert "current directory" in _refused(run("build", corpus, "-o", ".", "--model", "none", "-q"))
    assert "current directory" in _refused(run("build", corpus, "-o", str(empty), "--model", "none", "-q"))
    assert empty.is_dir()


def test_build_refuses_a_symlink_and_a_device(run, corpus, tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    assert "symbolic link" in _refused(run("build", corpus, "-o", link, "--model", "none", "-q"))
    assert link.is_symlink() and real.is_dir() and not any(real.iterdir())
    assert "not a directory" in _refused(run("build", corpus, "-o", os.devnull, "--model", "none", "-q"))
    assert os.path.exists(os.devnull)


def test_build_replaces_a_qa_index_and_creates_new_or_empty_dirs(corpus, tmp_path):
    out = tmp_path / "index"
    QA.build([corpus], out, model="none")
    QA.build([corpus], out, model="none")  # a qa index may be replaced
    empty = tmp_path / "empty"
    empty.mkdir()
    QA.build([corpus], empty, model="none")
    assert (empty / MANIFEST).exists() and not (empty / ".qa-partial").exists()


def test_build_refuses_an_index_holding_user_files(corpus, tmp_path):
    out = tmp_path / "index"
    QA.build([corpus], out, model="none")
    (out / "my-notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(OutputError, match="did not write.*my-notes.txt"):
        QA.build([corpus], out, model="none")
    assert (out / "my-notes.txt").read_text(encoding="utf-8") == "mine"


def test_index_inside_the_corpus_is_not_read_as_documents(corpus):
    jsonl = corpus / "more.jsonl"
    jsonl.write_text('{"id": "x1", "text": "协商还款需要准备收入证明。"}\n', encoding="utf-8")
    out = corpus / "idx"
    first = QA.build([corpus], out, model="none")
    again = QA.build([corpus], out, model="none")  # idx/chunks.jsonl etc. would otherwise become documents
    assert first.documents == again.documents == 2 and not any("idx" in s for s in again.skipped)


def test_hints_never_suggest_building_over_a_non_index(run, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# readme", encoding="utf-8")
    message = _refused(run("ask", "问题", "-i", readme))
    assert " -o " not in message and "not a qa index" in message
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "data.csv").write_text("a,b", encoding="utf-8")
    assert " -o " not in _refused(run("ask", "问题", "-i", folder))
    # a damaged index that also holds a user's file: the hint must not offer to build over it
    (folder / MANIFEST).write_text("{broken", encoding="utf-8")
    message = _refused(run("ask", "问题", "-i", folder))
    assert f"-o {folder}" not in message and "will not replace" in message


def test_missing_index_still_gets_the_build_hint(tmp_path):
    with pytest.raises(IndexNotFoundError, match=r"qa build \[PATHS…\] -o"):
        QA.load(tmp_path / "new")


# -- never delete another build's or the user's temp-looking directories ------------------------------------------
def test_stale_cleanup_removes_only_what_qa_marked(corpus, tmp_path):
    out = tmp_path / "index"
    users = tmp_path / ".index.tmp-mine"
    users.mkdir()
    (users / "keep.txt").write_text("user's", encoding="utf-8")
    killed = tmp_path / ".index.tmp-999999-abc"  # left by a killed qa build: carries the marker
    killed.mkdir()
    (killed / ".qa-partial").write_text("qa build", encoding="utf-8")
    QA.build([corpus], out, model="none")
    assert (users / "keep.txt").read_text(encoding="utf-8") == "user's"
    assert not killed.exists()


def test_a_second_build_into_the_same_output_is_refused_naming_the_holder(corpus, tmp_path):
    from qa.stores.local import IndexWriter

    out = tmp_path / "index"
    first = IndexWriter(out)  # a build in progress
    try:
        with pytest.raises(OutputError, match=f"another qa build.*pid {os.getpid()} on {socket.gethostname()}"):
            QA.build([corpus], out, model="none")
        assert first.tmp.is_dir()  # the first build's temp directory survives
    finally:
        first.abort()
    QA.build([corpus], out, model="none")  # the lock is released
    assert not list(tmp_path.glob(".index.lock"))


# -- disk full: one line, the old index intact ----------------------------------------------------------------------
@pytest.mark.parametrize("where", ["vectors", "faiss", "jsonl"])
def test_disk_full_is_one_line_and_keeps_the_old_index(run, corpus, tmp_path, monkeypatch, where):
    import errno

    from qa.stores import local as store

    out = tmp_path / "index"
    QA.build([corpus], out, model="hash:16")
    before = _snapshot(out)
    if where == "vectors":  # numpy's own wording for a short write
        monkeypatch.setattr(store.np, "save", lambda *a, **k: (_ for _ in ()).throw(OSError("27155 requested and 16352 written")))
    elif where == "faiss":  # what faiss raises when its fwrite fails
        def full(index, path):
            raise RuntimeError("Error in faiss::FileIOWriter: fwrite failed (No space left on device)")
        monkeypatch.setattr(store, "_write_faiss", full)
    else:
        def full(self, name, rows):
            raise OSError(errno.ENOSPC, "No space left on device")
        monkeypatch.setattr(store.IndexWriter, "write_jsonl", full)
    message = _refused(run("build", corpus, "-o", out, "--model", "hash:16", "-q"))
    assert "no space left on device" in message and "unchanged" in message
    assert _snapshot(out) == before
    assert not list(tmp_path.glob(".index.tmp-*"))


def test_faiss_write_failures_raise(tmp_path, monkeypatch):
    """faiss.write_index(path) only prints a close error for a full disk; written through Python it raises."""
    import errno

    import faiss
    import numpy as np

    from qa.stores.local import _write_faiss

    index = faiss.IndexFlatIP(4)
    index.add(np.ones((3, 4), dtype=np.float32))
    _write_faiss(index, tmp_path / "ok.faiss")
    assert faiss.read_index(str(tmp_path / "ok.faiss")).ntotal == 3
    if os.path.exists("/dev/full"):
        with pytest.raises(OSError) as caught:
            _write_faiss(index, __import__("pathlib").Path("/dev/full"))
        assert caught.value.errno == errno.ENOSPC


def test_other_os_errors_with_enospc_say_so(run, corpus, tmp_path, monkeypatch):
    import errno

    from qa import api

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "x"))

    monkeypatch.setattr(api, "build_into", full)
    assert "no space left on device" in _refused(run("build", corpus, "-o", tmp_path / "i", "--model", "none"))


# -- broken pipes: `qa search … | head -1` exits quietly -------------------------------------------------------------
@pytest.mark.parametrize("command", [["search", "强制下款", "-k", "50"], ["info"]])
def test_broken_pipe_exits_quietly(hash_index, command):
    import subprocess
    import sys

    from tests.conftest import ROOT

    args = [sys.executable, "-m", "qa", *command, "-i" if command[0] == "search" else "", str(hash_index)]
    args = [a for a in args if a]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    proc.stdout.close()  # the reader is gone before the first line: every write hits a closed pipe
    err = proc.stderr.read().decode()
    assert proc.wait() == 0 and err == ""


# -- bad bytes in questions: decoded or replaced, reported, never a traceback -----------------------------------------
def test_stdin_with_gbk_and_invalid_bytes_answers_every_line(run, hash_index):
    import json

    data = "强制下款\n".encode("utf-8") + "催收骚扰\n".encode("gbk") + b"\xff\xfe\x80 bad\n" + "征信\n".encode()
    result = CliRunner().invoke(main, ["search", "-", "-i", str(hash_index), "--json", "-k", "2"], input=data)
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["question"] for line in lines][:2] == ["强制下款", "催收骚扰"] and len(lines) == 4
    assert "\ufffd" in lines[2]["question"]
    assert "stdin line 2 is not UTF-8" in result.stderr and "stdin line 3" in result.stderr


def test_question_argument_with_undecodable_bytes(run, hash_index):
    gbk_arg = "催收骚扰".encode("gbk").decode("utf-8", "surrogateescape")  # how Python hands such argv over
    result = CliRunner().invoke(main, ["ask", gbk_arg, "-i", str(hash_index)])
    assert result.exit_code == 0, result.output
    assert "not UTF-8" in result.stderr
    broken = b"\xff\xfe\x80".decode("utf-8", "surrogateescape") + "征信"
    assert CliRunner().invoke(main, ["search", broken, "-i", str(hash_index)]).exit_code == 0


def test_library_questions_with_lone_surrogates(qa_hash):
    assert qa_hash.search("\udcff征信\ud800").question


# -- terminal escapes from documents never reach the terminal ----------------------------------------------------------
def test_terminal_escapes_in_documents_are_stripped(run, tmp_path):
    d = tmp_path / "c"
    d.mkdir()
    (d / "evil.txt").write_text(
        "强制下款\x1b]0;pwned\x07的钱\x1b]8;;http://x\x1b\\需要还吗？\x1b[2J\x1b[31m未经同意\x1b[0m的借款不需要偿还利息。"
        "abc\x08\x08\x08催收电话可以投诉。\x9b31m",
        encoding="utf-8",
    )
    out = tmp_path / "idx"
    QA.build([d], out, model="none")
    hit = QA.load(out).search("强制下款的钱需要还吗").hits[0]
    assert "强制下款的钱需要还吗？未经同意的借款" in hit.text
    for result in (run("ask", "强制下款的钱需要还吗", "-i", out), run("search", "强制下款", "-i", out)):
        assert result.exit_code == 0, result.output
        assert not any(c in result.output for c in "\x1b\x07\x08\x9b"), repr(result.output)


def test_cli_output_strips_escapes_even_from_an_old_index(run):
    from qa.cli import _out

    assert _out("a\x1b]0;title\x07b\x1b[1;31mc\x08d\te") == "abcd\te"


# -- files that are not documents: FIFOs, devices, bad names, odd encodings, empty after cleaning ---------------------
def test_fifo_and_socket_are_skipped_without_opening(run, corpus, tmp_path):
    import socket as sock

    os.mkfifo(corpus / "pipe.txt")  # opening it would block the build forever
    server = sock.socket(sock.AF_UNIX)
    server.bind(str(corpus / "s.txt"))
    try:
        result = run("build", corpus, corpus / "pipe.txt", "-o", tmp_path / "idx", "--model", "none", "-q")
    finally:
        server.close()
    assert result.exit_code == 0, result.output
    assert "skipped pipe.txt: a FIFO (named pipe), not a regular file: not opened" in result.output
    assert "skipped s.txt: a socket" in result.output and "1 documents" in result.output


def test_device_given_as_a_path_is_skipped(tmp_path):
    from qa.documents.corpus import discover

    files, skipped = discover([os.devnull])
    assert not files and "character device" in skipped[0].reason


def test_file_name_with_undecodable_bytes(corpus, tmp_path):
    gbk_name = "催收".encode("gbk") + b".txt"
    broken_name = b"\xff\xfe-notes.txt"
    for raw in (gbk_name, broken_name):
        with open(os.path.join(os.fsencode(corpus), raw), "wb") as handle:
            handle.write("催收人员不得骚扰借款人的同事和家人。".encode())
    report = QA.build([corpus], tmp_path / "idx", model="hash:16")
    assert report.documents == 3
    sources = QA.load(tmp_path / "idx").sources
    assert "催收.txt" in sources and "\ufffd\ufffd-notes.txt" in sources


def test_utf16_without_bom_and_mixed_gbk_utf8_lines():
    from qa.documents.corpus import decode

    text = "被强制下款的钱需要还吗？ APP 12377\n第二行。\n" * 3
    assert decode(text.encode("utf-16-le")) == text and decode(text.encode("utf-16-be")) == text
    mixed = "第一行是UTF-8。\n".encode() + "第二行是GBK编码的内容，催收骚扰。\n".encode("gbk") + "第三行。\n".encode()
    assert decode(mixed) == "第一行是UTF-8。\n第二行是GBK编码的内容，催收骚扰。\n第三行。\n"
    with pytest.raises(ValueError, match="binary"):
        decode(b"\x00\x01\x02\xff" * 50)


def test_when_the_only_file_is_skipped_the_reason_is_shown(run, tmp_path):
    (tmp_path / "only.txt").write_bytes(b"\x00\x01\x02\xff" * 50)
    message = _refused(run("build", tmp_path / "only.txt", "-o", tmp_path / "idx", "--model", "none", "-q"))
    assert "only.txt: binary file" in message


def test_documents_without_text_are_skipped_and_front_matter_is_stripped(tmp_path):
    d = tmp_path / "c"
    d.mkdir()
    (d / "good.md").write_text("---\ntitle: 协商还款指南\ntags: [a, b]\n---\n\n协商还款时要说明收入情况。\n", encoding="utf-8")
    (d / "front-only.md").write_text("---\ntitle: 空\nlayout: post\n---\n", encoding="utf-8")
    (d / "punct.txt").write_text("。。。！！！ ，，，\n——  ……\n", encoding="utf-8")
    report = QA.build([d], tmp_path / "idx", model="none")
    assert report.documents == 1
    assert any(s.startswith("front-only.md: no text left") for s in report.skipped)
    assert any(s.startswith("punct.txt: no text left") for s in report.skipped)
    qa = QA.load(tmp_path / "idx")
    hit = qa.search("协商还款").hits[0]
    assert hit.title == "协商还款指南" and "layout" not in hit.text and "---" not in hit.text
    original = (d / "good.md").read_text(encoding="utf-8")
    assert original[hit.start:hit.end] == hit.text  # offsets still point into the file


def test_duplicate_jsonl_ids_are_disambiguated_and_reported(tmp_path):
    d = tmp_path / "c"
    d.mkdir()
    (d / "docs.jsonl").write_text(
        '{"id": "a", "text": "第一篇讲强制下款。"}\n{"id": "a", "text": "第二篇讲暴力催收。"}\n'
        '{"id": 7, "text": "第三篇讲征信异议。"}\n{"id": "7", "text": "第四篇讲协商还款。"}\n', encoding="utf-8")
    report = QA.build([d], tmp_path / "idx", model="none")
    assert report.documents == 4
    assert any("docs.jsonl:2: duplicate id 'a'" in s and "'a~2'" in s for s in report.skipped)
    assert any("docs.jsonl:4: duplicate id '7'" in s for s in report.skipped)
    qa = QA.load(tmp_path / "idx")
    hit = qa.search("暴力催收", mode="lexical").hits[0]
    assert hit.doc_id == "a~2" and "暴力催收" in qa.context(hit.chunk_id)
    assert qa.info()["documents"] == len(qa.index.documents) == 4


# -- qa eval: bad files are one-line errors, `must` never matched per character ---------------------------------------
@pytest.mark.parametrize(
    "content, message",
    [
        ('{"q": "征信", "must": ["网信办"]}\n'.encode("gbk") + '{"q": "催收"}\n'.encode("gbk"), "not UTF-8"),
        ('{"q": "12377是什么电话", "must": [null]}\n'.encode(), '"must" must be a list of strings'),
        ('{"q": "12377是什么电话", "must": [""]}\n'.encode(), "empty string"),
        ('{"q": "12377是什么电话", "must": 5}\n'.encode(), '"must" must be a list of strings'),
        ('{"q": null, "must": ["网信办"]}\n'.encode(), '"q" must be a non-empty string'),
    ],
)
def test_eval_bad_questions_files(run, hash_index, tmp_path, content, message):
    path = tmp_path / "q.jsonl"
    path.write_bytes(content)
    assert message in _refused(run("eval", path, "-i", hash_index))


def test_eval_must_as_a_string_is_one_string_not_characters(qa_hash, tmp_path):
    from qa.pipeline.evaluate import evaluate_must

    as_list = tmp_path / "list.jsonl"
    as_list.write_text('{"id": "x", "q": "征信异议", "must": ["这段文字在语料里不存在"]}\n', encoding="utf-8")
    as_str = tmp_path / "str.jsonl"
    as_str.write_text('{"id": "x", "q": "征信异议", "must": "这段文字在语料里不存在"}\n', encoding="utf-8")
    assert evaluate_must(qa_hash, as_str)["hit@5"] == evaluate_must(qa_hash, as_list)["hit@5"] == 0.0


def test_eval_qrels_not_utf8(run, hash_index, tmp_path):
    queries = tmp_path / "queries.jsonl"
    queries.write_text('{"_id": "1", "text": "征信"}\n', encoding="utf-8")
    qrels = tmp_path / "qrels.tsv"
    qrels.write_bytes("query-id\tcorpus-id\tscore\n1\t法律\t1\n".encode("gbk"))
    assert "qrels.tsv:2: not UTF-8" in _refused(run("eval", queries, "--qrels", qrels, "-i", hash_index))


# -- library arguments are validated with QAErrors ----------------------------------------------------------------------
def test_sources_as_one_string_and_unknown_sources(qa_hash):
    from qa import ConfigError

    one = qa_hash.search("强制下款", mode="lexical").hits[0].source
    assert one in qa_hash.sources
    hits = qa_hash.search("强制下款", sources=one, mode="lexical").hits
    assert hits and {h.source.rsplit(":", 1)[0] for h in hits} == {one}
    assert qa_hash.search("强制下款", sources=[one], mode="lexical").hits == hits
    with pytest.raises(ConfigError, match=r"unknown source\(s\) 'no-such-file'.*holds: "):
        qa_hash.search("强制下款", sources=["no-such-file"])
    with pytest.raises(ConfigError, match="source names"):
        qa_hash.ask("强制下款", sources=[3])


@pytest.mark.parametrize("k", [0, -1, "3", 2.5, True])
def test_bad_k_is_a_config_error(qa_hash, k):
    from qa import ConfigError

    with pytest.raises(ConfigError, match="k must be a positive integer"):
        qa_hash.search("强制下款", k=k)
    with pytest.raises(ConfigError, match="k must be a positive integer"):
        qa_hash.ask("强制下款", k=k)


@pytest.mark.parametrize("chunk_id", [-1, 10**9, "0", None])
def test_context_checks_its_chunk_id(qa_hash, chunk_id):
    from qa import ConfigError

    with pytest.raises(ConfigError, match="chunk_id must be an integer from 0 to"):
        qa_hash.context(chunk_id)
    with pytest.raises(ConfigError, match="chars"):
        qa_hash.context(0, chars=-5)
    assert qa_hash.context(0, chars=10**9)  # a huge window is just the whole document


# -- models: bounded hash dimension, fast failure offline ----------------------------------------------------------------
@pytest.mark.parametrize("spec", ["hash:99999999", "hash:4", "hash:x"])
def test_hash_dimension_is_bounded(run, corpus, tmp_path, spec):
    message = _refused(run("build", corpus, "-o", tmp_path / "idx", "--model", spec, "-q"))
    assert "hash" in message and not (tmp_path / "idx").exists()


def test_hub_model_offline_fails_at_once(corpus, tmp_path, monkeypatch):
    from qa import EmbedderError
    from qa.stores import build as build_module

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(build_module, "discover", lambda *a, **k: pytest.fail("the corpus was read first"))
    with pytest.raises(EmbedderError, match="cannot be reached.*offline"):
        QA.build([corpus], tmp_path / "idx", model="no/such-model")


def test_hub_model_unreachable_without_offline_flag(monkeypatch):
    from qa import EmbedderError
    from qa.models import embedding

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: nothing listens, refused at once
    assert not embedding._hub_reachable()
    with pytest.raises(EmbedderError, match="offline"):
        embedding.check_spec("no/such-model")


# -- index files are always checked: large ones by sampled blocks, all with `qa info --verify` ---------------------------
@pytest.fixture()
def small_limits(monkeypatch):
    """Makes the 64 MB limit and 4 MB blocks tiny, so a test index has 'large' files."""
    from qa.stores import local as store

    monkeypatch.setattr(store, "_HASH_LIMIT", 2000)
    monkeypatch.setattr(store, "_BLOCK", 512)
    monkeypatch.setattr(store, "_SAMPLED_BLOCKS", 3)


def _negate_byte(path, offset):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x80  # the sign bit of a float32: a negated vector component
    path.write_bytes(bytes(data))


def test_large_files_have_block_checksums_and_are_sampled_on_load(corpus_dir, tmp_path, small_limits, run):
    import json

    from qa import IndexCorruptError

    out = tmp_path / "idx"
    QA.build([corpus_dir], out, model="hash:64")
    record = json.loads((out / MANIFEST).read_text(encoding="utf-8"))["files"]["vectors.npy"]
    assert record["bytes"] > 2000 and len(record["blocks"]) == -(-record["bytes"] // 512)
    QA.load(out)
    last = out / "vectors.npy"
    _negate_byte(last, record["bytes"] - 3)  # the last block is always sampled
    with pytest.raises(IndexCorruptError, match="vectors.npy does not match its checksum"):
        QA.load(out)


def test_info_verify_finds_what_sampling_can_miss(corpus_dir, tmp_path, small_limits, run, monkeypatch):
    from qa.stores import local as store

    out = tmp_path / "idx"
    QA.build([corpus_dir], out, model="hash:64")
    assert run("info", "--verify", out).exit_code == 0
    _negate_byte(out / "vectors.npy", 600)  # block 1 of many
    monkeypatch.setattr(store, "_SAMPLED_BLOCKS", 2)  # first and last only: the damage is not sampled
    assert run("info", out).exit_code == 0
    assert "vectors.npy does not match its checksum" in _refused(run("info", "--verify", out))


@pytest.mark.parametrize("files", [None, {}, {"chunks.jsonl": {"bytes": 1, "sha256": "x"}}])
def test_a_manifest_cannot_opt_out_of_checking(hash_index, tmp_path, files):
    import json
    import shutil

    from qa import IndexCorruptError

    copy = tmp_path / "index"
    shutil.copytree(hash_index, copy)
    manifest = json.loads((copy / MANIFEST).read_text(encoding="utf-8"))
    if files is None:
        del manifest["files"]
    else:
        manifest["files"] = files
    (copy / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexCorruptError, match="lists no files|does not list|chunks.jsonl has"):
        QA.load(copy)


# -- bounded memory: offsets kept as runs, not one Python int per character ------------------------------------------
def test_clean_offsets_are_compact_runs_and_exact():
    import sys

    from qa.text import clean

    original = "## 第一章　协商\n\n" + "协商还款需要提供收入证明和困难说明，银行会认真评估。  联系客服\t申请。\n" * 2000
    original += "协(xié)商 **重点**  内容\n" * 20
    c = clean(original)
    assert len(c.offsets) == len(c.text) + 1
    for i in range(0, len(c.text), 37):
        ch = c.text[i]
        assert original[c.offsets[i]] == ch or (ch == " " and original[c.offsets[i]].isspace()) or ch == "\n"
    runs = len(c.offsets._clean)
    assert runs < len(c.text) / 5  # a run per line and per collapsed gap, not per character
    assert sys.getsizeof(c.offsets._clean) + sys.getsizeof(c.offsets._orig) < len(c.text) * 4


def test_big_builds_show_a_reading_progress_bar(tmp_path, monkeypatch, capsys):
    from qa.stores import build as build_module

    monkeypatch.setattr(build_module, "_PROGRESS_BYTES", 10)
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "a.txt").write_text(DOC, encoding="utf-8")
    QA.build([tmp_path / "c"], tmp_path / "idx", model="none", progress=True)
    err = capsys.readouterr().err
    assert "reading, BM25 indexing" in err  # chunks are segmented as they are read: one bar, one ETA


def test_a_skipped_document_leaves_no_gap_in_chunk_ids(tmp_path):
    d = tmp_path / "c"
    d.mkdir()
    (d / "a-punct.txt").write_text("。。。！！！\n" * 50, encoding="utf-8")  # chunks, then skipped: no words
    (d / "b.txt").write_text("协商还款时要说明收入情况。" * 40, encoding="utf-8")
    QA.build([d], tmp_path / "idx", model="none")
    qa = QA.load(tmp_path / "idx")
    assert [c.chunk_id for c in qa.index.chunks] == list(range(len(qa.index.chunks)))
    hit = qa.search("协商还款").hits[0]
    assert hit.text in qa.context(hit.chunk_id)


def test_the_lock_is_taken_before_the_corpus_is_read(corpus, tmp_path, monkeypatch):
    from qa.stores import build as build_module
    from qa.stores.local import IndexWriter

    out = tmp_path / "index"
    first = IndexWriter(out)
    monkeypatch.setattr(build_module, "discover", lambda *a, **k: pytest.fail("read the corpus before locking"))
    try:
        with pytest.raises(OutputError, match="another qa build"):
            QA.build([corpus], out, model="none")
    finally:
        first.abort()


def test_corpus_and_output_paths_with_undecodable_bytes(tmp_path):
    root = os.fsdecode(os.path.join(os.fsencode(tmp_path), b"d\xff"))  # how argv hands such a path over
    os.mkdir(root)
    with open(os.path.join(root, "a.txt"), "w", encoding="utf-8") as handle:
        handle.write(DOC)
    out = os.fsdecode(os.path.join(os.fsencode(tmp_path), b"i\xff"))
    QA.build([root], out, model="hash:16")
    qa = QA.load(out)
    assert qa.search("强制下款").hits and qa.info()["documents"] == 1


@pytest.mark.slow
def test_build_memory_does_not_grow_with_the_corpus(tmp_path, monkeypatch):
    """Build memory: a build holds no chunk list, token lists or full copies of the BM25 postings. Python's peak
    allocation while building 1 MB in 200 files stays under 12× the input (measured 9×; holding everything as
    before: 16×, growing with the corpus; docs/RELIABILITY.md)."""
    import random
    import tracemalloc

    from qa.models.lexical import BM25Builder

    from tests.conftest import ROOT

    monkeypatch.setattr(BM25Builder, "_BLOCK", 4096)  # the scoring step's fixed ~15 MB would hide what is held
    lines = [line for f in sorted((ROOT / "corpus").glob("*.txt"))
             for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
    rng = random.Random(1)
    text = "".join(rng.choice(lines) + f" 编号{rng.randint(0, 10**6)}\n" for _ in range(1_000_000 // 121))
    corpus = tmp_path / "c"
    corpus.mkdir()
    for i in range(200):
        (corpus / f"d{i:03d}.txt").write_text(text[i * len(text) // 200 : (i + 1) * len(text) // 200], encoding="utf-8")
    size = sum(p.stat().st_size for p in corpus.iterdir())
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "a.txt").write_text("协商还款需要准备材料。", encoding="utf-8")
    QA.build([tmp_path / "w"], tmp_path / "warm", model="none")  # imports and jieba's dictionary: not the build's
    tracemalloc.start()
    try:
        QA.build([corpus], tmp_path / "idx", model="none")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 12 * size, f"build peak {peak / 1e6:.1f} MB for {size / 1e6:.1f} MB of input"
