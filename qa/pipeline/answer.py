"""Hits → answer: the 1-3 sentences of the top passages that answer most directly, each citing its passage.

Sentences are taken verbatim from the passages (never generated). They are scored by the idf-weighted share of
the question's terms they contain and by their cosine to the question when a vector model is at hand (that is
what carries cross-language questions), plus a small prior for higher-ranked passages.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Collection, Sequence

import numpy as np

from ..config import DEFAULT, QueryConfig
from ..models.lexical import synonyms, tokenize
from ..models.sentences import MIN_SENTENCE_CHARS, passage_sentences, sentence_key
from ..text import fold, heading_level, is_damaged
from .retrieve import Hit, SearchResult
from .verdict import AnswerSentence, Composition, SentenceMatch, Verdict

_EMBED_SHORTLIST = 8
_COSINE_WEIGHT = 0.3  # dev answer_hit 0.85 → 0.90 against 0.7 (docs/history/EVALUATION-stops-1-21.md)

Answer = Verdict  # the public name: `QA.ask` returns a Verdict


@dataclass(frozen=True)
class _Sentence:
    passage: int
    text: str
    selectable: bool  # headings, questions (「Q3:是否需要償還…?」) and lead-ins (「…主要包括:」) do not answer
    anchor: int | None  # the question, heading or lead-in this sentence answers by position (FAQ, lists), if any


# Sentences about the page rather than the subject: announcements of what the text will do, invitations to read
# on, wishes that it helped. Phrased generally (any site's filler), not copied from this corpus.
_META = re.compile(
    r"本文|本站|小编|笔者|让我们|一起来看|下面(?:就|来|为|给|我们)|以下(?:是|为)?(?:小编|本站)|希望.{0,12}(?:帮助|有用)"
    r"|以上就是|相信.{0,20}(?:了解|帮助)|欢迎(?:阅读|关注|收藏)|点击|(?:来|为)大家(?:解答|介绍|分享)"
    # scene-setting openers: the trend, the product's fame, the topic's importance, not the subject itself
    r"|随着.{0,24}(?:发展|普及|兴起|增多)|如雨后春笋|广为人知|越来越多的人|成为(?:一种)?(?:普遍|常见)(?:的)?现象"
    r"|引发了?(?:不少|诸多|广泛|很多)(?:争议|关注|讨论)|(?:咱们|我们)(?:首先)?(?:需要|要|应该)(?:清楚|了解|知道|明白)"
)
# A sentence that only announces what follows (「…的具体步骤如下。」) answers nothing by itself.
_ANNOUNCES = re.compile(r"(?:如下|以下(?:几|[一二三四五六七八九十\d]+)(?:点|个方面|种|步))[。.!！]?$")


_LIST_QUESTION = re.compile(r"哪些|哪几|有什么(?:方法|办法|渠道|途径|部门|机构)|\bwhich\b|\bwhat are\b", re.I)
_ENDS_SENTENCE = re.compile(r"[。！？；!?;…」”）):：]\s*$")
_TABLE_ROW = re.compile(r"\S \| \S")  # cells as the DOCX and web page readers join them


def _bigrams(text: str) -> set[str]:
    text = re.sub(r"\W", "", text)
    return {text[i:i + 2] for i in range(len(text) - 1)}


def is_filler(text: str, title: str, idf: Callable[[str], float] | None = None, *, common_idf: float = 0.0) -> bool:
    """A sentence that cannot answer anything: site filler, a restatement of the document's title, or one whose
    only content words are the title's own and words nearly every passage uses."""
    if _META.search(fold(text)):  # Traditional text is folded to Simplified first
        return True
    grams, title_grams = _bigrams(text), _bigrams(title)
    if grams and title_grams and len(grams & title_grams) / len(grams) >= 0.6:
        return True
    if idf is not None:
        own = set(tokenize(title))
        content = [t for t in tokenize(text) if t not in own and len(t) >= 2]
        if not content or all(idf(t) <= common_idf for t in content):
            return True
    return False


