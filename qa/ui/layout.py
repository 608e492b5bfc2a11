"""The Gradio page: components and their events, over `Service` (the QA) and `render` (the HTML).

Questions are answered by `workers` threads at once (Gradio's concurrency limit); the rest wait in the queue.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import gradio as gr

from .. import messages
from ..api import QA
from ..config import DEFAULT_INDEX
from ..errors import EmptyQuestionError, QAError
from ..stores.location import Locatable
from . import render
from .assets import CSS, EXAMPLES, FONT, FONT_MONO, JS, TITLE
from .librarian import Librarian
from .library_panel import library_panel
from .service import Reply, Service, read_only_from_env, run_question


def default_workers() -> int:
    """Questions answered at once by default: one per CPU core (the work is CPU-bound)."""
    return max(1, os.cpu_count() or 1)


def theme() -> gr.themes.Base:
    return gr.themes.Soft(primary_hue="blue", font=FONT, font_mono=FONT_MONO)


def launch_kwargs(max_file_size: str | int | None = None, workers: int | None = None) -> dict:
    """What `launch()` needs besides host/port: offline theme, our CSS and script, an upload size limit, no share
    link, no SSR, no traffic statistics (the API panel would show them to every visitor).

    The upload limit is the library's (`QueryConfig.library_max_bytes`) unless given: Gradio refuses a larger
    file before it is stored, and the library would refuse it anyway.

    Gradio picks its own texts' language from the browser (its zh-CN/zh-TW catalogues). The footer keeps the API
    panel and drops the settings panel, whose PWA, Screen Studio and run-history sections Gradio only has in
    English and which visitors do not need; Gradio's progress text ("processing | 0.5s") is hidden in favour of
    the page's own 「正在查找答案……」.

    `qa.ui.guard` is installed as middleware: a read-only page refuses uploads (403, nothing stored) and an unknown
    event index is a 404, not Gradio's 500."""
    from starlette.middleware import Middleware

    from ..config import DEFAULT
    from .guard import Guard

    return {
        "theme": theme(), "css": CSS, "js": JS, "share": False, "ssr_mode": False,
        "footer_links": ["api"],
        "max_file_size": max_file_size or DEFAULT.library_max_bytes,
        "enable_monitoring": False,
        "max_threads": max(40, 4 * (workers or default_workers())),
        "app_kwargs": {"middleware": [Middleware(Guard)]},
    }


