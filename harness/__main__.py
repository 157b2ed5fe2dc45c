"""The command line, `python -m harness data|list|train|summary|eval|report`: a judge like the
pytest gate. It reads the candidates in models/ from their sources and runs their code only in
a sandboxed runner (harness/trial.py), never in this process."""
from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import signal
import sys
from pathlib import Path

import torch
from tabulate import tabulate

from . import catalog, engine, report, sandbox, trial
from .data import DIGESTS, DataError, default_data_dir, load, prepare
from .engine import RunResult, TrainingInterrupted
from .probe import CandidateError
from .progress import ProgressHooks, format_epoch_log
from .recipe import Recipe, RecipeError
from .results import (EVIDENCE_DIR, REPO_ROOT, CheckpointError, check_writable, default_results_dir,
                      load_checkpoint, run_record, save_checkpoint, torch_save, write_json, write_text)
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

def _entry(name: str, models_dir: Path) -> catalog.Entry:
    """The candidate as its source declares it; its own error when the file fails vetting."""
    entries = catalog.scan(models_dir)
    if name not in entries:
        known = ", ".join(sorted(entries)) or "none"
        raise CLIError(f"no candidate named {name!r}; registered: {known}")
    entry = entries[name]
    if entry.error is not None:
        raise CandidateError(f"candidate {name!r} cannot be run: {entry.error}")
    return entry


def _settings(args, device=None) -> trial.Settings:
    """Where runners start; a warning on stderr when candidate code is not sandboxed."""
    try:
        isolation = sandbox.choose(args.isolation)
    except sandbox.SandboxError as e:
        raise CLIError(str(e)) from None
    if not isolation.sandboxed:
        print(f"warning: {isolation.reason}", file=sys.stderr, flush=True)
    return trial.Settings(isolation, str(device or "cpu"), threads=torch.get_num_threads())


@contextlib.contextmanager
def _built(entry: catalog.Entry, seed: int, settings: trial.Settings, *, anatomy: bool = False):
    """The candidate built in a runner from `seed`, its seed ownership checked; one clear
    CandidateError for anything the candidate's own code did wrong."""
    with trial.runner(Path(entry.file), settings) as r:
        try:
            built = trial.build(r, entry.name, seed, anatomy=anatomy)
        except trial.TrialStopped as e:
            raise CandidateError(f"candidate {e.reason}") from None
        except trial.RunnerFailed as e:
            raise CandidateError(f"candidate {entry.name!r}: the runner failed: {e}") from None
        yield built


def _recipe(entry: catalog.Entry, epochs: int | None) -> Recipe:
    try:
        recipe = Recipe.from_dict(entry.recipe)
        return recipe if epochs is None else recipe.replace(epochs=epochs)
    except RecipeError as e:
        raise RecipeError(f"{entry.name}: {e}") from None


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
    entries = catalog.select(catalog.scan(args.models_dir), args.candidates)
    if not entries:
        everything = ", ".join(sorted(catalog.scan(args.models_dir))) or "none"
        raise CLIError(f"no candidate matches {args.candidates!r}; registered: {everything}")
    settings = _settings(args)
    rows, problems = [], {}
    for entry in entries:
        params = "-"
        try:
            if entry.error is not None:
                raise CandidateError(entry.error)
            _recipe(entry, None)
            with _built(entry, 0, settings) as built:
                params = f"{built.budget.total:,}"
        except (CandidateError, RecipeError) as e:
            problems[entry.name] = _one_line(str(e))
        rows.append([entry.name, params, entry.claim, _shown(Path(entry.file))])
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


def _pair_text(pair) -> str:
    """7 for a square window, 7x5 otherwise, ? when it could not be followed."""
    if pair is None:
        return "?"
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}x{pair[1]}"


