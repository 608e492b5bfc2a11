"""What the 资料库 panel says about an upload it did not take (issue 23, item 2), below Gradio: the file's own
name (never the path of Gradio's temporary copy), one Chinese reason (never the reader's English detail), and why
an upload whose name is already in the library changed nothing (an existing file is never overwritten)."""
from __future__ import annotations

import re

import pytest

from qa.ui.librarian import Librarian, LibraryRefused
from qa.ui.service import Service

from tests.ui_fixtures import LOAN, hash_site


@pytest.fixture()
def site(tmp_path):
    return hash_site(tmp_path)


def _gradio_upload(root, name: str, data: bytes) -> str:
    """A file as Gradio hands it to the page: saved in its cache under a hash folder, with the uploaded name."""
    folder = root / "gradio" / "3f2a9c0d1e"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)
    return str(folder / name)


def _refusal(librarian: Librarian, uploads) -> str:
    with pytest.raises(LibraryRefused) as info:
        librarian.add(uploads)
    return str(info.value)


def _no_server_path_nor_english(message: str, site) -> None:
    assert str(site) not in message and "/gradio/" not in message and "3f2a9c0d1e" not in message, message
    # the only Latin letters left are the file names' own and the names of formats
    left = re.sub(r"[\w-]+\.(txt|pdf|docx)|PDF|Word|UTF-8", "", message)
    assert not re.search(r"[A-Za-z]{3,}", left), message


def test_an_empty_text_file_is_named_by_its_own_name_with_a_chinese_reason(site, tmp_path_factory):
    upload = _gradio_upload(tmp_path_factory.mktemp("tmp"), "empty.txt", b"")
    message = _refusal(Librarian(Service(site / "index", corpus_dir=site / "corpus")), [upload])
    assert message == "未加入任何文件：empty.txt：文件是空的。"
    _no_server_path_nor_english(message, site)


def test_a_program_renamed_to_pdf_is_a_broken_pdf_in_chinese_only(site, tmp_path_factory):
    root = tmp_path_factory.mktemp("tmp")
    fake = _gradio_upload(root, "fake.pdf", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" * 50)
    binary = _gradio_upload(root, "notes.txt", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" * 50)
    message = _refusal(Librarian(Service(site / "index", corpus_dir=site / "corpus")), [fake, binary])
    assert message.startswith("未加入任何文件：fake.pdf：PDF 文件已损坏或无法解析；notes.txt：不是文本文件"), message
    assert "PDFSyntaxError" not in message and "cannot parse" not in message and "binary file" not in message
    _no_server_path_nor_english(message, site)


def test_a_refusal_beside_an_added_file_is_worded_the_same(site, tmp_path_factory):
    root = tmp_path_factory.mktemp("tmp")
    good = _gradio_upload(root, "合同.txt", "本合同约定的借款年利率为百分之二十三点九。".encode())
    empty = _gradio_upload(root, "empty.txt", b"  \n")
    outcome = Librarian(Service(site / "index", corpus_dir=site / "corpus")).add([good, empty])
    assert outcome.change.added == ("合同.txt",)
    assert "未加入：empty.txt：文件是空的。" in outcome.message
    _no_server_path_nor_english(outcome.message, site)


def test_an_upload_whose_name_is_taken_says_the_existing_file_is_not_overwritten(site, tmp_path_factory):
    root = tmp_path_factory.mktemp("tmp")
    service = Service(site / "index", corpus_dir=site / "corpus")
    librarian = Librarian(service)
    old = service.get()

    # the same file again: nothing written, nothing rebuilt, and the page says why
    outcome = librarian.add([_gradio_upload(root, "loan.txt", LOAN.encode("utf-8"))])
    assert outcome.change.added == () and outcome.change.unchanged == ("loan.txt",) and service.get() is old
    assert outcome.message.startswith("资料库没有变化：") and outcome.message != "资料库没有变化。"
    assert "已存在同名且内容相同的文件：loan.txt，未覆盖" in outcome.message

    # another file under a name already taken: the existing one kept, the new one stored beside it, and said so
    other = _gradio_upload(root / "2", "loan.txt", "另一份借款说明：借款人应按时还款。".encode())
    outcome = librarian.add([other])
    assert outcome.change.added == ("loan-2.txt",) and outcome.change.renamed == (("loan.txt", "loan-2.txt"),)
    assert "已存在同名文件 loan.txt，未覆盖；新上传的文件另存为 loan-2.txt" in outcome.message
    assert (site / "corpus" / "loan.txt").read_text(encoding="utf-8") == LOAN
    _no_server_path_nor_english(outcome.message, site)
