"""The compliance gate as a pytest plugin: the rule options, one compliance test per candidate
and seed (judged by harness/judge/judging.py, the candidate's code run only in a sandboxed runner),
the evidence checks, and the summary table and files at the end of the session."""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import cast

import pytest
import torch

from harness.engine import data as mnist_data
from harness.engine import loop
from harness.judge import catalog, judging, sandbox, shards, trial
from harness.judge.rules import NOT_CLAIMED, Rules
from harness.records import store
from harness.report import table

SMOKE_ENV = "MNIST8K_SMOKE"  # "limit_train=N[,epochs=E]": for the plugin's own tests only
RECORD_PROPERTY = "mnist8k_record"  # carries a test's record from an xdist worker to the controller
NO_MATCH_ID = "no-candidate-matches"  # the placeholder test left when --candidates matches nothing
CUDA_GRAPHS = ("auto", "off", "on")
COMPILE = ("off", "on")


@dataclass(frozen=True)
class RunConfig:
    """How the gate runs (Rules says what it demands)."""

    seeds: tuple[int, ...] = (0,)  # every candidate must pass with each seed
    candidates: str = "*"  # comma-separated globs over registered names
    device: str = "auto"  # as asked; each xdist worker resolves its own
    data_dir: Path | None = None  # None: $MNIST8K_DATA_DIR, else ~/.cache/mnist8k
    results_dir: Path = store.default_results_dir()
    isolation: str = "auto"  # how runners start: sandbox, process, or auto (sandbox where it works)
    cuda_graphs: str = "auto"  # on CUDA: replay a captured step (auto falls back to eager, recorded)
    compile: bool = False  # the training step compiled by torch.compile (falls back to eager, recorded)
    models_dir: Path = catalog.REPO_MODELS  # the candidates: models/ beside the ini file
    unclaimed: str = "check"  # candidates without a claim: "check" (no training) or "train"
    shard: shards.Shard | None = None  # run only this group of the candidate x seed tests
    smoke: judging.Smoke = judging.Smoke()  # the plugin's own tests only (MNIST8K_SMOKE)
    build_limit: float = trial.BUILD_LIMIT  # seconds to import, build and trace a candidate
    memory_limit: int = trial.MEMORY_LIMIT  # bytes of data each child process may hold; 0: none


RULES_KEY = pytest.StashKey[Rules]()
RUN_KEY = pytest.StashKey[RunConfig]()
RECORD_KEY = pytest.StashKey[dict]()
ENTRIES_KEY = pytest.StashKey[dict]()  # name -> catalog.Entry, read from the sources, never imported
ISOLATION_KEY = pytest.StashKey[object]()  # sandbox.Isolation, or the SandboxError that forbids running


# ---------------------------------------------------------------- options