def cmd_summary(args) -> int:
    entry = _entry(args.name, args.models_dir)
    with _built(entry, 0, _settings(args), anatomy=True) as built:
        found = built.anatomy
        total, trainable = built.budget.total, built.trainable
    rows = found.rows
    table = [[r.name, r.type, _shape_text(r.output_shape), f"{r.params:,}", _pair_text(r.rf),
              _pair_text(r.jump), f"{r.macs:,}"] for r in rows]
    print(tabulate(table, headers=["layer", "type", "output shape", "parameters", "RF", "jump", "MACs"],
                   colalign=("left", "left", "left", "right", "right", "right", "right")))
    print(f"total: {total:,} parameters ({trainable:,} trainable) in {len(rows)} layers")
    unseen = total - found.params
    if unseen:
        print(f"note: {unseen:,} parameters sit in modules the forward pass never calls")
    print(f"multiply-accumulates per image: {found.macs:,} (Conv2d and Linear only; BatchNorm, ReLU, "
          f"pooling and every other layer count 0)")
    height, width = found.input_size
    if found.head_rf is None:
        print("receptive field at the head: unknown (a layer changes the map in a way the summary "
              "cannot follow; see harness/anatomy.py)")
    else:
        print(f"receptive field at the head: {found.head_rf[0]}x{found.head_rf[1]} pixels; covers the "
              f"{height}x{width} input: {'yes' if found.covers else 'no'}")
    print("RF: input pixels one output position sees (padding included); jump: input pixels between\n"
          "neighbouring positions. A global mean, an adaptive pooling to 1x1 or a Linear on the whole\n"
          "map counts as a window over the whole map.")
    return 0


# ---------------------------------------------------------------- eval

