"""The experiments report: pictures and results/EXPERIMENTS.md regenerated from the gathered
run records, the chain notes and the search logs. Builds files and strings and returns
warnings; the command line prints them."""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tabulate import tabulate

from harness.engine.data import MNIST
from harness.engine.loop import normalise, steps_per_epoch
from harness.engine.recipe import Recipe, RecipeError
from harness.judge.rules import Rules
from harness.records.progress import run_log
from harness.records.store import EVIDENCE_DIR, REPO_ROOT, write_text
from harness.report import plots
from harness.report.gathering import CandidateRuns, SeedRun, gather
from harness.report.notes import read_notes, read_search

TRAIN_IMAGES = 60_000  # MNIST's training set: the steps per epoch shown in the logs follow from it

# Reported elsewhere for the same exercise and not rerun here: context for the chain's numbers.
PUBLIC_RESULTS = (
    (7874, "every epoch from 8 to 15 \u2265 99.41", "99.48"),
    (7918, "last 7 epochs \u2265 99.41", "99.52"),
    (6188, "last 5 epochs \u2265 99.44", "99.54"),
    (5196, "last 4 epochs: 99.40, 99.43, 99.40, 99.40", "-"),
)


@dataclass(frozen=True)
class ReportConfig:
    """Where `python -m harness report` reads and writes, and how it judges."""

    results_dir: Path = EVIDENCE_DIR  # run records (*.json), with their weights (.pt) beside them
    plots_dir: Path = REPO_ROOT / "results" / "plots"  # the PNG files
    document: Path = REPO_ROOT / "results" / "EXPERIMENTS.md"  # the Markdown, linking the plots
    notes_dir: Path = REPO_ROOT / "experiments" / "chain"  # NAME.md: ## Target and ## Analysis prose
    search_dir: Path = REPO_ROOT / "results" / "search"  # *.jsonl sweep logs, one run per line
    rules: Rules = Rules()  # the thresholds each record is judged by again
    # None: each candidate is judged over the last K epochs its records were run with (its claim
    # as tested; the largest K where its records differ); a number: every candidate over that K.
    last_k: int | None = None
    search_last_k: int = 5  # window for the search tables: longer than K, as the public results use
    # Published claims of the public solutions kept as candidates (models/pub_*.py): their
    # sources' own numbers, one run each, set beside what the gate made of them.
    public_claims: Path = REPO_ROOT / "experiments" / "public.json"
    importer_check: Path = REPO_ROOT / "experiments" / "importer.json"  # the importer against the hand transcriptions
    max_misclassified: int = 48  # digits in each grid


# (candidate name, weights file, normalised images) -> outputs [N, 10], computed in a runner;
# raises ValueError saying why it cannot.
Predictor = Callable[[str, Path, torch.Tensor], torch.Tensor]


# ---------------------------------------------------------------- formatting


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def mean_std(values: Sequence[float]) -> str:
    if not values:
        return ""
    if len(values) == 1:
        return f"{values[0]:.2f} (one seed)"
    return f"{statistics.fmean(values):.2f} \u00b1 {statistics.stdev(values):.2f}"


def _table(rows: list[list[str]], headers: list[str], align: Sequence[str]) -> str:
    return tabulate(rows, headers=headers, tablefmt="github", colalign=tuple(align), disable_numparse=True)


def _link(target: Path, start: Path) -> str:
    return Path(os.path.relpath(Path(target).resolve(), Path(start).resolve())).as_posix()


def _display(path: Path) -> str:
    """Inside the repository relative to its root, elsewhere in full."""
    path = Path(path).resolve()
    try:
        return path.relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(path)


def comparison_table(cands: list[CandidateRuns]) -> str:
    rows = []
    for c in cands:
        mins = c.min_last_k()
        best = max((a for r in c.trained for a in r.test_acc), default=None)
        source = "public, rerun here" if c.name.startswith(PUBLIC_PREFIX) else "this repository"
        rows.append(
            [
                c.label,
                source,
                f"{c.params:,}",
                str(len(c.runs)),
                f"worst seed {min(mins):.2f}" if mins else "not trained",
                _pct(best),
                mean_std(c.finals()),
                f"{c.passed}/{len(c.runs)} seeds",
                f"last {c.last_k}",
            ]
        )
    for params, window, theirs in PUBLIC_RESULTS:
        rows.append(
            ["public result", "reported, not rerun here", f"{params:,}", "-", window, theirs, "-", "-", "theirs"]
        )
    return _table(
        rows,
        [
            "model",
            "source",
            "parameters",
            "seeds",
            "min over the judged epochs",
            "best",
            "final, mean \u00b1 std",
            "rules met",
            "judged epochs",
        ],
        ["left", "left", "right", "right", "left", "right", "right", "left", "left"],
    )


