"""The 资料库 accordion: the documents of the index, upload (many files, drag and drop), remove with a confirm
step, and one status line for the rebuild. Built inside the page's Blocks by `layout.build_app`.

Read-only pages get the list only: no upload or remove component and no event that could change the library
(and `Librarian` refuses anyway). Changes queue one at a time (Gradio concurrency limit 1, `concurrency_id`
"library"), apart from the questions' workers, so a rebuild never holds up a question.
"""
from __future__ import annotations

from typing import Callable, Iterator

import gradio as gr

from .. import messages
from . import render
from .librarian import Librarian, LibraryRefused, Outcome, watch

UPLOAD_LABEL = messages.UPLOAD_LABEL


def _types_hint(librarian: Librarian) -> str:
    config = librarian.service.config
    types = messages.NAME_SEP.join(t.lstrip(".") for t in config.library_types)
    hint = messages.TYPES_HINT.format(types=render.esc(types), mb=config.library_max_bytes // (1024 * 1024))
    return f'<div class="qa-foot">{hint}</div>'


def library_panel(librarian: Librarian, *, sources: gr.Dropdown, status: gr.HTML,
                  page_status: Callable[[], str]) -> None:
    """Adds the panel to the Blocks being built. `sources` (the question's source filter) and `status` (the
    page's status line, `page_status()`) are refreshed after every change."""
    service = librarian.service
    with gr.Accordion(messages.LIBRARY, open=False, elem_id="qa-library") as panel:
        note = gr.HTML("", elem_id="qa-library-status", padding=False)
        table = gr.HTML(render.render_library(librarian.entries()), elem_id="qa-library-list", padding=False)
        if librarian.read_only:
            gr.HTML(f'<div class="qa-foot">{render.esc(messages.READ_ONLY_NOTE)}</div>', padding=False)
            panel.expand(lambda: render.render_library(librarian.entries()), None, table,
                         api_visibility="private", queue=False, show_progress="hidden")
            return
        upload = gr.File(label=UPLOAD_LABEL, file_count="multiple", type="filepath", elem_id="qa-upload")
        gr.HTML('<div id="qa-upload-note"></div>', padding=False)  # the page's script: files over the limit
        gr.HTML(_types_hint(librarian), padding=False)
        with gr.Row(equal_height=True):
            pick = gr.Dropdown(choices=service.sources(), value=[], multiselect=True, label=messages.PICK_LABEL,
                               elem_id="qa-library-pick", scale=3)
            remove = gr.Button(messages.REMOVE, variant="stop", elem_id="qa-library-remove", scale=1, min_width=120)
        with gr.Row(visible=False, elem_id="qa-library-confirm") as confirm:
            question = gr.HTML("", padding=False)
            yes = gr.Button(messages.CONFIRM, variant="stop", elem_id="qa-library-yes", min_width=100)
            no = gr.Button(messages.CANCEL, elem_id="qa-library-no", min_width=80)

    def refreshed(selected: list[str] | None) -> tuple:
        """The table, the source filter (keeping what is still there) and the pick list after a change."""
        choices = service.sources()
        kept = [s for s in (selected or []) if s in choices]
        return (render.render_library(librarian.entries()), gr.Dropdown(choices=choices, value=kept),
                gr.Dropdown(choices=choices, value=[]), page_status())

    def follow(work: Callable[[], Outcome], selected: list[str] | None) -> Iterator[tuple]:
        """Status lines while `work` runs, then the refreshed panel (or the refusal, nothing else touched)."""
        skip = (gr.skip(),) * 4
        for step in watch(work, librarian.progress_text):
            if isinstance(step, str):
                yield (render.render_library_status(step), *skip)
            elif isinstance(step, LibraryRefused):
                yield (render.render_library_status(str(step), "error"), *skip)
            else:
                yield (render.render_library_status(step.message, "ok"), *refreshed(selected))

    def add(files: list[str] | None, selected: list[str] | None):
        for out in follow(lambda: librarian.add(files), selected):
            yield (*out, gr.skip())
        yield (gr.skip(),) * 5 + (None,)  # the upload box empties for the next files

    def confirm_remove(chosen: list[str] | None):
        if not chosen:
            return render.render_library_status(messages.NO_PICK, "error"), gr.Row(visible=False), ""
        names = messages.NAME_SEP.join(chosen)
        ask = messages.CONFIRM_QUESTION.format(n=len(chosen), names=render.esc(names))
        return "", gr.Row(visible=True), f'<div class="qa-notice">{ask}</div>'

    def remove_chosen(chosen: list[str] | None, selected: list[str] | None):
        for out in follow(lambda: librarian.remove(chosen), selected):
            yield (*out, gr.Row(visible=False))

    outputs = [note, table, sources, pick, status]
    changing = dict(concurrency_id="library", concurrency_limit=1, api_visibility="private", show_progress="hidden")
    quick = dict(api_visibility="private", queue=False, show_progress="hidden")
    upload.upload(add, [upload, sources], [*outputs, upload], **changing)
    remove.click(confirm_remove, pick, [note, confirm, question], **quick)
    yes.click(remove_chosen, [pick, sources], [*outputs, confirm], **changing)
    no.click(lambda: gr.Row(visible=False), None, confirm, **quick)
    panel.expand(lambda: (render.render_library(librarian.entries()), gr.Dropdown(choices=service.sources())),
                 None, [table, pick], **quick)
