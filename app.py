"""The web page: `python app.py` serves the Q&A page on http://127.0.0.1:7860 (see `qa.ui`).

    python app.py [--host HOST] [--port PORT] [--index DIR] [--corpus DIR] [--workers N] [--auth USER:PASS]
                  [--read-only]

The port also follows GRADIO_SERVER_PORT. A missing index is built from the corpus first, with progress shown.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from qa.config import DEFAULT_CORPUS, DEFAULT_INDEX  # settings only: no third-party imports

ROOT = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="借贷纠纷问答：网页版（Gradio）")
    parser.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default $GRADIO_SERVER_PORT or 7860)")
    parser.add_argument("--index", default=str(ROOT / DEFAULT_INDEX),
                        help=f"index directory or milvus:// URI (default: {DEFAULT_INDEX}/ here)")
    parser.add_argument("--corpus", default=str(ROOT / DEFAULT_CORPUS),
                        help=f"documents to build the index from when it is missing (default: {DEFAULT_CORPUS}/ here)")
    parser.add_argument("--workers", type=int, default=None,
                        help="questions answered at once (default: one per CPU core)")
    parser.add_argument("--auth", default=None,
                        help="USER:PASS visitors must log in with (default $QA_AUTH; none: no login)")
    parser.add_argument("--read-only", action="store_true", default=None,
                        help="list the library only: no uploads or removals (default $QA_READ_ONLY)")
    args = parser.parse_args(argv)

    from qa.ui import serve  # Gradio is imported only here, never by `import qa`

    serve(index_dir=args.index, host=args.host, port=args.port, corpus_dir=args.corpus, workers=args.workers,
          auth=args.auth, read_only=args.read_only)


if __name__ == "__main__":
    main()
