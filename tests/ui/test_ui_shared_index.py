"""Two pages served on one index (issue 23, item 6): a document uploaded through one is listed, offered in the
source filter and cited by the other without a restart; each notices the index changed on disk
(`QA.is_current()`) and reloads it before listing or answering."""
from __future__ import annotations

import pytest

from qa import QA
from qa.ui.librarian import Librarian
from qa.ui.service import Service, run_question

from tests.ui_fixtures import hash_site

UNIQUE = "本合同约定的借款年利率为百分之二十三点九，逾期罚息按日万分之五计收。"
QUESTION = "借款合同约定的年利率和逾期罚息是多少？"


@pytest.fixture()
def site(tmp_path):
    return hash_site(tmp_path)


def _two(site, first=None) -> tuple[Librarian, Librarian]:
    one = Service(first if first is not None else site / "index", corpus_dir=site / "corpus")
    other = Service(site / "index", corpus_dir=site / "corpus")
    return Librarian(one), Librarian(other)


def test_the_other_server_lists_and_cites_an_upload_without_a_restart(site):
    one, other = _two(site)
    assert "合同.txt" not in other.service.sources()
    one.add([("合同.txt", UNIQUE.encode())])

    # the library panel (its table and pick list) and the question's source filter, before any question
    assert "合同.txt" in [e.source for e in other.entries()]
    assert "合同.txt" in other.service.sources()
    assert "资料库：5 篇文档" in other.service.status_html()
    reply = run_question(other.service, QUESTION, mode="lexical", sources=["合同.txt"])
    assert reply.answer.passages and reply.answer.passages[0].source == "合同.txt"

    # and back: the other removes it, the first no longer lists it
    other.remove(["合同.txt"])
    assert "合同.txt" not in one.service.sources() and "合同.txt" not in [e.source for e in one.entries()]


def test_a_page_given_a_loaded_qa_also_reloads_and_keeps_its_settings(site):
    """`build_app(qa)` (tests, embedding) has no index directory of its own: it reloads from the QA's."""
    served = QA.load(site / "index").with_config(caution_below=0.99)
    one, other = _two(site, first=served)
    other.add([("合同.txt", UNIQUE.encode())])
    assert "合同.txt" in one.service.sources()
    assert one.service.get() is not served and one.service.get().config.caution_below == 0.99


def test_listing_never_waits_for_a_change_this_page_is_making(site, monkeypatch):
    """While this page's own change has rebuilt the index but not yet swapped it in, the list is the old one at
    once (the page's status poll and panel must not hang for a rebuild); after the swap, the new one."""
    import threading

    import qa.library as library  # its rebuild goes through the store factory's build_into

    one, _ = _two(site)
    built, release = threading.Event(), threading.Event()
    real = library.build_into

    def held(*args, **kwargs):
        report = real(*args, **kwargs)  # the index on disk is the new one from here on
        built.set()
        release.wait(30)
        return report

    monkeypatch.setattr(library, "build_into", held)
    worker = threading.Thread(target=one.add, args=([("合同.txt", UNIQUE.encode())],))
    worker.start()
    try:
        assert built.wait(60)
        listed: list = []
        lister = threading.Thread(target=lambda: listed.append(one.service.sources()), daemon=True)
        lister.start()
        lister.join(5)
        assert listed, "listing the documents waited for the rebuild"
        assert "合同.txt" not in listed[0]  # at once, from the index served now
    finally:
        release.set()
        worker.join(60)
    assert "合同.txt" in one.service.sources()
