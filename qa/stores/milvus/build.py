"""Corpus paths → a Milvus store, through the ordinary build.

The build is the local one (`build_index`: reading, chunking, our tokens, embedding with its journal) into a
scratch index beside the store; only then are its rows uploaded into a new version of the collection and the
alias switched. So chunks, tokens and vectors are the local store's exactly, a build killed while embedding
re-embeds only the rest (the journal), and one killed while uploading reuses the whole scratch index. Vectors of
unchanged chunks come from the version the alias points at: a rebuild after adding a document embeds that
document only.
"""
from __future__ import annotations

import shutil
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from . import store as ms
from ..build import BuildReport, Progress, build_index, previous_vectors_for
from ...config import DEFAULT_BUILD, BuildConfig
from ...models.embedding import Embedder
from ...errors import QAError
from ..index import Index
from ...models.lexical import index_tokens
from ..local import StoredIndex, OutputLock, chunk_row, load, replaceable


def build_milvus(paths: Iterable[str | Path], uri: str, *, build: BuildConfig = DEFAULT_BUILD,
                 progress: Progress = False, embedder: Embedder | None = None) -> BuildReport:
    """The ordinary build into the scratch index, then its upload (still the build's "writing" stage)."""
    started = time.perf_counter()
    target = ms.parse_target(uri)
    client = target.connect(create=True)
    scratch = target.scratch()
    scratch.parent.mkdir(parents=True, exist_ok=True)
    lock = OutputLock(scratch.with_name(scratch.name + ".upload"))  # one build per store on this machine
    try:
        report = build_index(
            paths, scratch, build=replace(build, ann="flat"), progress=progress, embedder=embedder,
            previous=lambda e: {**stored_vectors(client, target, e), **previous_vectors_for(scratch, e)})
        version = upload(client, target, load(scratch))
        if replaceable(scratch) is None:
            shutil.rmtree(scratch, ignore_errors=True)  # Milvus holds it all now
    finally:
        lock.release()
    try:
        scratch.parent.rmdir()  # only when empty: a journal or another collection's scratch stays
    except OSError:
        pass
    return replace(report, index_dir=f"{uri} ({version})", seconds=time.perf_counter() - started,
                   vector_index="milvus FLAT" if report.vector_index != "no" else "no")


def stored_vectors(client, target: ms.MilvusTarget, embedder: Embedder) -> dict[str, np.ndarray]:
    """key → vector of the passages and sentences of the version the alias points at, if the same embedder
    recipe made them (else nothing to reuse)."""
    try:
        collection, manifest, _ = ms.read_manifest(client, target)
    except QAError:
        return {}
    if manifest.get("embedder") != embedder.recipe():
        return {}
    found = {row["key"]: np.asarray(row["dense"], dtype=np.float32)
             for row in ms.scan(client, collection, ["key", "dense"])}
    sentences = ms.load_version(client, collection)[1]
    if client.has_collection(sentences):
        found.update((row["key"], np.asarray(row["vector"], dtype=np.float32))
                     for row in ms.scan(client, sentences, ["key", "vector"]))
    return found


def upload(client, target: ms.MilvusTarget, stored: StoredIndex) -> str:
    """The scratch index's rows into a new version; the manifest last, then the alias. Returns the collection."""
    manifest = {k: v for k, v in stored.manifest.items() if k != "files"}  # local file checksums mean nothing here
    dim = (manifest.get("embedder") or {}).get("dim") if stored.vectors is not None else None
    version = max(ms.versions(client, target.name), default=0) + 1
    chunks, sentences, meta = ms.create_version(client, target.name, version, dim, manifest["build"])
    sv = stored.sentences
    ms.insert(client, chunks, _chunk_rows(stored))
    if dim and sv is not None:
        owner = Index(stored).sentence_owner()
        ms.insert(client, sentences, ({"key": key, "owner": int(owner[r]), "vector": sv.vectors[r].tolist()}
                                      for r, key in enumerate(sv.keys)))
    df = {term: int(stored.bm25.df[col]) for term, col in stored.bm25.vocab.items()}
    ms.insert(client, meta, ms.meta_rows((asdict(d) for d in stored.documents.values()), df, stored.background))
    for collection in (chunks, sentences, meta):
        if client.has_collection(collection):
            client.flush(collection)
    import pymilvus

    manifest["vector_index"] = {"kind": "milvus FLAT", "metric": "IP"} if dim else None
    manifest["store"] = {"engine": "milvus", "collection": chunks, "pymilvus": pymilvus.__version__,
                         "bm25": "Milvus BM25 function, standard analyzer over hashed qa tokens"}
    client.alter_collection_properties(chunks, properties={ms.MANIFEST_PROPERTY: _json(manifest)})
    previous = ms.switch_alias(client, target.name, chunks)
    ms.drop_old_versions(client, target.name, keep={chunks, previous} - {None})
    return chunks


def _chunk_rows(stored: StoredIndex) -> Iterator[dict]:
    sv = stored.sentences
    for i, (chunk, key) in enumerate(zip(stored.chunks, stored.keys)):
        row = chunk_row(chunk, key)
        row.pop("key")
        out = {"chunk_id": i, "key": key, "doc_id": chunk.doc_id, "source": chunk.source, "chunk": row,
               "tokens": ms.token_text(index_tokens(chunk.context)),
               "sentences": [sv.keys[r] for r in sv.rows[sv.indptr[i]:sv.indptr[i + 1]]] if sv is not None else []}
        if stored.vectors is not None:
            out["dense"] = np.asarray(stored.vectors[i], dtype=np.float32).tolist()
        yield out


def _json(value) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)
