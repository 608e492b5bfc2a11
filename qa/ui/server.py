"""Serving the page: address, login and start-up messages for `python app.py` and `qa serve`."""
from __future__ import annotations

import os
from pathlib import Path

from .. import messages
from ..config import DEFAULT_INDEX
from ..errors import ConfigError
from ..stores.location import Locatable
from .layout import build_app, launch_kwargs

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
LOOPBACK = ("127.0.0.1", "localhost", "::1")
NO_LOGIN_WARNING = messages.NO_LOGIN_WARNING


def resolve_address(host: str | None = None, port: int | str | None = None) -> tuple[str, int]:
    """--host/--port win, then GRADIO_SERVER_NAME/GRADIO_SERVER_PORT, then 127.0.0.1:7860."""
    host = host or os.environ.get("GRADIO_SERVER_NAME") or DEFAULT_HOST
    port = port or os.environ.get("GRADIO_SERVER_PORT") or DEFAULT_PORT
    return host, int(port)


def parse_auth(auth: str | None = None) -> tuple[str, str] | None:
    """`user:pass` from --auth, else from $QA_AUTH, as Gradio's `auth=` pair; None when neither is set."""
    value = auth if auth is not None else os.environ.get("QA_AUTH")
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise ConfigError("--auth / QA_AUTH must look like user:password")
    return user, password


def serve(index_dir: Locatable = DEFAULT_INDEX, host: str | None = None, port: int | None = None, *,
          corpus_dir: str | Path | None = None, model: str | None = None, workers: int | None = None,
          auth: str | None = None, read_only: bool | None = None, block: bool = True):
    """Start the page (blocks until Ctrl-C unless block=False). A missing index is built from `corpus_dir`
    (default `qa.config.DEFAULT_CORPUS`) while the page shows progress. `auth` ("user:pass", default
    $QA_AUTH) asks visitors to log in; without it, listening beyond this machine prints a one-line warning.
    `read_only` (default $QA_READ_ONLY) hides the library's upload and remove controls and refuses both."""
    host, port = resolve_address(host, port)
    credentials = parse_auth(auth)
    app = build_app(index_dir, corpus_dir=corpus_dir, model=model, workers=workers, read_only=read_only)
    if host not in LOOPBACK and credentials is None:
        print(NO_LOGIN_WARNING.format(host=host), flush=True)
    app.launch(server_name=host, server_port=port, prevent_thread_lock=True, quiet=True, auth=credentials,
               auth_message=messages.LOGIN_PROMPT if credentials else None,
               **launch_kwargs(max_file_size=app.qa_service.config.library_max_bytes, workers=app.qa_workers))
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    print(messages.SERVING.format(host=shown, port=port, workers=app.qa_workers), flush=True)
    if block:
        try:
            app.block_thread()
        except KeyboardInterrupt:  # pragma: no cover - interactive
            pass
        finally:
            app.close()
    return app
