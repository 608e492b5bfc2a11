"""Typed errors: the library raises these; the CLI turns them into one line and exit code 2."""


class QAError(Exception):
    """Base class of every error the library raises on purpose."""


class EmptyQuestionError(QAError, ValueError):
    pass


class CorpusError(QAError):
    """No readable documents, or a path that does not exist."""


class IndexNotFoundError(QAError):
    pass


class IndexCorruptError(QAError):
    """Files missing, truncated, or not matching the manifest."""


class EmbedderError(QAError):
    """The embedding model could not be loaded or used."""


class ConfigError(QAError, ValueError):
    pass


class IndexMismatchError(IndexCorruptError):
    """The index was built with a recipe (tokenizer dictionary, model prompts …) that today's code does not match."""


class EvaluationError(QAError, ValueError):
    """An evaluation file (questions, qrels) that cannot be read."""


class StoreError(QAError):
    """A vector database store (Milvus) that cannot be reached or used: bad URI, server down, file locked."""


class OutputError(QAError):
    """The index cannot be written there: not a qa index, the corpus, locked by another build, disk full."""


class InvalidKError(ConfigError):
    """A number of passages outside 1..limit (qa.pipeline.query.check_k); `k` and `limit` let the page say it in
    its own words."""

    def __init__(self, k: object, limit: int) -> None:
        super().__init__(f"k must be a positive integer, at most {limit}; got {k!r}")
        self.k, self.limit = k, limit
