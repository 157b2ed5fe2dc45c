"""The command line's commands, one function each (`cmd_NAME(args, ...)` returns the exit
status): the judge's side of every candidate operation, whose code runs only in a runner."""

from __future__ import annotations

import concurrent.futures
import contextlib
import signal
import sys
from pathlib import Path

import torch
from tabulate import tabulate

from harness.cli.notebooks import import_to, judge_source
from harness.engine import loop
from harness.engine.checks import CandidateError
from harness.engine.data import DIGESTS, load, prepare
from harness.engine.loop import TrainingInterrupted
from harness.engine.recipe import Recipe, RecipeError
from harness.judge import catalog, evidence, judging, sandbox, shards, trial, weights
from harness.judge.rules import Rules, apply_rules, gate_fails
from harness.records.progress import ProgressHooks, run_log
from harness.records.schema import RunResult
from harness.records.store import (
    check_writable,
    default_results_dir,
    load_checkpoint,
    run_record,
    save_checkpoint,
    torch_save,
    write_json,
    write_text,
)
from harness.report import confusion, document, table

EXIT_ERROR = 2  # bad input: nothing was run
EXIT_FAILED = 1  # a run ran and failed (diverged)
EXIT_INTERRUPTED = 130  # the shell's convention for Ctrl-C


class CLIError(Exception):
    """Bad input found by the command line itself; the message says how to fix it."""


def _one_line(message: str) -> str:
    return " ".join(part.strip() for part in str(message).splitlines() if part.strip())


def print_error(message: str) -> None:
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


def runner_settings(args, device=None) -> trial.Settings:
    """Where runners start; a warning on stderr when candidate code is not sandboxed."""
    try:
        isolation = sandbox.choose(args.isolation)
    except sandbox.SandboxError as e:
        raise CLIError(str(e)) from None
    if not isolation.sandboxed:
        print(f"warning: {isolation.reason}", file=sys.stderr, flush=True)
    return trial.Settings(
        isolation,
        str(device or "cpu"),
        threads=torch.get_num_threads(),
        cuda_graphs=getattr(args, "cuda_graphs", "auto"),
        compile=getattr(args, "compile", "off") == "on",
    )


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


def device_for(name: str):
    try:
        return loop.resolve_device(name)
    except ValueError as e:
        raise CLIError(str(e)) from None


# ---------------------------------------------------------------- data


def cmd_data(args, command: str) -> int:
    folder, source = prepare(args.data_dir)
    print(f"MNIST is ready in {folder}")
    print(f"source: {source}")
    print(f"verified by SHA-256: {', '.join(DIGESTS)}")
    return 0


# ---------------------------------------------------------------- list


def cmd_list(args, command: str) -> int:
    entries = catalog.select(catalog.scan(args.models_dir), args.candidates)
    if not entries:
        everything = ", ".join(sorted(catalog.scan(args.models_dir))) or "none"
        raise CLIError(f"no candidate matches {args.candidates!r}; registered: {everything}")
    settings = runner_settings(args)
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
        rows.append([entry.name, params, entry.claim_label, _shown(Path(entry.file))])
    headers = ["name", "parameters", "claim", "file"]
    if problems:
        headers.append("error")
        for row in rows:
            row.append(problems.get(row[0], ""))
    print(tabulate(rows, headers=headers, colalign=("left", "right", "left", "left", "left")[: len(headers)]))
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


def cmd_summary(args, command: str) -> int:
    entry = _entry(args.name, args.models_dir)
    with _built(entry, 0, runner_settings(args), anatomy=True) as built:
        found = built.anatomy
        total, trainable = built.budget.total, built.trainable
    rows = found.rows
    table = [
        [
            r.name,
            r.type,
            _shape_text(r.output_shape),
            f"{r.params:,}",
            _pair_text(r.rf),
            _pair_text(r.jump),
            f"{r.macs:,}",
        ]
        for r in rows
    ]
    print(
        tabulate(
            table,
            headers=["layer", "type", "output shape", "parameters", "RF", "jump", "MACs"],
            colalign=("left", "left", "left", "right", "right", "right", "right"),
        )
    )
    print(f"total: {total:,} parameters ({trainable:,} trainable) in {len(rows)} layers")
    unseen = total - found.params
    if unseen:
        print(f"note: {unseen:,} parameters sit in modules the forward pass never calls")
    print(
        f"multiply-accumulates per image: {found.macs:,} (convolutions and matrix products, functional ones "
        f"included, by torch.utils.flop_counter; BatchNorm, ReLU and pooling count 0)"
    )
    height, width = found.input_size
    if found.head_rf is None:
        print(
            "receptive field at the head: unknown (a layer changes the map in a way the summary "
            "cannot follow; see harness/runner/anatomy.py)"
        )
    else:
        print(
            f"receptive field at the head: {found.head_rf[0]}x{found.head_rf[1]} pixels; covers the "
            f"{height}x{width} input: {'yes' if found.covers else 'no'}"
        )
    print(
        "RF: input pixels one output position sees (padding included); jump: input pixels between\n"
        "neighbouring positions. A global mean, an adaptive pooling to 1x1 or a Linear on the whole\n"
        "map counts as a window over the whole map."
    )
    return 0