def _seeds(text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        seeds = ()
    if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise ValueError("expected distinct non-negative integers separated by commas, e.g. 0,1,2")
    return seeds


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise ValueError("must be a number > 0")
    return value


def _gib(text: str) -> int:
    value = float(text)
    if value < 0:
        raise ValueError("must be a number of GiB >= 0 (0: no limit)")
    return int(value * 2**30)


def _path(text: str) -> Path | None:
    return Path(text).expanduser() if text else None


# (option, type, default, help, default as shown). Each is also an ini key "mnist8k_" + name.
OPTIONS: list[tuple[str, Callable, object, str, str]] = [
    *Rules.options(),  # the rules' own thresholds, help and defaults (harness/judge/rules.py)
    ("seeds", _seeds, "0", "comma-separated seeds; every candidate must pass with each", "0"),
    ("candidates", str, "*", "comma-separated globs over registered candidate names", "* (all)"),
    ("device", str, "auto", "auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps", "auto"),
    ("data-dir", _path, "", "folder holding MNIST/raw/", f"${mnist_data.ENV_VAR}, else ~/.cache/mnist8k"),
    (
        "results-dir",
        _path,
        "results/latest",
        "folder for the run records, summary.md and summary.json",
        "results/latest",
    ),
    (
        "isolation",
        str,
        "auto",
        "where candidate code runs: sandbox (bubblewrap), process (a plain child "
        "process), or auto (the sandbox where it works; with CI=true an error where it does not)",
        "auto",
    ),
    (
        "cuda-graphs",
        str,
        "auto",
        "on CUDA: auto (replay a captured training step; eager, with the reason "
        "recorded, where a step cannot be captured), off (always eager) or on (an error where it cannot)",
        "auto",
    ),
    (
        "compile",
        str,
        "off",
        "on: compile the training step with torch.compile (inductor; captured too on CUDA); "
        "eager, with the reason recorded, where it cannot be compiled. Compiled numbers differ from "
        "eager ones in the last bits; each record's execution names the path",
        "off",
    ),
    (
        "unclaimed",
        str,
        "check",
        "candidates without a claim: check (vet, build, count, validate the recipe; no training) or train",
        "check",
    ),
    (
        "build-limit",
        _positive,
        trial.BUILD_LIMIT,
        "seconds a candidate has to import, build and trace before it fails as 'took more than N s to build'",
        f"{trial.BUILD_LIMIT:g}",
    ),
    (
        "memory-limit",
        _gib,
        trial.MEMORY_LIMIT / 2**30,
        "GiB of data each child process may hold (the "
        "builder always; the trainer on the CPU); a breach fails that candidate and seed. 0: no limit",
        f"{trial.MEMORY_LIMIT / 2**30:g}",
    ),
    (
        "models-dir",
        _path,
        "models",
        "the folder of candidate files, relative to the rootdir (where pytest.ini, tox.ini or pyproject.toml is)",
        "models",
    ),
    (
        "shard",
        lambda t: shards.Shard.parse(t) if t else None,
        "",
        "I/N: run only group I of N of the "
        "candidate x seed tests, balanced by recorded cost (for CI matrices and indexed jobs; merge the "
        "folders with `python -m harness merge`)",
        "all",
    ),
]


def _ini_name(option: str) -> str:
    return "mnist8k_" + option.replace("-", "_")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mnist8k", "mnist8k compliance gate (each also an ini key mnist8k_NAME)")
    for option, _, default, help_text, shown in OPTIONS:
        group.addoption(
            f"--{option}",
            dest=_ini_name(option),
            default=None,
            metavar=option.split("-")[-1].upper(),
            help=f"{help_text} (default: {shown}; ini: {_ini_name(option)})",
        )
        parser.addini(_ini_name(option), help_text, default=str(default))


def _option(config: pytest.Config, option: str, convert: Callable):
    """The command line wins over the ini file; a bad value names where it came from."""
    name = _ini_name(option)
    raw, source = config.getoption(name), f"--{option}"
    if raw is None:
        raw, source = config.getini(name), f"ini option {name}"
    try:
        return convert(str(raw).strip()), source
    except ValueError as e:
        raise pytest.UsageError(f"{source} = {raw!r}: {e}") from None


def _smoke_settings() -> dict:
    text = os.environ.get(SMOKE_ENV, "").strip()
    if not text:
        return {}
    try:
        pairs = dict(part.split("=", 1) for part in text.split(","))
        settings = {k.strip(): int(v) for k, v in pairs.items()}
    except ValueError:
        settings = {}
    if set(settings) - {"limit_train", "epochs"} or settings.get("limit_train", 0) < 1 or settings.get("epochs", 1) < 1:
        raise pytest.UsageError(
            f"${SMOKE_ENV}={text!r}: expected limit_train=N[,epochs=E] with "
            f"positive integers (it is meant for the plugin's own tests)"
        )
    return settings


def _settings(config: pytest.Config) -> tuple[Rules, RunConfig]:
    values, sources = {}, {}
    for option, convert, *_ in OPTIONS:
        values[option], sources[option] = _option(config, option, convert)
    given = {f: values[Rules.option(f)] for f in Rules.__dataclass_fields__}
    for name, why in Rules.problems(given):
        option = Rules.option(name)
        raise pytest.UsageError(f"{sources[option]} = {values[option]!r} {why}")
    rules = Rules(**given)
    results_dir = values["results-dir"] or Path("results/latest")
    if (
        values["shard"] is not None
        and sources["results-dir"] != "--results-dir"
        and values["results-dir"] in (None, Path("results/latest"))
    ):
        # Each shard in a folder of its own, so shards sharing a disk cannot mix records.
        results_dir = Path(f"results/latest/shard-{values['shard'].index}-of-{values['shard'].count}")
    if not results_dir.is_absolute():
        # Relative to where pytest was started for a command-line value, else to the ini file.
        base = config.invocation_params.dir if sources["results-dir"].startswith("--") else config.rootpath
        results_dir = base / results_dir
    smoke = _smoke_settings()
    if values["unclaimed"] not in ("check", "train"):
        raise pytest.UsageError(f"{sources['unclaimed']} = {values['unclaimed']!r} must be check or train")
    if values["cuda-graphs"] not in CUDA_GRAPHS:
        raise pytest.UsageError(
            f"{sources['cuda-graphs']} = {values['cuda-graphs']!r} must be one of {', '.join(CUDA_GRAPHS)}"
        )
    if values["compile"] not in COMPILE:
        raise pytest.UsageError(f"{sources['compile']} = {values['compile']!r} must be one of {', '.join(COMPILE)}")
    if values["isolation"] not in sandbox.ISOLATIONS:
        raise pytest.UsageError(
            f"{sources['isolation']} = {values['isolation']!r} must be one of {', '.join(sandbox.ISOLATIONS)}"
        )
    run = RunConfig(
        seeds=values["seeds"],
        candidates=values["candidates"] or "*",
        device=values["device"],
        data_dir=values["data-dir"],
        results_dir=results_dir,
        isolation=values["isolation"],
        cuda_graphs=values["cuda-graphs"],
        compile=values["compile"] == "on",
        unclaimed=values["unclaimed"],
        shard=values["shard"],
        models_dir=config.rootpath / (values["models-dir"] or Path("models")),
        smoke=judging.Smoke(smoke.get("limit_train"), smoke.get("epochs")),
        build_limit=values["build-limit"],
        memory_limit=values["memory-limit"],
    )
    return rules, run


# ---------------------------------------------------------------- set-up


def _worker_device(asked: str, index: int) -> torch.device:
    """Each xdist worker on its own GPU when there are several and none was named."""
    device = loop.resolve_device(asked)
    if device.type == "cuda" and device.index is None and torch.cuda.device_count() > 1:
        device = torch.device("cuda", index % torch.cuda.device_count())
    return device


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "compliance: a candidate trained and judged by the rules (slow; selected with -m compliance)"
    )
    config.addinivalue_line(
        "markers", "benchmark: speed of a candidate (selected with -m benchmark; run without xdist)"
    )
    config.addinivalue_line(
        "markers",
        "evidence: a claiming candidate's committed records are current and "
        "pass (fast, no training; selected with -m evidence)",
    )
    rules, run = _settings(config)
    worker = getattr(config, "workerinput", None)
    try:
        device = loop.resolve_device(run.device)
        if worker is not None:
            # Workers share the cores; more threads than cores makes every worker slower.
            torch.set_num_threads(trial.threads_per_job(int(worker["workercount"])))
            device = _worker_device(run.device, int(worker["workerid"].lstrip("gw") or 0))
            run = replace(run, device=str(device))
    except ValueError as e:
        raise pytest.UsageError(f"--device: {e}") from None
    config.stash[RULES_KEY] = rules
    config.stash[RUN_KEY] = run
    config.stash[ENTRIES_KEY] = catalog.scan(run.models_dir)
    try:
        config.stash[ISOLATION_KEY] = sandbox.choose(run.isolation)
    except sandbox.SandboxError as e:  # raised only when a compliance test would run unsandboxed
        config.stash[ISOLATION_KEY] = e
    config.pluginmanager.register(GateSession(config), "mnist8k-gate")


