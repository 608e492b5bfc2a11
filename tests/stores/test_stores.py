"""One seam to the stores: an index location parsed once (qa.stores.location) and one factory that opens or builds
either store (qa.stores.factory)."""
from pathlib import Path

import pytest

from qa.config import DEFAULT_CORPUS, DEFAULT_INDEX
from qa.stores.factory import build_into, open_index
from qa.stores.index import Index
from qa.stores.location import IndexLocation, rebuild_hint


@pytest.mark.parametrize("given, uri", [
    ("milvus://localhost:19530/loans", "milvus://localhost:19530/loans"),
    ("milvus:///tmp/store.db", "milvus:///tmp/store.db"),
    (Path("milvus://localhost:19530/loans"), "milvus://localhost:19530/loans"),  # a Path collapsed the slashes
    (Path("milvus:///tmp/store.db/loans"), "milvus:///tmp/store.db/loans"),
])
def test_a_milvus_uri_is_read_once_whatever_carried_it(given, uri):
    location = IndexLocation.parse(given)
    assert location.is_milvus and location.uri == uri and location.path is None and str(location) == uri
    assert IndexLocation.parse(location) is location
    assert "--store " + uri in rebuild_hint(location)


def test_a_directory_is_a_path(tmp_path):
    location = IndexLocation.parse(str(tmp_path / "idx"))
    assert not location.is_milvus and location.path == tmp_path / "idx" and location.key == str(tmp_path / "idx")
    assert "-o " + str(tmp_path / "idx") in rebuild_hint(location)
    assert IndexLocation.parse(DEFAULT_INDEX).path == Path("index")
    with pytest.raises(ValueError):
        IndexLocation()


def test_the_factory_builds_and_opens_a_local_index(corpus_dir, tmp_path):
    report = build_into(IndexLocation.parse(tmp_path / "idx"), [corpus_dir], build=_hash())
    index = open_index(tmp_path / "idx")
    assert type(index) is Index and report.chunks == len(index.chunks) > 0


def _hash():
    from qa.config import BuildConfig

    return BuildConfig(model="hash:64")


def test_serve_takes_a_corpus_and_hands_over_a_parsed_location(monkeypatch, tmp_path):
    from click.testing import CliRunner

    import qa.ui
    from qa.cli import main

    seen = {}
    monkeypatch.setattr(qa.ui, "serve", lambda **kwargs: seen.update(kwargs))
    result = CliRunner().invoke(main, ["serve", "-i", "milvus:///tmp/s.db", "--corpus", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert seen["index_dir"] == IndexLocation(uri="milvus:///tmp/s.db") and seen["corpus_dir"] == str(tmp_path)
    result = CliRunner().invoke(main, ["serve"])
    assert seen["index_dir"] == IndexLocation(path=Path(DEFAULT_INDEX)) and seen["corpus_dir"] is None
    assert DEFAULT_CORPUS == "corpus"