def _sentences(hits: Sequence[Hit], idf: Callable[[str], float] | None = None, common_idf: float = 0.0,
               sectioned: Collection[str] | None = None) -> list[_Sentence]:
    """The pool's sentences, each marked whether it may answer. In a document with numbered sections (the doc ids
    in `sectioned`, or seen in the passage itself) the text before the first of them is its introduction: it sets
    the scene (「由于各种起因部分使用者也许会面临逾期还款的疑问」) and restates the question rather than answering it.
    `sectioned` None keeps introductions."""
    out: list[_Sentence] = []
    for i, hit in enumerate(hits):
        anchor, anchor_is_lead_in = None, False
        units = passage_sentences(hit.text)
        levels = [heading_level(text, text) for text in units]
        in_introduction = sectioned is not None and not hit.heading and (hit.doc_id in sectioned or any(levels))
        for text, level in zip(units, levels):
            in_introduction = in_introduction and not level
            # a short line with no sentence-ending mark is a subtitle or label, whatever its numbering; a table row
            # (「消费者投诉热线 | 12315」) is a record, which answers as a sentence does
            is_heading = bool(level) or (len(text) <= 24 and not _ENDS_SENTENCE.search(text)
                                         and not _TABLE_ROW.search(text))
            is_question = text.endswith(("?", "？"))
            is_lead_in = (text.endswith((":", "：")) or bool(_ANNOUNCES.search(fold(text)))) and not is_heading
            # text broken by a scraper is never quoted as the answer (the passage still shows it, as it is)
            selectable = len(text) >= MIN_SENTENCE_CHARS and not (
                is_question or is_heading or is_lead_in or in_introduction or is_damaged(text)) and not (
                is_filler(text, hit.title, idf, common_idf=common_idf))
            out.append(_Sentence(i, text, selectable, anchor if selectable else None))
            if is_question or is_heading or is_lead_in:
                # a question or heading is answered by the next sentence; a lead-in by the list that follows it
                anchor, anchor_is_lead_in = len(out) - 1, is_lead_in
            elif selectable and not anchor_is_lead_in:
                anchor = None
    return out


def _coverage(sentence: str, weights: dict[str, float], total: float, context: frozenset[str] = frozenset()) -> float:
    """idf-weighted share of the question's terms the sentence holds, itself or through `context` (the terms of its
    document's title)."""
    tokens = set(tokenize(sentence)) | context
    return sum(w for term, w in weights.items() if term in tokens or synonyms(term) & tokens) / total