def pytest_report_header(config: pytest.Config) -> list[str]:
    rules, run = config.stash[RULES_KEY], config.stash[RUN_KEY]
    names = [e.name for e in catalog.select(config.stash[ENTRIES_KEY], run.candidates)]
    isolation = config.stash[ISOLATION_KEY]
    lines = [
        f"mnist8k: {rules.sentence()}; seeds {','.join(map(str, run.seeds))}; device {run.device}; "
        f"results {run.results_dir}",
        f"mnist8k candidates ({run.candidates}): {', '.join(names) or 'none'}"
        + (f"; shard {run.shard} of the candidate x seed tests" if run.shard else ""),
        f"mnist8k isolation: {isolation.mode}: {isolation.reason}"
        if isinstance(isolation, sandbox.Isolation)
        else f"mnist8k isolation: UNAVAILABLE: {isolation}",
    ]
    if run.smoke.active:
        lines.append(
            f"mnist8k SMOKE run (${SMOKE_ENV}): limit_train={run.smoke.limit_train}, "
            f"epochs={run.smoke.epochs}; no result of it can pass"
        )
    return lines


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """candidate x seed for the compliance test; candidate alone for benchmarks."""
    if "candidate" not in metafunc.fixturenames:
        return
    run = metafunc.config.stash[RUN_KEY]
    names = [e.name for e in catalog.select(metafunc.config.stash[ENTRIES_KEY], run.candidates)]
    with_seed = "seed" in metafunc.fixturenames
    argnames = ("candidate", "seed") if with_seed else ("candidate",)
    if not names:
        # Deselected again in pytest_collection_modifyitems, with a message saying why.
        metafunc.parametrize(argnames, [pytest.param(*[None] * len(argnames), id=NO_MATCH_ID)])
        return
    if with_seed:
        metafunc.parametrize(argnames, [pytest.param(n, s, id=f"{n}-seed{s}") for n in names for s in run.seeds])
    else:
        metafunc.parametrize("candidate", names)


