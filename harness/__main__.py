"""The command line, `python -m harness data|list|train|summary`: the reporting layer that
joins the harness to the candidates in models/, and the only harness module importing them."""
from __future__ import annotations

import argparse
import contextlib
import math
import shlex
import signal
import sys
from pathlib import Path

from tabulate import tabulate

from . import anatomy, engine
from .data import DIGESTS, DataError, default_data_dir, load, prepare
from .engine import RunResult, TrainingInterrupted
from .probe import CandidateError, count_parameters, materialise
from .progress import ProgressHooks, format_epoch_log
from .recipe import Recipe, RecipeError
from .results import (CheckpointError, check_writable, default_results_dir, load_checkpoint,
                      run_record, save_checkpoint, torch_save, write_json, write_text)
from .rules import Rules, judge

EXIT_ERROR = 2  # bad input: nothing was run
EXIT_FAILED = 1  # a run ran and failed (diverged)
EXIT_INTERRUPTED = 130  # the shell's convention for Ctrl-C


class CLIError(Exception):
    """Bad input found by the command line itself; the message says how to fix it."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # argparse would print the whole usage too; one line and a pointer is easier to read.
        sys.stderr.write(f"error: {message} (see `{self.prog} --help`)\n")
        sys.exit(EXIT_ERROR)


def _one_line(message: str) -> str:
    return " ".join(part.strip() for part in str(message).splitlines() if part.strip())


def _error(message: str) -> None:
    print(f"error: {_one_line(message)}", file=sys.stderr, flush=True)


def _shown(path: Path) -> str:
    """Paths inside the repository are shown relative to it."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


# ---------------------------------------------------------------- candidates

def _candidate(name: str):
    from models import get_candidate
    try:
        return get_candidate(name)
    except KeyError as e:
        raise CLIError(e.args[0]) from None


def _build(cand, seed: int):
    """The model as the harness trains it: weights from `seed`, lazy modules materialised."""
    if cand.builder is None:
        raise CandidateError(f"candidate {cand.name!r} could not be imported: {cand.error}")
    try:
        model = engine.build(cand.builder, seed)
    except Exception as e:  # the candidate's own code; any failure is its error, not ours
        raise CandidateError(f"candidate {cand.name!r} failed to build: {type(e).__name__}: {e}") from None
    try:
        materialise(model)
    except CandidateError as e:
        raise CandidateError(f"candidate {cand.name!r}: {e}") from None
    return model


def _recipe(cand, epochs: int | None) -> Recipe:
    try:
        recipe = Recipe.from_dict(cand.recipe)
        return recipe if epochs is None else recipe.replace(epochs=epochs)
    except RecipeError as e:
        raise RecipeError(f"{cand.name}: {e}") from None


def _device(name: str):
    try:
        return engine.resolve_device(name)
    except ValueError as e:
        raise CLIError(str(e)) from None


# ---------------------------------------------------------------- data

def cmd_data(args) -> int:
    folder, source = prepare(args.data_dir)
    print(f"MNIST is ready in {folder}")
    print(f"source: {source}")
    print(f"verified by SHA-256: {', '.join(DIGESTS)}")
    return 0


# ---------------------------------------------------------------- list

def cmd_list(args) -> int:
    from models import get_candidate, list_models
    names = list_models(args.candidates)
    if not names:
        everything = ", ".join(list_models()) or "none"
        raise CLIError(f"no candidate matches {args.candidates!r}; registered: {everything}")
    rows, problems = [], {}
    for name in names:
        cand = get_candidate(name)
        try:
            params = f"{count_parameters(_build(cand, 0)):,}"
        except CandidateError as e:
            params, problems[name] = "-", _one_line(str(e))
        rows.append([name, params, "complies" if cand.complies else "baseline", _shown(Path(cand.file))])
    headers = ["name", "parameters", "claim", "file"]
    if problems:
        headers.append("error")
        for row in rows:
            row.append(problems.get(row[0], ""))
    print(tabulate(rows, headers=headers, colalign=("left", "right", "left", "left", "left")[:len(headers)]))
    return 0


