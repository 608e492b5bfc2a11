"""Lexical retrieval: jieba search-mode tokens over folded text, BM25 (bm25s) saved in the index.

Building uses bm25s. Querying reads bm25s's saved arrays with numpy alone: bm25s imports scipy, which would
add about half a second to every `qa ask` process, and scoring a few query terms is one bincount.
"""
from __future__ import annotations

import hashlib
from array import array
import re
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from .text import fold

_EN_STOPWORDS = frozenset(
    "a an the is are was were be been am do does did to of in on at for with by from about as and or not no "
    "can could should would will may might must i me my we our you your he she it they them their this that "
    "what which who whom how why when where there here if then than so any some".split()
)
_WORDLIKE = re.compile(r"\w", re.UNICODE)


def _data_text(name: str) -> str:
    return (Path(__file__).parent / "data" / name).read_text(encoding="utf-8")


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

    return jieba.posseg.POSTokenizer(_tokenizer())


def content_words(text: str) -> list[tuple[str, bool]]:
    """The question's Chinese content words (two characters or more) as (word, names_a_topic) pairs."""
    stop = stopwords()
    out = []
    for pair in _pos_tokenizer().cut(fold(text)):
        word, flag = pair.word.strip(), pair.flag
        if len(word) >= 2 and _HAN.search(word) and flag not in _FUNCTION_TAGS and word not in stop:
            out.append((word, flag in _TOPIC_TAGS))
    return out


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
    BM25 nDCG@10 0.508 → 0.517, hybrid 0.600 → 0.604; docs/EVALUATION.md).
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


def synonyms(term: str) -> frozenset[str]:
    return _thesaurus().get(term, frozenset())


def expand(terms: list[str]) -> list[str]:
    """Synonym and English→Chinese expansions of the query terms, minus the terms themselves."""
    own = set(terms)
    extra: dict[str, None] = {}
    for term in terms:
        for token in synonyms(term):
            if token not in own:
                extra[token] = None
    return list(extra)


def build_bm25(texts: Iterable[str], *, k1: float, b: float, show_progress: bool = False):
    """A bm25s index over `texts` and each term's document frequency; the store saves both."""
    import bm25s
    from bm25s.tokenization import Tokenized

    # Term ids in order of first appearance: given its own token lists bm25s numbers terms from a Python set,
    # which changes with hash randomisation, so the same corpus would give different index files every build.
    vocab: dict[str, int] = {}
    # array('i'): 4 bytes a token instead of a list's 8-byte pointers (issue 9: bounded build memory)
    ids = [array("i", [vocab.setdefault(token, len(vocab)) for token in index_tokens(t)]) for t in texts]
    retriever = bm25s.BM25(k1=k1, b=b, method="lucene")
    retriever.index(Tokenized(ids=ids, vocab=vocab), show_progress=show_progress)
    # document frequencies, for the relevance gate's query-coverage measure
    df = np.zeros(len(vocab), dtype=np.int32)
    for doc in ids:
        df[list(set(doc))] += 1
    return retriever, df


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
        ids = [self.vocab[t] for t in dict.fromkeys(terms) if t in self.vocab]
        if not ids:
            return np.zeros(self.n_docs, dtype=np.float32)
        if len(ids) == 1:
            s, e = self.indptr[ids[0]], self.indptr[ids[0] + 1]
            rows, weights = self.indices[s:e], self.data[s:e]
        else:
            rows = np.concatenate([self.indices[self.indptr[i] : self.indptr[i + 1]] for i in ids])
            weights = np.concatenate([self.data[self.indptr[i] : self.indptr[i + 1]] for i in ids])
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
        df = int(self.df[self.vocab[term]]) if term in self.vocab else 0
        return float(np.log(1.0 + (self.n_docs - df + 0.5) / (df + 0.5)))
