"""The page's one `QA`: loaded at start, or built from the corpus in a background thread on first start (the page
shows progress meanwhile), and asked questions from several workers at once.

Questions run concurrently (`workers` in the layout); the library guards the one thing that is not thread-safe,
the embedding model's call, so a question's BM25, FAISS and answer work overlap with others'.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from ..pipeline.answer import Answer
from ..api import QA
from ..stores.build import BuildReport
from .. import messages
from ..config import DEFAULT, DEFAULT_CORPUS, QueryConfig
from ..errors import EmptyQuestionError, IndexNotFoundError, InvalidKError, QAError
from ..pipeline.query import check_k as check_k_policy
from ..pipeline.query import read_k
from ..stores.location import IndexLocation, Locatable
from .render import display_dir, esc, render_error

if TYPE_CHECKING:
    from ..library import LibraryChange

BUILD_WAIT_S = 1800  # how long a question waits for a first-start index build
CONTEXT_CHARS = 400
TRUTHY = ("1", "true", "yes", "on")
WARM_UP_QUERY = "借款"  # a search, not a message: loads the model and vectors before the first visitor


def read_only_from_env(flag: bool | None = None) -> bool:
    """--read-only wins; otherwise $QA_READ_ONLY set to 1/true/yes/on (any case) makes the library read-only."""
    if flag is not None:
        return bool(flag)
    return os.environ.get("QA_READ_ONLY", "").strip().lower() in TRUTHY


class InvalidInputError(QAError):
    """A question's options are out of range (top-k, mode); the message is shown to the visitor as is."""


@dataclass
class _State:
    qa: QA | None = None
    error: str | None = None
    building: bool = False
    started: float = 0.0
    finished: float = 0.0
    report: BuildReport | None = None


@dataclass(frozen=True)
class Reply:
    """One asked question: the verdict and each cited passage's surrounding text."""
    answer: Answer
    contexts: tuple[str | None, ...]

    @property
    def support(self) -> str | None:
        """The distress message, if any: the verdict carries it."""
        return self.answer.support


