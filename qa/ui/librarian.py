"""The page's 资料库 panel without Gradio: list, add and remove documents through the library API, one change at a
time, with the visitor's messages in Chinese.

A change rebuilds the index in the request's own thread (`watch` polls it for the status line); questions keep
being answered by the served QA until `Service.swap_in` replaces it with the rebuilt one. Read-only and the size
and type rules are enforced here and again by the library, never only by hiding controls.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence, Union

from ..errors import ConfigError, CorpusError, QAError
from ..library import FileRefused, LibraryChange, LibraryEntry, NothingAdded, Refusal, check_file, corpus_folder
from .. import messages
from ..messages import BUSY, NO_FILES, NO_FOLDER, NO_PICK, NOT_ALL, READ_ONLY, UPDATING  # noqa: F401 (the page's words)
from .service import Service

STAGES = messages.STAGES

# an upload as the page delivers it (a file Gradio saved), or (original name, content) from other callers
Upload = Union[str, Path, tuple[str, bytes]]


class LibraryRefused(QAError):
    """A library change the page will not make; the message is one Chinese line for the visitor."""


@dataclass(frozen=True)
class Outcome:
    """A finished change: the one line the page shows, and the library's record of it."""
    message: str
    change: LibraryChange


def _mb(size: int) -> str:
    return f"{size / 1024 / 1024:.0f} MB" if size >= 1024 * 1024 else f"{size / 1024 / 1024:.1f} MB"


def reader_reason_text(refusal: Refusal, names: dict[str, str] | None = None) -> str:
    """「name：中文原因」 for a file the library did not take. `names` maps what the library was given (the path of
    Gradio's temporary copy) to the name the visitor uploaded, so no server path is ever shown."""
    name = (names or {}).get(refusal.name) or Path(refusal.name).name or refusal.name
    return messages.REFUSED.format(name=name, reason=messages.REASONS.get(refusal.code, messages.REASON_UNKNOWN))


def refusal_text(name: str, exc: FileRefused) -> str:
    """Why `name` was not taken, in Chinese (the library words it in English for the CLI)."""
    if exc.reason == "size":
        return messages.TOO_BIG.format(name=name, size=_mb(exc.size), limit=_mb(exc.limit))
    return messages.WRONG_TYPE.format(name=name, suffix=exc.suffix or messages.NO_SUFFIX)


def summary_text(change: LibraryChange, refused: Sequence[str] = (), renamed: Sequence[str] = (),
                 names: dict[str, str] | None = None) -> str:
    """`LibraryChange.summary()` for the visitor, with the page's own refusals and renamings."""
    parts = []
    if change.added:
        parts.append(messages.ADDED.format(n=len(change.added), names=messages.NAME_SEP.join(change.added)))
    if change.removed:
        parts.append(messages.REMOVED.format(n=len(change.removed), names=messages.NAME_SEP.join(change.removed)))
    parts.extend(f"{note}。" for note in renamed)
    parts.extend(messages.SAME_NAME.format(name=name, stored=stored) for name, stored in change.renamed)
    if change.unchanged:
        parts.append(messages.UNCHANGED.format(names=messages.NAME_SEP.join(change.unchanged)))
    refused = [*refused, *(reader_reason_text(r, names) for r in change.refused)]
    if refused:
        parts.append(messages.NOT_ADDED.format(reasons=messages.REASON_SEP.join(refused)))
    report = change.report
    if report is not None:
        parts.append(messages.INDEX_UPDATED.format(documents=report.documents, chunks=report.chunks,
                                                   embedded=report.embedded, reused=report.reused,
                                                   seconds=report.seconds))
    elif parts and not change.removed:
        parts.insert(0, messages.NO_CHANGE_BEFORE)
    return "".join(parts) or messages.NO_CHANGE


