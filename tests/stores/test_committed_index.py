"""The committed index/ must be what `qa build` makes of corpus/ with today's code and defaults."""
import json

from qa.config import DEFAULT_BUILD
from qa.documents.corpus import discover
from qa.models.lexical import tokenizer_recipe

from tests.conftest import ROOT


def _manifest():
    return json.loads((ROOT / "index" / "manifest.json").read_text(encoding="utf-8"))


def test_committed_index_matches_corpus():
    files, _ = discover([ROOT / "corpus"])
    assert _manifest()["corpus"]["files"] == {f.name: f.sha256 for f in files}, "corpus/ changed: run `qa build`"


def test_committed_index_matches_defaults():
    manifest = _manifest()
    assert manifest["build"] == DEFAULT_BUILD.to_dict(), "build defaults changed: run `qa build`"
    assert manifest["tokenizer"] == tokenizer_recipe(), "tokenizer data changed: run `qa build`"
    assert manifest["embedder"]["spec"] == DEFAULT_BUILD.model == "e5-tuned"


def test_committed_chunks_are_what_todays_code_makes():
    """Cleaning or chunking code changed without a rebuild: the committed passages would be stale."""
    from qa.documents.chunking import chunk_documents
    from qa.documents.corpus import read_documents
    from qa.stores.index import Index
    from qa.stores.local import chunk_key

    files, skipped = discover([ROOT / "corpus"])
    build = DEFAULT_BUILD
    fresh = [
        (c.source, c.start, c.end, c.text, c.heading, chunk_key(c))
        for _, _, chunks in chunk_documents(read_documents(files, skipped), size=build.chunk_size,
                                            overlap=build.chunk_overlap, maximum=build.chunk_max)
        for c in chunks
    ]
    index = Index.open(ROOT / "index")
    committed = [(c.source, c.start, c.end, c.text, c.heading, k) for c, k in zip(index.chunks, index.keys)]
    assert committed == fresh, "cleaning/chunking changed: run `qa build`"