def _asks_for_compliance(config: pytest.Config) -> bool:
    expr = config.getoption("markexpr", "") or ""
    return "compliance" in expr and "not compliance" not in expr


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    # A repository without a compliance test of its own gets the plugin's, before -m selects.
    if _asks_for_compliance(config) and not any("gate" in getattr(it, "fixturenames", ()) for it in items):
        from harness import gate_test

        module = pytest.Module.from_parent(session, path=Path(gate_test.__file__))
        for node in module.collect():
            if not isinstance(node, pytest.Item):  # gate_test holds test functions only
                raise TypeError(f"{gate_test.__file__} collects {node!r}, not a test")
            items.append(node)
    _deselect(config, items)


def _deselect(config: pytest.Config, items: list[pytest.Item]) -> None:
    empty = [it for it in items if (spec := getattr(it, "callspec", None)) is not None and spec.id == NO_MATCH_ID]
    if empty:
        config.hook.pytest_deselected(items=empty)
        items[:] = [it for it in items if it not in empty]
        config.stash[GateSession.KEY].unmatched = True
    run = config.stash[RUN_KEY]
    if run.shard is not None:
        gated = {it.nodeid: it for it in items if "compliance" in it.keywords and hasattr(it, "callspec")}
        costs = {
            node: _expected_cost(config, it.callspec.params["candidate"], it.callspec.params["seed"])
            for node, it in gated.items()
        }
        placed = shards.assign(costs, run.shard.count)
        other = [it for node, it in gated.items() if placed[node] != run.shard.index]
        if other:
            config.hook.pytest_deselected(items=other)
            items[:] = [it for it in items if it not in other]


