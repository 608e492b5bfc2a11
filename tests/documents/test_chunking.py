from qa.documents.chunking import chunk_document, split_sentences
from qa.documents.corpus import Document


def _doc(text):
    return Document("d", "d.txt", "T", text)


def test_sentences_split_at_chinese_punctuation_and_newlines():
    text = "第一句。第二句！第三句？\n第四句；第五"
    assert [text[a:b] for a, b in split_sentences(text)] == ["第一句。", "第二句！", "第三句？", "第四句；", "第五"]


def test_chunks_respect_size_keep_whole_sentences_and_overlap():
    sentences = [f"这是第{i}个句子，内容用来测试切分效果。" for i in range(40)]
    text = "".join(sentences)
    chunks = chunk_document(_doc(text), size=120, overlap=40, maximum=200)
    assert len(chunks) > 3
    for c in chunks:
        assert len(c.text) <= 120
        assert c.text.startswith("这是第") and c.text.endswith("。")  # never cut inside a sentence
        assert text[c.start : c.end] == c.text
    for a, b in zip(chunks, chunks[1:]):
        assert b.start < a.end  # overlap


def test_overlong_sentence_is_cut_at_commas():
    text = "，".join(["很长的从句"] * 100) + "。"
    chunks = chunk_document(_doc(text), size=100, overlap=0, maximum=60)
    assert all(len(c.text) <= 100 for c in chunks)
    assert "".join(c.text for c in chunks) == text


def test_heading_path_is_kept():
    text = "一、投诉维权\n1、12378\n银保监会建立的投诉热线。\n二、协商还款\n1、做好准备\n准备无力偿还证明。"
    chunks = chunk_document(_doc(text), size=20, overlap=0, maximum=60)
    last = chunks[-1]
    assert last.heading == ("二、协商还款", "1、做好准备")
    assert last.context.startswith("T / 二、协商还款 / 1、做好准备\n")


def test_half_width_marks_inside_urls_and_mojibake_do_not_end_sentences():
    text = "打開 https://a.cn/p?id=1 查看。在不適當?shù)臅r間打擾家人。真的嗎？! 是的!"
    assert [text[a:b] for a, b in split_sentences(text)] == [
        "打開 https://a.cn/p?id=1 查看。", "在不適當?shù)臅r間打擾家人。", "真的嗎？!", "是的!"]
