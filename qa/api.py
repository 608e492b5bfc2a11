"""The library API that the CLI, the web app and notebooks share: `QA.build`, `QA.load`, `search`, `ask`."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

from .answer import Answer, compose
from .build import BuildReport, build_index
from .citations import by_article, with_locations
from .config import DEFAULT, DEFAULT_BUILD, BuildConfig, QueryConfig
from .embedding import Embedder
from .index import Index
from .retrieve import Retriever, SearchResult
from .statutes import ArticleTable
from .store import StoredDocument

if TYPE_CHECKING:
    from .library import LibraryChange, LibraryEntry


class QA:
    """A loaded index and the settings questions are asked with. Load once, ask many times."""

    def __init__(self, index: Index, config: QueryConfig = DEFAULT) -> None:
        self.index = index
        self.config = config
        self._retriever = Retriever(index, config)
        self._articles: ArticleTable | None = None

    @classmethod
    def load(cls, index_dir: str | Path = "index", *, config: QueryConfig = DEFAULT,
             embedder: Embedder | None = None) -> "QA":
        return cls(Index.open(index_dir, embedder=embedder, query_cache=config.query_cache), config)

    def with_config(self, **changes) -> "QA":
        """The same loaded index asked with other query settings (e.g. fusion="rrf")."""
        return QA(self.index, replace(self.config, **changes))

    @staticmethod
    def build(
        paths: Iterable[str | Path] = ("corpus",),
        index_dir: str | Path = "index",
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
        return build_index(paths, index_dir, build=build, progress=progress, embedder=embedder)

    # -- questions -------------------------------------------------------------------------------------------
    def search(self, question: str, k: int | None = None, mode: str | None = None,
               sources: Sequence[str] | None = None) -> SearchResult:
        k = k or self.config.k_search
        result, _ = self._retriever.search(question, k, mode or self.config.mode, sources)
        return self._cited(result, k, sources)

    def search_many(self, questions: Sequence[str], k: int | None = None, mode: str | None = None,
                    sources: Sequence[str] | None = None) -> list[SearchResult]:
        """`search` for many questions at once (their vectors are computed in batches)."""
        k, mode = k or self.config.k_search, mode or self.config.mode
        return [self._cited(result, k, sources) for result, _ in self._retriever.search_many(questions, k, mode, sources)]

    def ask(self, question: str, k: int | None = None, mode: str | None = None,
            sources: Sequence[str] | None = None) -> Answer:
        k = k or self.config.k_ask
        result, qvec = self._retriever.search(question, k, mode or self.config.mode, sources)
        result = self._cited(result, k, sources)
        return compose(
            result,
            k=k,
            idf=self.index.terms.idf,
            embed=self.index.embed_passages if qvec is not None else None,
            query_vector=qvec,
            config=self.config,
        )

    def _cited(self, result: SearchResult, k: int, sources: Sequence[str] | None) -> SearchResult:
        """Articles the question names first (「民法典第680条」), and every hit's page, article and link."""
        return with_locations(by_article(result, self.index, self._article_table(), k, sources), self.index)

    def _article_table(self) -> ArticleTable:
        if self._articles is None:
            self._articles = ArticleTable(self.index.chunks)
        return self._articles

    # -- the library -----------------------------------------------------------------------------------------
    def add(self, paths: Iterable[str | Path], *, corpus: str | Path | None = None, progress: bool = False,
            replace_existing: bool = False) -> "LibraryChange":
        """Copy files into the corpus folder and rebuild incrementally; returns the change and the reloaded QA
        (`change.qa`). Names are sanitised; types and sizes checked against the config (`LibraryConfig`)."""
        from .library import add_files

        return add_files(self, paths, corpus=corpus, progress=progress, replace_existing=replace_existing)

    def remove(self, docs: Iterable[str], *, corpus: str | Path | None = None, progress: bool = False) -> "LibraryChange":
        """Take documents (by file name as listed in `sources`) out of the corpus folder and rebuild
        incrementally. Removed files are moved to the corpus's `.removed/` folder, never deleted."""
        from .library import remove_files

        return remove_files(self, docs, corpus=corpus, progress=progress)

    def library(self, *, corpus: str | Path | None = None) -> list["LibraryEntry"]:
        """The files of the index: title, type, documents, chunks, pages, link, when added."""
        from .library import library_entries

        return library_entries(self, corpus)

    # -- the index -------------------------------------------------------------------------------------------
    @property
    def directory(self) -> Path:
        return self.index.directory

    @property
    def sources(self) -> tuple[str, ...]:
        return self.index.sources

    @property
    def documents(self) -> Mapping[str, StoredDocument]:
        return self.index.documents

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

    def __repr__(self) -> str:
        info = self.info()
        spec = (info["embedder"] or {}).get("spec", "none")
        return f"QA({str(self.directory)!r}: {info['documents']} documents, {info['chunks']} chunks, embedder {spec})"
