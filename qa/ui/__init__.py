"""The web page: a Gradio app over the library API (`QA.ask`, `QA.context`, `QA.sources`).

Imported lazily (by `app.py` and `qa serve`): importing `qa` never imports Gradio. The page holds no retrieval
logic of its own; it renders what `QA.ask` returns.

    render   library results → escaped HTML (pure functions)
    service  the app's QA: load, or build on first start in the background; ask with options checked; swap in
             the QA a library change rebuilt
    librarian  the 资料库 panel's work without Gradio: list, add, remove, one change at a time, Chinese messages
    library_panel  the 资料库 accordion: table, upload, remove with confirm, rebuild status
    assets   fonts, CSS and the page's script (copy, local history, scrolling)
    layout   the Gradio Blocks and their events
    server   address, login and start-up (`serve`)
    guard    requests refused before Gradio: uploads to a read-only page, unknown event indexes

    from qa.ui import build_app, serve
    serve(index_dir="index", host="127.0.0.1", port=7860)     # blocks; builds index/ from corpus/ if missing
    serve(index_dir="index", read_only=True)                    # public: the library can be listed, not changed
    build_app("index")                                          # -> gr.Blocks, for tests or embedding
"""
from __future__ import annotations

from .layout import build_app, launch_kwargs
from .server import resolve_address, serve

__all__ = ["build_app", "launch_kwargs", "resolve_address", "serve"]
