"""Shards: the gate's candidate x seed tests split into N groups for N machines (a CI matrix,
an indexed job), balanced by expected cost and stable when candidates are added, and the
records of many shards merged back into the one table a single run would have given."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from harness.records import store
from harness.records.store import load_records

DEFAULT_COST = 300.0  # seconds: one 15-epoch CPU training without a record to go by
CHEAP_COST = 5.0  # seconds: a candidate that is checked but not trained (a runner start, a build)
SLACK = 0.25  # a shard may carry this much more than the mean before items move on


class ShardError(ValueError):
    """A bad --shard value, or shards that cannot be merged; the message says why."""


@dataclass(frozen=True)
class Shard:
    index: int  # 1-based, as CI matrices and `--shard=I/N` count
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        try:
            i, n = (int(part) for part in text.split("/"))
        except ValueError:
            raise ShardError(f"expected I/N with integers, e.g. 2/4, got {text!r}") from None
        if not (n >= 1 and 1 <= i <= n):
            raise ShardError(f"{text!r}: need 1 <= I <= N")
        return cls(i, n)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def _score(item: str, shard: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{item}\0{shard}".encode()).digest()[:8], "big")


def assign(costs: dict[str, float], count: int) -> dict[str, int]:
    """Each item's shard (1-based). Items are placed in an order fixed by their names, each on
    its most preferred shard (rendezvous hashing) that stays under the load bound; so adding
    an item moves only items that came after it and found their shard full."""
    total = sum(costs.values())
    bound = (1 + SLACK) * total / count + max(costs.values(), default=0.0)
    loads = [0.0] * (count + 1)
    placed = {}
    for item in sorted(costs, key=lambda x: hashlib.sha256(x.encode()).hexdigest()):
        cost = costs[item]
        ranked = sorted(range(1, count + 1), key=lambda s: -_score(item, s))
        shard = next((s for s in ranked if loads[s] + cost <= bound), min(ranked, key=lambda s: loads[s]))
        loads[shard] += cost
        placed[item] = shard
    return placed


def recorded_cost(evidence_dir: Path, name: str, seed: int) -> float | None:
    """Seconds a candidate and seed took when it was last recorded under `evidence_dir/name/`
    (or the seed-0 record, or any), or None."""
    folder = Path(evidence_dir) / name
    for path in (folder / f"{name}-seed{seed}.json", folder / f"{name}-seed0.json", *sorted(folder.glob("*.json"))):
        try:
            res = store.read_json(path)["result"]
            seconds = float(res.get("seconds") or 0) + float(res.get("setup_seconds") or 0)
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if seconds > 0:
            return seconds
    return None


# ---------------------------------------------------------------- merging


def merge(folders: list[Path], out: Path) -> tuple[list[dict], dict]:
    """The records of every shard folder, checked to belong to one run, copied into `out`
    with their weights and logs. Returns (records, rules). Refuses duplicates and records
    judged under other rules or by another harness version, naming the files."""
    records: list[dict] = []
    seen: dict[tuple[str, int], str] = {}  # (candidate, seed): the record's path
    rules: dict[str, str] = {}
    versions: dict[str | None, str] = {}
    for folder in folders:
        if not Path(folder).is_dir():
            raise ShardError(f"{folder} is not a folder of shard records")
        found, warnings = load_records(folder)
        if warnings:
            raise ShardError("; ".join(warnings))
        for rec in found:
            key = (rec["result"]["candidate"], rec["result"]["seed"])
            path = rec["path"]
            if key in seen:
                raise ShardError(
                    f"{key[0]} seed {key[1]} appears twice: {seen[key]} and {path}; "
                    f"were the same shard's records downloaded twice?"
                )
            seen[key] = path
            rules[json.dumps(rec.get("rules"), sort_keys=True)] = path
            versions[(rec.get("provenance") or {}).get("harness")] = path
            records.append(rec)
    if not records:
        raise ShardError(f"no run record in {', '.join(map(str, folders))}")
    if len(rules) > 1:
        raise ShardError(
            f"the shards were judged under different rules ({'; '.join(f'{r} in {p}' for r, p in rules.items())}); "
            f"run every shard with the same options"
        )
    if len(versions) > 1:
        raise ShardError(
            "the shards come from different harness versions "
            f"({', '.join(f'{v} in {p}' for v, p in versions.items())}); "
            f"rerun them from one commit"
        )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for rec in records:
        src = Path(rec.pop("path"))
        for sibling in (src, src.with_suffix(".pt"), src.with_suffix(".log")):
            if sibling.exists() and sibling.resolve() != (out / sibling.name).resolve():
                shutil.copy2(sibling, out / sibling.name)
    return records, json.loads(next(iter(rules)))
