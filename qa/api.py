"""The library API that the CLI, the web app and notebooks share: `QA.build`, `QA.load`, `search`, `ask`."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

from .answer import Answer, compose
from .build import BuildReport, build_index
from .config import DEFAULT, Config
from .embedding import Embedder
from .retrieve import Retriever, SearchResult
from .store import load


class QA:
    """A loaded index. Load once, ask many times: models and files are opened on first need and kept."""

    def __init__(self, retriever: Retriever, config: Config = DEFAULT) -> None:
        self._retriever = retriever
        self.config = config

    @classmethod
    def load(cls, index_dir: str | Path = "index", *, config: Config = DEFAULT, embedder: Embedder | None = None) -> "QA":
        return cls(Retriever(load(index_dir), config, embedder), config)

    @staticmethod
    def build(
        paths: Iterable[str | Path] = ("corpus",),
        index_dir: str | Path = "index",
        *,
        model: str | None = None,
        chunk_size: int | None = None,
        overlap: int | None = None,
        ann: str | None = None,
        config: Config = DEFAULT,
        progress: bool = False,
        embedder: Embedder | None = None,
    ) -> BuildReport:
        from dataclasses import replace

        changes = {"chunk_size": chunk_size, "chunk_overlap": overlap}
        config = replace(config, **{k: v for k, v in changes.items() if v is not None})
        return build_index(paths, index_dir, config=config, model=model, ann=ann, progress=progress, embedder=embedder)

    # -- questions -------------------------------------------------------------------------------------------
    def search(self, question: str, k: int | None = None, mode: str | None = None,
               sources: Sequence[str] | None = None) -> SearchResult:
        result, _ = self._retriever.search(question, k or self.config.k_search, mode or self.config.mode, sources)
        return result

    def ask(self, question: str, k: int | None = None, mode: str | None = None,
            sources: Sequence[str] | None = None) -> Answer:
        k = k or self.config.k_ask
        result, qvec = self._retriever.search(question, k, mode or self.config.mode, sources)
        embedder = self._retriever.embedder() if qvec is not None else None
        return compose(
            result,
            k=k,
            idf=self._retriever.bm25.idf,
            embed=embedder.embed_passages if embedder is not None else None,
            query_vector=qvec,
            stored_vector=self._retriever.stored_sentence_vector if qvec is not None else None,
            floor=self._retriever.answer_floor(qvec),
            n_passages=len(self._retriever.chunks),
            config=self.config,
        )

    # -- the index -------------------------------------------------------------------------------------------
    @property
    def directory(self) -> Path:
        return self._retriever.stored.directory

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(sorted({doc["source"].rsplit(":", 1)[0] for doc in self._retriever.stored.documents.values()}))

    def context(self, chunk_id: int, chars: int = 400) -> str:
        """The passage with up to `chars` characters of its document before and after (cleaned, original script)."""
        chunk = self._retriever.chunks[chunk_id]
        text = self._retriever.stored.documents[chunk.doc_id]["text"]
        start = max(0, chunk.clean_start - chars)
        end = min(len(text), chunk.clean_end + chars)
        return ("…" if start else "") + text[start:end] + ("…" if end < len(text) else "")

    def info(self) -> dict:
        manifest = self._retriever.stored.manifest
        return {
            "index": str(self.directory),
            "format_version": manifest["format_version"],
            "qa_version": manifest.get("qa_version"),
            "created": manifest.get("created"),
            "documents": manifest["counts"]["documents"],
            "chunks": manifest["counts"]["chunks"],
            "embedder": manifest.get("embedder"),
            "vector_index": manifest.get("vector_index"),
            "tokenizer": manifest.get("tokenizer"),
            "chunking": manifest.get("chunking"),
            "sources": list(self.sources),
            "skipped": manifest.get("corpus", {}).get("skipped", []),
        }

    def __repr__(self) -> str:
        info = self.info()
        spec = (info["embedder"] or {}).get("spec", "none")
        return f"QA({str(self.directory)!r}: {info['documents']} documents, {info['chunks']} chunks, embedder {spec})"