def compose(
    result: SearchResult,
    *,
    k: int,
    idf: Callable[[str], float],
    embed: Callable[[list[str]], np.ndarray] | None = None,
    query_vector: np.ndarray | None = None,
    stored_vector: Callable[[str], np.ndarray | None] | None = None,
    background: float | None = None,
    n_passages: int | None = None,
    sectioned: Collection[str] = frozenset(),
    config: QueryConfig = DEFAULT,
) -> Composition:
    """The answer sentences of `result`'s first k passages, or why there are none (whether they are shown is
    qa.pipeline.verdict.decide's call). `stored_vector(key)` gives a sentence's vector stored at build time (no
    model call); `background` is the question's cosine to text about nothing in particular (Retriever.background):
    a sentence that shares no term with the question must beat it by `answer_min_sentence_margin` to answer."""
    floor = None if background is None else background + config.answer_min_sentence_margin
    passages = result.hits[:k]
    pool = passages[: config.answer_passages]
    # words in at least half of the passages (with a floor of two) carry no topic
    common_idf = float(np.log(1.0 + 0.5)) if n_passages is None else float(
        np.log(1.0 + (n_passages - max(2, n_passages / 2) + 0.5) / (max(2, n_passages / 2) + 0.5)))
    sentences = _sentences(pool, idf if config.answer_filter_filler else None, common_idf,
                           sectioned if config.answer_filter_filler else None)
    if not any(s.selectable for s in sentences):
        return Composition((), "no sentence of the passages can answer (headings, questions, filler)")

    terms = list(dict.fromkeys(tokenize(result.question)))
    weights = {t: idf(t) for t in terms}
    total = sum(weights.values()) or 1.0
    # A sentence is read in its document: the title's words (「薪分期強制下款…指南」) are what every sentence of it is
    # about, so a question's topic words found there do not set one sentence apart from its neighbours; what does is
    # the rest of the question (「要求平台做什么」).
    titles = [frozenset(tokenize(h.title)) if config.answer_title_context else frozenset() for h in pool]
    score = np.array([_coverage(s.text, weights, total, titles[s.passage]) for s in sentences])
    if embed is not None and query_vector is not None:
        # Only the lexically best few are compared by meaning, more when no term matched at all (a question in
        # another language): meaning breaks ties among sentences that share the question's words. Scoring every
        # sentence by its stored vector was tried and answered worse (docs/history/EVALUATION-stops-1-21.md, stop 20). A sentence
        # without a stored vector (an index built without them) is embedded here, ~25 ms each on 2 cores.
        shortlist = _EMBED_SHORTLIST if score.max() > 0 else 2 * _EMBED_SHORTLIST
        prior = np.array([1.0 - s.passage / len(pool) for s in sentences]) * 1e-3
        ids = [j for j in np.argsort(-(score + prior), kind="stable") if sentences[j].selectable or
               any(s.anchor == j for s in sentences)][:shortlist]
        cosines = _sentence_cosines([sentences[j].text for j in ids], query_vector, embed, stored_vector)
        if floor is not None and not any(score[j] > 0 for j in ids if sentences[j].selectable) and (
                float(cosines.max()) < floor):
            # nothing shares a term with the question and nothing is close in meaning: show passages only
            return Composition((), "no sentence shares a term with the question or is close to it in meaning")
        # cosines of a small e5 model sit in a narrow band (0.86-0.90 is typical); rescaled within the shortlist
        # they break ties between sentences of similar coverage, at a weight that keeps noise from outvoting it
        spread = float(cosines.max() - cosines.min())
        if spread > 1e-6:
            score[ids] = score[ids] + _COSINE_WEIGHT * (cosines - cosines.min()) / spread
    # the answer right after a matching question or heading (FAQ layout), or the items of a matching lead-in,
    # are as good as that match
    score = np.array([max(v, score[s.anchor]) if s.anchor is not None else v for v, s in zip(score, sentences)])
    score = score + np.array([0.15 * (1.0 - s.passage / len(pool)) for s in sentences])
    score[[not s.selectable for s in sentences]] = -np.inf

    best = float(score.max())
    if best <= 0 and floor is None and query_vector is None:
        return Composition((), "no sentence shares a term with the question")  # lexical mode
    def composed(chosen: Sequence[AnswerSentence], reason: str = "") -> Composition:
        match = None  # nothing to judge by without a model and the background it is read against
        if embed is not None and query_vector is not None and background is not None:
            first = chosen[0].text
            cosine = float(_sentence_cosines([first], query_vector, embed, stored_vector)[0])
            match = SentenceMatch(_coverage(first, weights, total), cosine, cosine - background)
        return Composition(tuple(chosen), reason, match)

    if _LIST_QUESTION.search(fold(result.question)):
        listed = _sibling_sections(passages, config)
        if listed:
            return composed(listed, "sections of one list answer the question")
    chosen = []
    top = int(np.argmax(score))
    lead = sentences[top].anchor
    if _LIST_QUESTION.search(fold(result.question)) and lead is not None and sentences[lead].text.endswith((":", "：")):
        # 「哪些…」 answered by a list item: the answer is the list (its first items, in order)
        for sentence in sentences:
            if sentence.anchor == lead and sentence.selectable and len(chosen) < config.max_answer_sentences:
                chosen.append(AnswerSentence(sentence.text, sentence.passage + 1))
        return composed(chosen, "a list answers the question")
    for j in np.argsort(-score, kind="stable"):
        if len(chosen) == config.max_answer_sentences or score[j] < 0.75 * best:
            break
        if any(sentences[j].text in c.text for c in chosen):
            continue
        text, passage = _run_on(sentences, int(j), pool)
        # an example chosen earlier on its own is replaced by the statement run on to it
        chosen = [c for c in chosen if c.text not in text]
        chosen.append(AnswerSentence(text, passage + 1))
    return composed(chosen)


