"""Bytes → text for every reader: the corpus's plain-text files and the HTML reader's fallback use the same
detection, so a GBK page and a GBK .txt file decode alike."""
from __future__ import annotations

import re

from .unreadable import UnreadableError


def decode(data: bytes) -> str:
    """Bytes → text: UTF-8 (BOM or not), UTF-16 (BOM or not), what charset-normalizer finds (GB18030, Big5 …),
    and a file mixing UTF-8 lines with GBK/Big5 lines decoded line by line.

    Raises UnreadableError (a ValueError, with its reason code) for empty, binary or undecodable input.
    """
    if not data.strip():
        raise UnreadableError("empty file", "empty_file")
    if data.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):  # before UTF-16: its BOM begins the same
        try:
            return data.decode("utf-32")
        except UnicodeDecodeError:
            pass
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", "replace")
    if b"\x00" in data[:4096]:
        text = _utf16_without_bom(data) or _utf8_with_stray_nuls(data)
        if text is None:
            raise UnreadableError("binary file", "binary")
        return text
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    text = _utf16_without_bom(data) or _mixed_lines(data)
    if text is not None:
        return text
    from charset_normalizer import from_bytes

    best = from_bytes(data, cp_isolation=["gb18030", "big5", "utf_16", "cp1252"]).best()
    if best is None:
        best = from_bytes(data).best()
    if best is None:
        raise UnreadableError("cannot detect the text encoding", "encoding")
    text = str(best)
    if not text.strip() or _mostly_unprintable(text):
        raise UnreadableError(f"cannot decode as text (best guess {best.encoding})", "encoding")
    return text


_COMMON = re.compile(r"[\t\n\r -~\u2000-\u206f\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


def _utf16_without_bom(data: bytes) -> str | None:
    """UTF-16 LE or BE without a BOM, when nearly every decoded character is ordinary text (ASCII, CJK,
    punctuation); binary data decoded this way scatters over the whole code space."""
    if len(data) < 4 or len(data) % 2:
        return None
    for codec in ("utf-16-le", "utf-16-be"):
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            continue
        if len(_COMMON.findall(text)) >= 0.95 * len(text) and text.strip():
            return text
    return None


def _utf8_with_stray_nuls(data: bytes) -> str | None:
    """UTF-8 text with a few NUL bytes in it (a file padded or damaged by a crash): text, the NULs removed when it
    is cleaned. None when NULs are more than 1 % of the bytes or the rest is not UTF-8 (then it is binary)."""
    if data.count(b"\x00") > len(data) // 100:
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    return None if _mostly_unprintable(text.replace("\x00", "")) else text


def _mixed_lines(data: bytes) -> str | None:
    """UTF-8 lines mixed with lines in a legacy encoding (a GBK file appended to a UTF-8 one): each line decoded on
    its own, the legacy lines with the encoding charset-normalizer finds for all of them together. None when no
    non-ASCII line is UTF-8 (then the whole file is in one legacy encoding)."""
    lines = data.split(b"\n")
    bad, utf8_non_ascii = [], False
    for i, line in enumerate(lines):
        try:
            line.decode("utf-8")
            utf8_non_ascii = utf8_non_ascii or not line.isascii()
        except UnicodeDecodeError:
            bad.append(i)
    if not utf8_non_ascii or not bad:
        return None
    from charset_normalizer import from_bytes

    best = from_bytes(b"\n".join(lines[i] for i in bad), cp_isolation=["gb18030", "big5"]).best()
    legacy = best.encoding if best is not None else "gb18030"
    bad_set = set(bad)
    return "\n".join(
        line.decode(legacy, "replace") if i in bad_set else line.decode("utf-8") for i, line in enumerate(lines)
    ).removeprefix("\ufeff")


def _mostly_unprintable(text: str) -> bool:
    bad = sum(1 for ch in text if not ch.isprintable() and ch not in "\r\n\t")
    return bad > len(text) * 0.05
