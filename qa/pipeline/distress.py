"""Questions that signal distress (「我想自杀」「活不下去了」, "I want to die"): detected here so that the web page
and the CLI answer them the same way, with `QueryConfig.distress_message` (the national psychological assistance
hotline 12356, and 110 for immediate danger) instead of 「未找到相关内容」.

The patterns live in `QueryConfig.distress_patterns`; questions are folded first (Traditional→Simplified, lower case),
so 「我想自殺」 and "SUICIDE" match too. A false alarm costs one calm extra sentence; a miss costs more.
"""
from __future__ import annotations

import re
from functools import lru_cache

from ..config import DEFAULT, QueryConfig
from ..text import fold


@lru_cache(maxsize=8)
def _pattern(patterns: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns))


def is_distress(question: str, config: QueryConfig = DEFAULT) -> bool:
    """True when the question reads as someone thinking of harming themselves."""
    if not question or not config.distress_patterns:
        return False
    return _pattern(config.distress_patterns).search(fold(question)) is not None


def support_message(question: str, config: QueryConfig = DEFAULT) -> str | None:
    """The calm message with the hotline numbers for a question in distress, else None."""
    return config.distress_message if is_distress(question, config) else None
