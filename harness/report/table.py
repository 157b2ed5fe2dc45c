"""The compliance table: one row per candidate and seed, and one per candidate over its
seeds, built from run records. Returns rows and strings; the caller prints them."""

from __future__ import annotations

import re
import statistics
from dataclasses import asdict
from pathlib import Path

from tabulate import tabulate

from harness import __version__
from harness.judge.judging import record_name
from harness.judge.rules import OUTCOMES, Rules, steered_by_test_set
from harness.records import store

MAX_CELL = 300  # characters of candidate-made text (a name, an error) in one place of summary.md
MAX_SUMMARY = 512 * 1024  # bytes; GitHub refuses a job summary over 1 MiB
_MARKDOWN = re.compile(r"([\\`*_\[\]#!|~])")


def escape(text, limit: int = MAX_CELL) -> str:
    """Text a candidate controls (its name, its error messages), made inert in Markdown and
    HTML: one line, at most `limit` characters, every markup character escaped."""
    text = " ".join(str(text).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MARKDOWN.sub(r"\\\1", text)


def _num(value, fmt: str) -> str:
    return "" if value is None else format(value, fmt)


def _signed(value) -> str:
    return "" if value is None else f"{value:+.2f}"


def _sort_key(rec: dict):
    res = rec["result"]
    return res["candidate"], res["seed"]


def run_row(rec: dict, last_k: int) -> dict:
    """One record as table cells (strings, in column order)."""
    res, ver, gate = rec["result"], rec.get("verdict") or {}, rec.get("gate") or {}
    epochs = res.get("epochs") or []
    accs = [row["test_acc"] for row in epochs]
    window = accs[-last_k:] if last_k > 0 else []
    window = [None] * (last_k - len(window)) + window  # short runs leave the oldest cells empty
    label = gate.get("outcome", "")
    if label == "not trained":
        label = "not trained: no claim"
    if gate.get("smoke"):
        label += " (smoke)"
    if steered_by_test_set(res.get("recipe") or {}):
        label += " (steered by the test set)"
    built = res.get("status") != "not built"
    trained = res.get("status") not in ("not built", "not trained")
    cells = {
        "candidate": res["candidate"],
        "params": f"{res['params']:,}" if built else "-",
        "epochs": str(len(epochs)) if trained else "-",
        "seed": str(res["seed"]),
        "best acc": _num(max(accs) if accs else None, ".2f"),
    }
    for i, acc in enumerate(window):
        cells[f"acc[{i - last_k}]"] = _num(acc, ".2f")
    min_k = ver.get("min_last_k")
    cells.update(
        {
            f"min last {last_k}": _num(min_k, ".2f"),
            "margin": _signed(ver.get("acc_margin")),
            "verdict": label,
            "s/epoch": _num(sum(r["seconds"] for r in epochs) / len(epochs) if epochs else None, ".1f"),
            "total s": _num(res.get("seconds", 0) + res.get("setup_seconds", 0) if epochs else None, ".1f"),
        }
    )
    return cells


def run_data(rec: dict, last_k: int) -> dict:
    """One record's row as numbers (None where there is none), for summary.json."""
    res, ver, gate = rec["result"], rec.get("verdict") or {}, rec.get("gate") or {}
    epochs = res.get("epochs") or []
    accs = [row["test_acc"] for row in epochs]
    return {
        "candidate": res["candidate"],
        "seed": res["seed"],
        "params": res["params"] if res.get("status") != "not built" else None,
        "epochs": len(epochs),
        "best_acc": max(accs) if accs else None,
        "last_k": last_k,
        "last_k_accs": accs[-last_k:],
        "min_last_k": ver.get("min_last_k"),
        "margin": ver.get("acc_margin"),
        "outcome": gate.get("outcome"),
        "smoke": bool(gate.get("smoke")),
        "seconds_per_epoch": sum(r["seconds"] for r in epochs) / len(epochs) if epochs else None,
        "total_seconds": res.get("seconds", 0) + res.get("setup_seconds", 0) if epochs else None,
        "isolation": res.get("isolation", ""),
    }


def run_rows(records: list[dict], last_k: int) -> list[dict]:
    return [run_row(r, last_k) for r in sorted(records, key=_sort_key)]


def candidate_rows(records: list[dict]) -> list[dict]:
    """Per candidate with more than one seed: the last-K minimum over seeds (mean ± std, min)
    and how many seeds passed. The gate needs every seed; the mean is only context."""
    by_name: dict[str, list[dict]] = {}
    for rec in sorted(records, key=_sort_key):
        by_name.setdefault(rec["result"]["candidate"], []).append(rec)
    rows = []
    for name, recs in by_name.items():
        if len(recs) < 2:
            continue
        mins = [r["verdict"]["min_last_k"] for r in recs if (r.get("verdict") or {}).get("min_last_k") is not None]
        passed = sum(bool((r.get("verdict") or {}).get("passed")) for r in recs)
        spread = ""
        if mins:
            std = statistics.stdev(mins) if len(mins) > 1 else 0.0
            spread = f"{statistics.fmean(mins):.2f} ± {std:.2f}"
        rows.append(
            {
                "candidate": name,
                "seeds": ",".join(str(r["result"]["seed"]) for r in recs),
                "last-K min, mean ± std": spread,
                "last-K min, worst": _num(min(mins) if mins else None, ".2f"),
                "seeds passed": f"{passed}/{len(recs)}",
            }
        )
    return rows


def render(rows: list[dict], tablefmt: str = "github") -> str:
    """Rows (dicts with the same keys) as one table; numbers are already strings, so they
    are right-aligned as text and keep their formatting."""
    if not rows:
        return ""
    numeric = {"params", "epochs", "seed", "best acc", "margin", "s/epoch", "total s"}
    align = tuple("right" if k in numeric or k.startswith(("acc[", "min last", "last-K")) else "left" for k in rows[0])
    return tabulate(
        [list(r.values()) for r in rows],
        headers=list(rows[0]),
        tablefmt=tablefmt,
        colalign=align,
        disable_numparse=True,
    )


def reasons(records: list[dict]) -> list[str]:
    """Why each run that did not pass failed, one line per broken rule."""
    lines = []
    for rec in sorted(records, key=_sort_key):
        ver, gate = rec.get("verdict") or {}, rec.get("gate") or {}
        label = gate.get("outcome", "")
        if label == "XPASS":
            lines.append(
                f"{rec['result']['candidate']} seed {rec['result']['seed']} (XPASS): passes every "
                f"rule but makes no claim; the claim must be updated"
            )
        for failure in ver.get("failures") or []:
            lines.append(f"{failure} ({label})" if label else failure)
    return lines


def counts(records: list[dict]) -> dict[str, int]:
    tally = {label: 0 for label in OUTCOMES}
    for rec in records:
        label = (rec.get("gate") or {}).get("outcome")
        if label in tally:
            tally[label] += 1
    return tally


def outcome_line(records: list[dict]) -> str:
    tally = counts(records)
    return (
        "Outcome: " + ", ".join(f"{n} {label}" for label, n in tally.items() if n) + ". "
        "`pass`: claimed and met; `xfail`: not claimed and not met; `not trained`: no claim, "
        "checked but not trained; `not claimed on KIND`: claimed on other device kinds only, "
        "scored here and kept, neither passing nor failing; `FAIL` and `XPASS` fail the gate "
        "(a broken claim, or a claim to update)."
    )


def markdown(records: list[dict], rules: dict, title: str = "mnist8k compliance") -> str:
    """The summary file: the outcome first, then the rules, the run table, the per-candidate
    table and why each run failed. Every text a candidate made is escaped and shortened, and
    the file stays under MAX_SUMMARY bytes, so nothing a candidate writes can hide the outcome."""
    last_k = int(rules["last_k"])
    if not records:
        return f"# {title}\n\nNo compliance test left a record in this session; the pytest output says why.\n"
    safe = [_escaped(r) for r in records]
    lines = [
        f"# {title}",
        "",
        outcome_line(records),
        "",
        f"Rules: {Rules(**rules).sentence()}.",
        "",
        render(run_rows(safe, last_k)),
        "",
    ]
    per_candidate = candidate_rows(safe)
    if per_candidate:
        lines += [render(per_candidate), ""]
    why = [f"- {escape(line)}" for line in reasons(records)]
    head = "\n".join(lines) + "\n"
    if why:
        kept: list[str] = []
        size = len(head.encode()) + 200
        for line in why:
            size += len(line.encode()) + 1
            if size > MAX_SUMMARY:
                kept.append(f"- … {len(why) - len(kept)} more reasons, in summary.json and the records")
                break
            kept.append(line)
        head += "\n".join(["Why:", ""] + kept) + "\n"
    return head


def _escaped(rec: dict) -> dict:
    """A record whose candidate name is safe to put in a table cell."""
    res = dict(rec["result"], candidate=escape(rec["result"]["candidate"], 80))
    return {**rec, "result": res}


def summary(records: list[dict], rules: Rules, command: str) -> dict:
    """summary.json: numbers, not formatted strings."""
    ordered = sorted(records, key=lambda r: (r["result"]["candidate"], r["result"]["seed"]))
    return {
        "schema": store.SCHEMA,
        "kind": "summary",
        "rules": asdict(rules),
        "harness": __version__,
        "machine": store.machine_info(),
        "command": command,
        "counts": counts(ordered),
        "runs": [run_data(r, rules.last_k) for r in ordered],
        "records": [record_name(r["result"]["candidate"], r["result"]["seed"]) for r in ordered],
    }


def write_summary(folder: Path, records: list[dict], rules: Rules, command: str) -> list[Path]:
    """summary.md and summary.json in `folder`; raises OSError when they cannot be written."""
    ordered = sorted(records, key=lambda r: (r["result"]["candidate"], r["result"]["seed"]))
    store.write_json(folder / "summary.json", summary(ordered, rules, command))
    store.write_text(folder / "summary.md", markdown(ordered, asdict(rules)))
    return [folder / "summary.md", folder / "summary.json"]
