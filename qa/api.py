"""The library API that the CLI, the web app and notebooks share: `QA.build`, `QA.load`, `search`, `ask`."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

from .pipeline.answer import Answer, compose
from .stores.build import BuildReport, Progress
from .pipeline.citations import by_article
from .config import DEFAULT, DEFAULT_BUILD, DEFAULT_CORPUS, DEFAULT_INDEX, BuildConfig, QueryConfig
from .pipeline.distress import support_message
from .models.embedding import Embedder
from .errors import ConfigError
from .stores.factory import build_into, open_index
from .stores.index import Index, is_integer
from .stores.location import Locatable
from .pipeline.retrieve import Retriever, SearchResult
from .documents.statutes import ArticleTable

if TYPE_CHECKING:
    from .library import LibraryChange, LibraryEntry


class QA:
    """A loaded index and the settings questions are asked with. Load once, ask many times."""

    def __init__(self, index: Index, config: QueryConfig = DEFAULT) -> None:
        self.index = index
        self.config = config
        self._retriever = Retriever(index, config)
        self._articles: ArticleTable | None = None
        self._sectioned: frozenset[str] | None = None

    @classmethod
    def load(cls, index_dir: Locatable = DEFAULT_INDEX, *, config: QueryConfig = DEFAULT,
             embedder: Embedder | None = None) -> "QA":
        """The index at a directory or a Milvus URI (`milvus://HOST:PORT/NAME`, `milvus:///path/file.db`)."""
        return cls(open_index(index_dir, embedder=embedder, query_cache=config.query_cache), config)

    def with_config(self, **changes) -> "QA":
        """The same loaded index asked with other query settings (e.g. fusion="rrf")."""
        return QA(self.index, replace(self.config, **changes))

    @staticmethod
    def build(
        paths: Iterable[str | Path] = (DEFAULT_CORPUS,),
        index_dir: Locatable = DEFAULT_INDEX,
        *,
        model: str | None = None,
        chunk_size: int | None = None,
        overlap: int | None = None,
        ann: str | None = None,
        build: BuildConfig = DEFAULT_BUILD,
        progress: bool = False,
        embedder: Embedder | None = None,
    ) -> BuildReport:
        """Build an index from files and directories. Keyword settings override `build` (the recipe)."""
        changes = {"model": model, "chunk_size": chunk_size, "chunk_overlap": overlap, "ann": ann}
        build = replace(build, **{k: v for k, v in changes.items() if v is not None})
        return build_into(index_dir, paths, build=build, progress=progress, embedder=embedder)

    # -- questions -------------------------------------------------------------------------------------------
    def search(self, question: str, k: int | None = None, mode: str | None = None,
               sources: Sequence[str] | None = None) -> SearchResult:
        k = _check_k(k, self.config.k_search)
        sources = self._check_sources(sources)
        result, _ = self._retriever.search(question, k, mode or self.config.mode, sources)
        return self._cited(result, k, sources)

    def search_many(self, questions: Sequence[str], k: int | None = None, mode: str | None = None,
                    sources: Sequence[str] | None = None) -> list[SearchResult]:
        """`search` for many questions at once (their vectors are computed in batches)."""
        k, mode = _check_k(k, self.config.k_search), mode or self.config.mode
        sources = self._check_sources(sources)
        return [self._cited(result, k, sources) for result, _ in self._retriever.search_many(questions, k, mode, sources)]

    def ask(self, question: str, k: int | None = None, mode: str | None = None,
            sources: Sequence[str] | None = None) -> Answer:
        k = _check_k(k, self.config.k_ask)
        sources = self._check_sources(sources)
        result, qvec = self._retriever.search(question, k, mode or self.config.mode, sources)
        result = self._cited(result, k, sources)
        answer = compose(
            result,
            k=k,
            idf=self.index.terms.idf,
            embed=self.index.embed_passages if qvec is not None else None,
            query_vector=qvec,
            stored_vector=self.index.sentence_vector if qvec is not None else None,
            floor=self._retriever.answer_floor(qvec),
            n_passages=len(self.index.chunks),
            sectioned=self._sectioned_documents(),
            config=self.config,
        )
        support = support_message(question, self.config)
        return replace(answer, support=support) if support else answer

    def _cited(self, result: SearchResult, k: int, sources: Sequence[str] | None) -> SearchResult:
        """Articles the question names first (「民法典第680条」)."""
        return by_article(result, self.index, self._article_table(), k, sources)

    def _sectioned_documents(self) -> frozenset[str]:
        """Documents with section headings: their text before the first one is an introduction."""
        if self._sectioned is None:
            self._sectioned = frozenset(c.doc_id for c in self.index.chunks if c.heading)
        return self._sectioned

    def _article_table(self) -> ArticleTable:
        if self._articles is None:
            self._articles = ArticleTable(self.index.chunks)
        return self._articles

    # -- the library -----------------------------------------------------------------------------------------
    def add(self, paths: Iterable[str | Path], *, corpus: str | Path | None = None, progress: Progress = False,
            replace_existing: bool = False) -> "LibraryChange":
        """Copy files into the corpus folder and rebuild incrementally; returns the change and the reloaded QA
        (`change.qa`). Names are sanitised; types and sizes checked against `QueryConfig.library_types` / `library_max_bytes`.
        `progress`: True for progress bars, or a callable (stage, done, total) — see `qa.build.ProgressFn`."""
        from .library import add_files

        return self._reloaded(add_files(self, paths, corpus=corpus, progress=progress,
                                        replace_existing=replace_existing))

    def remove(self, docs: Iterable[str], *, corpus: str | Path | None = None, progress: Progress = False) -> "LibraryChange":
        """Take documents (by file name as listed in `sources`) out of the corpus folder and rebuild
        incrementally. Removed files are moved to the corpus's `.removed/` folder, never deleted."""
        from .library import remove_files

        return self._reloaded(remove_files(self, docs, corpus=corpus, progress=progress))

    def library(self, *, corpus: str | Path | None = None) -> list["LibraryEntry"]:
        """The files of the index: title, type, documents, chunks, pages, link, when added."""
        from .library import library_entries

        return library_entries(self, corpus)

    def _reloaded(self, change: "LibraryChange") -> "LibraryChange":
        """The change with the QA that answers from the rebuilt index (this one when nothing was rebuilt)."""
        return replace(change, qa=self if change.report is None else QA.load(self.directory, config=self.config))

    # -- the index -------------------------------------------------------------------------------------------
    @property
    def directory(self) -> Path:
        return self.index.directory

    @property
    def sources(self) -> tuple[str, ...]:
        return self.index.sources

    @property
    def warnings(self) -> tuple[str, ...]:
        """What differs between the index's recipe and today's code without making it unusable."""
        return self.index.warnings

    def context(self, chunk_id: int, chars: int = 400) -> str:
        """The passage with up to `chars` characters of its document before and after (cleaned, original script)."""
        return self.index.context(chunk_id, chars)

    def is_current(self) -> bool:
        """False once the index directory has been rebuilt since it was loaded: `QA.load` it again to see it."""
        return self.index.is_current()

    def info(self) -> dict:
        return self.index.info()

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


def _check_k(k, default: int) -> int:
    """None → the default; otherwise a positive integer (0 used to mean 'the default' silently, "3" to crash)."""
    if k is None:
        return default
    if not is_integer(k) or k < 1:
        raise ConfigError(f"k must be a positive integer, got {k!r}")
    return k