def _expected_cost(config: pytest.Config, name: str, seed: int) -> float:
    """Seconds a compliance test is expected to take: almost nothing when it will not train."""
    entry, run = config.stash[ENTRIES_KEY][name], config.stash[RUN_KEY]
    if entry.error is not None or (entry.claim is None and run.unclaimed == "check"):
        return shards.CHEAP_COST
    return shards.recorded_cost(store.EVIDENCE_DIR, name, seed) or shards.DEFAULT_COST


# ---------------------------------------------------------------- one test


def _command(config: pytest.Config) -> str:
    worker = getattr(config, "workerinput", None)
    args = list(worker["mainargv"])[1:] if worker else list(config.invocation_params.args)
    return shlex.join(["pytest", *args])


class Gate:
    """What a compliance test uses: the settings, the judgement of one candidate and seed
    (harness/judge/judging.py), and the ending of the test from it: the claim decides between pass,
    fail and expected failure. Nothing of the candidate's runs in this process."""

    ENTRIES_KEY = ENTRIES_KEY

    def __init__(self, item: pytest.Item):
        self.item = item
        self.rules = item.config.stash[RULES_KEY]
        self.run = item.config.stash[RUN_KEY]
        self.device = loop.resolve_device(self.run.device)

    def settings(self) -> trial.Settings:
        isolation = self.item.config.stash[ISOLATION_KEY]
        if not isinstance(isolation, sandbox.Isolation):
            pytest.fail(f"no candidate can be judged: {isolation}", pytrace=False)
        return trial.Settings(
            isolation,
            str(self.device),
            threads=torch.get_num_threads(),
            cuda_graphs=self.run.cuda_graphs,
            compile=self.run.compile,
            build_limit=self.run.build_limit,
            memory_limit=self.run.memory_limit,
        )

    def session(self) -> judging.Session:
        return judging.Session(
            rules=self.rules,
            settings=self.settings(),
            results_dir=self.run.results_dir,
            data_dir=self.run.data_dir,
            command=_command(self.item.config),
            train_unclaimed=self.run.unclaimed == "train",
            smoke=self.run.smoke,
        )

    def judge_candidate(self, name: str, seed: int) -> None:
        entry = self.item.config.stash[ENTRIES_KEY][name]
        try:
            rec = judging.judge(entry, seed, self.session(), test_id=self.item.nodeid)
        except judging.Unavailable as e:
            pytest.fail(str(e), pytrace=False)
        except loop.TrainingInterrupted as stopped:
            # The finished epochs are on disk; they reach the summary, then pytest stops the
            # session. No report follows an interrupt, so the row cannot arrive twice.
            session = self.item.config.stash[GateSession.KEY]
            if not session.is_worker and stopped.record is not None:
                session.records.append(stopped.record)
            raise
        except Exception as e:
            # The harness's own bug, not the candidate's: reported as such, and it fails the gate
            # only where a claim is at stake.
            why = (
                f"internal error of the harness while judging {name} seed {seed} (a bug in mnist8k, not "
                f"in the candidate; please report it): {type(e).__name__}: {e}"
            )
            if entry.claim is None:
                pytest.xfail(why)
            raise RuntimeError(why) from e
        self.item.stash[RECORD_KEY] = rec
        label = rec["gate"]["outcome"]
        reason = "\n".join(rec["verdict"]["failures"])
        if label == "FAIL":
            pytest.fail(reason, pytrace=False)
        if label == "xfail":
            pytest.xfail(reason)
        if label.startswith(NOT_CLAIMED):
            claimed = ", ".join((entry.claim or {}).get("devices", ()))
            pytest.xfail(
                f"{name} seed {seed}: {label} (claimed on {claimed}); its numbers are in the table and "
                f"the record" + (f"; here it would fail: {reason}" if reason else "; here it passes every rule")
            )
        if label == "XPASS":
            pytest.fail(
                f"{name} seed {seed} passes every rule but makes no claim: add "
                f"claim=dict(seeds=..., last_k=...) to its @register_model in {entry.file}",
                pytrace=False,
            )
        if label == judging.NOT_TRAINED:
            pytest.skip(f"{name}: not trained: no claim (checks passed; --unclaimed=train trains it)")


