"""The relevance gate: does the evidence retrieval gathered (`qa.retrieve.Evidence`) let anything be shown?

One function, `admits`, used by the question pipeline and by `bench.calibrate` alike (the calibrator scores its
candidate thresholds through it, never a restatement of it). Its fitted model is `QueryConfig.gate`, read from
qa/data/gate.json, which `python -m bench.calibrate --write` writes.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..config import DEFAULT, QueryConfig

if TYPE_CHECKING:
    from ..retrieve import Evidence


def admits(evidence: "Evidence", config: QueryConfig = DEFAULT) -> bool:
    """True when the passages retrieved may be shown at all (the answer or related passages), False for 未找到."""
    gate = config.gate
    if evidence.mode == "lexical" or evidence.margin is None:
        return evidence.lexical_probability(config) >= gate.lexical_threshold
    if evidence.sentence_margin is None:  # an index built without sentence vectors: the older rule
        return evidence.coverage >= gate.min_lexical_coverage or evidence.margin >= gate.min_dense_margin
    if evidence.full_coverage(config):
        return True  # one passage holds (nearly) every term of the question and none of its words is foreign here
    return evidence.probability(config) >= gate.threshold