def _sibling_sections(passages: Sequence[Hit], config: QueryConfig) -> tuple[AnswerSentence, ...]:
    """「哪些…」 answered by a document's list of sections (「一、投诉维权 › 1、12378 / 2、12377 / 4、12348」): when two or
    more of the shown passages are sections under one heading and one of them ranks among the passages answers come
    from, each section's first sentence, in the document's order."""
    groups: dict[tuple, list[int]] = {}
    for i, hit in enumerate(passages):
        if len(hit.heading) >= 2:
            groups.setdefault((hit.doc_id, hit.heading[:-1]), []).append(i)
    lists = [ix for ix in groups.values() if len({passages[i].heading[-1] for i in ix}) >= 2
             and min(ix) < config.answer_passages]
    if not lists:
        return ()
    members = sorted(min(lists, key=min), key=lambda i: passages[i].chunk_id)
    out = []
    for i in members[: config.max_answer_sentences]:
        lead = next((u for u in passage_sentences(passages[i].text) if len(u) >= MIN_SENTENCE_CHARS and
                     _ENDS_SENTENCE.search(u) and not is_damaged(u) and not u.endswith(("?", "？", ":", "："))), None)
        if lead:
            out.append(AnswerSentence(lead, i + 1))
    return tuple(out) if len(out) >= 2 else ()


# A sentence that opens by giving an example (「例如,能够向消费者协会、银监会等机构反映」) spells out the one before it;
# one that opens by pointing back (「这些部门常常会…」「此时,…」) cannot be read without it.
_LEANS_BACK = re.compile(r"^(?:例如|比如|譬如|举例来说|for example|for instance|e\.g\.|这些|这类|此类|这一|这种|这个|这样的|此时)",
                         re.I)


def _run_on(sentences: list[_Sentence], j: int, pool: Sequence[Hit]) -> tuple[str, int]:
    """The chosen sentence run on from the sentence it leans back on, and on to the next when that one leans back
    on it, with the pool index of the passage quoted: the general statement alone (「客户还可向相关部门投诉。」) leaves
    out what the question asked for, and an example or a 「这些部门…」 cannot stand without what it points to. The
    text is the passage's own, first start to last end, when the sentences are adjacent there; a sentence that opens
    its passage is read where an overlapping passage of the pool also holds the sentence before it."""
    def leans_back(i: int) -> bool:
        return bool(_LEANS_BACK.search(fold(sentences[i].text)))

    def sound(i: int) -> bool:
        return not is_damaged(sentences[i].text)

    same = sentences[j].passage
    if leans_back(j) and (j == 0 or sentences[j - 1].passage != same):
        elsewhere = [i for i, s in enumerate(sentences) if i > 0 and s.text == sentences[j].text and
                     sentences[i - 1].passage == s.passage]
        if elsewhere:
            j, same = elsewhere[0], sentences[elsewhere[0]].passage
    first = j
    while first > 0 and j - first < 2 and sentences[first - 1].passage == same and leans_back(first) and (
            sound(first - 1)):
        first -= 1  # 「例如…。这些部门…」 chosen at its second sentence reaches back to the statement
    following = j + 1 < len(sentences) and sentences[j + 1].passage == same
    last = j + 1 if following and sentences[j + 1].selectable and leans_back(j + 1) else j
    alone = (sentences[j].text, same)
    if first == last:
        return alone
    text = pool[same].text
    start = pos = text.find(sentences[first].text)
    if start < 0:
        return alone
    for i in range(first, last + 1):
        at = text.find(sentences[i].text, pos)
        if at < 0 or text[pos:at].strip():  # not adjacent in the passage (a bullet or label between)
            return alone
        pos = at + len(sentences[i].text)
    return text[start:pos], same


def _sentence_cosines(texts: list[str], query_vector: np.ndarray, embed, stored_vector) -> np.ndarray:
    """Cosines from the vectors stored at build time; only a sentence without one is embedded now."""
    vectors: list[np.ndarray | None] = [stored_vector(sentence_key(t)) if stored_vector else None for t in texts]
    missing = [i for i, v in enumerate(vectors) if v is None]
    if missing:
        fresh = embed([texts[i] for i in missing])
        for i, v in zip(missing, fresh):
            vectors[i] = v
    return np.asarray(np.stack(vectors), dtype=np.float32) @ query_vector