def _read_weights(entry: catalog.Entry, path: Path, built: trial.Built) -> dict:
    """The state dict at `path`, checked here to fit the candidate as built; one clear error otherwise."""
    path = Path(path)
    if not path.is_file():
        raise CLIError(f"no weights file {path}; `train` saves them beside its record as NAME-seedN.pt")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # the unpickler fails in many ways on a damaged or foreign file
        raise CLIError(f"{path} cannot be read as weights ({type(e).__name__}: {_one_line(e)})") from None
    if isinstance(state, dict) and {"schema", "key", "state"} <= set(state):
        raise CLIError(f"{path} is a training checkpoint, not weights; continue it with `train --resume`, "
                       f"or give the .pt written beside a finished run's record")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CLIError(f"{path} holds no state dict (a dict of tensors); give the .pt written beside a run record")
    expected = built.state
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [f"{k}: {list(state[k].shape)} in the file, {list(expected[k].shape)} in the model"
              for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or shapes:
        parts = []
        if shapes:
            parts.append(f"{len(shapes)} tensor{'s' if len(shapes) != 1 else ''} differ in shape "
                         f"({'; '.join(shapes[:2])}{'; ...' if len(shapes) > 2 else ''})")
        if missing:
            parts.append(f"{len(missing)} missing ({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected ({', '.join(unexpected[:3])}"
                         f"{', ...' if len(unexpected) > 3 else ''})")
        raise CLIError(f"the weights in {path} do not fit {entry.name}: {', '.join(parts)}; "
                       f"were they saved from another candidate, or before its code changed?")
    return state


def _predict(entry: catalog.Entry, path: Path, images: torch.Tensor, settings: trial.Settings) -> torch.Tensor:
    """Outputs of the candidate with the weights at `path`, computed in a runner."""
    with _built(entry, 0, settings) as built:
        state = _read_weights(entry, path, built)
        try:
            return trial.predict(built, state, images)
        except (trial.TrialStopped, trial.RunnerFailed) as e:
            raise CandidateError(f"candidate {entry.name!r}: {e}") from None


def _record_beside(path: Path, name: str) -> tuple[dict | None, str | None]:
    """The run record next to the weights, or why it cannot be compared."""
    beside = Path(path).with_suffix(".json")
    if not beside.exists():
        return None, None
    try:
        rec = json.loads(beside.read_text(encoding="utf-8"))
        res = rec["result"]
        last = res["epochs"][-1]
        int(last["test_correct"]), int(last["test_total"])
    except (OSError, UnicodeDecodeError, ValueError, KeyError, IndexError, TypeError) as e:
        return None, f"{_shown(beside)} cannot be used for a comparison ({type(e).__name__}: {_one_line(e)})"
    if res.get("candidate") != name:
        return None, f"{_shown(beside)} is a record of {res.get('candidate')!r}, not {name!r}; not compared"
    return rec, None


def compare_with_record(record: dict, correct: int, total: int, where: str, device, recipe: Recipe) -> list[str]:
    """Lines saying whether a re-evaluation reproduces the run's final accuracy, and if not,
    what differs between the run and this evaluation."""
    res = record["result"]
    last = res["epochs"][-1]
    where = f"{where}, epoch {last.get('epoch', len(res['epochs']))}"
    if last["test_correct"] == correct and last["test_total"] == total:
        return [f"matches the run's final accuracy ({last['test_correct']}/{last['test_total']} in {where})"]
    lines = [f"differs from the run's final accuracy: {correct}/{total} here, "
             f"{last['test_correct']}/{last['test_total']} in {where} ({correct - last['test_correct']:+d} images)"]
    run_recipe = res.get("recipe") or {}
    if (run_recipe.get("mean"), run_recipe.get("std")) != (recipe.mean, recipe.std):
        lines.append(f"  the run normalised with mean {run_recipe.get('mean')} and std {run_recipe.get('std')}, "
                     f"the candidate's recipe now with {recipe.mean} and {recipe.std}")
    with contextlib.suppress(RuntimeError, TypeError):
        ran_on = torch.device(res.get("device"))
        if ran_on.type != torch.device(device).type:
            lines.append(f"  the run was scored on {ran_on}, this on {device}; "
                         f"rerun with --device {ran_on.type} to compare like with like")
    return lines


def cmd_eval(args) -> int:
    entry = _entry(args.name, args.models_dir)
    recipe = _recipe(entry, None)
    device = _device(args.device)
    settings = _settings(args, device)
    record, problem = _record_beside(args.weights, entry.name)
    data = load(args.data_dir)
    images = engine.normalise(data.test_images, recipe)
    labels = data.test_labels
    outputs = _predict(entry, args.weights, images, settings)
    loss_sum, correct = engine.score(outputs, labels)
    predicted = outputs.argmax(1)
    total = len(labels)
    print(f"{entry.name} with weights {_shown(Path(args.weights))} on {device}, normalised by the recipe's "
          f"mean {recipe.mean} and std {recipe.std}")
    print(f"test accuracy {100.0 * correct / total:.2f}% ({correct}/{total}), "
          f"average loss {loss_sum / total:.4f}")
    if problem:
        print(f"note: {problem}")
    if record is not None:
        where = _shown(Path(args.weights).with_suffix(".json"))
        print("\n".join(compare_with_record(record, correct, total, where, device, recipe)))
    matrix = report.confusion(labels, predicted)
    print()
    print("confusion matrix (rows: true digit, columns: predicted digit)")
    print(report.confusion_table(matrix))
    print()
    print("per-class accuracy")
    print(report.per_class_table(matrix))
    return 0


# ---------------------------------------------------------------- report

def cmd_report(args, command: str) -> int:
    rules = Rules()
    if args.last_k is not None and not 1 <= args.last_k <= rules.max_epochs:
        raise CLIError(f"--last-k must lie in 1..{rules.max_epochs}, got {args.last_k}")
    out = Path(args.out)
    cfg = report.ReportConfig(
        results_dir=Path(args.results_dir), plots_dir=out,
        document=Path(args.doc) if args.doc else out.parent / "EXPERIMENTS.md",
        notes_dir=Path(args.notes_dir), search_dir=Path(args.search_dir),
        last_k=args.last_k)

    settings = None

    def predict(name: str, path: Path, images: torch.Tensor) -> torch.Tensor:
        nonlocal settings
        try:
            settings = settings or _settings(args)
            return _predict(_entry(name, args.models_dir), path, images, settings)
        except (CLIError, CandidateError) as e:
            raise ValueError(str(e)) from None

    files = {name: Path(e.file) for name, e in catalog.scan(args.models_dir).items()}
    try:
        done = report.build(cfg, predict=predict, test_set=lambda: load(args.data_dir),
                            model_files=files, command=command)
    except (FileNotFoundError, ValueError) as e:
        raise CLIError(str(e)) from None
    for warning in done.warnings:
        print(f"warning: {_one_line(warning)}", file=sys.stderr, flush=True)
    print(f"reported {len(done.candidates)} candidate{'s' if len(done.candidates) != 1 else ''} "
          f"({', '.join(done.candidates)}) from {_shown(cfg.results_dir)}")
    for path in done.written:
        print(f"wrote {_shown(path)}")
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
    entry = _entry(args.name, args.models_dir)
    recipe = _recipe(entry, args.epochs)
    device = _device(args.device)
    settings = _settings(args, device)
    name, seed = entry.name, args.seed
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
    hooks = ProgressHooks(quiet=args.quiet)
    steps = engine.steps_per_epoch(len(data.train_images), recipe.batch_size, args.limit_train)
    try:
        with _built(entry, seed, settings) as built:
            try:
                outcome = trial.train(built, name, recipe, data, seed, limit_train=args.limit_train,
                                      hooks=hooks if hooks.enabled else None, resume=resume,
                                      checkpoint=lambda state: save_checkpoint(ckpt, key, state))
            except trial.RunnerFailed as e:
                raise CandidateError(f"candidate {name!r} seed {seed}: the runner failed while training: {e}; "
                                     f"finished epochs are kept in {_shown(ckpt)} (--resume)") from None
        result = outcome.result
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
        if outcome.state is not None:
            torch_save(paths["weights"], outcome.state)
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
    models_dir = dict(type=Path, default=catalog.REPO_MODELS, metavar="DIR",
                      help="the folder of candidate files (default: models/ of this repository)")
    isolation = dict(choices=sandbox.ISOLATIONS, default="auto",
                     help="where candidate code runs: sandbox (bubblewrap), process (a plain child process) or "
                          "auto (the sandbox where it works; with CI=true an error where it does not) (default: auto)")

    d = sub.add_parser("data", help="fetch (if needed) and verify MNIST")
    d.add_argument("--data-dir", **data_dir)

    ls = sub.add_parser("list", help="registered candidates with their parameter counts")
    ls.add_argument("--candidates", default="*", metavar="GLOB", help="names to show (globs, comma-separated)")
    ls.add_argument("--isolation", **isolation)
    ls.add_argument("--models-dir", **models_dir)

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
    t.add_argument("--isolation", **isolation)
    t.add_argument("--models-dir", **models_dir)

    s = sub.add_parser("summary", help="per-layer table of a candidate: shapes, parameters, "
                                       "receptive field and multiply-accumulates")
    s.add_argument("name", help="a candidate (see `list`)")
    s.add_argument("--isolation", **isolation)
    s.add_argument("--models-dir", **models_dir)

    e = sub.add_parser("eval", help="score saved weights on the test set, with the confusion matrix")
    e.add_argument("name", help="a candidate (see `list`)")
    e.add_argument("--weights", type=Path, required=True, metavar="PATH",
                   help="a state dict, as `train` saves beside its record (NAME-seedN.pt)")
    e.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default: auto)")
    e.add_argument("--data-dir", **data_dir)
    e.add_argument("--isolation", **isolation)
    e.add_argument("--models-dir", **models_dir)

    r = sub.add_parser("report", help="pictures and results/EXPERIMENTS.md from the result files")
    r.add_argument("--results-dir", type=Path, default=EVIDENCE_DIR, metavar="DIR",
                   help="run records to report (default: results/evidence)")
    r.add_argument("--out", type=Path, default=REPO_ROOT / "results" / "plots", metavar="DIR",
                   help="folder for the PNG files (default: results/plots)")
    r.add_argument("--doc", type=Path, default=None, metavar="PATH",
                   help="the Markdown written (default: EXPERIMENTS.md in the folder above --out)")
    r.add_argument("--last-k", type=int, default=None, metavar="K",
                   help="judge every candidate over its last K epochs (default: each candidate over "
                        "the K its records were run with)")
    r.add_argument("--notes-dir", type=Path, default=REPO_ROOT / "experiments" / "chain", metavar="DIR",
                   help="hand-written NAME.md with ## Target and ## Analysis (default: experiments/chain)")
    r.add_argument("--search-dir", type=Path, default=REPO_ROOT / "results" / "search", metavar="DIR",
                   help="sweep logs *.jsonl for the search tables (default: results/search)")
    r.add_argument("--data-dir", **data_dir)
    r.add_argument("--isolation", **isolation)
    r.add_argument("--models-dir", **models_dir)
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
        if args.command == "eval":
            return cmd_eval(args)
        if args.command == "report":
            return cmd_report(args, command)
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