def seed_table(cand: CandidateRuns) -> str:
    k = cand.last_k
    rows = []
    for r in cand.runs:
        accs = r.test_acc
        window = ([None] * max(0, k - len(accs)) + accs)[-k:]
        train = [row.train_acc for row in r.result.epochs]
        rows.append(
            [
                str(r.seed),
                str(len(accs)),
                r.label,
                _pct(max(train) if train else None),
                _pct(max(accs) if accs else None),
                *(_pct(a) for a in window),
                _pct(r.verdict.min_last_k),
                _pct(r.result.final_acc),
                "pass" if r.verdict.passed else "fail",
            ]
        )
    headers = [
        "seed",
        "epochs",
        "run",
        "best train",
        "best test",
        *(f"acc[{i - k}]" for i in range(k)),
        f"min last {k}",
        "final",
        "rules",
    ]
    return _table(rows, headers, ["right", "right", "left", "right", "right", *["right"] * k, "right", "right", "left"])


def result_lines(cand: CandidateRuns, rules: Rules) -> list[str]:
    k = cand.last_k
    budget = (
        f"within the {rules.max_params:,} budget"
        if cand.params <= rules.max_params
        else f"over the {rules.max_params:,} budget by {cand.params - rules.max_params:,}"
    )
    lines = [f"- Parameters: {cand.params:,} ({budget})"]
    trained = cand.trained
    if trained:
        best_train = max((row.train_acc, r.seed, row.epoch) for r in trained for row in r.result.epochs)
        best_test = max((row.test_acc, r.seed, row.epoch) for r in trained for row in r.result.epochs)
        lines += [
            f"- Best train accuracy: {best_train[0]:.2f}% (seed {best_train[1]}, epoch {best_train[2]}; "
            f"augmented batches)",
            f"- Best test accuracy: {best_test[0]:.2f}% (seed {best_test[1]}, epoch {best_test[2]}; "
            f"context only, the rule ignores it)",
        ]
    mins = cand.min_last_k()
    if mins:
        lines.append(
            f"- Minimum over the last {k} epochs: {min(mins):.2f}% for the worst seed "
            f"(target {rules.target_acc:.2f}%, margin {min(mins) - rules.target_acc:+.2f} points)"
        )
    lines.append(f"- Seeds passed: {cand.passed}/{len(cand.runs)} (the rules need every seed)")
    if len(trained) == 1:
        lines.append(f"- Final test accuracy: {trained[0].result.final_acc:.2f}% (one seed)")
    elif trained:
        lines.append(f"- Final test accuracy, mean \u00b1 std over {len(trained)} seeds: {mean_std(cand.finals())}")
    return lines


def training_log(run: SeedRun) -> str:
    res = run.result
    batch = (res.recipe or {}).get("batch_size")
    steps = steps_per_epoch(TRAIN_IMAGES, batch, res.limit_train) if isinstance(batch, int) and batch > 0 else None
    return run_log(res, steps)


# ---------------------------------------------------------------- the whole report


@dataclass
class Report:
    written: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    candidates: list[str] = field(default_factory=list)


def _curves(cand: CandidateRuns) -> list[plots.Curve]:
    return [
        plots.Curve(
            r.seed,
            r.test_acc,
            [row.test_loss for row in r.result.epochs],
            [row.train_acc for row in r.result.epochs],
            [row.train_loss for row in r.result.epochs],
        )
        for r in cand.trained
    ]


def _misclassified(
    cand: CandidateRuns,
    cfg: ReportConfig,
    predict: Predictor | None,
    test_set: Callable[[], MNIST] | None,
    report: Report,
) -> Path | None:
    """The grid for the lowest seed that has weights; None (with a warning) when it cannot be drawn."""
    run = next((r for r in cand.trained if r.path is not None and r.path.with_suffix(".pt").exists()), None)
    if run is None or run.path is None:
        report.warnings.append(
            f"{cand.label}: no weights (.pt) beside any of its records; the misclassified-digits picture is skipped"
        )
        return None
    if predict is None or test_set is None:
        report.warnings.append(
            f"{cand.label}: no predictor or test set given; the misclassified-digits picture is skipped"
        )
        return None
    weights = run.path.with_suffix(".pt")
    try:
        data = test_set()
        # Only the normalisation matters here, and records keep it in every recipe format.
        recipe = Recipe.from_dict({k: run.result.recipe[k] for k in ("mean", "std") if k in run.result.recipe})
        predicted = predict(cand.name, weights, normalise(data.test_images, recipe)).argmax(1)
        labels = data.held_test_labels()
    except (ValueError, RuntimeError, OSError, RecipeError) as e:  # RuntimeError: the model's own forward
        report.warnings.append(f"{cand.label}: misclassified-digits picture skipped ({e})")
        return None
    wrong = (predicted != labels).nonzero().flatten()
    shown = wrong[: cfg.max_misclassified]
    title = (
        f"{cand.label} seed {run.seed}: {len(shown)} of {len(wrong):,} misclassified test digits "
        f"(true \u2192 predicted), weights {weights.name}"
    )
    return plots.misclassified(
        cfg.plots_dir / f"{cand.slug}-misclassified.png",
        title,
        data.test_images[shown].numpy(),
        labels[shown].tolist(),
        predicted[shown].tolist(),
    )