def build_app(qa_or_index_dir: QA | Locatable = DEFAULT_INDEX, *, corpus_dir: str | Path | None = None,
              model: str | None = None, workers: int | None = None, read_only: bool | None = None) -> gr.Blocks:
    """The page as a `gr.Blocks` (queue enabled). Pass a loaded `QA` or an index location; a missing index is
    built from `corpus_dir` (default: `qa.config.DEFAULT_CORPUS`) in the background, with model `model`
    (default: the library's). `workers`: questions answered at once (default: one per core). `read_only`
    (default: $QA_READ_ONLY): the 资料库 panel lists documents only; uploads and removals are refused.
    Launch it with `app.launch(**launch_kwargs())` or use `serve()`."""
    service = Service(qa_or_index_dir, corpus_dir=corpus_dir, model=model, read_only=read_only_from_env(read_only))
    librarian = Librarian(service)
    workers = workers or service.config.web_workers or default_workers()
    config = service.config

    def page(reply: Reply, script: str | None) -> str:
        convert = render.converter(dict(render.SCRIPTS).get(script))
        return render.render_answer(reply.answer, reply.contexts, convert=convert)

    def respond(question: str, k: float | None, mode: str, sources: list[str] | None,
                script: str) -> Iterator[tuple[str, Reply | None]]:
        if not str(question or "").strip():
            yield render.render_prompt(), None
            return
        # first start: the index is still being built; the answer follows
        yield (render.render_searching() if service.ready.is_set() else render.render_waiting()), None
        try:
            reply = run_question(service, question, k, mode, sources)
        except EmptyQuestionError:
            yield render.render_prompt(), None
            return
        except QAError as exc:
            yield render.render_error(str(exc)), None
            return
        yield page(reply, script), reply

    def respond_example(example: str, k: float | None, mode: str, sources: list[str] | None, script: str):
        for html, reply in respond(example, k, mode, sources, script):
            yield example, html, reply

    def respond_url(k: float | None, mode: str, sources: list[str] | None, script: str, request: gr.Request):
        """`?q=…` in the address asks that question as the page opens (a shared or bookmarked link)."""
        question = (request.query_params.get("q") or "").strip() if request is not None else ""
        if not question:  # leave the page alone: the visitor may be typing already
            yield gr.skip(), gr.skip(), gr.skip()
            return
        for html, reply in respond(question, k, mode, sources, script):
            yield question, html, reply

    def rescript(reply: Reply | None, script: str):
        return gr.skip() if reply is None else page(reply, script)

    def ask(question: str, k: int = config.k_ask, mode: str = config.mode,
            sources: list[str] | None = None) -> dict:
        """Answer a question from the indexed documents. Returns the answer text with [n] markers, the sentences
        and the cited passages (title, source file, score, text); `support` holds a message with help-line
        numbers when the question signals distress. k: 1 to QueryConfig.k_max. mode: hybrid | dense | lexical."""
        try:
            reply = run_question(service, question, k, mode, sources)
        except EmptyQuestionError:
            return {"question": "" if question is None else str(question), "found": False, "answer": "",
                    "message": render.PROMPT, "support": None, "sentences": [], "passages": [], "sources": [],
                    "mode": None, "warning": None, "notice": None}
        except QAError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        return render.answer_dict(reply.answer)

    def page_state():
        choices = service.sources()
        return (service.status_html(), gr.Dropdown(choices=choices, interactive=bool(choices)),
                gr.Timer(active=service.state.building))

    with gr.Blocks(title=TITLE, analytics_enabled=False, fill_width=False) as app:
        gr.HTML(
            f'<div style="padding:4px 2px"><h1 style="margin:0;font-size:26px">{render.esc(TITLE)}</h1>'
            f'<div style="color:#6b7280;margin-top:4px">{render.esc(messages.TAGLINE)}</div></div>',
        )
        status = gr.HTML(service.status_html(), elem_id="qa-status")
        with gr.Row(equal_height=True):
            question = gr.Textbox(label=messages.QUESTION_LABEL, placeholder=messages.QUESTION_PLACEHOLDER, lines=1,
                                  max_lines=4, scale=6, elem_id="qa-question", autofocus=True, submit_btn=False)
            ask_btn = gr.Button(messages.ASK, variant="primary", scale=1, min_width=100, elem_id="qa-ask")
        gr.HTML('<div id="qa-history-list"></div>', elem_id="qa-history", padding=False)
        gr.Markdown(messages.EXAMPLES_HEADING)
        with gr.Row(elem_id="qa-examples"):
            example_btns = [gr.Button(q, variant="secondary", elem_classes=["qa-example"]) for q in EXAMPLES]
        with gr.Row():
            sources = gr.Dropdown(choices=service.sources(), value=[], multiselect=True,
                                  label=messages.SOURCES_LABEL, elem_id="qa-sources", scale=3)
            script = gr.Radio(choices=[label for label, _ in render.SCRIPTS], value=render.SCRIPTS[0][0],
                              label=messages.SCRIPT_LABEL, elem_id="qa-script", scale=2)
        with gr.Accordion(messages.ADVANCED, open=False, elem_id="qa-advanced"):
            with gr.Row():
                top_k = gr.Number(value=config.k_ask, precision=0, label=messages.TOP_K_LABEL.format(limit=config.k_max),
                                  elem_id="qa-topk")
                mode = gr.Radio(choices=list(render.MODES), value=config.mode, label=messages.MODE_LABEL, elem_id="qa-mode")
        answer = gr.HTML(render.render_prompt(), elem_id="qa-answer", min_height=80)
        library_panel(librarian, sources=sources, status=status, page_status=service.status_html)
        last = gr.State(None)
        timer = gr.Timer(1.0, active=service.state.building)

        inputs = [question, top_k, mode, sources, script]
        common = dict(concurrency_id="qa", concurrency_limit=workers, api_visibility="undocumented",
                      show_progress="hidden")
        question.submit(respond, inputs, [answer, last], api_name="respond", **common)
        ask_btn.click(respond, inputs, [answer, last], api_name="respond_click", **common)
        for i, btn in enumerate(example_btns):
            btn.click(respond_example, [btn, top_k, mode, sources, script], [question, answer, last],
                      api_name=f"example_{i}", **common)
        script.change(rescript, [last, script], answer, api_visibility="private", queue=False,
                      show_progress="hidden")
        gr.api(ask, api_name="ask", concurrency_id="qa", concurrency_limit=workers)
        timer.tick(page_state, None, [status, sources, timer], api_visibility="private", queue=False,
                   show_progress="hidden")
        app.load(page_state, None, [status, sources, timer], api_visibility="private", queue=False,
                 show_progress="hidden")
        app.load(respond_url, [top_k, mode, sources, script], [question, answer, last],
                 api_visibility="private", **{k: v for k, v in common.items() if k != "api_visibility"})
    app.queue(default_concurrency_limit=workers, max_size=None)
    app.qa_service = service  # for tests and callers that want to wait for a build
    app.qa_librarian = librarian
    app.qa_workers = workers
    return app
