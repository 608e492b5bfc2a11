"""Regenerate the README's pictures: the real page on the committed index answering one question, in headless
Chromium, on a desktop (docs/screenshot.png) and on a 390×844 phone (docs/screenshot-phone.png).

    python docs/screenshot.py ["被强制下款的钱需要还吗？"]

Needs Debian's chromium (/usr/bin/chromium), a CJK font (fonts-noto-cjk) and Python Playwright (the `test` extra).
"""
from __future__ import annotations

import socket
import sys
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "被强制下款的钱需要还吗？"
SHOTS = (
    ("screenshot.png", {"width": 1100, "height": 1350}, False),
    ("screenshot-phone.png", {"width": 390, "height": 844}, True),
)


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
            for name, viewport, phone in SHOTS:
                context = browser.new_context(locale="zh-CN", viewport=viewport, has_touch=phone, is_mobile=phone,
                                              device_scale_factor=2 if phone else 1)
                page = context.new_page()
                # the phone opens a shared link (?q=…): the page asks and scrolls to the answer by itself
                page.goto(f"http://127.0.0.1:{port}/" + (f"?q={quote(question)}" if phone else ""),
                          wait_until="domcontentloaded")
                if not phone:
                    box = page.locator("#qa-question textarea").first
                    box.fill(question)
                    box.press("Enter")
                page.locator("#qa-answer .qa-card").first.wait_for(timeout=120_000)
                page.wait_for_timeout(1500)  # let the cards and the scrolling settle before the picture
                page.screenshot(path=str(ROOT / "docs" / name))
                context.close()
                print(f"wrote docs/{name}")
            browser.close()
    finally:
        app.close()


if __name__ == "__main__":
    main()
