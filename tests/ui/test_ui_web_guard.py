"""Requests refused before Gradio sees them (issue 23, item 3), against real servers on 127.0.0.1: a read-only
page takes no uploads (403, nothing stored), and a `queue/join` naming an event the page does not have is a 4xx,
not a 500 — while the page's own requests (a question through the queue, an upload to a writable page) still work.
"""
from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

import httpx
import pytest

from tests.ui_fixtures import free_port, qa_obj, ui_corpus  # noqa: F401 (fixtures)

pytestmark = pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword is deprecated).*")


def _launch(qa, *, read_only: bool):
    from qa.ui import build_app, launch_kwargs

    app = build_app(qa, workers=1, read_only=read_only)
    port = free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
               **launch_kwargs(workers=1))
    return app, f"http://127.0.0.1:{port}/"


@pytest.fixture(scope="module")
def read_only_server(qa_obj):
    app, url = _launch(qa_obj, read_only=True)
    try:
        yield app, url
    finally:
        app.close()


@pytest.fixture(scope="module")
def writable_server(qa_obj):
    app, url = _launch(qa_obj, read_only=False)
    try:
        yield app, url
    finally:
        app.close()


def _stored(marker: bytes) -> list[Path]:
    """Files anywhere under Gradio's upload folders holding `marker`."""
    roots = {Path(tempfile.gettempdir()) / "gradio"}
    if os.environ.get("GRADIO_TEMP_DIR"):
        roots.add(Path(os.environ["GRADIO_TEMP_DIR"]))
    found = []
    for root in roots:
        for path in root.rglob("*") if root.is_dir() else ():
            try:
                if path.is_file() and path.stat().st_size < 4096 and marker in path.read_bytes():
                    found.append(path)
            except OSError:
                pass
    return found


def test_a_read_only_page_refuses_uploads_and_stores_nothing(read_only_server):
    _, url = read_only_server
    marker = f"upload-marker-{uuid.uuid4()}".encode()
    response = httpx.post(url + "gradio_api/upload", timeout=30,
                          files={"files": ("evil.txt", marker, "text/plain")})
    assert response.status_code == 403, (response.status_code, response.text)
    assert "只读" in response.json()["detail"]
    assert not _stored(marker)
    # with a trailing slash and an upload id too
    response = httpx.post(url + "gradio_api/upload/?upload_id=abc", timeout=30,
                          files={"files": ("evil.txt", marker, "text/plain")})
    assert response.status_code in (403, 404, 405) and response.status_code != 200
    assert not _stored(marker)


def test_a_writable_page_still_takes_uploads(writable_server):
    _, url = writable_server
    marker = f"upload-marker-{uuid.uuid4()}".encode()
    response = httpx.post(url + "gradio_api/upload", timeout=30, files={"files": ("ok.txt", marker, "text/plain")})
    assert response.status_code == 200 and _stored(marker)


@pytest.mark.parametrize("which", ["read_only_server", "writable_server"])
def test_an_unknown_event_index_is_a_client_error_and_questions_still_go_through(request, which):
    from gradio_client import Client

    _, url = request.getfixturevalue(which)
    for fn_index in (99999, -1):
        response = httpx.post(url + "gradio_api/queue/join", timeout=30,
                              json={"data": ["催收"], "fn_index": fn_index, "session_hash": "abc123"})
        assert 400 <= response.status_code < 500, (fn_index, response.status_code, response.text)
    bad = httpx.post(url + "gradio_api/queue/join", timeout=30, content=b"not json",
                     headers={"content-type": "application/json"})
    assert 400 <= bad.status_code < 500
    # the page's own event indexes pass the check, with the body intact (the client goes through queue/join)
    assert Client(url, verbose=False).predict("被强制下款的钱需要还吗？", api_name="/ask")["found"]
