"""Answer-sized units: the sentences of a passage as the answer shows them, and their stored vectors.

Build and answer share `passage_sentences`, so a sentence's key at query time finds the vector stored for it at
build time; a sentence that occurs in two overlapping chunks is embedded once.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import numpy as np

from ..documents.chunking import split_sentences

MIN_SENTENCE_CHARS = 8  # shorter units (labels, 「1、12378」) are never answers and are not embedded
_LABEL = re.compile(r"^(?:[-•·*]\s*)*(?:(?:A|答)\s*[:：]\s*)?")  # list bullets and FAQ answer labels: layout


def passage_sentences(text: str) -> list[str]:
    """The passage's sentences, bullets and FAQ labels stripped, in order (empty ones dropped)."""
    out = []
    for a, b in split_sentences(text):
        raw = text[a:b].strip()
        unit = raw[_LABEL.match(raw).end():].strip()
        if unit:
            out.append(unit)
    return out


def sentence_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


@dataclass(frozen=True)
class SentenceVectors:
    """Per-sentence vectors of an index: rows of `vectors`, found by key or by chunk (CSR indptr/rows)."""

    vectors: np.ndarray  # (n, dim) float32, memory-mapped
    keys: tuple[str, ...]
    indptr: np.ndarray  # (chunks + 1,) int64
    rows: np.ndarray  # sentence rows of chunk i: rows[indptr[i]:indptr[i+1]]

    def row_of(self) -> dict[str, int]:
        return {k: i for i, k in enumerate(self.keys)}

    def rows_of(self, chunk_ids) -> list[int]:
        """The distinct sentence rows of these chunks, ascending. A set, not np.unique: that one imports numpy.ma
        (~30 ms, a twentieth of a cold `qa ask`)."""
        return sorted({r for c in chunk_ids for r in self.rows[self.indptr[c]:self.indptr[c + 1]].tolist()})

    def best_per_chunk(self, qvec: np.ndarray, chunk_ids) -> np.ndarray:
        """Each chunk's best sentence cosine to the question (-1 for a chunk without stored sentences)."""
        chunk_ids = np.asarray(chunk_ids, dtype=np.int64)
        starts, ends = self.indptr[chunk_ids], self.indptr[chunk_ids + 1]
        counts = ends - starts
        out = np.full(len(chunk_ids), -1.0, dtype=np.float32)
        if not counts.sum():
            return out
        gather = np.concatenate([self.rows[s:e] for s, e in zip(starts, ends)])
        distinct = self.rows_of(chunk_ids)
        lookup = dict(zip(distinct, (np.asarray(self.vectors[distinct]) @ qvec).tolist()))
        pos = 0
        for j, n in enumerate(counts):
            if n:
                out[j] = max(lookup[r] for r in gather[pos:pos + n].tolist())
            pos += n
        return out