class Service:
    """Holds the app's QA. With no index yet, builds it from `corpus_dir` in a thread and reports progress.
    `read_only`: every QA it serves has `library_read_only` set, so the library itself refuses changes."""

    def __init__(self, qa_or_index_dir: QA | Locatable, corpus_dir: str | Path | None = None,
                 model: str | None = None, clock: Callable[[], float] = time.monotonic, read_only: bool = False):
        self.read_only = read_only
        self.state = _State()
        self.ready = threading.Event()
        self.index_dir: IndexLocation | None = None
        self.corpus_dir: Path | None = None
        self.model = model
        self.clock = clock
        self._reload_lock = threading.Lock()
        if isinstance(qa_or_index_dir, QA):
            self._loaded(qa_or_index_dir)
            return
        self.index_dir = IndexLocation.parse(qa_or_index_dir)
        # what a missing index is built from; the library's folder is the one the index records (Librarian)
        self.corpus_dir = Path(corpus_dir if corpus_dir is not None else DEFAULT_CORPUS)
        try:
            self._loaded(QA.load(self.index_dir))
        except IndexNotFoundError:
            self._start_build()
        except QAError as exc:  # corrupt or incompatible index: shown on the page, never rebuilt over silently
            self.state.error = messages.INDEX_UNLOADABLE.format(error=exc)
            self.ready.set()

    @property
    def config(self) -> QueryConfig:
        """The loaded QA's settings (the library defaults until one is loaded)."""
        return self.state.qa.config if self.state.qa is not None else DEFAULT

    def _loaded(self, qa: QA) -> None:
        if self.read_only and not qa.config.library_read_only:
            qa = qa.with_config(library_read_only=True)
        self.state.qa = qa  # one assignment: a question sees the old QA or the new one, never half of either
        self.ready.set()
        threading.Thread(target=self._warm_up, args=(qa,), name="qa-warm-up", daemon=True).start()

    @staticmethod
    def _warm_up(qa: QA) -> None:
        """Load the embedding model and vectors in the background, so the first visitor does not wait for it."""
        try:
            qa.search(WARM_UP_QUERY, k=1)
        except QAError:  # the first real question reports any problem
            pass

    def _start_build(self) -> None:
        self.state.building = True
        self.state.started = self.clock()
        print(messages.CONSOLE_BUILDING.format(index=self.index_dir, corpus=self.corpus_dir), flush=True)
        threading.Thread(target=self._build, name="qa-index-build", daemon=True).start()

    def _build(self) -> None:
        try:
            kwargs = {} if self.model is None else {"model": self.model}
            self.state.report = QA.build([self.corpus_dir], self.index_dir, progress=True, **kwargs)
            qa = QA.load(self.index_dir)
        except Exception as exc:  # noqa: BLE001 - any failure is shown on the page
            self.state.error = messages.BUILD_FAILED.format(corpus=display_dir(self.corpus_dir), error=exc)
            qa = None
        self.state.finished = self.clock()
        self.state.building = False
        if qa is not None:
            self._loaded(qa)
        self.ready.set()

    def sources(self) -> list[str]:
        qa = self.current()
        return list(qa.sources) if qa is not None else []

    def current(self) -> QA | None:
        """The served QA for listing (None while none is loaded), reloaded first when the index on disk changed —
        another server on the same index added a document, or `qa build` ran — but never waiting for a rebuild
        this page is making (the list then shows the old index until that change swaps in)."""
        qa = self.state.qa
        return None if qa is None else self._current(qa, wait=False)

    def status_html(self) -> str:
        s = self.state
        if s.building:
            elapsed = int(self.clock() - s.started)
            corpus = f"<code>{esc(display_dir(self.corpus_dir))}</code>"
            return f'<div class="qa-status">{messages.BUILDING.format(corpus=corpus, elapsed=elapsed)}</div>'
        if s.error:
            return render_error(s.error)
        if s.qa is None:
            return ""
        built = ""
        if s.report is not None:
            built = messages.BUILT.format(corpus=f"<code>{esc(display_dir(self.corpus_dir))}</code>",
                                          seconds=s.finished - s.started)
        return f'<div class="qa-status qa-ok">{built}{messages.LIBRARY_SIZE.format(n=len(self.sources()))}</div>'

    def get(self) -> QA:
        """The QA, waiting for a build in progress; raises QAError with a readable message when unusable."""
        if not self.ready.is_set():
            self.ready.wait(BUILD_WAIT_S)
        if self.state.qa is None:
            raise QAError(self.state.error or messages.STILL_BUILDING)
        return self._current(self.state.qa)

    def _current(self, qa: QA, wait: bool = True) -> QA:
        """After the index directory was rebuilt while the page runs (`qa build`, or another server's library
        change), load the new index once, with the same settings, and swap it in whole; questions already running
        finish on the old one. `wait=False`: when the reload lock is held (a reload or this page's own change is
        under way), answer with the QA served now."""
        if qa.is_current():
            return qa
        if not self._reload_lock.acquire(blocking=wait):
            return qa
        try:
            if self.state.qa is qa:  # not swapped by another question meanwhile
                try:
                    self._loaded(QA.load(self.index_dir or qa.directory, config=qa.config))
                except QAError as exc:  # a half-written or broken rebuild: keep answering from the old index
                    print(messages.CONSOLE_RELOAD_FAILED.format(error=exc), flush=True)
                    return qa
        finally:
            self._reload_lock.release()
        return self.state.qa

    def swap_in(self, change: Callable[[QA], "LibraryChange"]) -> "LibraryChange":
        """Run a library change (add/remove, which rebuilds the index) on the current QA and swap in the QA it
        returns. Questions meanwhile are answered by the current QA; the reload lock is held across the rebuild,
        so a question that notices the rebuilt index on disk waits for this swap instead of loading it again."""
        qa = self.get()
        with self._reload_lock:
            result = change(qa)
            if result.qa is not None and result.qa is not qa:
                self._loaded(result.qa)
        return result


def check_k(k: object, config: QueryConfig) -> int:
    """Top-k within 1..config.k_max, the page's and its API's limit, by the library's one k policy; refused in the
    visitor's words (InvalidInputError)."""
    try:
        return check_k_policy(None if k == "" else read_k(k), config.k_ask, config.k_max)
    except InvalidKError as exc:
        raise InvalidInputError(messages.K_OUT_OF_RANGE.format(limit=exc.limit, k=k)) from None


def run_question(service: Service, question: object, k: object = None, mode: str | None = None,
                 sources: Sequence[str] | str | None = None) -> Reply:
    """Asks `QA.ask` and fetches each cited passage's surrounding text. Raises EmptyQuestionError/QAError."""
    question = "" if question is None else str(question)
    if not question.strip():
        raise EmptyQuestionError("empty question")
    qa = service.get()
    k = check_k(k, qa.config)
    if isinstance(sources, str):
        sources = [sources] if sources else None
    answer = qa.ask(question, k=k, mode=str(mode or qa.config.mode), sources=list(sources) if sources else None)
    contexts = []
    for hit in answer.passages:
        try:
            contexts.append(qa.context(hit.chunk_id, chars=CONTEXT_CHARS))
        except (QAError, LookupError):  # the card still shows without its context
            contexts.append(None)
    return Reply(answer, tuple(contexts))
