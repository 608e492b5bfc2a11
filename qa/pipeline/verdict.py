"""What a question gets: one `Verdict` — answered (sentences quoted from the passages), related (passages shown,
no sentence answers), or not found — with its reason and the evidence behind it. `decide` is the one place that
says which: the gate (`gate.admits`), the articles a question names, the evidence's strength, the composer's
sentences and the sentence judge's reading of them (`SentenceMatch`), in that order. The CLI, the page, the notebook
and `bench` read verdicts; none of them decides again.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable, Literal, Sequence

from ..config import DEFAULT, QueryConfig
from .gate import admits, logistic

if TYPE_CHECKING:
    from .retrieve import Evidence, Hit, SearchResult

Outcome = Literal["answered", "related", "not_found"]


@dataclass(frozen=True)
class AnswerSentence:
    text: str
    citation: int  # 1-based position of the cited passage in Verdict.passages

    def to_dict(self) -> dict:
        return {"text": self.text, "citation": self.citation}


@dataclass(frozen=True)
class SentenceMatch:
    """How the first answer sentence meets the question, which the gate's sentence judge reads: coverage, the
    idf-weighted share of the question's terms the sentence holds; cosine, its cosine to the question; margin, that
    cosine above the question's background level (Retriever.background), which reads alike across models."""

    coverage: float
    cosine: float
    margin: float

    def features(self) -> dict[str, float]:
        return {"sentence_coverage": self.coverage, "sentence_cosine": self.cosine, "sentence_margin": self.margin}

    def probability(self, config: QueryConfig = DEFAULT) -> float:
        """P(the sentence answers the question): a logistic model fitted on the tune halves of
        eval/calibration*.jsonl (`python -m bench.calibrate`), where a sentence answers when it holds a `must`."""
        gate = config.gate
        return logistic(self.features(), gate.sentence_features, gate.sentence_weights, gate.sentence_bias)

    def answers(self, config: QueryConfig = DEFAULT) -> bool:
        threshold = config.gate.sentence_threshold
        return threshold is None or self.probability(config) >= threshold


@dataclass(frozen=True)
class Composition:
    """What the composer found in the passages: the answer sentences, or why there are none; `match`: how the
    first of them meets the question (None without a vector model: nothing to judge it by)."""

    sentences: tuple[AnswerSentence, ...]
    reason: str = ""
    match: SentenceMatch | None = None


@dataclass(frozen=True)
class Verdict:
    """One question's result. `outcome` is read from `found` and `sentences` (so the two can never disagree);
    `support` is the calm message for a question that signals distress, shown before everything else; `warning`
    (lexical fallback), `notice` (question cut) and `caution` (weak evidence) are the notes shown before the answer;
    `reason` says why this outcome, `evidence` what the gate saw."""

    question: str
    mode: str
    found: bool
    sentences: tuple[AnswerSentence, ...]
    passages: tuple["Hit", ...]
    warning: str | None = None
    notice: str | None = None
    not_found_message: str = DEFAULT.not_found_message
    support: str | None = None
    related_only_message: str = DEFAULT.related_only_message
    caution: str | None = None
    reason: str = ""
    evidence: "Evidence | None" = None
    match: SentenceMatch | None = None  # how the composer's first sentence met the question, quoted or not

    @property
    def outcome(self) -> Outcome:
        if not self.found:
            return "not_found"
        return "answered" if self.sentences else "related"

    @property
    def related_only(self) -> bool:
        """Passages were found, but no sentence of them answers: they are shown as possibly related."""
        return self.outcome == "related"

    @property
    def notes(self) -> tuple[str, ...]:
        """What is said before the answer: a warning (lexical fallback), a notice (question cut), a caution."""
        from .render import notes

        return notes(self)

    @property
    def text(self) -> str:
        """The answer sentences with their [n] markers, the not-found message, or the related-only message."""
        if self.outcome == "not_found":
            return self.not_found_message
        if self.outcome == "related":
            return self.related_only_message
        return "".join(f"{s.text}[{s.citation}]" for s in self.sentences)

    def to_dict(self) -> dict:
        from .retrieve import result_head

        out = result_head(self)
        out["outcome"] = self.outcome
        if self.reason:
            out["reason"] = self.reason
        if self.support:
            out["support"] = self.support
        out["answer"] = self.text
        if self.caution:
            out["caution"] = self.caution
        out["sentences"] = [s.to_dict() for s in self.sentences]
        out["passages"] = [p.to_dict() for p in self.passages]
        return out

    # one view (qa.pipeline.render) for every surface
    def to_markdown(self) -> str:
        from .render import markdown

        return markdown(self)

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def _repr_html_(self) -> str:
        from .render import html

        return html(self)

    def __str__(self) -> str:
        from .render import text

        return text(self)