@pytest.fixture
def gate(request: pytest.FixtureRequest) -> Gate:
    session = request.config.stash[GateSession.KEY]
    if not session.writable_checked:
        # Fail before any training, not after it, when records could not be saved.
        store.check_writable(request.config.stash[RUN_KEY].results_dir)
        session.writable_checked = True
    return Gate(request.node)


@pytest.fixture(scope="session")
def mnist8k_device(pytestconfig: pytest.Config) -> torch.device:
    """The --device option, resolved (an xdist worker's own GPU where there are several)."""
    return loop.resolve_device(pytestconfig.stash[RUN_KEY].device)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    rec = item.stash.get(RECORD_KEY, None)
    if rec is not None and call.when == "call":
        # As a JSON string, so it crosses from an xdist worker to the controller unchanged.
        report.user_properties.append((RECORD_PROPERTY, json.dumps(rec)))
        del item.stash[RECORD_KEY]
    return report


# ---------------------------------------------------------------- the session's summary


class GateSession:
    """Collects every record (from xdist workers too) and, in the controller only, writes
    summary.md and summary.json and prints the table."""

    KEY = pytest.StashKey["GateSession"]()

    def __init__(self, config: pytest.Config):
        self.config = config
        self.records: list[dict] = []
        self.unmatched = False
        self.compliance_ran = False  # a compliance test reported, with or without a record
        self.writable_checked = False
        self.written: list[Path] = []
        self.write_error: str | None = None
        self.is_worker = hasattr(config, "workerinput")
        config.stash[self.KEY] = self

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.is_worker:
            return
        if "compliance" in report.keywords:
            self.compliance_ran = True
        for name, value in report.user_properties:
            if name == RECORD_PROPERTY:
                # JSON text, as pytest_runtest_makereport wrote it, across xdist's wire
                self.records.append(json.loads(cast(str, value)))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        # Written whenever compliance tests ran, even with no record, so an old summary in
        # the folder is never mistaken for this session's.
        if self.is_worker or not (self.records or self.compliance_ran):
            return
        folder = self.config.stash[RUN_KEY].results_dir
        try:
            self.written = table.write_summary(
                folder, self.records, self.config.stash[RULES_KEY], _command(self.config)
            )
        except OSError as e:
            self.write_error = f"could not write the summary to {folder}: {e}"

    def pytest_terminal_summary(self, terminalreporter) -> None:
        tr = terminalreporter
        run = self.config.stash[RUN_KEY]
        if self.unmatched:
            entries = self.config.stash[ENTRIES_KEY]
            known = ", ".join(sorted(entries)) or "none"
            tr.write_sep("=", "mnist8k", yellow=True)
            tr.write_line(f"no registered candidate matches --candidates {run.candidates!r}; registered: {known}")
        if not (self.records or self.compliance_ran):
            return
        rules = self.config.stash[RULES_KEY]
        ordered = sorted(self.records, key=lambda r: (r["result"]["candidate"], r["result"]["seed"]))
        tr.write_sep("=", "mnist8k compliance")
        tr.write_line(table.render(table.run_rows(ordered, rules.last_k)) or "no compliance test left a record")
        per_candidate = table.candidate_rows(ordered)
        if per_candidate:
            tr.write_line("")
            tr.write_line(table.render(per_candidate))
        tally = table.counts(ordered)
        tr.write_line("")
        tr.write_line("outcome: " + ", ".join(f"{n} {label}" for label, n in tally.items() if n))
        for path in self.written:
            tr.write_line(f"wrote {path}")
        tr.write_line(f"run records in {run.results_dir}")
        for rec in ordered:
            if "unsaved" in rec["gate"]:
                tr.write_line(f"could not write the record {rec['gate']['unsaved']}", red=True)
        if self.write_error:
            tr.write_line(self.write_error, red=True)
