"""Our BM25 (lucene variant, written in qa.models.lexical) scores as bm25s's public retrieval does."""
from array import array

import numpy as np


def test_scores_equal_bm25s_get_scores_on_a_small_corpus():
    import bm25s
    from bm25s.tokenization import Tokenized

    from qa.models.lexical import BM25Builder, BM25Index, index_tokens

    texts = ["催收人员骚扰借款人的同事", "强制下款的钱需要还吗", "协商还款需要准备材料，催收电话不断",
             "征信异议可以向人民银行提出", "the loan was forced", "催收 催收 催收", ""]
    builder = BM25Builder(k1=1.2, b=0.75)
    for text in texts:
        builder.add(text)
    retriever, df = builder.finish()
    ours = BM25Index(retriever.scores["data"], retriever.scores["indices"], retriever.scores["indptr"],
                     retriever.vocab_dict, df, len(texts))

    vocab: dict[str, int] = {}
    ids = [array("i", [vocab.setdefault(t, len(vocab)) for t in index_tokens(text)]) for text in texts]
    theirs = bm25s.BM25(k1=1.2, b=0.75, method="lucene")
    theirs.index(Tokenized(ids=ids, vocab=vocab), show_progress=False)
    for query in (["催收"], ["催收", "征信"], ["loan", "还款", "材料"]):
        query = [t for t in query if t in vocab]
        expected = theirs.get_scores(query)
        assert np.array_equal(ours.scores(query), expected.astype(np.float32)), query
        assert expected.max() > 0
