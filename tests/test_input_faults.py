"""Issue 23: bad input and faults from the command line and the notebook API. One regression test per case of
docs/RELIABILITY.md ("Bad input and faults")."""
import os
import threading
import time
import zipfile

import pytest

from qa import QA
from qa.errors import EmptyQuestionError

DOC = "被强制下款的钱需要还吗？法律上，未经同意的强制借款无需偿还本金以外的费用。"


def _one_line_error(result):
    assert result.exit_code == 2, result.output
    assert result.output.startswith("qa: error:") and result.output.count("\n") == 1, result.output
    assert "Traceback" not in result.output and "Usage:" not in result.output
    return result.output


# -- odd questions (item 7) ---------------------------------------------------------------------------------------
def test_ask_with_lone_surrogates_answers_like_search(qa_hash):
    question = "\udcff被强制下款的钱需要还吗\ud800"
    assert qa_hash.search(question).question
    answer = qa_hash.ask(question)  # UnicodeEncodeError from OpenCC before
    assert answer.question == qa_hash.search(question).question == "\ufffd被强制下款的钱需要还吗\ufffd"


@pytest.mark.parametrize("question", ["？！。，", "😀🙃🎉", "征信" * 5000, "强制\x00下款", "\x00", "",
                                      "征信 credit история 信用 🙂", "\ud800", "   \n\t"])
def test_odd_questions_answer_or_say_nothing_found(qa_hash, question):
    if not question.replace("\x00", "").strip():
        with pytest.raises(EmptyQuestionError):
            qa_hash.ask(question)
        return
    result = qa_hash.search(question)
    assert isinstance(result.hits, (list, tuple))
    answer = qa_hash.ask(question)
    assert isinstance(answer.text, str)


# -- bad options are one line like every other error (item 13) ----------------------------------------------------
@pytest.mark.parametrize("args, says", [
    (["ask", "x", "-k", "0"], "Invalid value for '-k'"),
    (["search", "x", "-k", "abc"], "Invalid value for '-k'"),
    (["ask", "x", "--mode", "fuzzy"], "Invalid value for '--mode'"),
    (["search", "x", "--fusion", "borda"], "Invalid value for '--fusion'"),
    (["build", "--chunk-size", "5"], "Invalid value for '--chunk-size'"),
    (["ask"], "Missing argument 'QUESTION'"),
    (["ask", "x", "--no-such-option"], "No such option"),
    (["no-such-command"], "No such command"),
])
def test_bad_options_are_one_error_line(run, hash_index, args, says):
    result = run(*args, "-i", hash_index) if args[0] in ("ask", "search") and len(args) > 1 else run(*args)
    line = _one_line_error(result)
    assert says in line and "--help)" in line


def test_help_is_still_help(run):
    assert run("ask", "--help").output.startswith("Usage:")
    assert "Usage:" in run().output  # plain `qa` shows the commands
