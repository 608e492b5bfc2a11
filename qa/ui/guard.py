"""Requests the page refuses before Gradio sees them (an ASGI middleware, installed by `layout.launch_kwargs`).

- `POST …/gradio_api/upload` on a read-only page: 403, nothing stored. Gradio accepts uploads for any app that
  is launched, whether or not a component takes files; a read-only page has none, so an upload there can only be
  someone filling the server's disk.
- `POST …/gradio_api/queue/join` naming an event (`fn_index`) the page does not have: 404, where Gradio answers
  500 (a KeyError inside its queue).

The page is found from the request (`scope["app"].get_blocks()`), so one middleware serves whichever page is
launched with it; a Blocks that is not ours (no `qa_librarian`) is never read-only.
"""
from __future__ import annotations

import json
from typing import Any, Awaitable, Callable

from .. import messages

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

UPLOAD = "/gradio_api/upload"
JOIN = "/gradio_api/queue/join"
READ_ONLY = messages.UPLOAD_READ_ONLY
NO_SUCH_EVENT = messages.NO_SUCH_EVENT
MAX_JOIN_BODY = 4 * 1024 * 1024  # a question and its options; more is not a request of this page


def _blocks(scope: Scope) -> Any:
    app = scope.get("app")
    get = getattr(app, "get_blocks", None)
    try:
        return get() if get is not None else None
    except Exception:  # noqa: BLE001 - no page yet: nothing to check against, Gradio answers as it does
        return None


def _read_only(blocks: Any) -> bool:
    librarian = getattr(blocks, "qa_librarian", None)
    return bool(librarian is not None and librarian.read_only)


async def _answer(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}, ensure_ascii=False).encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json; charset=utf-8"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class Guard:
    """The ASGI middleware; see the module's docstring."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http" or scope.get("method") != "POST":
            return await self.app(scope, receive, send)
        path = scope.get("path", "").rstrip("/")
        if path.endswith(UPLOAD) and _read_only(_blocks(scope)):
            return await _answer(send, 403, READ_ONLY)  # the body is never read, so nothing is stored
        if path.endswith(JOIN):
            return await self._join(scope, receive, send)
        return await self.app(scope, receive, send)

    async def _join(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Read the (small) body, refuse an unknown fn_index, else pass the same body on to Gradio."""
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > MAX_JOIN_BODY:
                return await _answer(send, 413, messages.REQUEST_TOO_LARGE)
        body = b"".join(chunks)
        blocks = _blocks(scope)
        try:
            fn_index = json.loads(body).get("fn_index")
        except (ValueError, AttributeError):  # not a JSON object: Gradio's own validation answers 422
            fn_index = None
        fns = getattr(blocks, "fns", None)
        if isinstance(fn_index, int) and not isinstance(fn_index, bool) and fns is not None and fn_index not in fns:
            return await _answer(send, 404, NO_SUCH_EVENT)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