PUBLIC_PREFIX = "pub_"  # candidates that reproduce a public solution


def public_section(public: list[CandidateRuns], cfg: ReportConfig, report: Report) -> list[str]:
    """Each public solution's published claim against the gate's verdict on every seed run."""
    try:
        claims = {c["candidate"]: c for c in json.loads(Path(cfg.public_claims).read_text(encoding="utf-8"))}
    except (OSError, ValueError, KeyError, TypeError) as e:
        report.warnings.append(f"{cfg.public_claims}: the published claims cannot be read ({e})")
        claims = {}
    rows = []
    for cand in public:
        claim = claims.get(cand.name, {})
        per_seed = ", ".join(
            f"{r.seed}: {_pct(r.verdict.min_last_k)} {'pass' if r.verdict.passed else 'FAIL'}" for r in cand.runs
        )
        holds = (
            ("yes" if len(cand.runs) > 1 else "yes, on the one seed run")
            if cand.passed == len(cand.runs)
            else f"no ({cand.passed}/{len(cand.runs)} seeds)"
        )
        rows.append(
            [
                cand.label,
                claim.get("source", "?"),
                f"{claim['params']:,}" if "params" in claim else "?",
                f"{cand.params:,}",
                claim.get("published", "?"),
                per_seed,
                holds,
            ]
        )
    return [
        "## Public solutions judged by the gate",
        "",
        f"Public solutions of the same exercise, rewritten as candidates (`models/{PUBLIC_PREFIX}*.py`, "
        f'each crediting its source) and run through the gate on several seeds. "Published" is the '
        f"author's own single run, as reported; the gate's columns come from the records. Each is judged "
        f"over its last {public[0].last_k} epochs.",
        "",
        _table(
            rows,
            [
                "candidate",
                "source",
                "published parameters",
                "parameters here",
                "published (the author's single run)",
                "min of the judged epochs per seed, verdict",
                "holds on every seed",
            ],
            ["left", "left", "right", "right", "left", "left", "left"],
        ),
        "",
    ]


def importer_section(cfg: ReportConfig, report: Report) -> list[str]:
    """`mnist8k import` run on the public sources, against the hand-written pub_*.py files."""
    try:
        check = json.loads(Path(cfg.importer_check).read_text(encoding="utf-8"))
        rows = [
            [
                r["candidate"],
                r["source"],
                f"{r['params_importer']:,}",
                f"{r['params_hand']:,}",
                f"{r['params_published']:,}",
                r["recipe"],
            ]
            for r in check["rows"]
        ]
    except (OSError, ValueError, KeyError, TypeError) as e:
        report.warnings.append(f"{cfg.importer_check}: the importer's check cannot be read ({e})")
        return []
    return [
        "## The notebook importer against the hand transcriptions",
        "",
        f"`mnist8k import` on the published source of each public solution above, compared field by field "
        f"with its hand-written `models/pub_*.py`. {check['summary']}. Command: {check['command']}.",
        "",
        _table(
            rows,
            [
                "candidate",
                "source imported",
                "parameters (importer)",
                "parameters (hand)",
                "parameters (published)",
                "recipe against the hand transcription",
            ],
            ["left", "left", "right", "right", "right", "left"],
        ),
        "",
    ]