def _read_weights(entry: catalog.Entry, path: Path, built: trial.Built) -> dict:
    try:
        return weights.read_weights(entry.name, path, built.state)
    except weights.WeightsError as e:
        raise CLIError(str(e)) from None


def _predict(entry: catalog.Entry, path: Path, images: torch.Tensor, settings: trial.Settings) -> torch.Tensor:
    """Outputs of the candidate with the weights at `path`, computed in a runner."""
    with _built(entry, 0, settings) as built:
        state = _read_weights(entry, path, built)
        try:
            return trial.predict(built, state, images)
        except (trial.TrialStopped, trial.RunnerFailed) as e:
            raise CandidateError(f"candidate {entry.name!r}: {e}") from None


def cmd_eval(args, command: str) -> int:
    entry = _entry(args.name, args.models_dir)
    recipe = _recipe(entry, None)
    device = device_for(args.device)
    settings = runner_settings(args, device)
    record, problem = weights.record_beside(args.weights, entry.name)
    data = load(args.data_dir)
    images = loop.normalise(data.test_images, recipe)
    labels = data.held_test_labels()
    outputs = _predict(entry, args.weights, images, settings)
    loss_sum, correct = loop.score(outputs, labels)
    predicted = outputs.argmax(1)
    total = len(labels)
    print(
        f"{entry.name} with weights {_shown(Path(args.weights))} on {device}, normalised by the recipe's "
        f"mean {recipe.mean} and std {recipe.std}"
    )
    print(f"test accuracy {100.0 * correct / total:.2f}% ({correct}/{total}), average loss {loss_sum / total:.4f}")
    if problem:
        print(f"note: {problem}")
    if record is not None:
        where = _shown(Path(args.weights).with_suffix(".json"))
        print("\n".join(weights.compare_with_record(record, correct, total, where, device, recipe)))
    matrix = confusion.confusion(labels, predicted)
    print()
    print("confusion matrix (rows: true digit, columns: predicted digit)")
    print(confusion.confusion_table(matrix))
    print()
    print("per-class accuracy")
    print(confusion.per_class_table(matrix))
    return 0


# ---------------------------------------------------------------- report


def cmd_report(args, command: str) -> int:
    rules = Rules()
    if args.last_k is not None and not 1 <= args.last_k <= rules.max_epochs:
        raise CLIError(f"--last-k must lie in 1..{rules.max_epochs}, got {args.last_k}")
    out = Path(args.out)
    cfg = document.ReportConfig(
        results_dir=Path(args.results_dir),
        plots_dir=out,
        document=Path(args.doc) if args.doc else out.parent / "EXPERIMENTS.md",
        notes_dir=Path(args.notes_dir),
        search_dir=Path(args.search_dir),
        last_k=args.last_k,
    )

    settings = None

    def predict(name: str, path: Path, images: torch.Tensor) -> torch.Tensor:
        nonlocal settings
        try:
            settings = settings or runner_settings(args)
            return _predict(_entry(name, args.models_dir), path, images, settings)
        except (CLIError, CandidateError) as e:
            raise ValueError(str(e)) from None

    files = {name: Path(e.file) for name, e in catalog.scan(args.models_dir).items()}
    try:
        done = document.build(
            cfg, predict=predict, test_set=lambda: load(args.data_dir), model_files=files, command=command
        )
    except (FileNotFoundError, ValueError) as e:
        raise CLIError(str(e)) from None
    for warning in done.warnings:
        print(f"warning: {_one_line(warning)}", file=sys.stderr, flush=True)
    print(
        f"reported {len(done.candidates)} candidate{'s' if len(done.candidates) != 1 else ''} "
        f"({', '.join(done.candidates)}) from {_shown(cfg.results_dir)}"
    )
    for path in done.written:
        print(f"wrote {_shown(path)}")
    return 0


# ---------------------------------------------------------------- train


@contextlib.contextmanager
def sigterm_interrupts():
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


def _write_record(
    entry: catalog.Entry, result: RunResult, recipe: Recipe, paths: dict, command: str, steps: int
) -> None:
    rules = Rules()
    verdict = apply_rules(result, rules, recipe.epochs)
    rec = run_record(result, verdict=verdict, rules=rules, command=command)
    rec["provenance"] = judging.provenance(entry)
    write_json(paths["json"], rec)
    write_text(paths["log"], run_log(result, steps))


