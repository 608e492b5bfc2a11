"""Builds that survive interruption: embedded batches are journaled, a build run again embeds only the rest."""
import os
import signal
import subprocess
import sys
import time

import pytest

from qa import QA
from qa.models.embedding import HashEmbedder

from tests.conftest import ROOT


@pytest.fixture
def many_files(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    topics = ["强制下款", "暴力催收", "协商还款", "征信异议", "投诉渠道", "律师函"]
    for i in range(200):  # 200 one-chunk files: 7 batches of 32
        (corpus / f"doc{i:03d}.txt").write_text(f"第{i}篇：关于{topics[i % 6]}的说明，编号{i}。", encoding="utf-8")
    return corpus


class FailingEmbedder(HashEmbedder):
    """Dies after `batches` passage batches, as a build killed halfway would."""

    def __init__(self, batches: int) -> None:
        super().__init__(64)
        self.left = batches

    def embed_passages(self, texts):
        if self.left == 0:
            raise KeyboardInterrupt("killed")
        self.left -= 1
        return super().embed_passages(texts)


def test_a_build_run_again_embeds_only_what_was_not_done(many_files, tmp_path):
    out = tmp_path / "index"
    with pytest.raises(KeyboardInterrupt):
        QA.build([many_files], out, embedder=FailingEmbedder(batches=3))
    assert not out.exists()  # nothing half-written where the index goes
    journal = tmp_path / ".index.embeddings"
    assert len(list(journal.glob("part-*.npz"))) == 3
    report = QA.build([many_files], out, model="hash:64")
    assert report.embedded == 200 - 3 * 32 and report.reused == 3 * 32
    assert not journal.exists()  # done: the index holds every vector
    fresh = QA.build([many_files], tmp_path / "fresh", model="hash:64")
    assert fresh.embedded == 200
    assert [h.chunk_id for h in QA.load(out).search("暴力催收", mode="dense").hits] == \
        [h.chunk_id for h in QA.load(tmp_path / "fresh").search("暴力催收", mode="dense").hits]


def test_a_journal_of_another_embedder_is_not_used(many_files, tmp_path):
    out = tmp_path / "index"
    with pytest.raises(KeyboardInterrupt):
        QA.build([many_files], out, embedder=FailingEmbedder(batches=2))
    assert QA.build([many_files], out, model="hash:32").embedded == 200


def test_the_previous_index_survives_a_killed_rebuild(many_files, tmp_path):
    out = tmp_path / "index"
    QA.build([many_files], out, model="hash:64")
    (many_files / "new.txt").write_text("新加入的文件，讨论律师函的效力。" * 30, encoding="utf-8")
    with pytest.raises(KeyboardInterrupt):
        QA.build([many_files], out, embedder=FailingEmbedder(batches=0))
    assert QA.load(out).info()["documents"] == 200


_SLOW_BUILD = """
import sys, time
from qa import QA
from qa.models.embedding import HashEmbedder

class Slow(HashEmbedder):
    def embed_passages(self, texts):
        time.sleep(0.4)
        return super().embed_passages(texts)

QA.build([sys.argv[1]], sys.argv[2], embedder=Slow(64))
"""


@pytest.mark.slow
def test_kill_9_mid_build_then_run_again(many_files, tmp_path):
    out = tmp_path / "index"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_BUILD, str(many_files), str(out)], env=env, cwd=tmp_path)
    journal = tmp_path / ".index.embeddings"
    deadline = time.monotonic() + 60
    while len(list(journal.glob("part-*.npz"))) < 3 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(list(journal.glob("part-*.npz")))
    assert done >= 3 and not out.exists()
    report = QA.build([many_files], out, model="hash:64")  # the lock died with the process
    assert report.reused >= 3 * 32 and report.embedded == 200 - report.reused
    assert not journal.exists()
