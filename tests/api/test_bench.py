"""Smoke run of the speed harness (bench/perf.py): every quick figure is measured and lands in the doc block."""
import json

import pytest

from tests.conftest import ROOT, SHARED

pytestmark = pytest.mark.slow


@pytest.mark.skipif(not (SHARED / "data" / "laws").exists(), reason="../shared/data/laws not present")
def test_perf_harness_quick_run(tmp_path):
    from bench import perf
    from bench.report import markers

    doc = tmp_path / "BENCH.md"
    begin, end = markers("perf")
    doc.write_text(f"# B\n\n{begin}\nstale-table\n{end}\n\nkept\n", encoding="utf-8")
    perf.main(["all", "--quick", "--out", str(tmp_path), "--doc", str(doc)])
    results = json.loads((tmp_path / "bench_perf.json").read_text(encoding="utf-8"))
    latency = results["latency_default"]
    assert latency["hybrid"]["p50_ms"] > 0 and latency["embed_one_question"]["p50_ms"] > 0
    assert results["coldstart"]["heavy_modules_imported"] == "[]"  # no torch, gradio, scipy on `qa ask`
    build = results["build"]
    assert build["unchanged_rebuild_embedded"] == 0
    assert 1 <= build["one_file_changed_embedded"] <= build["one_file_changed_file_chunks"]
    text = doc.read_text(encoding="utf-8")
    assert "stale-table" not in text and "cold start" in text and text.endswith("kept\n")
    assert (ROOT / "index" / "manifest.json").exists()