def _train_paths(args, name: str, seed: int) -> dict[str, Path]:
    """Where the record, its log, the weights and the checkpoint go; checked writable now, so
    no run is lost to a folder found unwritable at its end."""
    json_path = Path(args.json) if args.json else default_results_dir() / f"{name}-seed{seed}.json"
    paths = {
        "json": json_path,
        "log": Path(args.log) if args.log else json_path.with_suffix(".log"),
        "weights": json_path.with_suffix(".pt"),
        "checkpoint": json_path.with_suffix(".ckpt"),
    }
    for path in (paths["json"], paths["log"]):
        if path.is_dir():
            raise CLIError(f"{path} is a folder; --json and --log take file paths")
    for folder in {paths["json"].parent, paths["log"].parent}:
        try:
            check_writable(folder)
        except OSError as e:
            raise OSError(
                f"cannot write results to {folder} ({e.strerror or e}); choose another place with --json PATH"
            ) from None
    return paths


def _resume_from(args, ckpt: Path, key: dict) -> dict | None:
    if args.resume:
        return load_checkpoint(ckpt, key)
    if ckpt.exists():
        raise CLIError(
            f"{_shown(ckpt)} holds an unfinished run; continue it with --resume, or delete the file to start over"
        )
    return None


def cmd_train(args, command: str) -> int:
    entry = _entry(args.name, args.models_dir)
    recipe = _recipe(entry, args.epochs)
    device = device_for(args.device)
    settings = runner_settings(args, device)
    name, seed = entry.name, args.seed
    paths = _train_paths(args, name, seed)
    ckpt = paths["checkpoint"]
    # What a checkpoint must match to be continued: the same numbers would not follow otherwise.
    key = {
        "candidate": name,
        "seed": seed,
        "recipe": recipe.to_dict(),
        "limit_train": args.limit_train,
        "device": device.type,
    }
    resume = _resume_from(args, ckpt, key)
    data = load(args.data_dir)
    hooks = ProgressHooks(quiet=args.quiet)
    steps = loop.steps_per_epoch(len(data.train_images), recipe.batch_size, args.limit_train)
    try:
        with _built(entry, seed, settings) as built:
            try:
                outcome = trial.train(
                    built,
                    name,
                    recipe,
                    data,
                    seed,
                    limit_train=args.limit_train,
                    hooks=hooks if hooks.enabled else None,
                    resume=resume,
                    checkpoint=lambda state: save_checkpoint(ckpt, key, state),
                )
            except trial.RunnerFailed as e:
                raise CandidateError(
                    f"candidate {name!r} seed {seed}: the runner failed while training: {e}; "
                    f"finished epochs are kept in {_shown(ckpt)} (--resume)"
                ) from None
    except TrainingInterrupted as e:
        hooks.close()
        _write_record(entry, e.result, recipe, paths, command, steps)
        done = len(e.result.epochs)
        then = (
            "run the same command with --resume to continue"
            if ckpt.exists()
            else "no epoch was saved; run the same command to start again"
        )
        print(
            f"interrupted after {done} finished epoch{'s' if done != 1 else ''}; partial record in "
            f"{_shown(paths['json'])}; {then}",
            file=sys.stderr,
            flush=True,
        )
        return EXIT_INTERRUPTED
    return _save_trained(entry, outcome, recipe, paths, command, steps)


def _save_trained(entry: catalog.Entry, outcome, recipe: Recipe, paths: dict, command: str, steps: int) -> int:
    result, ckpt = outcome.result, paths["checkpoint"]
    try:
        _write_record(entry, result, recipe, paths, command, steps)
        if outcome.state is not None:
            torch_save(paths["weights"], outcome.state)
    except OSError as e:
        raise OSError(
            f"cannot write the results of the finished run ({e}); the run is kept in "
            f"{_shown(ckpt)}: fix the folder and rerun the same command with --resume "
            f"to write them"
        ) from None
    # Only now is everything the checkpoint held on disk in its final form.
    ckpt.unlink(missing_ok=True)
    name, seed = result.candidate, result.seed
    if result.status != "completed":
        print_error(f"{name} seed {seed} {result.status}: {result.error}; record in {_shown(paths['json'])}")
        return EXIT_FAILED
    saved = ", ".join(_shown(p) for p in (paths["json"], paths["log"], paths["weights"]))
    print(f"saved {saved}")
    verdict = apply_rules(result, Rules(), recipe.epochs)
    print("rules: pass" if verdict.passed else "rules: fail\n" + "\n".join(f"  - {f}" for f in verdict.failures))
    last = result.epochs[-1]
    print(
        f"{name} seed {seed}: final test accuracy {last.test_acc:.2f}% "
        f"({last.test_correct}/{last.test_total}) after {len(result.epochs)} epochs, "
        f"{result.params:,} parameters, {sum(r.seconds for r in result.epochs):.1f} s on {result.device}"
    )
    return 0


