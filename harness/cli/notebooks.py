"""`mnist8k import` and `mnist8k judge`: a student's notebook, script or repository turned
into candidate files by harness.cli.importer (read as text, never run), then judged by the same
judge as the gate, with the author's published numbers printed beside the judged ones."""

from __future__ import annotations

import concurrent.futures
import json
import sys
import tempfile
from pathlib import Path

from harness.cli import importer
from harness.cli.importer.api import reserved_names
from harness.engine.data import load
from harness.judge import catalog, judging, trial
from harness.judge.rules import Rules
from harness.report import table


class ImportFailed(Exception):
    """Nothing could be imported; the message says what was looked for and where."""


def import_to(source: Path, out: Path) -> list[importer.Imported]:
    """Import `source` into the folder `out` (candidate files and their .published.json),
    printing what was written and every note; raises ImportFailed when no model is found."""
    source = Path(source)
    if not source.exists():
        raise ImportFailed(f"{source} does not exist; give a .ipynb, a .py or a folder")
    why: list[str] = []
    skipped: list[str] = []
    # a candidate already in `out` from another source keeps its file: this import's takes a free name
    reserved = reserved_names(out, source)
    found = importer.import_source(source, why_none=why, skipped=skipped, reserved=reserved)
    if not found:
        # what the importer found in the way (a model class in a file the source does not hold), if anything
        said = "".join(f"; {text}" for text in why)
        raise ImportFailed(
            f"no trained nn.Module found in {source}: the importer looks for a model class "
            f"instantiated and trained (model = Net().to(device), an optimizer over "
            f"model.parameters())" + said
        )
    written = importer.write(found, out, overwrite=True, source=source)
    for imp in found:
        print(f"{imp.name}: from {imp.source} -> {out / (imp.name + '.py')}", flush=True)
        for note in imp.notes:
            print(f"  note: {note}", flush=True)
    for line in skipped:  # a notebook of the folder that gave no candidate, said rather than passed over
        print(f"skipped: {line}", flush=True)
    print(f"wrote {len(written)} files into {out}", flush=True)
    return found


def _published_window(published: dict, last_k: int) -> str:
    """The author's last-K accuracies as a short text, or "-" when the notebook saved none."""
    accs = [row.get("test_acc") for row in (published.get("epochs") or []) if row.get("test_acc") is not None]
    if not accs:
        return "-"
    window = accs[-last_k:]
    # a log on a validation split is no test-set number: said beside it, so the two are not compared blindly
    on = f", on {published['scored_on']}" if published.get("scored_on") else ""
    return f"{min(window):.2f}-{max(window):.2f} (one run, {len(accs)} epochs{on})"


def verdict_line(name: str, params: int | None, records: list[dict], published: dict, rules: Rules) -> str:
    """One line a student can paste into a README."""
    seeds = [r["result"]["seed"] for r in records]
    mins = [r["verdict"].get("min_last_k") for r in records]
    passed = [bool(r["verdict"].get("passed")) for r in records]
    shown = " / ".join("-" if m is None else f"{m:.2f}" for m in mins)
    held = sum(passed)
    outcome = (
        f"holds on all {len(seeds)} seeds"
        if held == len(seeds)
        else f"fails on {len(seeds) - held} of {len(seeds)} seeds"
    )
    count = f"{params:,} parameters" if params is not None else "not built"
    pub = _published_window(published, rules.last_k)
    return (
        f"mnist8k: {name}, {count}; seeds {','.join(map(str, seeds))}: worst of the last {rules.last_k} "
        f"epochs {shown}; the {rules.target_acc:.2f}% rule {outcome}" + (f" (published: {pub})" if pub != "-" else "")
    )


def judge_source(
    source: Path,
    seeds: tuple[int, ...],
    settings: trial.Settings,
    rules: Rules,
    *,
    out: Path | None,
    data_dir: Path | None,
    command: str,
    jobs: int = 1,
    limit_train: int | None = None,
    epochs: int | None = None,
) -> int:
    """Import, then judge every imported candidate on every seed; prints the table, the
    published numbers beside the judged ones and one verdict line per candidate. Returns 0
    when every candidate holds on every seed, 1 otherwise."""
    out = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="mnist8k-judge-"))
    folder, results_dir = out / "models", out / "results"
    found = import_to(source, folder)
    load(data_dir)  # fail now, not after the imports were built
    entries = catalog.scan(folder)
    session = judging.Session(
        rules=rules,
        settings=settings,
        results_dir=results_dir,
        data_dir=data_dir,
        command=command,
        train_unclaimed=True,
        smoke=judging.Smoke(limit_train, epochs),
    )
    work = [(entries[imp.name], seed) for imp in found if imp.name in entries for seed in seeds]
    records: list[dict] = []
    try:
        with concurrent.futures.ThreadPoolExecutor(max(1, jobs)) as pool:
            for rec in pool.map(lambda job: judging.judge(job[0], job[1], session), work):
                records.append(rec)
                print(
                    f"{rec['result']['candidate']} seed {rec['result']['seed']}: {rec['result']['status']}", flush=True
                )
    except KeyboardInterrupt:
        trial.kill_all()
        raise
    table.write_summary(results_dir, records, rules, command)
    print()
    print(table.render(table.run_rows(records, rules.last_k)))
    print()
    all_held = True
    for imp in found:
        mine = [r for r in records if r["result"]["candidate"] == imp.name]
        if not mine:
            continue
        params = mine[0]["result"]["params"] if mine[0]["result"].get("status") != "not built" else None
        print(
            f"{imp.name}: published {_published_window(imp.published, rules.last_k)} with "
            f"{imp.published.get('params') or '?'} parameters; judged as the table says"
        )
        for why in table.reasons(mine):
            print(f"  {why}")
        print(verdict_line(imp.name, params, mine, imp.published, rules))
        all_held &= all(r["verdict"].get("passed") for r in mine)
    (results_dir / "published.json").write_text(json.dumps({imp.name: imp.published for imp in found}, indent=1))
    print(f"\nrecords and summary.md in {results_dir}", file=sys.stderr)
    return 0 if all_held else 1