def build(
    cfg: ReportConfig,
    *,
    predict: Predictor | None = None,
    test_set: Callable[[], MNIST] | None = None,
    model_files: Mapping[str, Path] | None = None,
    command: str = "python -m harness report",
) -> Report:
    """Regenerate every picture and the document from the files `cfg` names.

    predict and test_set (a callable returning harness.engine.data.MNIST) are needed only for the
    misclassified digits; model_files gives each candidate's source file for its link.
    Raises FileNotFoundError when the results folder does not exist, ValueError when it holds
    no usable record; any other problem is a warning and the rest is still reported."""
    cands, report = _gathered(cfg)
    doc_dir = Path(cfg.document).parent
    # Pictures first: the document links only those that exist.
    pictures, scatter = _pictures(cands, cfg, predict, _OnceTestSet(test_set) if test_set else None, report)
    lines = _head(cfg, cands, command, scatter, doc_dir)
    public = [c for c in cands if c.name.startswith(PUBLIC_PREFIX)]
    if public:
        lines += public_section(public, cfg, report)
        lines += importer_section(cfg, report)
    files = dict(model_files or {})
    for cand in (c for c in cands if not c.name.startswith(PUBLIC_PREFIX)):
        source = Path(files.get(cand.name) or REPO_ROOT / "models" / f"{cand.name}.py")
        lines += _candidate_section(cand, cfg, pictures[cand.label], source, doc_dir, report)
    lines += _search_section(cfg, report)
    write_text(cfg.document, "\n".join(lines).rstrip("\n") + "\n")
    report.written.append(Path(cfg.document))
    return report


def _gathered(cfg: ReportConfig) -> tuple[list[CandidateRuns], Report]:
    if not Path(cfg.results_dir).is_dir():
        raise FileNotFoundError(
            f"no results folder {cfg.results_dir}; give the folder holding the run records with --results-dir"
        )
    cands, warnings = gather(cfg.results_dir, cfg.rules, cfg.last_k)
    if not cands:
        skipped = (
            f" ({len(warnings)} file{'s' if len(warnings) != 1 else ''} skipped: " + "; ".join(warnings) + ")"
            if warnings
            else ""
        )
        raise ValueError(f"no usable run record in {cfg.results_dir}{skipped}")
    return cands, Report(warnings=warnings, candidates=[c.label for c in cands])


class _OnceTestSet:
    """The test set loaded at most once; a failure is kept and given again for every candidate."""

    def __init__(self, load: Callable[[], MNIST]):
        self.load = load
        self.data: MNIST | None = None
        self.error: str | None = None

    def __call__(self) -> MNIST:
        if self.error is not None:
            raise ValueError(self.error)
        if self.data is None:
            try:
                self.data = self.load()
            except Exception as e:  # DataError and the like: one reason for every grid
                self.error = f"MNIST not available: {' '.join(str(e).split())}"
                raise ValueError(self.error) from None
        return self.data


def _pictures(cands, cfg: ReportConfig, predict, test_set, report: Report):
    """Each candidate's (caption, path) pictures, and the parameters-accuracy scatter (or None)."""
    rules = cfg.rules
    pictures: dict[str, list[tuple[str, Path]]] = {}
    points = []
    for cand in cands:
        pictures[cand.label] = []
        if cand.trained:
            path = plots.curves(
                cfg.plots_dir / f"{cand.slug}-curves.png",
                f"{cand.label}: {cand.params:,} parameters, {len(cand.trained)} "
                f"seed{'s' if len(cand.trained) != 1 else ''}",
                _curves(cand),
                rules.target_acc,
                cand.last_k,
            )
            report.written.append(path)
            pictures[cand.label].append(("accuracy and loss per epoch", path))
            grid = _misclassified(cand, cfg, predict, test_set, report)
            if grid is not None:
                report.written.append(grid)
                pictures[cand.label].append(("misclassified test digits", grid))
        mins = cand.min_last_k()
        if mins:
            passed = cand.passed == len(cand.runs)
            points.append(
                plots.Point(
                    cand.label,
                    cand.params,
                    min(mins),
                    statistics.fmean(mins),
                    max(mins),
                    len(mins),
                    passed,
                    last_k=cand.last_k,
                )
            )
    if not points:
        return pictures, None
    scatter = plots.budget_scatter(cfg.plots_dir / "params-vs-accuracy.png", points, rules.target_acc, rules.max_params)
    report.written.append(scatter)
    return pictures, scatter


def _head(cfg: ReportConfig, cands, command: str, scatter: Path | None, doc_dir: Path) -> list[str]:
    rules = cfg.rules
    window = (
        f"K is {cfg.last_k} for every candidate here."
        if cfg.last_k
        else "K is the window each candidate's evidence was run with (`--last-k` of the compliance run), "
        "named in its Result and in the table's last column."
    )
    lines = [
        "# Experiments",
        "",
        f"Generated by `{command}` from the run records in `{_display(cfg.results_dir)}`. "
        f"Do not edit this file: the Target and Analysis prose comes from "
        f"`{_display(cfg.notes_dir)}/NAME.md`, and every number comes from the records.",
        "",
        f"Rules: {rules.sentence(last_k='K')}. " + window,
        "",
        "## Comparison",
        "",
        "The chain's candidates, then results reported elsewhere for the same exercise (their "
        "windows are theirs and are longer than the rule's).",
        "",
        comparison_table(cands),
        "",
    ]
    if scatter is not None:
        lines += [
            f"![Parameters against the minimum test accuracy over the judged epochs]({_link(scatter, doc_dir)})",
            "",
        ]
    return lines


