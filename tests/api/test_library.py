"""QA.add / QA.remove and `qa add` / `qa remove`: the same incremental build, safe names, limits, nothing lost."""
from __future__ import annotations

import shutil
from dataclasses import replace

import pytest
from click.testing import CliRunner

from qa import QA
from qa.cli import main
from qa.errors import CorpusError
from qa.library import safe_name

from tests.docmakers import SEEDS, make_pdf, seed_paragraphs

UNIQUE = "本合同约定的借款年利率为百分之二十三点九，逾期罚息按日万分之五计收。"


@pytest.fixture()
def library(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the index records its corpus root as given: a relative "corpus"
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for f in sorted(SEEDS.glob("*.txt"))[:2]:
        shutil.copy(f, corpus / f.name)
    QA.build(["corpus"], "index", model="hash:64")
    return tmp_path


def test_add_pdf_reuses_vectors_and_finds_it_by_page(library):
    pdf = library / "upload.pdf"
    make_pdf(pdf, [seed_paragraphs("维信催收怎么处理.txt", 4), [UNIQUE]])
    qa = QA.load("index")
    before = len(qa.index.chunks)
    change = qa.add([pdf])
    assert change.added == ("upload.pdf",) and (library / "corpus" / "upload.pdf").exists()
    assert change.report.reused == before  # the old chunks were not embedded again
    entry = {e.source: e for e in change.qa.library()}["upload.pdf"]
    assert (entry.kind, entry.pages, entry.documents) == ("pdf", 2, 1) and entry.added and entry.chunks >= 2
    hit = change.qa.search(UNIQUE, k=1, mode="lexical").hits[0]
    assert hit.source == "upload.pdf" and hit.page == 2
    assert not qa.is_current()  # the old snapshot answered until the swap; it now knows it is stale
    old = qa.search(seed_paragraphs()[3][:30], k=3, mode="lexical").hits  # and still answers, from its files
    assert old and all(h.source != "upload.pdf" for h in old)
    assert not {"page", "article", "url"} & set(old[0].to_dict())  # plain text hits keep their JSON shape

    removed = change.qa.remove(["upload.pdf"])
    assert removed.removed == ("upload.pdf",)
    assert "upload.pdf" not in removed.qa.sources
    assert list((library / "corpus" / ".removed").rglob("upload.pdf"))  # moved aside, not deleted
    assert removed.report.reused == removed.report.chunks


def test_upload_names_are_sanitised_and_never_escape(library):
    qa = QA.load("index")
    change = qa.add([("../../x.txt", UNIQUE.encode()), ("..\\..\\y.md", UNIQUE.encode() + b"2")])
    assert change.added == ("x.txt", "y.md")
    assert not (library / "x.txt").exists() and (library / "corpus" / "x.txt").exists()
    # an existing file of that name is kept; the new one gets its own name
    again = change.qa.add([("x.txt", "另一份内容，与原文不同。".encode())])
    assert again.added == ("x-2.txt",) and (library / "corpus" / "x.txt").read_text(encoding="utf-8") == UNIQUE
    assert safe_name("/etc/.bashrc") == "bashrc" and safe_name("..") == "document"
    assert safe_name("a\x00b<c>.txt") == "a_b_c_.txt"


def test_refusals_name_the_file_and_change_nothing(library):
    qa = QA.load("index")
    small = replace(qa.config, library_max_bytes=1000)
    with pytest.raises(CorpusError) as info:
        qa.with_config(library_max_bytes=1000).add([("big.txt", b"x" * 2000), ("run.exe", b"MZ"),
                                                     ("broken.docx", b"PK\x03\x04junk")])
    message = str(info.value)
    assert "big.txt" in message and "limit" in message
    assert "run.exe" in message and "not allowed" in message
    assert "broken.docx" in message and "DOCX" in message
    # each refusal carries the rule or the reader's reason as a code, for callers that word it in their language
    assert [(r.name, r.code) for r in info.value.refused] == [("big.txt", "size"), ("run.exe", "type"),
                                                               ("broken.docx", "docx_broken")]
    assert sorted(p.name for p in (library / "corpus").iterdir()) == sorted(f.name for f in sorted(SEEDS.glob("*.txt"))[:2])
    assert small.library_max_bytes == 1000
    with pytest.raises(CorpusError, match="no document"):
        qa.remove(["nope.txt"])
    from qa.errors import ConfigError

    with pytest.raises(ConfigError, match="read-only"):
        qa.with_config(library_read_only=True).add([("ok.txt", UNIQUE.encode())])
    assert not (library / "corpus" / "ok.txt").exists()


def test_cli_add_and_remove(library):
    (library / "note.txt").write_text(UNIQUE, encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(main, ["add", "note.txt", "-q"])
    assert result.exit_code == 0, result.output
    assert "added 1: note.txt" in result.output
    result = runner.invoke(main, ["remove", "note.txt", "-q"])
    assert result.exit_code == 0 and "removed 1: note.txt" in result.output
    result = runner.invoke(main, ["add", "missing.pdf"])
    assert result.exit_code == 2 and "missing.pdf" in result.output and "Traceback" not in result.output


def test_cli_shows_article_and_page(tmp_path):
    from tests.docmakers import statute_articles

    make_pdf(tmp_path / "民法典节选.pdf", [["中华人民共和国民法典"] + statute_articles(first=667, count=12),
                                       statute_articles(first=679, count=12)])
    QA.build([tmp_path / "民法典节选.pdf"], tmp_path / "idx", model="hash:64")
    result = CliRunner().invoke(main, ["ask", "民法典第680条", "-i", str(tmp_path / "idx")])
    assert result.exit_code == 0, result.output
    assert "《民法典》第六百八十条 · p. 2" in result.output
    result = CliRunner().invoke(main, ["search", "第六百八十条", "-i", str(tmp_path / "idx"), "--json"])
    hit = __import__("json").loads(result.output)["hits"][0]
    assert (hit["article"], hit["page"]) == ("第六百八十条", 2)


@pytest.mark.slow
def test_real_model_add_a_pdf_then_remove_it(tmp_path, monkeypatch):
    """The upload path end to end with the bundled model: the committed index's vectors are reused."""
    from tests.docmakers import ROOT

    monkeypatch.chdir(tmp_path)
    shutil.copytree(ROOT / "corpus", tmp_path / "corpus")
    shutil.copytree(ROOT / "index", tmp_path / "index")
    QA.build(["corpus"], "index")  # records this corpus folder; every chunk reused
    pdf = tmp_path / "借款合同.pdf"
    make_pdf(pdf, [seed_paragraphs("维信催收怎么处理.txt", 3), [UNIQUE]])
    question = "借款合同约定的年利率和逾期罚息是多少？"
    assert all(h.source != "借款合同.pdf" for h in QA.load("index").ask(question).passages)
    change = QA.load("index").add([pdf])
    assert change.report.embedded <= 3  # only the new passages were embedded
    answer = change.qa.ask(question)
    top = answer.passages[0]
    assert (top.source, top.page) == ("借款合同.pdf", 2) and "p. 2" in str(answer)
    gone = change.qa.remove(["借款合同.pdf"]).qa.ask(question)
    assert all(h.source != "借款合同.pdf" for h in gone.passages)
