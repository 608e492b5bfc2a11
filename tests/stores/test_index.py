import json
import shutil

import pytest

from qa import QA, IndexCorruptError, IndexNotFoundError
from qa.stores import build as build_module
from qa.stores.local import MANIFEST


def test_manifest_describes_the_index(hash_index):
    from qa.config import FORMAT_VERSION, BuildConfig

    manifest = json.loads((hash_index / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["format_version"] == FORMAT_VERSION
    assert BuildConfig.from_dict(manifest["build"]) == (BuildConfig(model="hash:64"), [])
    assert manifest["embedder"]["spec"] == "hash:64" and manifest["embedder"]["dim"] == 64
    assert {"query_prompt", "passage_prompt", "fold", "normalise"} <= set(manifest["embedder"])
    assert set(manifest["tokenizer"]) >= {"userdict", "stopwords", "synonyms", "jieba"}
    assert manifest["vector_index"]["kind"] == "flat"
    assert "laws.jsonl" in manifest["corpus"]["files"]
    assert set(manifest["files"]) >= {"chunks.jsonl", "documents.jsonl", "vectors.faiss", "vectors.npy"}


def test_missing_index_raises_typed_error(tmp_path):
    with pytest.raises(IndexNotFoundError, match="qa build"):
        QA.load(tmp_path / "nothing")


@pytest.mark.parametrize("damage", ["truncate", "delete", "garble_manifest", "flip_byte"])
def test_damaged_index_raises_typed_error_with_rebuild_hint(hash_index, tmp_path, damage):
    copy = tmp_path / "index"
    shutil.copytree(hash_index, copy)
    if damage == "truncate":
        path = copy / "vectors.npy"
        path.write_bytes(path.read_bytes()[:100])
    elif damage == "delete":
        (copy / "bm25" / "vocab.index.json").unlink()
    elif damage == "garble_manifest":
        (copy / MANIFEST).write_text("{not json", encoding="utf-8")
    else:
        path = copy / "chunks.jsonl"
        data = bytearray(path.read_bytes())
        data[10] ^= 1
        path.write_bytes(bytes(data))
    with pytest.raises(IndexCorruptError, match="rebuild"):
        QA.load(copy)


def test_failed_build_leaves_previous_index_intact(corpus_dir, tmp_path, monkeypatch):
    out = tmp_path / "index"
    QA.build([corpus_dir], out, model="hash:64")
    before = (out / MANIFEST).read_text(encoding="utf-8")

    def explode(*args, **kwargs):
        raise RuntimeError("killed halfway")

    monkeypatch.setattr(build_module.BM25Builder, "finish", explode)
    with pytest.raises(RuntimeError):
        QA.build([corpus_dir], out, model="hash:64")
    assert (out / MANIFEST).read_text(encoding="utf-8") == before
    assert QA.load(out).search("强制下款").hits
    assert not list(tmp_path.glob(".index.tmp-*"))


def test_rebuild_reuses_vectors_and_embeds_only_changed_file(corpus_dir, tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(corpus_dir, corpus)
    out = tmp_path / "index"
    first = QA.build([corpus], out, model="hash:64")
    assert first.embedded == first.chunks and first.reused == 0
    again = QA.build([corpus], out, model="hash:64")
    assert again.embedded == 0 and again.reused == again.chunks
    (corpus / "new.md").write_text("# 新文件\n\n这是一个新加入的文件，讨论征信异议申诉。", encoding="utf-8")
    third = QA.build([corpus], out, model="hash:64")
    assert third.embedded == 1 and third.chunks == first.chunks + 1
    other = QA.build([corpus], out, model="hash:32")  # another embedder: nothing reusable
    assert other.reused == 0


def test_lexical_only_index(corpus_dir, tmp_path):
    out = tmp_path / "lex"
    report = QA.build([corpus_dir], out, model="none")
    assert report.vector_index == "no"
    result = QA.load(out).search("强制下款会影响征信吗")
    assert result.mode == "lexical" and result.warning and result.hits


def test_build_of_nothing_readable_is_a_corpus_error(tmp_path):
    from qa import CorpusError

    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(CorpusError, match="no readable documents"):
        QA.build([tmp_path], tmp_path / "index", model="hash:64")


def test_bm25_posting_lists_are_sorted(hash_index):
    """Coverage lookups binary-search the postings: bm25s must keep each term's passage ids ascending."""
    import numpy as np

    indices = np.load(hash_index / "bm25" / "indices.csc.index.npy")
    indptr = np.load(hash_index / "bm25" / "indptr.csc.index.npy")
    diffs = np.diff(indices)
    column_starts = indptr[1:-1] - 1
    inside = np.ones(len(diffs), dtype=bool)
    inside[column_starts[(column_starts >= 0) & (column_starts < len(diffs))]] = False
    assert (diffs[inside] > 0).all()


def test_bm25_files_do_not_depend_on_hash_randomisation(tmp_path):
    """The same corpus gives the same index bytes: rebuilding the committed index leaves git clean."""
    import os
    import subprocess
    import sys

    code = ("import sys; from pathlib import Path; from qa.models.lexical import build_bm25; "
            "r, df = build_bm25(['催收人员骚扰借款人的同事', '强制下款的钱需要还吗', '协商还款需要准备材料'], "
            "k1=1.2, b=0.75); r.save(sys.argv[1], show_progress=False)")
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run([sys.executable, "-c", code, str(tmp_path / seed)], check=True, env=env)
    for path in sorted((tmp_path / "1").iterdir()):
        assert path.read_bytes() == (tmp_path / "2" / path.name).read_bytes(), path.name


def test_streamed_bm25_writes_what_bm25s_index_writes(tmp_path):
    """build_bm25 places bm25s's scores into its CSC arrays itself, in blocks: the saved files must be the bytes
    bm25s's own `index` writes for the same token ids (tiny blocks, so the block edges are crossed many times)."""
    import random
    from array import array

    import bm25s
    import numpy as np
    from bm25s.tokenization import Tokenized

    from qa.models.lexical import BM25Builder, index_tokens

    rng = random.Random(7)
    words = ["催收", "协商还款", "征信", "强制下款", "利息", "合同", "借款人", "the", "loan", "2024"]
    texts = [" ".join(rng.choice(words) + rng.choice(["", "的", "了"]) for _ in range(rng.randint(0, 40)))
             for _ in range(300)] + ["。。。"]
    builder = BM25Builder(k1=1.2, b=0.75)
    builder._BLOCK = 37
    for text in texts:
        builder.add(text)
    ours, df = builder.finish()
    ours.save(str(tmp_path / "ours"), show_progress=False)

    vocab: dict[str, int] = {}
    ids = [array("i", [vocab.setdefault(t, len(vocab)) for t in index_tokens(text)]) for text in texts]
    theirs = bm25s.BM25(k1=1.2, b=0.75, method="lucene")
    theirs.index(Tokenized(ids=ids, vocab=vocab), show_progress=False)
    theirs.save(str(tmp_path / "theirs"), show_progress=False)
    expected = np.zeros(len(vocab), dtype=np.int32)
    for doc in ids:
        expected[list(set(doc))] += 1
    for path in sorted((tmp_path / "theirs").iterdir()):
        assert path.read_bytes() == (tmp_path / "ours" / path.name).read_bytes(), path.name
    assert df.dtype == np.int32 and (df == expected).all()
