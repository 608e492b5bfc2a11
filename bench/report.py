"""Writing benchmark results into docs/BENCHMARKS.md: each harness owns one marked block of the file."""
from __future__ import annotations

from pathlib import Path


def markers(name: str) -> tuple[str, str]:
    return f"<!-- bench:{name}:begin -->", f"<!-- bench:{name}:end -->"


def update_block(doc: Path, name: str, block: str) -> None:
    """Replace the text between the `name` markers of `doc` with `block` (appended if the markers are absent)."""
    begin, end = markers(name)
    text = doc.read_text(encoding="utf-8") if doc.exists() else "# Benchmarks\n"
    new = f"{begin}\n{block}{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + new + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + new + "\n"
    doc.write_text(text, encoding="utf-8")
