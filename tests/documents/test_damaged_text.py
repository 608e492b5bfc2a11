"""Issue 23 case 17: text broken by the scraper was chosen as an answer sentence (「騷擾:頻繁撥打 ,甚至在不適當?shù)臅r(shí)間」,
「進行法律 :」, 「通過 或短信」). What can be repaired is repaired when documents are cleaned; a sentence still damaged
is never quoted as the answer (its passage still shows it as it is)."""
from __future__ import annotations

from pathlib import Path

import pytest

from qa import QA
from qa.text import clean, is_damaged

ROOT = Path(__file__).resolve().parents[2]
DAMAGED = [
    "騷擾:頻繁撥打 ,甚至在不適當臅r(shí)間打擾借款人及其家人。",  # a space where a word was cut, bytes one off
    "可以通過以下方式進行法律 :",
    "通常,貸款逾期后,催收人員會通過 或短信聯系借款人,提醒他們及時還款。",
    "向有關部門舉報:向當亟鹑诒O(jiān)管部門或消費者權益保護組織舉報不當催收行為。",
    "3. 拒絕不合理l款:若發現平臺存在條款,立即停止操作并投訴。",
    "在不適當?shù)時間打擾借款人。",
]
SOUND = [
    "第六百八十条 禁止高利放贷，借款的利率不得违反国家有关规定。",  # a label, then the article
    "2020年5月28日 第十三届全国人民代表大会第三次会议通过",
    "买A股要注意什么风险。",
    "详见 https://example.org/a?id=3 的说明。",
    "催收人员频繁打电话骚扰怎么办?",
    "消费者投诉热线 | 12315",
    "Call the hotline at 9:00, then write to the regulator.",
    "借款人 应当 按照 约定 的 期限 返还 借款。",  # spaced throughout: layout, not a cut word
]


def test_ruby_remnants_are_dropped_and_the_bytes_after_them_decoded_in_step():
    original = ("騷擾:甚至在不適當(dāng)?shù)臅r(shí)間打擾。\n向當(dāng)?shù)亟鹑诒O(jiān)管部門舉報(bào)。\n"
                "3. **拒絕不合理?xiàng)l款**:立即停止操作。\n在不適當?shù)時間。\n如(支付宝)?或者(APP)都可以。")
    cleaned = clean(original)
    assert cleaned.text.splitlines() == ["騷擾:甚至在不適當的時間打擾。", "向當地金融監管部門舉報。",
                                         "3. 拒絕不合理條款:立即停止操作。", "在不適當時間。", "如(支付宝)?或者(APP)都可以。"]
    assert not any(is_damaged(line) for line in cleaned.text.splitlines())
    # every character is the original's, but those decoded again, which stand where their damaged bytes were
    repaired = {"的", "時", "地", "金", "融", "監", "條"}
    for i, ch in enumerate(cleaned.text):
        assert ch == original[cleaned.offsets[i]] or ch in repaired
    assert original[cleaned.offsets[cleaned.text.index("地金融監")]] == "亟"


def test_a_remnant_is_only_decoded_again_when_one_reading_is_clearly_chinese():
    assert clean("不當?shù)ABC。").text == "不當ABC。"  # no Chinese run to realign: only the remnant goes


@pytest.mark.parametrize("sentence", DAMAGED)
def test_damaged_sentences_are_recognised(sentence):
    assert is_damaged(sentence)


@pytest.mark.parametrize("sentence", SOUND)
def test_sound_sentences_are_not(sentence):
    assert not is_damaged(sentence)


def test_a_damaged_sentence_is_never_the_answer(tmp_path):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "催收.txt").write_text(
        "不當催收的表現\n騷擾:頻繁撥打 ,甚至在深夜打擾借款人及其家人。\n"
        "應對:遇到頻繁騷擾時保持冷靜,記錄每一次通話的時間和內容。\n"
        "貸款逾期后,催收人員會通過 或短信聯系借款人,提醒他們及時還款。\n", encoding="utf-8")
    QA.build([tmp_path / "c"], tmp_path / "idx", model="hash:64")
    qa = QA.load(tmp_path / "idx")
    for question in ("频繁拨打骚扰家人怎么办", "催收人员会通过什么联系借款人"):
        answer = qa.ask(question, mode="lexical")
        assert answer.found
        assert not any(is_damaged(s.text) for s in answer.sentences), answer.text
        assert "頻繁撥打 ," not in answer.text and "通過 或" not in answer.text
    assert "頻繁撥打 ," in qa.ask("频繁拨打骚扰家人怎么办", mode="lexical").passages[0].text  # shown as it is


@pytest.mark.slow
def test_the_committed_index_quotes_no_damaged_text():
    qa = QA.load(ROOT / "index").with_config(gate_sentence_min_probability=None)  # every sentence the composer picks
    for question in ("催收人员频繁打电话骚扰怎么办", "接到催收电话时应该怎么应对", "蚂蚁金融都是怎么催收的",
                     "可以去哪里举报催收人员的不当行为", "请律师能提高协商的成功率吗", "注册借款APP时要小心哪些条款"):
        answer = qa.ask(question)
        assert answer.found and answer.sentences, question
        assert not any(is_damaged(s.text) for s in answer.sentences), (question, answer.text)
