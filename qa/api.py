"""The library API that the CLI, the web app and notebooks share: `QA.build`, `QA.load`, `search`, `ask`."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

from .answer import Answer, compose
from .build import BuildReport, build_index
from .config import DEFAULT, Config
from .embedding import Embedder
from .errors import ConfigError
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
        k = _check_k(k, self.config.k_search)
        result, _ = self._retriever.search(question, k, mode or self.config.mode, self._check_sources(sources))
        return result

    def ask(self, question: str, k: int | None = None, mode: str | None = None,
            sources: Sequence[str] | None = None) -> Answer:
        k = _check_k(k, self.config.k_ask)
        result, qvec = self._retriever.search(question, k, mode or self.config.mode, self._check_sources(sources))
        embedder = self._retriever.embedder() if qvec is not None else None
        return compose(
            result,
            k=k,
            idf=self._retriever.bm25.idf,
            embed=embedder.embed_passages if embedder is not None else None,
            query_vector=qvec,
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
        n = len(self._retriever.chunks)
        if not _is_int(chunk_id) or not 0 <= chunk_id < n:
            raise ConfigError(f"chunk_id must be an integer from 0 to {n - 1}, got {chunk_id!r}")
        if not _is_int(chars) or chars < 0:
            raise ConfigError(f"chars must be a non-negative integer, got {chars!r}")
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

    def _check_sources(self, sources: str | Sequence[str] | None) -> list[str] | None:
        """One source name or several; a name this index does not hold is an error naming the ones it does."""
        if sources is None:
            return None
        if isinstance(sources, (str, Path)):
            sources = [str(sources)]  # a single name, not a sequence of its characters
        try:
            wanted = list(sources)
        except TypeError:
            raise ConfigError(f"sources must be a source name or a list of them, got {sources!r}") from None
        if not all(isinstance(s, str) for s in wanted):
            raise ConfigError(f"sources must be source names (strings), got {wanted!r}")
        known = set(self.sources)
        unknown = [s for s in wanted if s not in known]
        if unknown:
            listed = ", ".join(sorted(known)[:10]) + (" …" if len(known) > 10 else "")
            raise ConfigError(f"unknown source(s) {', '.join(map(repr, unknown))}; this index holds: {listed}")
        return wanted or None

    def __repr__(self) -> str:
        info = self.info()
        spec = (info["embedder"] or {}).get("spec", "none")
        return f"QA({str(self.directory)!r}: {info['documents']} documents, {info['chunks']} chunks, embedder {spec})"


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_k(k, default: int) -> int:
    """None → the default; otherwise a positive integer (0 used to mean 'the default' silently, "3" to crash)."""
    if k is None:
        return default
    if not _is_int(k) or k < 1:
        raise ConfigError(f"k must be a positive integer, got {k!r}")
    return k