# ---------------------------------------------------------------- evidence


def cmd_evidence(args, command: str) -> int:
    """A claiming candidate's claimed seeds, judged over its claimed window into its own
    folder of results/evidence/, through the same judge as the gate."""
    entry = _entry(args.name, args.models_dir)
    if entry.claim is None:
        raise CLIError(
            f"{entry.name} makes no claim, so it has no evidence to make; add "
            f"claim=dict(seeds=(0, 1, 2), last_k=3) to its @register_model in {_shown(Path(entry.file))}"
        )
    _recipe(entry, None)
    device = device_for(args.device)
    jobs = max(1, min(args.jobs, len(entry.claim["seeds"])))
    base = runner_settings(args, device)
    # Runners share the cores: more threads than cores makes every one of them slower.
    settings = trial.Settings(base.isolation, base.device, threads=trial.threads_per_job(jobs))
    out = evidence.folder(entry.name, args.evidence_dir, device.type)
    if device.type not in entry.claim["devices"]:
        print(
            f"note: {entry.name} claims {', '.join(entry.claim['devices'])}, not {device.type}; this evidence "
            f"is checked once devices= on its claim names {device.type}",
            file=sys.stderr,
            flush=True,
        )
    try:
        check_writable(out)
    except OSError as e:
        raise OSError(f"cannot write evidence to {out} ({e.strerror or e})") from None
    load(args.data_dir)  # fail now, not in the middle of the runs
    rules = evidence.claim_rules(entry.claim)
    session = judging.Session(rules=rules, settings=settings, results_dir=out, data_dir=args.data_dir, command=command)
    print(
        f"{entry.name}: seeds {', '.join(map(str, entry.claim['seeds']))} over the last {rules.last_k} "
        f"epochs, {jobs} at a time with {settings.threads} thread(s) each, {settings.isolation.mode}; "
        f"into {_shown(out)}",
        flush=True,
    )
    records = []
    try:
        with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
            futures = [pool.submit(judging.judge, entry, seed, session) for seed in entry.claim["seeds"]]
            for done in concurrent.futures.as_completed(futures):
                records.append(done.result())
    except KeyboardInterrupt:
        trial.kill_all()
        raise
    table.write_summary(out, records, rules, command)
    print(table.render(table.run_rows(records, rules.last_k)))
    missed = sorted(r["result"]["seed"] for r in records if r["gate"]["outcome"] != "pass")
    print(f"wrote {len(records)} records, {_shown(out / 'summary.md')} and summary.json")
    if missed:
        print_error(
            f"{entry.name}: the claim does not hold on seed{'s' if len(missed) > 1 else ''} "
            f"{', '.join(map(str, missed))}; see the table above"
        )
        return EXIT_FAILED
    return 0


# ---------------------------------------------------------------- import and judge a notebook


def cmd_import(args, command: str) -> int:
    import_to(args.source, args.out)
    return 0


def cmd_judge(args, command: str) -> int:
    device = device_for(args.device)
    base = runner_settings(args, device)
    settings = trial.Settings(base.isolation, base.device, threads=trial.threads_per_job(args.jobs))
    rules = Rules(last_k=args.last_k, allow_test_feedback=args.allow_test_feedback)
    return judge_source(
        args.source,
        args.seeds,
        settings,
        rules,
        out=args.out,
        data_dir=args.data_dir,
        command=command,
        jobs=args.jobs,
        limit_train=args.limit_train,
        epochs=args.epochs,
    )


# ---------------------------------------------------------------- merge


def cmd_merge(args, command: str) -> int:
    """The one summary a single run would have written, from the record folders of its shards."""
    try:
        records, rule_values = shards.merge(args.folders, args.out)
    except shards.ShardError as e:
        raise CLIError(str(e)) from None
    rules = Rules(**rule_values)
    table.write_summary(args.out, records, rules, command)
    ordered = sorted(records, key=lambda r: (r["result"]["candidate"], r["result"]["seed"]))
    print(table.render(table.run_rows(ordered, rules.last_k)))
    per_candidate = table.candidate_rows(ordered)
    if per_candidate:
        print()
        print(table.render(per_candidate))
    tally = table.counts(ordered)
    print()
    print("outcome: " + ", ".join(f"{n} {label}" for label, n in tally.items() if n))
    print(f"merged {len(records)} records from {len(args.folders)} folders into {_shown(args.out)}")
    # The merged verdict is the gate's: a broken claim or a claim to update fails it.
    return EXIT_FAILED if any(gate_fails(r["gate"]["outcome"]) for r in records) else 0
