"""Regenerate docs/screenshot.png: the real page on the committed index, answering one question, in headless Chromium.

    python docs/screenshot.py ["被强制下款的钱需要还吗？"]

Needs Debian's chromium (/usr/bin/chromium) and Python Playwright (the `test` extra).
"""
from __future__ import annotations

import socket
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "被强制下款的钱需要还吗？"


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from playwright.sync_api import sync_playwright

    from qa import QA
    from qa.ui import build_app, launch_kwargs

    question = sys.argv[1] if len(sys.argv) > 1 else QUESTION
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = build_app(QA.load(ROOT / "index"))
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **launch_kwargs())
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
            page = browser.new_page(locale="zh-CN", viewport={"width": 1100, "height": 1350})
            page.goto(f"http://127.0.0.1:{port}/", wait_until="domcontentloaded")
            box = page.locator("#qa-question textarea").first
            box.fill(question)
            box.press("Enter")
            page.locator("#qa-answer .qa-card").first.wait_for(timeout=120_000)
            page.wait_for_timeout(500)  # let the cards settle before the picture
            page.screenshot(path=str(ROOT / "docs" / "screenshot.png"))
            browser.close()
    finally:
        app.close()
    print("wrote docs/screenshot.png")


if __name__ == "__main__":
    main()