def _candidate_section(cand, cfg: ReportConfig, pictures, source: Path, doc_dir: Path, report: Report) -> list[str]:
    """Target, Result, pictures, Analysis, Training Logs and File Link: the course's write-up."""
    notes, note_warnings = read_notes(Path(cfg.notes_dir) / f"{cand.slug}.md")
    report.warnings += note_warnings
    if cand.kind != "cpu" and not (Path(cfg.notes_dir) / f"{cand.slug}.md").exists():
        # Its own notes file is optional: the model and recipe are the CPU section's.
        pointer = f"The runs of {cand.name} on {cand.kind}; its {{}} is in the section {cand.name}."
        notes = {"target": pointer.format("Target"), "analysis": pointer.format("Analysis")}
    lines = [f"## {cand.label}", "", "### Target", "", notes["target"], "", "### Result", ""]
    lines += result_lines(cand, cfg.rules) + [""]
    lines += [seed_table(cand), ""]
    failures = [f for r in cand.runs for f in r.verdict.failures]
    if failures:
        lines += ["Rules broken:", ""] + [f"- {f}" for f in failures] + [""]
    for caption, path in pictures:
        lines += [f"![{cand.label}: {caption}]({_link(path, doc_dir)})", ""]
    lines += ["### Analysis", "", notes["analysis"], "", "### Training Logs", ""]
    for r in cand.runs:
        lines += [
            f"<details><summary>{cand.label} seed {r.seed}: {len(r.result.epochs)} epochs, {r.label}</summary>",
            "",
            "```text",
            training_log(r).rstrip("\n") or "(no epochs)",
            "```",
            "",
            "</details>",
            "",
        ]
    lines += ["### File Link", ""]
    if source.exists():
        lines += [f"[{_link(source, REPO_ROOT)}]({_link(source, doc_dir)})", ""]
    else:
        lines += [f"(no source file: {source} does not exist)", ""]
        report.warnings.append(f"{cand.label}: no source file at {source}")
    return lines


SEARCH_HEADERS = (
    "arch",
    "parameters",
    "recipe",
    "seeds run",
    "min last {n}, per seed",
    "seeds \u2265 {target:.2f}",
    "final, mean \u00b1 std",
    "other runs",
)
SEARCH_ALIGN = ("left", "right", "left", "left", "right", "right", "right", "left")


def _search_section(cfg: ReportConfig, report: Report) -> list[str]:
    families, skipped, search_warnings = read_search(cfg.search_dir, cfg.search_last_k)
    report.warnings += search_warnings
    if not families:
        return []
    n, target = cfg.search_last_k, cfg.rules.target_acc
    lines = [
        "## Search log",
        "",
        f"Sweeps from `{_display(cfg.search_dir)}/*.jsonl` (one line per run; the arch and recipe "
        f"names are those of `experiments/archs.py` and `experiments/sweep.py`), grouped by "
        f"parameter family, best first by the worst seed's minimum over the last {n} epochs.",
        "",
    ]
    for budget, rows in families.items():
        table = [
            [
                r.arch,
                f"{r.params:,}",
                r.recipe,
                ", ".join(map(str, r.seeds)) or "-",
                ", ".join(f"{a:.2f}" for a in r.min_last) or "-",
                f"{sum(a >= target for a in r.min_last)}/{len(r.min_last)}",
                mean_std(r.finals),
                "; ".join(r.other),
            ]
            for r in rows
        ]
        headers = [h.format(n=n, target=target) for h in SEARCH_HEADERS]
        align = list(SEARCH_ALIGN)
        if not any(r.other for r in rows):  # a column of blanks says nothing
            table, headers, align = [row[:-1] for row in table], headers[:-1], align[:-1]
        lines += [f"### At most {budget:,} parameters", "", _table(table, headers, align), ""]
    total = sum(skipped.values())
    if total:
        reasons = ", ".join(f"{reason}: {count}" for reason, count in sorted(skipped.items()))
        lines += [
            f"{total} planned run{'s were' if total != 1 else ' was'} skipped by the sweeps "
            f"({reasons}) and {'are' if total != 1 else 'is'} not shown.",
            "",
        ]
    return lines
