"""A question as the pipeline takes it: text, k, mode and sources, validated once (`Query.of`), with one k policy
(`check_k`) for the library, the CLI, the page and its API, and the stores."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..config import DEFAULT, MODES, QueryConfig
from ..errors import ConfigError, InvalidKError


def is_integer(value: object) -> bool:
    """An int (or numpy integer), not a bool."""
    import numbers

    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_k(k: object, default: int, limit: int) -> int:
    """The one k policy: None → `default`; otherwise an integer from 1 to `limit` (config: `k_limit` for the
    library and CLI, `k_max` for the page and its API), else InvalidKError. Text or a float is refused here (0 used
    to mean 'the default' silently, "3" to crash); the page reads its form field as a number first (`read_k`)."""
    if k is None:
        return default
    if not is_integer(k) or not 1 <= k <= limit:  # type: ignore[operator]
        raise InvalidKError(k, limit)
    return int(k)  # type: ignore[call-overload]


def read_k(value: object) -> object:
    """A form field's number as the page gets it (3.0, "3") → the int it means; anything else unchanged, for
    `check_k` to refuse."""
    if is_integer(value) or isinstance(value, bool):
        return value
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return value
    return int(number) if number.is_integer() else value


def check_mode(mode: str | None, config: QueryConfig = DEFAULT) -> str:
    if mode is None:
        return config.mode
    if mode not in MODES:
        raise ConfigError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    return mode


def check_sources(sources: object, known: Sequence[str]) -> tuple[str, ...] | None:
    """One source name or several; a name the index does not hold is an error naming the ones it does."""
    if sources is None:
        return None
    if isinstance(sources, (str, Path)):
        sources = [str(sources)]  # a single name, not a sequence of its characters
    try:
        wanted = list(sources)  # type: ignore[call-overload]
    except TypeError:
        raise ConfigError(f"sources must be a source name or a list of them, got {sources!r}") from None
    if not all(isinstance(s, str) for s in wanted):
        raise ConfigError(f"sources must be source names (strings), got {wanted!r}")
    known_set = set(known)
    unknown = [s for s in wanted if s not in known_set]
    if unknown:
        listed = ", ".join(sorted(known_set)[:10]) + (" …" if len(known_set) > 10 else "")
        raise ConfigError(f"unknown source(s) {', '.join(map(repr, unknown))}; this index holds: {listed}")
    return tuple(wanted) or None


@dataclass(frozen=True)
class Query:
    """What is asked, validated: the question's text (cleaned by retrieval), how many passages, the mode, the
    sources to search (None: all)."""

    text: str
    k: int
    mode: str
    sources: tuple[str, ...] | None = None

    @classmethod
    def of(cls, text: str, k: object = None, mode: str | None = None, sources: object = None, *,
           known_sources: Sequence[str] = (), default_k: int | None = None, limit: int | None = None,
           config: QueryConfig = DEFAULT) -> "Query":
        k = check_k(k, config.k_ask if default_k is None else default_k, config.k_limit if limit is None else limit)
        return cls(text, k, check_mode(mode, config), check_sources(sources, known_sources))
