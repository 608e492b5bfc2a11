"""The index contract: the manifest is the build recipe, checked on load; one typed Index is the only way in."""
import json
import re
import shutil

import pytest

from qa import QA, IndexMismatchError
from qa.models import lexical as lexical_module
from qa.config import BuildConfig
from qa.stores.local import MANIFEST

from tests.conftest import ROOT


@pytest.fixture
def fresh_index(corpus_dir, tmp_path):
    out = tmp_path / "index"
    QA.build([corpus_dir], out, model="hash:64")
    return out


def _with_data_file(monkeypatch, name: str, extra: str):
    """Today's code with one of qa/data's files changed (as a user editing it would)."""
    original = lexical_module._data_text

    def patched(wanted: str) -> str:
        text = original(wanted)
        return text + extra if wanted == name else text

    monkeypatch.setattr(lexical_module, "_data_text", patched)
    _clear_caches()


def _clear_caches():
    for cached in (lexical_module.tokenizer_recipe, lexical_module._tokenizer, lexical_module.stopwords,
                   lexical_module._thesaurus):
        cached.cache_clear()


@pytest.fixture(autouse=True)
def _fresh_caches_after():
    yield
    _clear_caches()  # the patched data files are gone: nothing cached from them may outlive the test


@pytest.mark.parametrize("name", ["userdict.txt", "stopwords.txt"])
def test_changed_tokenizer_data_refuses_old_index_with_rebuild_command(fresh_index, corpus_dir, monkeypatch, name):
    _with_data_file(monkeypatch, name, "\n借呗逾期 10 n\n")
    with pytest.raises(IndexMismatchError) as caught:
        QA.load(fresh_index)
    message = str(caught.value)
    assert "qa build" in message and str(corpus_dir) in message and "--model hash:64" in message


def test_changed_thesaurus_only_warns(fresh_index, monkeypatch):
    _with_data_file(monkeypatch, "synonyms.txt", "\n网贷 网络借贷\n")
    qa = QA.load(fresh_index)
    assert any("thesaurus" in w for w in qa.warnings)
    assert qa.search("强制下款会影响征信吗").hits


def test_changed_model_prompt_refuses_dense_search(fresh_index, monkeypatch):
    from qa.models import embedding

    recipe = embedding.HashEmbedder.recipe
    monkeypatch.setattr(embedding.HashEmbedder, "recipe", lambda self: {**recipe(self), "query_prompt": "query: "})
    qa = QA.load(fresh_index)
    with pytest.raises(IndexMismatchError, match="query_prompt.*qa build"):
        qa.search("强制下款会影响征信吗", mode="dense")


def test_cli_names_the_rebuild_command_on_mismatch(fresh_index, monkeypatch):
    from click.testing import CliRunner

    from qa.cli import main

    _with_data_file(monkeypatch, "userdict.txt", "\n借呗逾期 10 n\n")
    result = CliRunner().invoke(main, ["ask", "强制下款", "-i", str(fresh_index)])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "qa: error:" in result.stderr and "qa build" in result.stderr


def test_manifest_build_section_is_the_recipe(fresh_index):
    manifest = json.loads((fresh_index / MANIFEST).read_text(encoding="utf-8"))
    build, unknown = BuildConfig.from_dict(manifest["build"])
    assert build == BuildConfig(model="hash:64") and not unknown
    assert QA.load(fresh_index).info()["build"] == build.to_dict()


def test_old_format_is_refused_with_its_own_rebuild_command(fresh_index, corpus_dir):
    from qa import IndexCorruptError

    path = fresh_index / MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["format_version"] = 1
    path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexCorruptError, match=re.escape(f"qa build {corpus_dir}")):
        QA.load(fresh_index)


