"""The 资料库 accordion: the documents of the index, upload (many files, drag and drop), remove with a confirm
step, and one status line for the rebuild. Built inside the page's Blocks by `layout.build_app`.

Read-only pages get the list only: no upload or remove component and no event that could change the library
(and `Librarian` refuses anyway). Changes queue one at a time (Gradio concurrency limit 1, `concurrency_id`
"library"), apart from the questions' workers, so a rebuild never holds up a question.
"""
from __future__ import annotations

from typing import Callable, Iterator

import gradio as gr

from . import render
from .librarian import Librarian, LibraryRefused, Outcome, watch

UPLOAD_LABEL = "上传文档（可以一次选多个，也可以把文件拖到这里）"


def _types_hint(librarian: Librarian) -> str:
    config = librarian.service.config
    types = "、".join(t.lstrip(".") for t in config.library_types)
    return (f'<div class="qa-foot">可以上传的类型：{render.esc(types)}；每个文件不超过 '
            f"{config.library_max_bytes // (1024 * 1024)} MB。删除的文档会移到文档文件夹的 .removed/ 中，不会丢失。"
            "更新索引时仍可提问，新文档在更新完成后即可检索。</div>")


def library_panel(librarian: Librarian, *, sources: gr.Dropdown, status: gr.HTML,
                  page_status: Callable[[], str]) -> None:
    """Adds the panel to the Blocks being built. `sources` (the question's source filter) and `status` (the
    page's status line, `page_status()`) are refreshed after every change."""
    service = librarian.service
    with gr.Accordion("资料库", open=False, elem_id="qa-library") as panel:
        note = gr.HTML("", elem_id="qa-library-status", padding=False)
        table = gr.HTML(render.render_library(librarian.entries()), elem_id="qa-library-list", padding=False)
        if librarian.read_only:
            gr.HTML('<div class="qa-foot">这是只读资料库，只能查看文档列表。</div>', padding=False)
            panel.expand(lambda: render.render_library(librarian.entries()), None, table,
                         api_visibility="private", queue=False, show_progress="hidden")
            return
        upload = gr.File(label=UPLOAD_LABEL, file_count="multiple", type="filepath", elem_id="qa-upload")
        gr.HTML('<div id="qa-upload-note"></div>', padding=False)  # the page's script: files over the limit
        gr.HTML(_types_hint(librarian), padding=False)
        with gr.Row(equal_height=True):
            pick = gr.Dropdown(choices=service.sources(), value=[], multiselect=True, label="选择要删除的文档",
                               elem_id="qa-library-pick", scale=3)
            remove = gr.Button("删除所选文档", variant="stop", elem_id="qa-library-remove", scale=1, min_width=120)
        with gr.Row(visible=False, elem_id="qa-library-confirm") as confirm:
            question = gr.HTML("", padding=False)
            yes = gr.Button("确认删除", variant="stop", elem_id="qa-library-yes", min_width=100)
            no = gr.Button("取消", elem_id="qa-library-no", min_width=80)

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
            return render.render_library_status("请先选择要删除的文档。", "error"), gr.Row(visible=False), ""
        names = "、".join(chosen)
        return ("", gr.Row(visible=True),
                f'<div class="qa-notice">确定从资料库删除这 {len(chosen)} 篇文档吗？{render.esc(names)}</div>')

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
