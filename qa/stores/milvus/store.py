"""A Milvus collection as the index store: the only module that names Milvus collections, fields and properties.

Target URIs: `milvus://HOST:PORT/NAME` (a server; token from $QA_MILVUS_TOKEN) and `milvus:///path/file.db` or
`milvus:///path/file.db/NAME` (embedded milvus-lite; NAME defaults to `qa`). NAME is an alias: every build writes
three new collections — `NAME__vN` (one row per chunk: the chunk, its dense vector, our BM25 tokens and the sparse
vector Milvus's BM25 function makes of them), `NAME__vN__s` (one row per distinct sentence: vector and first
chunk) and `NAME__vN__m` (documents, term statistics, background vectors) — sets the manifest as a property of
`NAME__vN` last, then points the alias at it. Readers resolve the alias once at load and keep reading that
version, so a rebuild never shows them half an index; the version before is kept for them, older ones dropped.

BM25 is computed by Milvus on *our* tokens (jieba + dictionary + folding, `qa.models.lexical.index_tokens`), each
written as a hex digest so that any Milvus analyzer (milvus-lite 3 offers only `standard` and `jieba`, and
`standard` splits 「3.5」 or 「a-b」) keeps one token as one term. Milvus's BM25 is bm25s's lucene score times
(k1 + 1): rankings are the same, and dividing gives bm25s's numbers.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

import numpy as np

from ...config import cache_dir
from ...errors import ConfigError, IndexCorruptError, IndexNotFoundError, OutputError, StoreError

MANIFEST_PROPERTY = "qa.manifest"
DEFAULT_COLLECTION = "qa"
SEARCH_LIMIT = 16384  # Milvus's largest topk
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,200}")
_VERSION = "__v"
_VALUE_CHARS = 15000  # a meta row's text: ≤ 3 bytes a character stays under VARCHAR's 65,535 bytes
_BATCH = 500  # rows per insert / query page
_TIMEOUT = 10.0  # seconds a server gets to answer before the store counts as unreachable


# A second MilvusClient on an embedded file in the same process connects to the milvus-lite server the first
# started, and under load that connection sometimes failed ("Fail connecting to server on 127.0.0.1:…").
_CLIENTS: dict[tuple[str, str], Any] = {}
_CLIENTS_LOCK = threading.Lock()


@dataclass(frozen=True)
class MilvusTarget:
    """Where a Milvus store lives: a server URI or an embedded file, and the collection (alias) name."""

    uri: str  # milvus://…, for messages and rebuild commands
    client_uri: str  # what MilvusClient takes
    name: str
    file: Path | None  # the embedded database file, or None for a server

    def connect(self, *, create: bool = False):
        """A MilvusClient; typed errors for a missing file, a file locked by another process, a dead server."""
        # grpc logs to stderr when the embedded server asks the client to slow its keep-alive pings (it reconnects,
        # nothing is lost); failures reach us as exceptions anyway. Set GRPC_VERBOSITY to see grpc's own log.
        os.environ.setdefault("GRPC_VERBOSITY", "NONE")
        try:
            from pymilvus import MilvusClient
        except ImportError as exc:
            raise StoreError("a Milvus store needs pymilvus and milvus-lite: pip install -e \".[milvus]\"") from exc
        if self.file is not None:
            if not create and not self.file.exists():
                raise IndexNotFoundError(f"no Milvus database at {self.file}; build one with: qa build [PATHS…] "
                                         f"--store {self.uri}")
            self.file.parent.mkdir(parents=True, exist_ok=True)
        key = (self.client_uri, os.environ.get("QA_MILVUS_TOKEN", ""))
        with _CLIENTS_LOCK:  # one client per store and process: a reload or a rebuild reuses its connection
            if key not in _CLIENTS:
                try:
                    _CLIENTS[key] = MilvusClient(uri=key[0], token=key[1], timeout=_TIMEOUT)
                except Exception as exc:  # pymilvus raises its own classes, grpc's, or milvus-lite's lock error
                    raise StoreError(_connect_failure(self, exc)) from exc
            return _CLIENTS[key]

    def scratch(self) -> Path:
        """The local folder a build writes before uploading (its embedding journal and lock lie beside it)."""
        if self.file is not None:
            return self.file.parent / f"{self.file.name}.qa-build" / self.name
        cache = cache_dir() or Path(tempfile.gettempdir()) / "qa"  # a build needs its scratch even with no cache
        return cache / "milvus" / re.sub(r"[^A-Za-z0-9_.-]", "_", self.client_uri.split("://", 1)[1]) / self.name


def _connect_failure(target: MilvusTarget, exc: Exception) -> str:
    text = " ".join(str(exc).split())
    if "lock" in text.lower() or "Open local milvus failed" in text:
        return (f"the Milvus file {target.file} is open in another process (milvus-lite allows one); stop it, or "
                f"serve the file with `milvus-lite server` and use milvus://HOST:PORT/{target.name}")
    return f"cannot reach the Milvus store {target.uri}: {text[:300]}"


def parse_target(uri: str) -> MilvusTarget:
    """`milvus://HOST:PORT/NAME`, `milvus:///path/file.db[/NAME]`; anything else is a ConfigError naming both."""
    text = str(uri)  # as qa.stores.location.IndexLocation read it: a Path's collapsed slashes already restored
    usage = "use milvus://HOST:PORT/COLLECTION or milvus:///path/to/file.db"
    parts = urlsplit(text)
    if parts.scheme != "milvus" or parts.query or parts.fragment:
        raise ConfigError(f"not a Milvus store URI: {uri!r}; {usage}")
    path = parts.path
    if not parts.netloc:  # embedded: milvus:///path/file.db or milvus:///path/file.db/NAME
        match = re.fullmatch(r"(/.+?\.db)(?:/([^/]+))?/?", path)
        if not match:
            raise ConfigError(f"not a Milvus store URI: {uri!r} (an embedded store is a .db file path); {usage}")
        file, name = Path(match.group(1)), match.group(2) or DEFAULT_COLLECTION
        target = MilvusTarget(text, str(file), name, file)
    else:
        try:
            port = parts.port
        except ValueError:
            port = None
        name = path.strip("/")
        if not parts.hostname or port is None or not name or "/" in name:
            raise ConfigError(f"not a Milvus store URI: {uri!r} (a server needs HOST:PORT/COLLECTION); {usage}")
        target = MilvusTarget(text, f"http://{parts.hostname}:{port}", name, None)
    if not _NAME.fullmatch(target.name) or _VERSION in target.name:
        raise ConfigError(f"bad Milvus collection name {target.name!r}: letters, digits and _ (not starting with a "
                          f"digit, without {_VERSION!r}, which qa uses for its versions)")
    return target


def term_token(term: str) -> str:
    """A BM25 term as one analyzer token: `t` + 16 hex digits (64 bits; a collision is ~1e-8 at 1M terms)."""
    return "t" + hashlib.blake2b(term.encode("utf-8"), digest_size=8).hexdigest()


def token_text(tokens: list[str]) -> str:
    return " ".join(term_token(t) for t in tokens)


def bm25_scale(manifest: dict[str, Any]) -> float:
    """Milvus's BM25 over bm25s's lucene score (the (k1 + 1) of the classic formula)."""
    return 1.0 + float((manifest.get("build") or {}).get("bm25_k1", 1.2))


# -- collections of one version ------------------------------------------------------------------------------
def version_names(name: str, version: int) -> tuple[str, str, str]:
    base = f"{name}{_VERSION}{version}"
    return base, f"{base}__s", f"{base}__m"


def versions(client, name: str) -> list[int]:
    pattern = re.compile(re.escape(name) + _VERSION + r"(\d+)")
    return sorted(int(m.group(1)) for c in client.list_collections() if (m := pattern.fullmatch(c)))


def current_collection(client, name: str) -> str | None:
    """The collection the alias points at, None when there is no such alias."""
    aliases = client.list_aliases()
    if name not in (aliases.get("aliases", []) if isinstance(aliases, dict) else aliases):
        return None
    return client.describe_alias(name)["collection_name"]


def create_version(client, name: str, version: int, dim: int | None, build: dict[str, Any]) -> tuple[str, str, str]:
    from pymilvus import DataType, Function, FunctionType, MilvusClient

    chunks, sentences, meta = version_names(name, version)
    for leftover in (chunks, sentences, meta):  # a killed build's version that never got its manifest
        if client.has_collection(leftover):
            client.drop_collection(leftover)
    bm25 = {"bm25_k1": float(build["bm25_k1"]), "bm25_b": float(build["bm25_b"])}
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("chunk_id", DataType.INT64, is_primary=True)  # position in the index: stable within a version
    schema.add_field("key", DataType.VARCHAR, max_length=64)
    schema.add_field("doc_id", DataType.VARCHAR, max_length=4096)
    schema.add_field("source", DataType.VARCHAR, max_length=4096)
    schema.add_field("chunk", DataType.JSON)  # every Chunk field (text, offsets, heading, page, article, url)
    schema.add_field("sentences", DataType.JSON)  # keys of the chunk's sentences (rows of NAME__vN__s)
    schema.add_field("tokens", DataType.VARCHAR, max_length=65535, enable_analyzer=True,
                     analyzer_params={"tokenizer": "standard"})
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(Function(name="bm25", function_type=FunctionType.BM25, input_field_names=["tokens"],
                                 output_field_names=["sparse"], params=bm25))
    index = client.prepare_index_params()
    # k1 and b both flat (how pymilvus 3 sends them, what a server reads) and as the JSON `params` entry (the older
    # wire form, the only one milvus-lite 3.2 reads: given flat only, it silently scores with k1 = 1.5)
    index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25", params={**bm25, "params": bm25})
    if dim:
        schema.add_field("dense", DataType.FLOAT_VECTOR, dim=dim)
        index.add_index("dense", index_type="FLAT", metric_type="IP")  # exact, as the local index below 50k
    client.create_collection(chunks, schema=schema, index_params=index)
    if dim:
        _vector_collection(client, sentences, dim, [("key", DataType.VARCHAR, {"max_length": 64, "is_primary": True}),
                                                     ("owner", DataType.INT64, {})])
    _vector_collection(client, meta, 2, [("id", DataType.VARCHAR, {"max_length": 64, "is_primary": True}),
                                         ("value", DataType.VARCHAR, {"max_length": 65535})])
    return chunks, sentences, meta


def _vector_collection(client, name: str, dim: int, fields) -> None:
    """A collection keyed by a string; Milvus wants a vector field in each (the meta one's is a placeholder)."""
    from pymilvus import DataType, MilvusClient

    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    for field, kind, params in fields:
        schema.add_field(field, kind, **params)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    index = client.prepare_index_params()
    index.add_index("vector", index_type="FLAT", metric_type="IP")
    client.create_collection(name, schema=schema, index_params=index)


def insert(client, collection: str, rows: Iterator[dict[str, Any]]) -> int:
    batch, n = [], 0
    for row in rows:
        batch.append(row)
        if len(batch) == _BATCH:
            client.insert(collection, batch)
            n, batch = n + len(batch), []
    if batch:
        client.insert(collection, batch)
        n += len(batch)
    return n


def meta_rows(documents: Iterator[dict[str, Any]], df: dict[str, int], background: np.ndarray | None
              ) -> Iterator[dict[str, Any]]:
    """Documents (texts cut in parts under VARCHAR's limit), term document frequencies, background vectors."""
    placeholder = [0.0, 0.0]
    for i, doc in enumerate(documents):
        text = doc.get("text", "")
        parts = [text[s:s + _VALUE_CHARS] for s in range(0, len(text), _VALUE_CHARS)] or [""]
        head = {k: v for k, v in doc.items() if k != "text"}
        for p, part in enumerate(parts):
            value = {**head, "text": part} if p == 0 else {"text": part}
            yield {"id": f"doc:{i:09d}:{p:05d}", "value": json.dumps(value, ensure_ascii=False), "vector": placeholder}
    block: list = []
    size, n = 0, 0
    for term, count in df.items():
        block.append([term, int(count)])
        size += len(term) + 12
        if size >= _VALUE_CHARS:
            yield {"id": f"df:{n:09d}", "value": json.dumps(block, ensure_ascii=False), "vector": placeholder}
            block, size, n = [], 0, n + 1
    if block:
        yield {"id": f"df:{n:09d}", "value": json.dumps(block, ensure_ascii=False), "vector": placeholder}
    for i, vector in enumerate(background if background is not None else ()):
        yield {"id": f"bg:{i:09d}", "value": json.dumps([float(x) for x in vector]), "vector": placeholder}


def read_meta(client, collection: str) -> tuple[list[dict[str, Any]], dict[str, int], np.ndarray | None]:
    """(documents in order, term → document frequency, background vectors) of one version."""
    rows = sorted(scan(client, collection, ["id", "value"]), key=lambda r: r["id"])
    documents: list[dict[str, Any]] = []
    df: dict[str, int] = {}
    background = []
    for row in rows:
        kind, _, rest = row["id"].partition(":")
        value = json.loads(row["value"])
        if kind == "doc":
            if rest.endswith(":00000"):
                documents.append(value)
            else:
                documents[-1]["text"] += value["text"]
        elif kind == "df":
            df.update((term, count) for term, count in value)
        elif kind == "bg":
            background.append(value)
    return documents, df, (np.asarray(background, dtype=np.float32) if background else None)


class _QuietLiteIterator(logging.Filter):
    """milvus-lite has no MVCC timestamp to give a query iterator; pymilvus warns on every scan and then does the
    right thing (client-side timestamp), so the warning says nothing to a qa user."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "mvccTs" not in record.getMessage()


logging.getLogger("pymilvus.client.iterator.query_iterator").addFilter(_QuietLiteIterator())


def scan(client, collection: str, fields: list[str]) -> Iterator[dict[str, Any]]:
    """Every row of a collection, page by page."""
    iterator = client.query_iterator(collection, batch_size=_BATCH, output_fields=fields)
    try:
        while True:
            page = iterator.next()
            if not page:
                return
            yield from page
    finally:
        iterator.close()


def read_manifest(client, target: MilvusTarget) -> tuple[str, dict[str, Any], str]:
    """(version collection, manifest, stamp) that the alias points at now."""
    try:
        collection = current_collection(client, target.name)
    except Exception as exc:
        raise StoreError(f"cannot read the Milvus store {target.uri}: {' '.join(str(exc).split())[:300]}") from exc
    if collection is None:
        what = "is a collection qa did not build" if client.has_collection(target.name) else "does not exist"
        raise IndexNotFoundError(f"no qa index at {target.uri} (the collection {target.name!r} {what}); build one "
                                 f"with: qa build [PATHS…] --store {target.uri}")
    raw = (client.describe_collection(collection).get("properties") or {}).get(MANIFEST_PROPERTY)
    if raw is None:
        raise IndexCorruptError(f"index {target.uri} has no manifest (collection {collection}); rebuild it with: "
                                f"qa build [PATHS…] --store {target.uri}")
    try:
        manifest = json.loads(raw)
    except ValueError as exc:
        raise IndexCorruptError(f"index {target.uri}: its manifest is not valid JSON ({exc})") from exc
    return collection, manifest, hashlib.sha256(f"{collection}\n{raw}".encode("utf-8")).hexdigest()


def load_version(client, collection: str) -> tuple[str, str, str]:
    """The version's three collections, loaded for search (a restarted milvus-lite has them released)."""
    names = version_names(collection.rsplit(_VERSION, 1)[0], int(collection.rsplit(_VERSION, 1)[1]))
    for name in names:
        if client.has_collection(name):
            client.load_collection(name)
    return names


def switch_alias(client, name: str, collection: str) -> str | None:
    """Point `name` at `collection`; returns the collection it pointed at before. A real collection named `name`
    (not built by qa) is never replaced."""
    previous = current_collection(client, name)
    if previous is None and client.has_collection(name):
        raise OutputError(f"refusing to replace the Milvus collection {name!r}: it is not a qa index alias")
    if previous is None:
        client.create_alias(collection, name)
    else:
        client.alter_alias(collection, name)
    return previous


def drop_old_versions(client, name: str, keep: set[str]) -> None:
    """Drop the versions other than `keep` (the new one and the one readers may still hold)."""
    for version in versions(client, name):
        names = version_names(name, version)
        if names[0] in keep:
            continue
        for collection in names:
            if client.has_collection(collection):
                client.drop_collection(collection)