# ---------------------------------------------------------------- summary

def _shape_text(shape) -> str:
    if isinstance(shape, str):
        return shape
    if shape and isinstance(shape[0], tuple):
        return ", ".join(_shape_text(s) for s in shape)
    return "[" + ", ".join(str(d) for d in shape) + "]"


def cmd_summary(args) -> int:
    cand = _candidate(args.name)
    model = _build(cand, 0)
    rows = anatomy.layers(model)
    table = [[r.name, r.type, _shape_text(r.output_shape), f"{r.params:,}"] for r in rows]
    print(tabulate(table, headers=["layer", "type", "output shape", "parameters"],
                   colalign=("left", "left", "left", "right")))
    total = count_parameters(model)
    trainable = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values() if p.requires_grad)
    print(f"total: {total:,} parameters ({trainable:,} trainable) in {len(rows)} layers")
    unseen = total - sum(r.params for r in rows)
    if unseen:
        print(f"note: {unseen:,} parameters sit in modules the forward pass never calls")
    return 0


# ---------------------------------------------------------------- train

@contextlib.contextmanager
def _sigterm_interrupts():
    """SIGTERM (a scheduler's stop, `kill`) ends a run like Ctrl-C: finished epochs are saved."""
    def handler(signum, frame):
        raise KeyboardInterrupt
    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _write_record(result: RunResult, recipe: Recipe, paths: dict, command: str, steps: int) -> None:
    rules = Rules()
    verdict = judge(result, rules, recipe.epochs)
    write_json(paths["json"], run_record(result, verdict=verdict, rules=rules, command=command))
    log = format_epoch_log(result.epochs, steps)
    if result.status != "completed":
        log += f"{result.status}: {result.error}\n"
    write_text(paths["log"], log)


