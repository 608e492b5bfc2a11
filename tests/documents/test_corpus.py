import json

import pytest

from qa.documents.corpus import Skipped, decode, discover, read_documents, title_for
from qa.errors import CorpusError

TEXT = "被強制下款的錢需要還嗎？法律上，未經同意的強制借款無需償還。"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "big5", "utf-16"])
def test_decodes_common_chinese_encodings(encoding):
    data = (TEXT * 3).encode(encoding)
    assert decode(data).strip() == TEXT * 3


def test_gbk_simplified():
    text = "暴力催收是违法的，借款人可以向银保监会投诉，也可以报警处理。" * 2
    assert decode(text.encode("gbk")) == text


def test_bad_files_are_reported_and_the_rest_indexed(tmp_path):
    (tmp_path / "good.txt").write_text(TEXT, encoding="utf-8")
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "binary.txt").write_bytes(b"\x00\x01\x02\xff" * 50)
    (tmp_path / "image.gif").write_bytes(b"GIF89a")
    (tmp_path / "docs.jsonl").write_text(
        json.dumps({"id": "a", "title": "T", "text": "正文内容。"}, ensure_ascii=False) + "\n{broken\n"
        + json.dumps({"_id": 7, "text": "另一篇。"}, ensure_ascii=False) + "\n" + json.dumps({"id": "x"}) + "\n",
        encoding="utf-8",
    )
    files, skipped = discover([tmp_path])
    docs = list(read_documents(files, skipped))
    assert sorted(d.doc_id for d in docs) == ["7", "a", "good.txt"]
    reasons = {s.path: s.reason for s in skipped}
    assert reasons["empty.txt"] == "empty file"
    assert reasons["binary.txt"] == "binary file"
    assert "unsupported" in reasons["image.gif"]
    assert "bad JSON" in reasons["docs.jsonl:2"]
    assert "needs an id" in reasons["docs.jsonl:4"]
    assert all(isinstance(s, Skipped) for s in skipped)


def test_missing_path_is_a_corpus_error(tmp_path):
    with pytest.raises(CorpusError, match="no such file"):
        discover([tmp_path / "nope"])


def test_titles():
    assert title_for("a/支付宝逾期协商.txt", "x") == "支付宝逾期协商"
    assert title_for("notes.md", "intro\n# 标题一\n") == "标题一"
    assert title_for("000_5a6161b64fe1e8b9.txt", "\n如何应对催收\n正文") == "如何应对催收"
