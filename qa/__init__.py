"""问答 over loan-dispute documents: cited-passage question answering over a local corpus.

    from qa import QA
    qa = QA.load("index")
    ans = qa.ask("被强制下款的钱需要还吗？")
    ans.sentences, ans.passages
"""
from __future__ import annotations

__version__ = "0.1.0"

from .config import BuildConfig, QueryConfig  # noqa: E402  (light: no third-party imports)
from .errors import (  # noqa: E402
    ConfigError,
    CorpusError,
    EmbedderError,
    EmptyQuestionError,
    EvaluationError,
    IndexCorruptError,
    IndexMismatchError,
    IndexNotFoundError,
    OutputError,
    QAError,
)

_LAZY = {
    "QA": "qa.api",
    "Index": "qa.stores.index",
    "Answer": "qa.pipeline.answer",
    "AnswerSentence": "qa.pipeline.answer",
    "Hit": "qa.pipeline.retrieve",
    "SearchResult": "qa.pipeline.retrieve",
    "BuildReport": "qa.stores.build",
    "IndexLocation": "qa.stores.location",
}

__all__ = [
    "QA", "Index", "Answer", "AnswerSentence", "Hit", "SearchResult", "BuildReport", "IndexLocation", "BuildConfig",
    "QueryConfig",
    "QAError", "ConfigError", "CorpusError", "EmbedderError", "EmptyQuestionError", "EvaluationError",
    "IndexCorruptError", "IndexMismatchError", "IndexNotFoundError", "OutputError", "__version__",
]


def __getattr__(name: str):
    # numpy, faiss & co. load only when the API is first used, so `import qa` stays instant
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'qa' has no attribute {name!r}")
