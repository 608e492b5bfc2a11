"""Where an index lives, parsed once at the edge (CLI option, `QA.load`, the web page): a local directory or a
Milvus collection. Everything after that asks the `IndexLocation`, never the string: this module is the only one
that knows what a `milvus:` location looks like (`qa.stores.milvus.store` reads the rest of the URI)."""
from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any, Mapping, Union

from ..config import DEFAULT_BUILD
from ..errors import ConfigError

SCHEME = "milvus:"


@dataclass(frozen=True)
class IndexLocation:
    """A local index directory (`path`) or a Milvus store (`uri`: `milvus://HOST:PORT/NAME`,
    `milvus:///path/file.db[/NAME]`); exactly one is set."""

    path: Path | None = None
    uri: str | None = None

    def __post_init__(self) -> None:
        if (self.path is None) == (self.uri is None):
            raise ValueError("an IndexLocation is a directory or a Milvus URI, exactly one")

    @classmethod
    def parse(cls, value: "Locatable") -> "IndexLocation":
        if isinstance(value, IndexLocation):
            return value
        if not isinstance(value, (str, os.PathLike)):  # None, bytes, a number: one typed error, not os.fspath's
            raise ConfigError(f"an index location is a directory or a milvus:// URI, got {value!r}")
        text = os.fspath(value)
        if not text.startswith(SCHEME):
            return cls(path=Path(text))
        if isinstance(value, PurePath) and not text.startswith(SCHEME + "//"):
            # Path("milvus://h:1/x") is "milvus:/h:1/x": the one place the collapsed slashes are put back
            rest = text[len(SCHEME) + 1:]
            text = SCHEME + ("//" if re.match(r"[^/]+:\d+/", rest) else "///") + rest
        return cls(uri=text)

    @property
    def is_milvus(self) -> bool:
        return self.uri is not None

    @property
    def key(self) -> str:
        """One string per index whatever spelling named it (a resolved directory, or the URI as given)."""
        return self.uri if self.uri is not None else str(self.path.resolve())

    def __str__(self) -> str:
        return self.uri if self.uri is not None else str(self.path)


Locatable = Union[str, "os.PathLike[str]", IndexLocation]


def recorded_corpus(manifest: Mapping[str, Any] | None) -> list[Path]:
    """The corpus roots an index's manifest records (what it was built from), as paths."""
    return [Path(r) for r in ((manifest or {}).get("corpus") or {}).get("roots", [])]


def rebuild_hint(index: Locatable, manifest: Mapping[str, Any] | None = None) -> str:
    """The command that rebuilds `index`: its own corpus roots and model when its manifest says them."""
    location = IndexLocation.parse(index)
    roots = " ".join(shlex.quote(str(r)) for r in recorded_corpus(manifest)) or "[PATHS…]"
    build = (manifest or {}).get("build") or {}
    model = f" --model {shlex.quote(build['model'])}" if build.get("model", DEFAULT_BUILD.model) != DEFAULT_BUILD.model else ""
    where = "--store" if location.is_milvus else "-o"
    return f"rebuild it with: qa build {roots} {where} {shlex.quote(str(location))}{model}"
