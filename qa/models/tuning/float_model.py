"""The bundled 4-bit e5 rebuilt as a float transformers `BertModel`, wrapped as a sentence-transformers model.

XLM-R's positions start after the padding index; the engine's 512-row position table is already shifted, so a
`BertModel` (positions from 0, token type 0) with the dequantised weights computes what the engine computes, up to
the engine's int8 activations. The config is written here: nothing is downloaded.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.modules import (
    InputModule,
    Normalize,
    Pooling,
)
from transformers import BertConfig, BertModel

from ..e5_file import E5File
from ..e5_tokenizer import PASSAGE_PREFIX, QUERY_PREFIX, E5Tokenizer

PROMPTS = {"query": QUERY_PREFIX, "passage": PASSAGE_PREFIX}


def bert_config(weights: E5File) -> BertConfig:
    return BertConfig(
        vocab_size=weights.vocab, hidden_size=weights.hidden, num_hidden_layers=weights.layers,
        num_attention_heads=weights.heads, intermediate_size=weights.ffn, hidden_act="gelu",
        max_position_embeddings=weights.positions, type_vocab_size=weights.type_vocab,
        layer_norm_eps=float(weights.eps), pad_token_id=weights.pad, hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1)


def bert_state(weights: E5File, word_embeddings: bool = True) -> dict[str, np.ndarray]:
    """The file's tensors under BertModel's names (Linear weights are out × in in both)."""
    H = weights.hidden
    state = {
        "embeddings.position_embeddings.weight": weights.vector("emb.pos", weights.positions, H),
        "embeddings.token_type_embeddings.weight": weights.vector("emb.type", weights.type_vocab, H),
        "embeddings.LayerNorm.weight": weights.vector("emb.ln.w", H),
        "embeddings.LayerNorm.bias": weights.vector("emb.ln.b", H),
    }
    if word_embeddings:
        state["embeddings.word_embeddings.weight"] = weights.word_embeddings()
    for name, (tensor, rows, cols) in weights.linears().items():
        state[name] = weights.matrix(tensor, rows, cols)
        short = tensor[:-2]
        state[name[:-len("weight")] + "bias"] = weights.vector(f"{short}.b", rows)
    norms = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for layer in range(weights.layers):
        pre = f"encoder.layer.{layer}."
        for short, name in norms.items():
            state[f"{pre}{name}.weight"] = weights.vector(f"l{layer}.{short}.w", H)
            state[f"{pre}{name}.bias"] = weights.vector(f"l{layer}.{short}.b", H)
    return state


def float_bert(weights: E5File | None = None) -> BertModel:
    weights = weights or E5File()
    model = BertModel(bert_config(weights), add_pooling_layer=False)
    state = {k: torch.from_numpy(v) for k, v in bert_state(weights).items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    # position_ids is a buffer some transformers versions keep in the state dict
    if [m for m in missing if not m.endswith("position_ids")] or unexpected:
        raise RuntimeError(f"e5 rebuild: missing {missing}, unexpected {unexpected}")
    return model


class E5Encoder(InputModule):
    """sentence-transformers input module: the engine's tokenizer and the float BertModel → token embeddings."""

    config_keys: ClassVar[list[str]] = ["max_seq_length"]

    def __init__(self, bert: BertModel, tokenizer: E5Tokenizer, max_seq_length: int = 512) -> None:
        super().__init__()
        self.bert = bert
        self.e5_tokenizer = tokenizer
        self.max_seq_length = max_seq_length

    def ids(self, texts: Sequence[str]) -> list[list[int]]:
        ids = self.e5_tokenizer.encode(texts)
        cut = self.max_seq_length
        # keep </s> last when a text is cut, as the engine's window does
        return [seq if len(seq) <= cut else seq[:cut - 1] + seq[-1:] for seq in ids]

    def preprocess(self, inputs: Sequence[str], prompt: str | None = None, **kwargs) -> dict[str, Any]:
        texts = [(prompt or "") + t for t in inputs]
        return batch_features(self.ids(texts), self.e5_tokenizer.pad_id)

    def forward(self, features: dict[str, torch.Tensor], **kwargs) -> dict[str, torch.Tensor]:
        out = self.bert(input_ids=features["input_ids"], attention_mask=features["attention_mask"])
        features["token_embeddings"] = out.last_hidden_state
        return features

    def get_embedding_dimension(self) -> int:
        return self.bert.config.hidden_size

    def save(self, output_path: str, *args, **kwargs) -> None:
        # The artifact is the ONNX export (qa.models.tuning.export); a float checkpoint is saved by the trainer.
        raise NotImplementedError("save the tuned model with qa.models.tuning.export")


def batch_features(ids: list[list[int]], pad_id: int) -> dict[str, torch.Tensor]:
    width = max(len(s) for s in ids)
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for i, seq in enumerate(ids):
        input_ids[i, :len(seq)] = torch.tensor(seq)
        mask[i, :len(seq)] = 1
    return {"input_ids": input_ids, "attention_mask": mask}


def float_model(weights: E5File | None = None, max_seq_length: int = 512) -> SentenceTransformer:
    """The rebuilt encoder as a SentenceTransformer: mean pooling over all tokens (<s>, </s> included), L2
    normalisation, e5's prompts."""
    weights = weights or E5File()
    encoder = E5Encoder(float_bert(weights), E5Tokenizer.from_weights(weights), max_seq_length)
    modules = [encoder, Pooling(weights.hidden, "mean"), Normalize()]
    return SentenceTransformer(modules=modules, device="cpu", prompts=PROMPTS, default_prompt_name=None)
