"""The Milvus store (embedded milvus-lite, and `milvus-lite server` on 127.0.0.1): same answers as the local store,
manifest checks, versions behind an alias, durable builds, one-line errors."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

from qa import QA  # noqa: E402
from qa.stores.milvus import store as ms  # noqa: E402
from qa.models.embedding import HashEmbedder  # noqa: E402
from qa.errors import ConfigError, IndexMismatchError, IndexNotFoundError, StoreError  # noqa: E402

from tests.conftest import ROOT  # noqa: E402
from tests.stores.test_durable_build import _SLOW_BUILD, FailingEmbedder, many_files  # noqa: E402,F401 (a fixture)

# every test here starts an embedded milvus-lite server: run with --runslow, as CI does
pytestmark = pytest.mark.slow

QUESTIONS = ["被强制下款的钱需要还吗", "暴力催收可以报警吗", "征信有逾期记录怎么办", "高利放贷违法吗", "股票怎么买",
             "个人信息被泄露"]


def _hits(result):
    """What a reader sees of a result; lexical scores to 4 places (float32 sums in another order)."""
    return [(h.chunk_id, h.source, h.text, round(h.score, 4), round(h.lexical_score, 4), h.dense_score and
             round(h.dense_score, 5)) for h in result.hits], result.found


def _answer(answer):
    d = answer.to_dict()
    return d["answer"], d["sentences"], d["found"], [(p["chunk_id"], round(p["score"], 4)) for p in d["passages"]]


@pytest.fixture(scope="module")
def milvus_uri(corpus_dir, tmp_path_factory):
    uri = f"milvus://{tmp_path_factory.mktemp('milvus')}/store.db"
    QA.build([corpus_dir], uri, model="hash:64")
    return uri


@pytest.fixture(scope="module")
def qa_milvus(milvus_uri):
    return QA.load(milvus_uri)


@pytest.mark.parametrize("mode", ["lexical", "dense", "hybrid"])
def test_same_hits_and_answers_as_the_local_store(qa_hash, qa_milvus, mode):
    for question in QUESTIONS:
        assert _hits(qa_milvus.search(question, mode=mode)) == _hits(qa_hash.search(question, mode=mode))
        assert _answer(qa_milvus.ask(question, mode=mode)) == _answer(qa_hash.ask(question, mode=mode))
    source = qa_hash.sources[0]
    assert _hits(qa_milvus.search("催收", mode=mode, sources=[source])) == \
        _hits(qa_hash.search("催收", mode=mode, sources=[source]))


def test_same_documents_chunks_and_context(qa_hash, qa_milvus, milvus_uri):
    assert qa_milvus.sources == qa_hash.sources
    assert qa_milvus.index.chunks == qa_hash.index.chunks
    assert dict(qa_milvus.index.documents) == dict(qa_hash.index.documents)
    assert qa_milvus.context(3, 50) == qa_hash.context(3, 50)
    info = qa_milvus.info()
    assert info["index"] == milvus_uri and info["store"]["collection"] == "qa__v1" and qa_milvus.is_current()


def test_the_default_path_never_imports_pymilvus(hash_index):
    code = (f"import sys; from qa import QA; QA.load({str(hash_index)!r}).ask('催收怎么办'); "
            "print([m for m in sys.modules if 'milvus' in m])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.stdout.strip() == "[]"


def _set_manifest(uri, change):
    target = ms.parse_target(uri)
    client = target.connect()
    collection, manifest, _ = ms.read_manifest(client, target)
    change(manifest)
    client.alter_collection_properties(collection, properties={ms.MANIFEST_PROPERTY: json.dumps(manifest)})


def test_a_recipe_mismatch_refuses_with_the_rebuild_command(corpus_dir, tmp_path):
    uri = f"milvus://{tmp_path}/m.db/mismatch"
    QA.build([corpus_dir], uri, model="none")
    _set_manifest(uri, lambda m: m["tokenizer"].update(userdict="another"))
    with pytest.raises(IndexMismatchError, match=f"qa build {corpus_dir} --store {uri} --model none"):
        QA.load(uri)


def test_lexical_only_store(corpus_dir, qa_hash, tmp_path):
    qa = QA.load(QA.build([corpus_dir], f"milvus://{tmp_path}/lex.db", model="none").index_dir.split(" ")[0])
    assert not qa.index.has_vectors
    for question in QUESTIONS:
        assert _hits(qa.search(question, mode="lexical")) == _hits(qa_hash.search(question, mode="lexical"))


class _Watching(HashEmbedder):
    """Calls `during()` whenever the build embeds: what a reader sees in the middle of a rebuild."""

    def __init__(self, during) -> None:
        super().__init__(64)
        self.during = during

    def embed_passages(self, texts):
        self.during()
        return super().embed_passages(texts)


def test_rebuilds_switch_versions_and_never_break_a_reader(corpus_dir, tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(corpus_dir, corpus)
    uri = f"milvus://{tmp_path}/v.db/loans"
    first = QA.build([corpus], uri, model="hash:64")
    reader = QA.load(uri)
    before = _hits(reader.search("暴力催收", mode="hybrid"))
    seen = []

    def during():
        seen.append(_hits(reader.search("暴力催收", mode="hybrid")) == before and reader.is_current())

    (corpus / "新文件.txt").write_text("律师函不是法院文书，收到后先核实发函律师事务所。" * 5, encoding="utf-8")
    second = QA.build([corpus], uri, embedder=_Watching(during))
    assert seen and all(seen)  # mid-rebuild the reader answered from its version, still the current one
    assert second.reused == first.chunks and second.embedded == second.chunks - first.chunks
    assert not reader.is_current() and _hits(reader.search("暴力催收", mode="hybrid")) == before  # v1 kept
    fresh = QA.load(uri)
    assert "新文件.txt" in fresh.sources and fresh.info()["store"]["collection"] == "loans__v2"
    (corpus / "新文件.txt").unlink()
    third = QA.build([corpus], uri, model="hash:64")
    assert third.embedded == 0 and third.chunks == first.chunks
    client = ms.parse_target(uri).connect()
    assert ms.versions(client, "loans") == [2, 3]  # the version before is kept for readers, older ones dropped
    assert "新文件.txt" not in QA.load(uri).sources
    assert _hits(QA.load(uri).search("暴力催收", mode="hybrid")) == before


def test_a_collection_qa_did_not_build_is_never_replaced(corpus_dir, tmp_path):
    from pymilvus import DataType, MilvusClient

    uri = f"milvus://{tmp_path}/foreign.db/theirs"
    client = ms.parse_target(uri).connect(create=True)
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=2)
    client.create_collection("theirs", schema=schema)
    with pytest.raises(IndexNotFoundError, match="qa did not build"):
        QA.load(uri)
    from qa.errors import OutputError

    with pytest.raises(OutputError, match="not a qa index alias"):
        QA.build([corpus_dir], uri, model="none")
    assert client.has_collection("theirs")


def test_an_interrupted_build_embeds_only_the_rest(many_files, tmp_path):
    uri = f"milvus://{tmp_path}/d.db"
    with pytest.raises(KeyboardInterrupt):
        QA.build([many_files], uri, embedder=FailingEmbedder(batches=3))
    with pytest.raises(IndexNotFoundError):
        QA.load(uri)  # nothing half-built is ever visible
    journal = tmp_path / "d.db.qa-build" / ".qa.embeddings"
    assert len(list(journal.glob("part-*.npz"))) == 3
    report = QA.build([many_files], uri, model="hash:64")
    assert report.reused == 3 * 32 and report.embedded == 200 - 3 * 32
    assert not journal.exists() and not (tmp_path / "d.db.qa-build" / "qa").exists()


@pytest.mark.slow
def test_kill_9_mid_milvus_build_then_run_again(many_files, tmp_path):
    uri = f"milvus://{tmp_path}/k.db"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_BUILD, str(many_files), uri], env=env, cwd=tmp_path)
    journal = tmp_path / "k.db.qa-build" / ".qa.embeddings"
    deadline = time.monotonic() + 60
    while len(list(journal.glob("part-*.npz"))) < 3 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert len(list(journal.glob("part-*.npz"))) >= 3
    report = QA.build([many_files], uri, model="hash:64")  # the file's lock died with the process
    assert report.reused >= 3 * 32 and report.embedded == 200 - report.reused
    assert QA.load(uri).info()["chunks"] == 200


@pytest.mark.parametrize("uri", ["milvus://", "milvus://host/coll", "milvus://host:19530/", "milvus:///tmp/x.txt",
                                 "milvus://h:1/a/b", "milvus://h:1/bad-name", "milvus://h:1/x__v1"])
def test_bad_uris_are_config_errors(uri):
    with pytest.raises(ConfigError):
        QA.load(uri)


def test_cli_errors_are_one_line(run, tmp_path):
    missing = run("search", "催收", "-i", f"milvus://{tmp_path}/none.db")
    assert missing.exit_code == 2 and "no Milvus database" in missing.stderr and len(missing.stderr.splitlines()) == 1
    down = run("ask", "催收", "-i", f"milvus://127.0.0.1:{_free_port()}/qa")
    assert down.exit_code == 2 and "cannot reach the Milvus store" in down.stderr
    assert len(down.stderr.splitlines()) == 1
    wrong = run("build", "--store", str(tmp_path / "dir"))
    assert wrong.exit_code == 2 and "--store takes a milvus:// URI" in wrong.stderr


def test_a_file_open_in_another_process_is_a_store_error(milvus_uri, qa_milvus):
    code = f"from qa import QA\ntry:\n    QA.load({milvus_uri!r})\nexcept Exception as e:\n    print(type(e).__name__, e)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.stdout.startswith(StoreError.__name__) and "milvus-lite server" in out.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_a_milvus_lite_server_gives_the_same_answers(corpus_dir, qa_hash, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # where a server build keeps its scratch index
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "milvus_lite", "server", "--data-dir",
                               str(tmp_path / "data"), "--host", "127.0.0.1", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        uri = f"milvus://127.0.0.1:{port}/loans"
        report = QA.build([corpus_dir], uri, model="hash:64")
        assert report.chunks == len(qa_hash.index.chunks)
        qa = QA.load(uri)
        for question in QUESTIONS[:3]:
            assert _hits(qa.search(question)) == _hits(qa_hash.search(question))
            assert _answer(qa.ask(question)) == _answer(qa_hash.ask(question))
        # a second process reads the same collection while this one holds it (a file would be locked)
        code = f"from qa import QA; print(len(QA.load({uri!r}).search('催收').hits))"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert out.stdout.strip() == "10", out.stderr
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_the_web_service_answers_from_a_store(milvus_uri, qa_hash):
    from pathlib import Path

    from qa.config import DEFAULT_CORPUS
    from qa.ui.service import Service

    service = Service(Path(milvus_uri))  # a Path collapses the URI's slashes; IndexLocation restores them
    qa = service.get()
    assert qa.directory == milvus_uri and qa.is_current()
    assert service.corpus_dir == Path(DEFAULT_CORPUS)  # not the URI's "parent" + /corpus
    assert _answer(qa.ask(QUESTIONS[0])) == _answer(qa_hash.ask(QUESTIONS[0]))


def test_library_add_and_remove_rebuild_a_store(corpus_dir, tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(corpus_dir, corpus)
    uri = f"milvus://{tmp_path}/lib.db"
    QA.build([corpus], uri, model="hash:64")
    (tmp_path / "律师函.txt").write_text("律师函不是法院文书，收到后先核实发函律师事务所。" * 4, encoding="utf-8")
    added = QA.load(uri).add([tmp_path / "律师函.txt"])
    assert "律师函.txt" in added.qa.sources and added.report.embedded == 1
    removed = added.qa.remove(["律师函.txt"])
    assert "律师函.txt" not in removed.qa.sources and removed.report.embedded == 0


def test_cli_asks_a_store(run, milvus_uri, hash_index):
    store = json.loads(run("ask", QUESTIONS[1], "-i", milvus_uri, "--json").stdout)
    local = json.loads(run("ask", QUESTIONS[1], "-i", hash_index, "--json").stdout)
    assert store["answer"] == local["answer"] and store["sentences"] == local["sentences"]
    assert [p["chunk_id"] for p in store["passages"]] == [p["chunk_id"] for p in local["passages"]]
    info = json.loads(run("info", milvus_uri).stdout)
    assert info["store"]["engine"] == "milvus" and info["chunks"] == json.loads(run("info", hash_index).stdout)["chunks"]
