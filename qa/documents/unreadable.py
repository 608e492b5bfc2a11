"""Why a file could not be read: one error for every reader (the text decoder, the HTML, PDF, DOCX and image
readers), with a one-line reason and a code the web page words in Chinese."""
from __future__ import annotations

# Why a file could not be read, as codes a caller can word in its own language (the web page does, in Chinese)
REASON_CODES = ("unsupported", "html_broken", "html_empty", "encrypted", "pdf_broken", "pdf_empty", "pdf_no_text",
                "needs_ocr", "ocr_no_text", "docx_broken", "docx_empty", "image_broken", "too_large",
                # plain text that cannot be decoded (qa.documents.decoding.decode)
                "empty_file", "binary", "encoding")


class UnreadableError(ValueError):
    """The file cannot be turned into text; the message is the one-line reason shown to the user, `code` (one of
    REASON_CODES) says which reason it is."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code
