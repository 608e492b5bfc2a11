"""The library API that the CLI, the web app and notebooks share: `QA.build`, `QA.load`, `search`, `ask`."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

from .config import DEFAULT, DEFAULT_BUILD, DEFAULT_CORPUS, DEFAULT_INDEX, BuildConfig, QueryConfig
from .documents.statutes import ArticleTable
from .errors import ConfigError, CorpusError
from .models.embedding import Embedder
from .pipeline.answer import compose
from .pipeline.citations import articles_first
from .pipeline.distress import support_message
from .pipeline.query import Query
from .pipeline.retrieve import Retriever, SearchResult
from .pipeline.verdict import Verdict, decide
from .stores.build import BuildReport, Progress
from .stores.factory import build_into, open_index
from .stores.index import Index
from .stores.location import Locatable

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
        index = open_index(index_dir, embedder=embedder, query_cache=config.query_cache)
        return cls(index, config.for_embedder((index.recipe.embedder or {}).get("spec")))

    def with_config(self, **changes) -> "QA":
        """The same loaded index asked with other query settings (e.g. fusion="rrf")."""
        try:
            return QA(self.index, replace(self.config, **changes))
        except TypeError as exc:  # an unknown setting name
            raise ConfigError(str(exc)) from None

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
        paths = _listed(paths, "paths")
        if not paths:
            raise CorpusError("no paths to build from: give files or directories")
        return build_into(index_dir, paths, build=build, progress=progress, embedder=embedder)

    # -- questions -------------------------------------------------------------------------------------------
    def search(self, question: str, k: int | None = None, mode: str | None = None,
               sources: Sequence[str] | None = None) -> SearchResult:
        return self.search_many([question], k, mode, sources)[0]

    def search_many(self, questions: Sequence[str], k: int | None = None, mode: str | None = None,
                    sources: Sequence[str] | None = None) -> list[SearchResult]:
        """`search` for many questions at once (their vectors are computed in batches)."""
        questions = _listed(questions, "questions")
        query = self._query("", k, mode, sources, self.config.k_search)
        if not questions:
            return []
        ranked = self._retriever.search_many(questions, query.k, query.mode, query.sources)
        return [self._searched(result, query) for result, _ in ranked]

    def ask(self, question: str, k: int | None = None, mode: str | None = None,
            sources: Sequence[str] | None = None) -> Verdict:
        """The verdict on `question`: answered (sentences quoting the passages, [n] citing them), related passages,
        or not found. A question that signals distress gets the calm message first (`support`), and when it finds
        nothing itself, what the documents say about the debt behind it (`QueryConfig.distress_question`)."""
        query = self._query(question, k, mode, sources, self.config.k_ask)
        verdict = self._verdict(query)
        support = support_message(question, self.config)
        if not support:
            return verdict
        if verdict.outcome == "not_found" and self.config.distress_question:
            debt = self._verdict(replace(query, text=self.config.distress_question))
            if debt.found:
                return replace(debt, question=verdict.question, warning=verdict.warning, notice=verdict.notice,
                               support=support, reason=f"distress; answered as 「{debt.question}」: {debt.reason}")
        return replace(verdict, support=support)

    def _query(self, text: str, k, mode, sources, default_k: int) -> Query:
        return Query.of(text, k, mode, sources, known_sources=self.sources, default_k=default_k,
                        limit=self.config.k_limit, config=self.config)

    def _searched(self, result: SearchResult, query: Query) -> SearchResult:
        """Retrieval's ranking judged by the verdict (passages only): found or not, and the hits shown."""
        verdict = decide(result, k=query.k, cite=self._citer(result.question, query), compose=None, config=self.config,
                         absent=self._article_table().absent(result.question))
        return replace(result, hits=verdict.passages, found=verdict.found, notice=verdict.notice)

    def _verdict(self, query: Query) -> Verdict:
        result, qvec = self._retriever.search(query.text, query.k, query.mode, query.sources)

        def composed(shown: SearchResult):
            return compose(
                shown,
                k=query.k,
                idf=self.index.terms.idf,
                embed=self.index.embed_passages if qvec is not None else None,
                query_vector=qvec,
                stored_vector=self.index.sentence_vector if qvec is not None else None,
                background=self._retriever.background(qvec),
                n_passages=len(self.index.chunks),
                sectioned=self._sectioned_documents(),
                config=self.config,
            )

        return decide(result, k=query.k, cite=self._citer(result.question, query), compose=composed,
                      config=self.config, absent=self._article_table().absent(result.question))

    def _citer(self, question: str, query: Query):
        """Articles the question names first (「民法典第680条」)."""
        return lambda hits: articles_first(question, hits, self.index, self._article_table(), query.k, query.sources)

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

        return self._reloaded(add_files(self, _listed(paths, "paths", upload=True), corpus=corpus,
                                        progress=progress, replace_existing=replace_existing))

    def remove(self, docs: Iterable[str], *, corpus: str | Path | None = None, progress: Progress = False) -> "LibraryChange":
        """Take documents (by file name as listed in `sources`) out of the corpus folder and rebuild
        incrementally. Removed files are moved to the corpus's `.removed/` folder, never deleted."""
        from .library import remove_files

        return self._reloaded(remove_files(self, _listed(docs, "docs"), corpus=corpus, progress=progress))

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

    def __repr__(self) -> str:
        info = self.info()
        spec = (info["embedder"] or {}).get("spec", "none")
        return f"QA({str(self.directory)!r}: {info['documents']} documents, {info['chunks']} chunks, embedder {spec})"


def _listed(value, what: str, upload: bool = False) -> list:
    """A list of the items given: one item (a str, a Path, with `upload` an upload's (name, bytes)) is one, not its
    characters; a tuple of paths (what click passes) is a list; None or a non-iterable is a ConfigError."""
    if isinstance(value, (str, Path)) or (upload and isinstance(value, tuple) and len(value) == 2
                                          and isinstance(value[1], (bytes, bytearray, memoryview))):
        return [value]
    try:
        return list(value)
    except TypeError:
        raise ConfigError(f"{what} must be a list, got {value!r}") from None