def cmd_train(args, command: str) -> int:
    cand = _candidate(args.name)
    recipe = _recipe(cand, args.epochs)
    device = _device(args.device)
    name, seed = cand.name, args.seed
    json_path = Path(args.json) if args.json else default_results_dir() / f"{name}-seed{seed}.json"
    paths = {"json": json_path, "log": Path(args.log) if args.log else json_path.with_suffix(".log"),
             "weights": json_path.with_suffix(".pt"), "checkpoint": json_path.with_suffix(".ckpt")}
    for path in (paths["json"], paths["log"]):
        if path.is_dir():
            raise CLIError(f"{path} is a folder; --json and --log take file paths")
    for folder in {paths["json"].parent, paths["log"].parent}:
        try:
            check_writable(folder)
        except OSError as e:
            raise OSError(f"cannot write results to {folder} ({e.strerror or e}); "
                          f"choose another place with --json PATH") from None

    # What a checkpoint must match to be continued: the same numbers would not follow otherwise.
    key = {"candidate": name, "seed": seed, "recipe": recipe.to_dict(),
           "limit_train": args.limit_train, "device": device.type}
    ckpt = paths["checkpoint"]
    resume = None
    if args.resume:
        resume = load_checkpoint(ckpt, key)
    elif ckpt.exists():
        raise CLIError(f"{_shown(ckpt)} holds an unfinished run; continue it with --resume, "
                       f"or delete the file to start over")

    data = load(args.data_dir)
    model = _build(cand, seed)
    hooks = ProgressHooks(quiet=args.quiet)
    steps = math.ceil(min(args.limit_train or len(data.train_images), len(data.train_images))
                      / recipe.batch_size)
    try:
        result = engine.train(model, recipe, data, seed, device, name=name, limit_train=args.limit_train,
                              hooks=hooks if hooks.enabled else None, resume=resume,
                              checkpoint=lambda state: save_checkpoint(ckpt, key, state))
    except TrainingInterrupted as e:
        hooks.close()
        _write_record(e.result, recipe, paths, command, steps)
        done = len(e.result.epochs)
        then = ("run the same command with --resume to continue" if ckpt.exists()
                else "no epoch was saved; run the same command to start again")
        print(f"interrupted after {done} finished epoch{'s' if done != 1 else ''}; partial record in "
              f"{_shown(paths['json'])}; {then}", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED

    try:
        _write_record(result, recipe, paths, command, steps)
        if result.status == "completed":
            torch_save(paths["weights"], {k: v.detach().cpu() for k, v in model.state_dict().items()})
    except OSError as e:
        raise OSError(f"cannot write the results of the finished run ({e}); the run is kept in "
                      f"{_shown(ckpt)}: fix the folder and rerun the same command with --resume "
                      f"to write them") from None
    # Only now is everything the checkpoint held on disk in its final form.
    ckpt.unlink(missing_ok=True)

    if result.status != "completed":
        _error(f"{name} seed {seed} {result.status}: {result.error}; record in {_shown(paths['json'])}")
        return EXIT_FAILED
    saved = ", ".join(_shown(p) for p in (paths["json"], paths["log"], paths["weights"]))
    print(f"saved {saved}")
    verdict = judge(result, Rules(), recipe.epochs)
    print("rules: pass" if verdict.passed else "rules: fail\n" + "\n".join(f"  - {f}" for f in verdict.failures))
    last = result.epochs[-1]
    print(f"{name} seed {seed}: final test accuracy {last.test_acc:.2f}% "
          f"({last.test_correct}/{last.test_total}) after {len(result.epochs)} epochs, "
          f"{result.params:,} parameters, {sum(r.seconds for r in result.epochs):.1f} s on {result.device}")
    return 0


# ---------------------------------------------------------------- entry point

def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _seed(text: str) -> int:
    value = int(text)
    if not 0 <= value < 2 ** 63:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text}")
    return value


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m harness", description="Train and inspect tiny MNIST candidates.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    data_dir = dict(type=Path, default=None, metavar="DIR",
                    help=f"MNIST folder (default: $MNIST8K_DATA_DIR or {default_data_dir()})")

    d = sub.add_parser("data", help="fetch (if needed) and verify MNIST")
    d.add_argument("--data-dir", **data_dir)

    ls = sub.add_parser("list", help="registered candidates with their parameter counts")
    ls.add_argument("--candidates", default="*", metavar="GLOB", help="names to show (globs, comma-separated)")

    t = sub.add_parser("train", help="train one candidate with one seed and save its record")
    t.add_argument("name", help="a candidate (see `list`)")
    t.add_argument("--seed", type=_seed, default=0,
                   help="seeds the weights, the shuffling and the augmentation (default: 0)")
    t.add_argument("--epochs", type=int, default=None, help="override the recipe's epoch count")
    t.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default: auto)")
    t.add_argument("--data-dir", **data_dir)
    t.add_argument("--limit-train", type=_positive, default=None, metavar="N",
                   help="train on the first N images only (a quick check; the rules then fail)")
    t.add_argument("--json", default=None, metavar="PATH",
                   help="run record (default: results/latest/NAME-seedN.json); .log, .pt and .ckpt go beside it")
    t.add_argument("--log", default=None, metavar="PATH", help="course-format text log (default: beside the JSON)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.add_argument("--resume", action="store_true", help="continue an interrupted run from its checkpoint")

    s = sub.add_parser("summary", help="per-layer table of a candidate")
    s.add_argument("name", help="a candidate (see `list`)")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser().parse_args(argv)
    command = shlex.join(["python", "-m", "harness", *argv])
    try:
        if args.command == "data":
            return cmd_data(args)
        if args.command == "list":
            return cmd_list(args)
        if args.command == "summary":
            return cmd_summary(args)
        with _sigterm_interrupts():
            return cmd_train(args, command)
    except (CLIError, DataError, RecipeError, CandidateError, CheckpointError) as e:
        _error(str(e))
        return EXIT_ERROR
    except OSError as e:
        _error(str(e) if e.strerror is None or e.filename is None else f"{e.filename}: {e.strerror}")
        return EXIT_ERROR
    except KeyboardInterrupt:
        _error("interrupted")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
