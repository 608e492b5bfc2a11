"""Models over text: embedders, the BM25 tokenizer and index, FAISS index choice, answer-sized sentences."""