class Librarian:
    """One library change at a time over the page's `Service`; a second one meanwhile is refused with `BUSY`."""

    def __init__(self, service: Service, clock: Callable[[], float] = time.monotonic) -> None:
        self.service = service
        self.clock = clock
        self._lock = threading.Lock()
        self._progress: tuple[str, int, int] = ("", 0, 0)
        self._started = 0.0

    @property
    def read_only(self) -> bool:
        return self.service.read_only or self.service.config.library_read_only

    @property
    def busy(self) -> bool:
        return self._lock.locked()

    def entries(self) -> list[LibraryEntry]:
        qa = self.service.current()  # what is on disk now, whichever server changed it
        if qa is None:
            return []
        return qa.library(corpus=self._folder(qa, quiet=True))

    def _folder(self, qa, quiet: bool = False) -> Path | None:
        """The corpus folder changes go to: the one the index was built from, else the page's `--corpus` folder."""
        try:
            return corpus_folder(qa, None)
        except (ConfigError, CorpusError):
            folder = self.service.corpus_dir
            if folder is not None and folder.is_dir():
                return folder
            if quiet:
                return None
            raise LibraryRefused(NO_FOLDER) from None

    def progress_text(self) -> str:
        """「正在更新索引…」 with the build's stage, its percent where it has one, and the time so far."""
        stage, done, total = self._progress
        elapsed = int(self.clock() - self._started) if self._started else 0
        step = STAGES.get(stage, "")
        if step and total:
            step = messages.STAGE_PERCENT.format(stage=step, percent=100 * done // total, done=done, total=total)
        return (UPDATING + (messages.PROGRESS_STEP.format(step=step) if step else "")
                + messages.PROGRESS_TIME.format(elapsed=elapsed))

    def _report(self, stage: str, done: int, total: int) -> None:
        self._progress = (stage, done, total)  # one assignment: the status poll reads a whole triple

    def _change(self, run: Callable[..., LibraryChange]) -> LibraryChange:
        if self.read_only:
            raise LibraryRefused(READ_ONLY)
        if not self._lock.acquire(blocking=False):
            raise LibraryRefused(BUSY)
        try:
            self._progress, self._started = ("", 0, 0), self.clock()
            return self.service.swap_in(lambda qa: run(qa, self._folder(qa)))
        finally:
            self._started = 0.0
            self._lock.release()

    def add(self, uploads: Sequence[Upload] | None) -> Outcome:
        """Check each upload (size, type, name), add those that pass, rebuild. LibraryRefused when none can be."""
        if self.read_only:
            raise LibraryRefused(READ_ONLY)
        items, refused, renamed = [], [], []
        names: dict[str, str] = {}  # what the library is given -> the name the visitor uploaded
        for upload in uploads or ():
            # Gradio keeps an upload as <its cache>/<hash>/<the uploaded file's name>
            name = str(upload[0]) if isinstance(upload, tuple) else Path(upload).name
            try:
                size = len(upload[1]) if isinstance(upload, tuple) else os.path.getsize(upload)
                safe = check_file(name, size, self.service.config)
            except FileRefused as exc:
                refused.append(refusal_text(name, exc))
                continue
            except OSError:  # the upload's temporary copy is gone (Gradio cleaned its cache)
                refused.append(messages.UPLOAD_GONE.format(name=name))
                continue
            if safe != name:
                renamed.append(messages.RENAMED_UNSAFE.format(name=name, safe=safe))
            items.append((safe, upload[1]) if isinstance(upload, tuple) else upload)
            names[safe if isinstance(upload, tuple) else str(upload)] = name
        if not items:
            raise LibraryRefused(messages.NOTHING_ADDED.format(reasons=messages.REASON_SEP.join(refused))
                                  if refused else NO_FILES)
        try:
            change = self._change(lambda qa, folder: qa.add(items, corpus=folder, progress=self._report))
        except NothingAdded as exc:  # every file unreadable (the library names each with its reason)
            raise LibraryRefused(messages.NOTHING_ADDED.format(reasons=messages.REASON_SEP.join(
                [*(reader_reason_text(r, names) for r in exc.refused), *refused]))) from None
        return Outcome(summary_text(change, refused, renamed, names), change)

    def remove(self, sources: Sequence[str] | None) -> Outcome:
        """Move the chosen documents out of the corpus folder and rebuild."""
        if self.read_only:
            raise LibraryRefused(READ_ONLY)
        chosen = list(dict.fromkeys(sources or ()))
        if not chosen:
            raise LibraryRefused(NO_PICK)
        if set(self.service.sources()) <= set(chosen):
            raise LibraryRefused(NOT_ALL)
        try:
            change = self._change(lambda qa, folder: qa.remove(chosen, corpus=folder, progress=self._report))
        except CorpusError as exc:
            raise LibraryRefused(messages.REMOVE_FAILED.format(error=exc)) from None
        return Outcome(summary_text(change), change)


def watch(work: Callable[[], Outcome], status: Callable[[], str], interval: float = 0.5
          ) -> Iterator[str | Outcome | LibraryRefused]:
    """Run `work` in a thread of its own and yield `status()` every `interval` seconds until it ends, then its
    Outcome or the LibraryRefused it raised (any other QAError becomes one). For a Gradio generator handler: a
    visitor who closes the page cancels the generator, never the rebuild half-way (the thread finishes it)."""
    box: list = []

    def run() -> None:
        try:
            box.append(work())
        except LibraryRefused as exc:
            box.append(exc)
        except QAError as exc:
            box.append(LibraryRefused(messages.UPDATE_FAILED.format(error=exc)))

    thread = threading.Thread(target=run, name="qa-library-change", daemon=True)
    thread.start()
    while thread.is_alive():
        yield status()
        thread.join(interval)
    yield box[0] if box else LibraryRefused(messages.UPDATE_FAILED_UNKNOWN)
