from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", help="also run tests marked slow (real model, browser)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    """What the tool keeps in the user's cache (the folded encoder) goes to a folder of the test run's own."""
    import os

    before = os.environ.get("QA_CACHE_DIR")
    os.environ["QA_CACHE_DIR"] = str(tmp_path_factory.mktemp("qa-cache"))
    yield
    if before is None:
        os.environ.pop("QA_CACHE_DIR", None)
    else:
        os.environ["QA_CACHE_DIR"] = before


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory) -> Path:
    """The five seed articles plus a Markdown file with markup and a JSONL corpus."""
    d = tmp_path_factory.mktemp("corpus")
    for f in (ROOT / "corpus").glob("*.txt"):
        shutil.copy(f, d / f.name)
    (d / "laws.jsonl").write_text(
        '{"id": "law-1", "title": "个人信息保护法第十条", "text": "任何组织、个人不得非法收集、使用、加工、传输他人个人信息。"}\n'
        '{"_id": "law-2", "title": "民法典第六百八十条", "text": "禁止高利放贷，借款的利率不得违反国家有关规定。"}\n',
        encoding="utf-8",
    )
    return d


@pytest.fixture(scope="session")
def hash_index(corpus_dir, tmp_path_factory) -> Path:
    from qa import QA

    out = tmp_path_factory.mktemp("idx") / "index"
    QA.build([corpus_dir], out, model="hash:64")
    return out


@pytest.fixture(scope="session")
def qa_hash(hash_index):
    from qa import QA

    return QA.load(hash_index)


@pytest.fixture()
def run():
    """`qa` with its arguments, in process (click's runner): result.exit_code, .stdout, .stderr."""
    from click.testing import CliRunner

    from qa.cli import main

    runner = CliRunner()

    def invoke(*args, input=None):
        return runner.invoke(main, [str(a) for a in args], input=input)

    return invoke
