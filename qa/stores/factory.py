"""The one seam between the layers above and the stores: open or build an index wherever it lives. A local
directory goes to `qa.stores.index` / `qa.stores.build`; a Milvus location to `qa.stores.milvus`, imported only
then, so pymilvus is never loaded for a local index."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from ..config import DEFAULT_BUILD, BuildConfig
from ..models.embedding import Embedder
from .build import BuildReport, Progress, build_index
from .index import Index
from .local import load
from .location import IndexLocation, Locatable


def open_index(location: Locatable, *, embedder: Embedder | None = None, query_cache: int = 1024) -> Index:
    """The index at `location` (a directory, a `milvus://` URI or an `IndexLocation`), checked against today's
    code (`IndexMismatchError`, `IndexNotFoundError`, `IndexCorruptError`, `StoreError`)."""
    where = IndexLocation.parse(location)
    if where.is_milvus:
        from .milvus.index import MilvusIndex  # pymilvus only when a Milvus store is named

        return MilvusIndex.open(where.uri, embedder=embedder, query_cache=query_cache)
    return Index(load(where.path), embedder, query_cache=query_cache)


def build_into(location: Locatable, paths: Iterable[str | Path], *, build: BuildConfig = DEFAULT_BUILD,
               progress: Progress = False, embedder: Embedder | None = None) -> BuildReport:
    """Build an index of `paths` at `location`; a rebuild reuses the vectors of unchanged passages."""
    where = IndexLocation.parse(location)
    if where.is_milvus:
        from .milvus.build import build_milvus  # pymilvus only when a Milvus store is named
        return build_milvus(paths, where.uri, build=build, progress=progress, embedder=embedder)
    return build_index(paths, where.path, build=build, progress=progress, embedder=embedder)
