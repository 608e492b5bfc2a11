import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def test_ask_prints_answer_then_cited_passages(run, hash_index):
    result = run("ask", "起诉前需要准备哪些证据", "-i", hash_index, "-k", "3")
    assert result.exit_code == 0, result.output
    assert "[1]" in result.output and "score" in result.output


def test_ask_json(run, hash_index):
    result = run("ask", "12377是什么电话", "-i", hash_index, "--json")
    data = json.loads(result.output)
    assert data["found"] and data["passages"] and data["sentences"]


def test_search_json_contract(run, hash_index):
    result = run("search", "强制下款会影响征信吗", "-i", hash_index, "-k", "4", "--json", "--mode", "lexical")
    data = json.loads(result.output)
    assert set(data) >= {"question", "mode", "hits"} and len(data["hits"]) == 4
    assert set(data["hits"][0]) >= {"rank", "score", "doc_id", "source", "title", "chunk_id", "start", "end", "text"}


def test_search_stdin_one_json_line_per_question(run, hash_index):
    result = run("search", "-", "-i", hash_index, "--json", input="强制下款\n\n催收骚扰\n")
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [line["question"] for line in lines] == ["强制下款", "催收骚扰"]


@pytest.mark.parametrize(
    "args",
    [
        ("ask", "   "),
        ("ask", ""),
        ("ask", "问题", "-i", "/nonexistent/index"),
        ("search", "问题", "-i", "/nonexistent/index"),
        ("build", "/nonexistent/corpus", "-o", "/tmp/qa-never"),
        ("info", "/nonexistent/index"),
    ],
)
def test_user_errors_are_one_line_exit_2(run, hash_index, args):
    args = tuple(hash_index if a == "INDEX" else a for a in args)
    if args[0] == "ask" and "-i" not in args:
        args = args + ("-i", hash_index)
    result = run(*args)
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "Traceback" not in result.output
    assert result.output.startswith("qa: error:")


def test_build_prints_summary_and_skips(run, tmp_path):
    (tmp_path / "a.txt").write_text("强制下款的钱不需要偿还。", encoding="utf-8")
    (tmp_path / "b.txt").write_bytes(b"")
    result = run("build", tmp_path, "-o", tmp_path / "idx", "--model", "hash:32", "-q")
    assert result.exit_code == 0, result.output
    assert "1 documents" in result.output and "1 skipped" in result.output and "skipped b.txt: empty file" in result.output


def test_info_and_eval(run, hash_index, tmp_path):
    info = json.loads(run("info", hash_index).output)
    assert info["embedder"]["spec"] == "hash:64"
    dev = tmp_path / "dev.jsonl"
    dev.write_text('{"id":"a","q":"12377是什么电话","must":["网信办"]}\n', encoding="utf-8")
    report = json.loads(run("eval", dev, "-i", hash_index, "--json").output)
    assert report["hit@5"] == 1.0 and "p95_ms" in report


def test_python_dash_m_entry_point():
    out = subprocess.run([sys.executable, "-m", "qa", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0 and "build" in out.stdout


def test_fusion_option(run, hash_index):
    linear = json.loads(run("search", "强制下款会影响征信吗", "-i", hash_index, "--json").output)
    rrf = json.loads(run("search", "强制下款会影响征信吗", "-i", hash_index, "--json", "--fusion", "rrf").output)
    assert linear["hits"] and rrf["hits"]
    assert rrf["hits"][0]["score"] < 0.1 <= linear["hits"][0]["score"]  # reciprocal ranks vs normalised scores
    assert run("search", "x", "-i", hash_index, "--fusion", "borda").exit_code == 2


@pytest.mark.parametrize(
    "content, qrels, message",
    [
        ('{"q": "x"\n', None, "not valid JSON"),
        ('{"question": "x"}\n', None, "needs the field(s) q"),
        ('{"_id": "1", "text": "x"}\n', "query-id\tcorpus-id\tscore\n1\tlaw-1\n", "expected 'query-id"),
        ('{"_id": "1", "text": "x"}\n', "query-id\tcorpus-id\tscore\n2\tlaw-1\t1\n", "no question"),
    ],
)
def test_eval_bad_files_are_one_line_errors(run, hash_index, tmp_path, content, qrels, message):
    questions = tmp_path / "q.jsonl"
    questions.write_text(content, encoding="utf-8")
    args = ["eval", questions, "-i", hash_index]
    if qrels:
        (tmp_path / "qrels.tsv").write_text(qrels, encoding="utf-8")
        args += ["--qrels", tmp_path / "qrels.tsv"]
    result = run(*args)
    assert result.exit_code == 2 and result.output.count("\n") == 1 and message in result.output


def test_unusable_output_path_is_a_one_line_error(run, tmp_path):
    (tmp_path / "a.txt").write_text("强制下款的钱不需要偿还。", encoding="utf-8")
    (tmp_path / "file").write_text("not a directory", encoding="utf-8")
    result = run("build", tmp_path / "a.txt", "-o", tmp_path / "file" / "idx", "--model", "hash:32", "-q")
    assert result.exit_code == 2 and result.output.startswith("qa: error:") and result.output.count("\n") == 1


def test_multi_line_library_messages_print_as_one_line(run, hash_index, monkeypatch):
    from qa import api
    from qa.errors import EmbedderError

    def fail(*args, **kwargs):
        raise EmbedderError("cannot load model:\nfirst reason\nsecond reason")

    monkeypatch.setattr(api, "build_into", fail)
    result = run("build", hash_index, "-o", hash_index.parent / "never")
    assert result.exit_code == 2 and result.output == "qa: error: cannot load model: first reason second reason\n"


def test_ask_in_distress_shows_the_hotlines_first(run):
    """Someone writing 「我想自杀」 gets the calm message with 12356 and 110 before anything else, also as JSON."""
    from qa.config import DEFAULT

    result = run("ask", "被催收逼得活不下去了，我想自杀", "-i", ROOT / "index")
    assert result.exit_code == 0
    assert result.stdout.startswith(DEFAULT.distress_message) and "12356" in result.stdout and "110" in result.stdout
    as_json = run("ask", "I want to die", "-i", ROOT / "index", "--json")
    assert json.loads(as_json.stdout)["support"] == DEFAULT.distress_message
    plain = run("ask", "强制下款的钱要还吗", "-i", ROOT / "index", "--json")
    assert "support" not in json.loads(plain.stdout)