def decide(result: "SearchResult", *, k: int, cite: Callable[[tuple["Hit", ...]], tuple[tuple["Hit", ...], bool]],
           compose: Callable[["SearchResult"], Composition] | None, config: QueryConfig = DEFAULT,
           absent: Sequence[str] = ()) -> Verdict:
    """The one decision of what is shown, for `search` (`compose` None: passages only) and `ask`.

    `result` is retrieval's ranking and evidence, not yet judged. The gate admits it or not; `cite` brings the
    articles the question names to the top (shown even when the gate said nothing matched) and says whether there
    were any; the evidence must be strong enough to quote sentences (the gate's `answer_threshold`); then the composer's
    sentences, if any, answer — where the gate's sentence judge finds the first of them answers the question (else the
    passages are shown as related) — with the caution where the gate's model finds "not answered here" the likelier.
    `absent`: the articles the question names that no document holds (ArticleTable.absent, 「《民法典》第99999条」):
    the verdict says so, and what it shows is only related — no sentence is quoted as if it were that article."""
    evidence = result.evidence
    notice = result.notice
    if absent:
        said = config.absent_article_message.format(article="、".join(absent))
        notice = f"{notice} {said}" if notice else said
    common = dict(question=result.question, mode=result.mode, warning=result.warning, notice=notice,
                  not_found_message=config.not_found_message, related_only_message=config.related_only_message,
                  evidence=evidence)
    admitted = bool(result.hits) and (evidence is None or admits(evidence, config))
    hits, named = cite(result.hits if admitted else ())
    passages = tuple(hits[:k])
    if not passages:
        why = "no passage matched the question" if not result.hits else f"the gate: {explain(evidence, config)}"
        return Verdict(found=False, sentences=(), passages=(), reason=why, **common)
    shown = "the article the question names" if named else f"the gate: {explain(evidence, config)}"
    if compose is None:
        return Verdict(found=True, sentences=(), passages=tuple(hits), reason=shown, **common)
    if absent and not named:
        return Verdict(found=True, sentences=(), passages=passages, reason="the question names "
                       f"{'、'.join(absent)}, which no document holds: passages only related", **common)
    if evidence is not None and not evidence.supports_answer(config):
        floor = max(config.answer_min_probability, config.gate.answer_threshold or 0.0)
        return Verdict(found=True, sentences=(), passages=passages, reason="evidence between the gate's thresholds: "
                       f"related only (P(answerable) {evidence.probability(config):.3f} < {floor})", **common)
    composition = compose(replace(result, hits=tuple(hits), found=True))
    if not composition.sentences:
        return Verdict(found=True, sentences=(), passages=passages, reason=composition.reason, **common)
    match = composition.match
    if match is not None and not match.answers(config):
        return Verdict(found=True, sentences=(), passages=passages, reason="the sentence found may not answer: "
                       f"related only (P(answers) {match.probability(config):.3f} < {config.gate.sentence_threshold})",
                       match=match, **common)
    caution = config.caution_message if evidence is not None and evidence.is_weak(config) else None
    return Verdict(found=True, sentences=composition.sentences, passages=passages, caution=caution,
                   reason=shown, match=match, **common)


def explain(evidence: "Evidence | None", config: QueryConfig = DEFAULT) -> str:
    """The gate's reading of the evidence, in a few words (for `Verdict.reason`)."""
    if evidence is None:
        return "no evidence"
    gate = config.gate
    if evidence.mode == "lexical" or evidence.margin is None:
        return f"lexical P(answerable) {evidence.lexical_probability(config):.3f}, threshold {gate.lexical_threshold}"
    if evidence.sentence_margin is None:
        return (f"coverage {evidence.coverage:.2f} (≥ {gate.min_lexical_coverage}) or margin {evidence.margin:.3f} "
                f"(≥ {gate.min_dense_margin})")
    if evidence.full_coverage(config):
        return f"one passage holds {evidence.coverage:.2f} of the question's terms, none foreign"
    return f"P(answerable) {evidence.probability(config):.3f}, threshold {gate.threshold}"