def test_colon_in_file_name_is_one_source(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a:b.txt").write_text("被强制下款的钱，只需归还本金，不必支付高额利息。", encoding="utf-8")
    (corpus / "other.txt").write_text("暴力催收可以向银保监会投诉。", encoding="utf-8")
    (corpus / "laws.jsonl").write_text('{"id": "x", "text": "强制下款属于违规放贷行为。"}\n', encoding="utf-8")
    QA.build([corpus], tmp_path / "index", model="hash:64")
    qa = QA.load(tmp_path / "index")
    assert qa.sources == ("a:b.txt", "laws.jsonl", "other.txt")
    hits = qa.search("强制下款", sources=["a:b.txt"]).hits
    assert hits and {h.source for h in hits} == {"a:b.txt"}
    jsonl = qa.search("违规放贷", sources=["laws.jsonl"]).hits
    assert jsonl[0].source == "laws.jsonl" and jsonl[0].line == 1 and jsonl[0].to_dict()["line"] == 1


def test_loaded_index_is_one_snapshot_when_rebuilt_under_it(corpus_dir, tmp_path):
    out = tmp_path / "index"
    QA.build([corpus_dir], out, model="hash:64")
    qa = QA.load(out)
    small = tmp_path / "small"
    small.mkdir()
    (small / "one.txt").write_text("只有一段关于征信修复的说明。", encoding="utf-8")
    QA.build([small], out, model="hash:64")  # rebuilt before the old QA's first dense question
    assert not qa.is_current()
    result = qa.search("强制下款会影响征信吗", mode="dense", k=5)
    assert len(result.hits) == 5 and all(h.source != "one.txt" for h in result.hits)
    assert QA.load(out).sources == ("one.txt",)


def test_same_index_other_query_settings(qa_hash):
    rrf = qa_hash.with_config(fusion="rrf")
    assert rrf.index is qa_hash.index and rrf.config.fusion == "rrf"
    batch = qa_hash.search_many(["强制下款会影响征信吗", "如何投诉催收"], k=3)
    assert [r.hits for r in batch] == [qa_hash.search(q, k=3).hits for q in ("强制下款会影响征信吗", "如何投诉催收")]


def test_only_the_store_touches_index_files():
    """Index file names and the old "source:line" parsing appear nowhere but in qa/stores/local.py."""
    file_names = re.compile(r"manifest\.json|chunks\.jsonl|documents\.jsonl|vectors\.(npy|faiss)|background\.npy"
                            r"|\.csc\.index|vocab\.index|df\.npy")
    offenders = []
    for path in sorted((ROOT / "qa").rglob("*.py")):
        if path.relative_to(ROOT / "qa").as_posix() == "stores/local.py":
            continue
        text = path.read_text(encoding="utf-8")
        if file_names.search(text) or 'rsplit(":"' in text:
            offenders.append(path.name)
    assert not offenders


def test_upgrade_from_format_1_reuses_vectors(fresh_index, corpus_dir):
    """An index of the previous format is rebuilt without re-embedding an unchanged corpus."""
    path = fresh_index / MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["format_version"] = 1
    manifest["embedder"] = {"spec": "hash:64", "dim": 64}  # what format 1 recorded
    path.write_text(json.dumps(manifest), encoding="utf-8")
    report = QA.build([corpus_dir], fresh_index, model="hash:64")
    assert report.embedded == 0 and report.reused == report.chunks


def test_committed_index_copy_loads(tmp_path):
    copy = tmp_path / "index"
    shutil.copytree(ROOT / "index", copy)
    assert QA.load(copy).info()["build"]["model"] == "e5-tuned"


def test_question_vectors_are_embedded_once_and_cached_when_asked(hash_index):
    from dataclasses import replace

    from qa.config import DEFAULT
    from qa.models.embedding import HashEmbedder

    class Counting(HashEmbedder):
        calls = 0

        def embed_queries(self, texts):
            Counting.calls += len(texts)
            return super().embed_queries(texts)

    for cache, expected in ((0, 2), (16, 1)):
        Counting.calls = 0
        qa = QA.load(hash_index, embedder=Counting(64), config=replace(DEFAULT, query_cache=cache))
        qa.search("强制下款会影响征信吗", mode="dense")
        qa.search("强制下款会影响征信吗", mode="hybrid")
        assert Counting.calls == expected


def test_a_damaged_index_names_its_own_rebuild_command(fresh_index, corpus_dir):
    from qa import IndexCorruptError

    path = fresh_index / "vectors.npy"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(IndexCorruptError, match=re.escape(f"qa build {corpus_dir} -o {fresh_index} --model hash:64")):
        QA.load(fresh_index)
