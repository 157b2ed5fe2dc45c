"""The command line, `mnist8k` (or `python -m harness`) with the commands
import|judge|data|list|train|summary|eval|evidence|merge|report: the arguments, each command's
function (harness/cli/commands.py) and the mapping of errors to one line and an exit status.
A judge like the pytest gate: candidates are read from their sources and run only to build and
trace, in a sandboxed builder."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from harness.cli.commands import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    CLIError,
    cmd_data,
    cmd_eval,
    cmd_evidence,
    cmd_import,
    cmd_judge,
    cmd_list,
    cmd_merge,
    cmd_report,
    cmd_summary,
    cmd_train,
    print_error,
    sigterm_interrupts,
)
from harness.cli.notebooks import ImportFailed
from harness.engine.checks import CandidateError
from harness.engine.data import DataError, default_data_dir
from harness.engine.recipe import RecipeError
from harness.judge import catalog, sandbox
from harness.records.store import EVIDENCE_DIR, REPO_ROOT, CheckpointError

ERRORS = (CLIError, DataError, RecipeError, CandidateError, CheckpointError, ImportFailed)


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # argparse would print the whole usage too; one line and a pointer is easier to read.
        sys.stderr.write(f"error: {message} (see `{self.prog} --help`)\n")
        sys.exit(EXIT_ERROR)


# ---------------------------------------------------------------- argument types


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _seed(text: str) -> int:
    value = int(text)
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text}")
    return value


def _seeds(text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(_seed(s) for s in text.split(",") if s.strip())
    except (ValueError, argparse.ArgumentTypeError):
        seeds = ()
    if not seeds or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"must be distinct non-negative integers separated by commas, got {text!r}")
    return seeds


def _shared() -> dict:
    """The arguments several commands take, written once."""
    return {
        "device": dict(default="auto", help="auto, cpu, cuda, cuda:N or mps (default: auto)"),
        "data_dir": dict(
            type=Path,
            default=None,
            metavar="DIR",
            help=f"MNIST folder (default: $MNIST8K_DATA_DIR or {default_data_dir()})",
        ),
        "models_dir": dict(
            type=Path,
            default=catalog.REPO_MODELS,
            metavar="DIR",
            help="the folder of candidate files (default: models/ of this repository)",
        ),
        "isolation": dict(
            choices=sandbox.ISOLATIONS,
            default="auto",
            help="where candidate code runs: sandbox (bubblewrap), process (a plain child process) or "
            "auto (the sandbox where it works; with CI=true an error where it does not) (default: auto)",
        ),
    }


def _add_import(sub, shared: dict) -> None:
    im = sub.add_parser(
        "import", help="turn a notebook, a .py or a repository into candidate files (read as text, never run)"
    )
    im.add_argument("source", type=Path, help="a .ipynb, a .py, or a folder (a cloned repository)")
    im.add_argument(
        "--out",
        type=Path,
        default=Path("models"),
        metavar="DIR",
        help="where NAME.py and NAME.published.json go (default: models/)",
    )
    im.set_defaults(run=cmd_import)


def _add_judge(sub, shared: dict) -> None:
    jd = sub.add_parser(
        "judge",
        help="import a notebook, script or repository and judge every model in it "
        "on the given seeds, published numbers beside the judged ones",
    )
    jd.add_argument("source", type=Path, help="a .ipynb, a .py, or a folder (a cloned repository)")
    jd.add_argument("--seeds", type=_seeds, default=(0, 1, 2), help="comma-separated seeds (default: 0,1,2)")
    jd.add_argument(
        "--last-k",
        type=_positive,
        default=3,
        metavar="K",
        help="epochs at the end that must each reach 99.40%% (default: 3)",
    )
    jd.add_argument(
        "--allow-test-feedback",
        action="store_true",
        help="let a schedule that monitors the test loss pass (it is marked either way)",
    )
    jd.add_argument(
        "--jobs",
        type=_positive,
        default=1,
        metavar="N",
        help="trainings at once, each with cores/N threads (default: 1)",
    )
    jd.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="the scratch folder for the candidates and records (default: a new temporary folder)",
    )
    jd.add_argument("--device", **shared["device"])
    jd.add_argument("--data-dir", **shared["data_dir"])
    jd.add_argument("--isolation", **shared["isolation"])
    jd.add_argument(
        "--limit-train",
        type=_positive,
        default=None,
        metavar="N",
        help="a smoke run on the first N images (the rules then fail)",
    )
    jd.add_argument("--epochs", type=_positive, default=None, help="a smoke run of E epochs (the rules then fail)")
    jd.set_defaults(run=cmd_judge)


def _add_data(sub, shared: dict) -> None:
    d = sub.add_parser("data", help="fetch (if needed) and verify MNIST")
    d.add_argument("--data-dir", **shared["data_dir"])
    d.set_defaults(run=cmd_data)


def _add_list(sub, shared: dict) -> None:
    ls = sub.add_parser("list", help="registered candidates with their parameter counts")
    ls.add_argument("--candidates", default="*", metavar="GLOB", help="names to show (globs, comma-separated)")
    ls.add_argument("--isolation", **shared["isolation"])
    ls.add_argument("--models-dir", **shared["models_dir"])
    ls.set_defaults(run=cmd_list)


def _add_train(sub, shared: dict) -> None:
    t = sub.add_parser("train", help="train one candidate with one seed and save its record")
    t.add_argument("name", help="a candidate (see `list`)")
    t.add_argument(
        "--seed", type=_seed, default=0, help="seeds the weights, the shuffling and the augmentation (default: 0)"
    )
    t.add_argument("--epochs", type=int, default=None, help="override the recipe's epoch count")
    t.add_argument("--device", **shared["device"])
    t.add_argument("--data-dir", **shared["data_dir"])
    t.add_argument(
        "--limit-train",
        type=_positive,
        default=None,
        metavar="N",
        help="train on the first N images only (a quick check; the rules then fail)",
    )
    t.add_argument(
        "--json",
        default=None,
        metavar="PATH",
        help="run record (default: results/latest/NAME-seedN.json); .log, .pt and .ckpt go beside it",
    )
    t.add_argument("--log", default=None, metavar="PATH", help="course-format text log (default: beside the JSON)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.add_argument("--resume", action="store_true", help="continue an interrupted run from its checkpoint")
    t.add_argument("--isolation", **shared["isolation"])
    t.add_argument(
        "--cuda-graphs",
        choices=("auto", "off", "on"),
        default="auto",
        help="on CUDA: replay a captured training step; auto falls back to the eager loop, "
        "with the reason in the record, where a step cannot be captured (default: auto)",
    )
    t.add_argument(
        "--compile",
        choices=("off", "on"),
        default="off",
        help="on: compile the training step with torch.compile (inductor); eager, with the reason "
        "in the record, where it cannot be compiled (default: off)",
    )
    t.add_argument("--models-dir", **shared["models_dir"])
    t.set_defaults(run=cmd_train)


def _add_summary(sub, shared: dict) -> None:
    s = sub.add_parser(
        "summary", help="per-layer table of a candidate: shapes, parameters, receptive field and multiply-accumulates"
    )
    s.add_argument("name", help="a candidate (see `list`)")
    s.add_argument("--isolation", **shared["isolation"])
    s.add_argument("--models-dir", **shared["models_dir"])
    s.set_defaults(run=cmd_summary)


def _add_eval(sub, shared: dict) -> None:
    e = sub.add_parser("eval", help="score saved weights on the test set, with the confusion matrix")
    e.add_argument("name", help="a candidate (see `list`)")
    e.add_argument(
        "--weights",
        type=Path,
        required=True,
        metavar="PATH",
        help="a state dict, as `train` saves beside its record (NAME-seedN.pt)",
    )
    e.add_argument("--device", **shared["device"])
    e.add_argument("--data-dir", **shared["data_dir"])
    e.add_argument("--isolation", **shared["isolation"])
    e.add_argument("--models-dir", **shared["models_dir"])
    e.set_defaults(run=cmd_eval)


def _add_evidence(sub, shared: dict) -> None:
    ev = sub.add_parser(
        "evidence",
        help="remake a claiming candidate's evidence: its claimed seeds over its "
        "claimed window, into results/evidence/NAME/ (NAME/cuda/ with --device cuda)",
    )
    ev.add_argument("name", help="a candidate that makes a claim (see `list`)")
    ev.add_argument(
        "--jobs",
        type=_positive,
        default=2,
        metavar="N",
        help="seeds trained at once, each in its own runner with cores/N threads (default: 2)",
    )
    ev.add_argument("--device", **shared["device"])
    ev.add_argument(
        "--evidence-dir",
        type=Path,
        default=EVIDENCE_DIR,
        metavar="DIR",
        help="the folder holding one folder per candidate (default: results/evidence)",
    )
    ev.add_argument("--data-dir", **shared["data_dir"])
    ev.add_argument("--isolation", **shared["isolation"])
    ev.add_argument("--models-dir", **shared["models_dir"])
    ev.set_defaults(run=cmd_evidence)


def _add_merge(sub, shared: dict) -> None:
    mg = sub.add_parser(
        "merge", help="one summary from the record folders of a sharded gate (pytest -m compliance --shard=I/N)"
    )
    mg.add_argument("folders", nargs="+", type=Path, metavar="DIR", help="a shard's results folder")
    mg.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="DIR",
        help="where the records and summary.md/summary.json of the whole run go",
    )
    mg.set_defaults(run=cmd_merge)


def _add_report(sub, shared: dict) -> None:
    r = sub.add_parser("report", help="pictures and results/EXPERIMENTS.md from the result files")
    r.add_argument(
        "--results-dir",
        type=Path,
        default=EVIDENCE_DIR,
        metavar="DIR",
        help="run records to report (default: results/evidence)",
    )
    r.add_argument(
        "--out",
        type=Path,
        default=REPO_ROOT / "results" / "plots",
        metavar="DIR",
        help="folder for the PNG files (default: results/plots)",
    )
    r.add_argument(
        "--doc",
        type=Path,
        default=None,
        metavar="PATH",
        help="the Markdown written (default: EXPERIMENTS.md in the folder above --out)",
    )
    r.add_argument(
        "--last-k",
        type=int,
        default=None,
        metavar="K",
        help="judge every candidate over its last K epochs (default: each candidate over "
        "the K its records were run with)",
    )
    r.add_argument(
        "--notes-dir",
        type=Path,
        default=REPO_ROOT / "experiments" / "chain",
        metavar="DIR",
        help="hand-written NAME.md with ## Target and ## Analysis (default: experiments/chain)",
    )
    r.add_argument(
        "--search-dir",
        type=Path,
        default=REPO_ROOT / "results" / "search",
        metavar="DIR",
        help="sweep logs *.jsonl for the search tables (default: results/search)",
    )
    r.add_argument("--data-dir", **shared["data_dir"])
    r.add_argument("--isolation", **shared["isolation"])
    r.add_argument("--models-dir", **shared["models_dir"])
    r.set_defaults(run=cmd_report)


def parser() -> argparse.ArgumentParser:
    prog = "mnist8k" if Path(sys.argv[0]).name == "mnist8k" else "python -m harness"
    p = _Parser(prog=prog, description="Judge and inspect tiny MNIST classifiers.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    shared = _shared()
    for add in (
        _add_import,
        _add_judge,
        _add_data,
        _add_list,
        _add_train,
        _add_summary,
        _add_eval,
        _add_evidence,
        _add_merge,
        _add_report,
    ):
        add(sub, shared)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser().parse_args(argv)
    command = shlex.join(["mnist8k", *argv])
    try:
        # SIGTERM (a scheduler's stop) ends any command as Ctrl-C does: what is finished is kept.
        with sigterm_interrupts():
            return args.run(args, command)
    except ERRORS as e:
        print_error(str(e))
        return EXIT_ERROR
    except OSError as e:
        print_error(str(e) if e.strerror is None or e.filename is None else f"{e.filename}: {e.strerror}")
        return EXIT_ERROR
    except KeyboardInterrupt:
        print_error("interrupted")
        return EXIT_INTERRUPTED
