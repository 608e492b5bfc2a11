"""The relevance gate: does the evidence retrieval gathered (`qa.retrieve.Evidence`) let anything be shown?

One function, `admits`, used by the question pipeline and by `bench.calibrate` alike (the calibrator scores its
candidate thresholds through it, never a restatement of it). Its fitted model is `QueryConfig.gate`, read from
qa/data/gate.json, which `python -m bench.calibrate --write` writes.
"""
from __future__ import annotations

from typing import Mapping, Protocol, Sequence

import numpy as np

from ..config import DEFAULT, QueryConfig


class Evidence(Protocol):
    """What the gate reads of `qa.retrieve.Evidence` (named here so that the gate needs nothing of retrieval)."""

    mode: str
    coverage: float
    margin: float | None
    sentence_margin: float | None

    def features(self, config: QueryConfig = ...) -> dict[str, float]: ...

    def full_coverage(self, config: QueryConfig = ...) -> bool: ...


def admits(evidence: Evidence, config: QueryConfig = DEFAULT, values: Mapping[str, float] | None = None) -> bool:
    """True when the passages retrieved may be shown at all (the answer or related passages), False for 未找到.
    `values`: the model's inputs by feature name, when not `evidence.features()` (a calibrator trying a new one)."""
    gate = config.gate
    values = evidence.features(config) if values is None else values
    if evidence.mode == "lexical" or evidence.margin is None:
        return logistic(values, gate.lexical_features, gate.lexical_weights, gate.lexical_bias) >= (
            gate.lexical_threshold)
    if evidence.sentence_margin is None:  # an index built without sentence vectors: the older rule
        return evidence.coverage >= gate.min_lexical_coverage or evidence.margin >= gate.min_dense_margin
    if evidence.full_coverage(config):
        return True  # one passage holds (nearly) every term of the question and none of its words is foreign here
    return logistic(values, gate.features, gate.weights, gate.bias) >= gate.threshold


def logistic(values: Mapping[str, float], features: Sequence[str], weights: Sequence[float], bias: float) -> float:
    """P(answerable) of a logistic model: weights per unit of each named feature, and a bias."""
    return float(1.0 / (1.0 + np.exp(-(bias + sum(w * values[f] for f, w in zip(features, weights))))))
