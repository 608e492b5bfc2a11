"""Several people at once: concurrent callers of the web app's `ask` API, on the committed index with the real
bundled model, for each `--workers` setting.

    python -m bench.web --callers 20 50 --workers 1 2 [--index index] [--json docs/bench_web.json]

Each round starts the app (`build_app(..., workers=W)`), opens one gradio_client per caller, then releases all
callers at once (a barrier) with different questions from ../shared/eval/dev.jsonl (or built-in ones). A caller's
latency is submit → result; the round's wall time is first submit → last result. Errors are counted, not hidden.
"""
from __future__ import annotations

import argparse
import json
import socket
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from qa.config import DEFAULT_INDEX  # settings only: no third-party imports

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ("被强制下款的钱需要还吗？", "催收人员可以联系我的家人和同事吗？", "协商还款需要准备哪些材料？",
             "可以向哪些部门投诉暴力催收？", "逾期会影响征信吗？")


def _questions() -> list[str]:
    dev = ROOT.parent / "shared" / "eval" / "dev.jsonl"
    if dev.exists():
        return [json.loads(line)["q"] for line in dev.read_text(encoding="utf-8").splitlines() if line.strip()]
    return list(QUESTIONS)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def round_(url: str, callers: int, questions: list[str]) -> dict:
    from gradio_client import Client

    clients = [Client(url, verbose=False) for _ in range(callers)]
    barrier = threading.Barrier(callers)
    latencies: list[float] = []
    errors: list[str] = []

    def one(i: int) -> None:
        barrier.wait()
        started = time.perf_counter()
        try:
            result = clients[i].predict(questions[i % len(questions)], api_name="/ask")
            assert result["question"]
        except Exception as exc:  # noqa: BLE001 - counted and reported
            errors.append(repr(exc))
            return
        latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=callers) as pool:
        list(pool.map(one, range(callers)))
    wall = time.perf_counter() - started
    return {"callers": callers, "ok": len(latencies), "errors": len(errors), "error_examples": errors[:3],
            "p50_s": round(statistics.median(latencies), 3) if latencies else None,
            "p95_s": round(_percentile(latencies, 95), 3) if latencies else None,
            "wall_s": round(wall, 3)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", default=str(ROOT / DEFAULT_INDEX), help="index directory or milvus:// URI")
    parser.add_argument("--callers", type=int, nargs="+", default=[20, 50])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args(argv)

    from qa import QA
    from qa.ui import build_app, launch_kwargs

    qa = QA.load(args.index)
    questions = _questions()
    rows = []
    for workers in args.workers:
        app = build_app(qa, workers=workers)
        port = _port()
        app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                   **launch_kwargs(workers=workers))
        try:
            url = f"http://127.0.0.1:{port}/"
            round_(url, 2, questions)  # warm-up: model loaded, first requests served
            for callers in args.callers:
                row = {"workers": workers, **round_(url, callers, questions)}
                rows.append(row)
                print(json.dumps(row, ensure_ascii=False), flush=True)
        finally:
            app.close()
    if args.json:
        Path(args.json).write_text(json.dumps(rows, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
