"""An index: where it lives (a directory or a Milvus collection), how it is built, and how it is opened."""
