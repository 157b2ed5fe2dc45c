"""The compliance gate as a pytest plugin, and the judge: the rule options, one test per
candidate and seed (each trained in a sandboxed runner, never in this process), a JSON record
per test, and the summary table and files at the end of the session."""
from __future__ import annotations

import json
import os
import re
import shlex
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, NoReturn

import pytest
import torch

from harness import catalog, engine, results, sandbox, table, trial
from harness import data as mnist_data
from harness.progress import format_epoch_log
from harness.recipe import MAX_EPOCHS, Recipe, RecipeError
from harness.rules import Rules, Verdict, judge

SMOKE_ENV = "MNIST8K_SMOKE"  # "limit_train=N[,epochs=E]": for the plugin's own tests only
RECORD_PROPERTY = "mnist8k_record"  # carries a test's record from an xdist worker to the controller
NO_MATCH_ID = "no-candidate-matches"  # the placeholder test left when --candidates matches nothing


@dataclass(frozen=True)
class RunConfig:
    """How the gate runs (Rules says what it demands)."""

    seeds: tuple[int, ...] = (0,)  # every candidate must pass with each seed
    candidates: str = "*"  # comma-separated globs over registered names
    device: str = "auto"  # as asked; each xdist worker resolves its own
    data_dir: Path | None = None  # None: $MNIST8K_DATA_DIR, else ~/.cache/mnist8k
    results_dir: Path = results.default_results_dir()
    isolation: str = "auto"  # how runners start: sandbox, process, or auto (sandbox where it works)
    models_dir: Path = catalog.REPO_MODELS  # the candidates: models/ beside the ini file
    # Smoke runs, for the plugin's own tests: judge() fails any run with limit_train set,
    # and a shortened run also fails "ran E of N planned epochs", so neither can pass the gate.
    limit_train: int | None = None
    epochs: int | None = None

    @property
    def smoke(self) -> bool:
        return self.limit_train is not None


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


def _path(text: str) -> Path | None:
    return Path(text).expanduser() if text else None


# (option, type, default, help, default as shown). Each is also an ini key "mnist8k_" + name.
OPTIONS: list[tuple[str, Callable, object, str, str]] = [
    ("max-params", int, Rules.max_params, "most parameters a model may have", f"{Rules.max_params}"),
    ("max-epochs", int, Rules.max_epochs, f"most epochs a recipe may train, {MAX_EPOCHS} at most",
     f"{Rules.max_epochs}"),
    ("target-acc", float, Rules.target_acc, "percent test accuracy each of the last K epochs must reach",
     f"{Rules.target_acc:.2f}"),
    ("last-k", int, Rules.last_k, "how many final epochs must each reach --target-acc", f"{Rules.last_k}"),
    ("seeds", _seeds, "0", "comma-separated seeds; every candidate must pass with each", "0"),
    ("candidates", str, "*", "comma-separated globs over registered candidate names", "* (all)"),
    ("device", str, "auto", "auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps", "auto"),
    ("data-dir", _path, "", "folder holding MNIST/raw/", f"${mnist_data.ENV_VAR}, else ~/.cache/mnist8k"),
    ("results-dir", _path, "results/latest", "folder for the run records, summary.md and summary.json",
     "results/latest"),
    ("isolation", str, "auto", "where candidate code runs: sandbox (bubblewrap), process (a plain child "
     "process), or auto (the sandbox where it works; with CI=true an error where it does not)", "auto"),
]


def _ini_name(option: str) -> str:
    return "mnist8k_" + option.replace("-", "_")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mnist8k", "mnist8k compliance gate (each also an ini key mnist8k_NAME)")
    for option, _, default, help_text, shown in OPTIONS:
        group.addoption(f"--{option}", dest=_ini_name(option), default=None, metavar=option.split("-")[-1].upper(),
                        help=f"{help_text} (default: {shown}; ini: {_ini_name(option)})")
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
    if set(settings) - {"limit_train", "epochs"} or settings.get("limit_train", 0) < 1 \
            or settings.get("epochs", 1) < 1:
        raise pytest.UsageError(f"${SMOKE_ENV}={text!r}: expected limit_train=N[,epochs=E] with "
                                f"positive integers (it is meant for the plugin's own tests)")
    return settings


def _settings(config: pytest.Config) -> tuple[Rules, RunConfig]:
    values, sources = {}, {}
    for option, convert, *_ in OPTIONS:
        values[option], sources[option] = _option(config, option, convert)
    checks = [
        ("max-params", values["max-params"] >= 1, "must be a positive integer"),
        ("max-epochs", 1 <= values["max-epochs"] <= MAX_EPOCHS,
         f"must lie in 1..{MAX_EPOCHS}: the rule allows {MAX_EPOCHS}, the gate can only tighten it"),
        ("target-acc", 0 < values["target-acc"] <= 100, "must be a percentage in (0, 100]"),
        ("last-k", 1 <= values["last-k"] <= values["max-epochs"], "must lie in 1..max-epochs"),
    ]
    for option, ok, why in checks:
        if not ok:
            raise pytest.UsageError(f"{sources[option]} = {values[option]!r} {why}")
    rules = Rules(max_params=values["max-params"], max_epochs=values["max-epochs"],
                  target_acc=values["target-acc"], last_k=values["last-k"])
    results_dir = values["results-dir"] or Path("results/latest")
    if not results_dir.is_absolute():
        # Relative to where pytest was started for a command-line value, else to the ini file.
        base = config.invocation_params.dir if sources["results-dir"].startswith("--") else config.rootpath
        results_dir = base / results_dir
    smoke = _smoke_settings()
    if values["isolation"] not in sandbox.ISOLATIONS:
        raise pytest.UsageError(f"{sources['isolation']} = {values['isolation']!r} must be one of "
                                f"{', '.join(sandbox.ISOLATIONS)}")
    run = RunConfig(seeds=values["seeds"], candidates=values["candidates"] or "*", device=values["device"],
                    data_dir=values["data-dir"], results_dir=results_dir, isolation=values["isolation"],
                    models_dir=config.rootpath / "models",
                    limit_train=smoke.get("limit_train"), epochs=smoke.get("epochs"))
    return rules, run


# ---------------------------------------------------------------- set-up

def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _worker_device(asked: str, index: int) -> torch.device:
    """Each xdist worker on its own GPU when there are several and none was named."""
    device = engine.resolve_device(asked)
    if device.type == "cuda" and device.index is None and torch.cuda.device_count() > 1:
        device = torch.device("cuda", index % torch.cuda.device_count())
    return device


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "compliance: a candidate trained and judged by the rules "
                                       "(slow; selected with -m compliance)")
    config.addinivalue_line("markers", "benchmark: speed of a candidate (selected with -m benchmark; "
                                       "run without xdist)")
    rules, run = _settings(config)
    worker = getattr(config, "workerinput", None)
    try:
        device = engine.resolve_device(run.device)
        if worker is not None:
            # Workers share the cores; more threads than cores makes every worker slower.
            torch.set_num_threads(max(1, _cores() // int(worker["workercount"])))
            device = _worker_device(run.device, int(worker["workerid"].lstrip("gw") or 0))
            run = RunConfig(**{**asdict(run), "device": str(device)})
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
    lines = [f"mnist8k: <= {rules.max_params:,} parameters, <= {rules.max_epochs} epochs, "
             f">= {rules.target_acc:.2f}% in each of the last {rules.last_k}; "
             f"seeds {','.join(map(str, run.seeds))}; device {run.device}; results {run.results_dir}",
             f"mnist8k candidates ({run.candidates}): {', '.join(names) or 'none'}",
             f"mnist8k isolation: {isolation.mode}: {isolation.reason}" if isinstance(isolation, sandbox.Isolation)
             else f"mnist8k isolation: UNAVAILABLE: {isolation}"]
    if run.smoke:
        lines.append(f"mnist8k SMOKE run (${SMOKE_ENV}): limit_train={run.limit_train}, "
                     f"epochs={run.epochs}; no result of it can pass")
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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    empty = [it for it in items if getattr(it, "callspec", None) is not None and it.callspec.id == NO_MATCH_ID]
    if empty:
        config.hook.pytest_deselected(items=empty)
        items[:] = [it for it in items if it not in empty]
        config.stash[GateSession.KEY].unmatched = True


# ---------------------------------------------------------------- one test

def _plain(obj):
    """JSON-safe copy: a candidate's recipe may hold anything, and a record must still be written."""
    return json.loads(json.dumps(obj, default=repr))


def record_name(candidate: str, seed: int) -> str:
    """The record's file name; a broken file's candidate name may hold a path."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", candidate) + f"-seed{seed}.json"


def _command(config: pytest.Config) -> str:
    worker = getattr(config, "workerinput", None)
    args = list(worker["mainargv"])[1:] if worker else list(config.invocation_params.args)
    return shlex.join(["pytest", *args])


class Gate:
    """What a compliance test uses: the settings, the trial of one candidate and seed in a
    runner, and the ending of the test from a verdict (the claim decides between pass, fail
    and expected failure). Nothing of the candidate's runs in this process."""

    ENTRIES_KEY = ENTRIES_KEY

    def __init__(self, item: pytest.Item):
        self.item = item
        self.rules = item.config.stash[RULES_KEY]
        self.run = item.config.stash[RUN_KEY]
        self.device = engine.resolve_device(self.run.device)

    def settings(self) -> trial.Settings:
        isolation = self.item.config.stash[ISOLATION_KEY]
        if not isinstance(isolation, sandbox.Isolation):
            pytest.fail(f"no candidate can be judged: {isolation}", pytrace=False)
        return trial.Settings(isolation, str(self.device), threads=torch.get_num_threads())

    def judge_candidate(self, name: str, seed: int) -> None:
        """Vetted, built, checked, trained and scored, cheapest checks first: a model over the
        budget is never trained."""
        entry = self.item.config.stash[ENTRIES_KEY][name]
        if entry.error is not None:
            self.stop(entry, seed, f"{name}: {entry.error}")
        settings = self.settings()
        with trial.runner(Path(entry.file), settings) as runner:
            try:
                built = trial.build(runner, name, seed)
            except trial.TrialStopped as e:
                self.stop(entry, seed, e.reason)
            except trial.RunnerFailed as e:
                self.stop(entry, seed, f"{name}: the runner failed while building: {e}")
            params = built.budget.total
            if (broken := trial.over_budget(name, built.budget, self.rules.max_params)) is not None:
                self.stop(entry, seed, broken, params=params)
            try:
                recipe = Recipe.from_dict(entry.recipe)
            except (RecipeError, TypeError) as e:
                self.stop(entry, seed, f"{name}: {e}", params=params)
            if recipe.epochs > self.rules.max_epochs:
                self.stop(entry, seed, f"{name}: recipe trains {recipe.epochs} epochs > {self.rules.max_epochs}",
                          params=params)
            try:
                outcome = self.train(entry, built, recipe, seed)
            except trial.RunnerFailed as e:
                self.stop(entry, seed, f"{name} seed {seed}: the runner failed while training: {e}", params=params)
        self.conclude(entry, seed, outcome.result, judge(outcome.result, self.rules, epochs_planned=recipe.epochs))

    def stop(self, entry: catalog.Entry, seed: int, reason: str, *, params: int | None = None) -> NoReturn:
        """End before training: the candidate broke a rule or could not be built."""
        result = engine.RunResult(
            candidate=entry.name, params=params if params is not None else 0, seed=seed, device=str(self.device),
            torch=torch.__version__, threads=torch.get_num_threads(), recipe=_plain(entry.recipe),
            status="not trained" if params is not None else "not built", error=reason)
        verdict = Verdict(passed=False, failures=[reason],
                          params_margin=self.rules.max_params - params if params is not None else 0)
        try:
            self.conclude(entry, seed, result, verdict)
        except BaseException as ending:
            # Called from an except block: the reason already says what the error was.
            raise ending from None
        raise AssertionError("unreachable: conclude() ends a failing test")

    def train(self, entry: catalog.Entry, built: trial.Built, recipe: Recipe, seed: int) -> trial.Outcome:
        """The recipe as declared (shortened only in a smoke run), with the gate's seed."""
        try:
            mnist = mnist_data.load(self.run.data_dir)
        except mnist_data.DataError as e:
            pytest.fail(f"MNIST is not available, so {entry.name} cannot be judged:\n{e}", pytrace=False)
        planned = recipe.epochs
        if self.run.epochs is not None:
            recipe = recipe.replace(epochs=self.run.epochs)
        try:
            outcome = trial.train(built, entry.name, recipe, mnist, seed, limit_train=self.run.limit_train)
        except engine.TrainingInterrupted as stopped:
            # Keep the finished epochs on disk and in the summary, then let pytest stop the
            # session. No report follows an interrupt, so the row cannot arrive twice.
            rec = self.record(entry, seed, stopped.result, judge(stopped.result, self.rules, planned))
            session = self.item.config.stash[GateSession.KEY]
            if not session.is_worker:
                session.records.append(rec)
            raise
        # Beside the record: the final weights (for `python -m harness eval` and the report's
        # misclassified digits) and the course-format log.
        stem = self.run.results_dir / record_name(entry.name, seed)[:-len(".json")]
        if outcome.state is not None:
            results.torch_save(stem.with_suffix(".pt"), outcome.state)
        steps = engine.steps_per_epoch(len(mnist.train_images), recipe.batch_size, self.run.limit_train)
        log = format_epoch_log(outcome.result.epochs, steps)
        if outcome.result.status != "completed":
            log += f"{outcome.result.status}: {outcome.result.error}\n"
        results.write_text(stem.with_suffix(".log"), log)
        return outcome

    def record(self, entry: catalog.Entry, seed: int, result: engine.RunResult, verdict: Verdict) -> dict:
        label = table.outcome(entry.complies, verdict.passed)
        rec = results.run_record(result, verdict=verdict, rules=self.rules, command=_command(self.item.config))
        rec["gate"] = {"candidate": entry.name, "seed": seed, "complies": entry.complies, "outcome": label,
                       "smoke": self.run.smoke, "file": entry.file, "test": self.item.nodeid}
        try:
            results.write_json(self.run.results_dir / record_name(entry.name, seed), rec)
        except OSError as e:
            # The verdict stands and the row still reaches the summary; the file is reported missing.
            rec["gate"]["unsaved"] = f"{record_name(entry.name, seed)}: {e}"
        self.item.stash[RECORD_KEY] = rec
        return rec

    def conclude(self, entry: catalog.Entry, seed: int, result: engine.RunResult, verdict: Verdict) -> None:
        """Write the record, then pass, fail or xfail as the claim and the verdict decide."""
        label = self.record(entry, seed, result, verdict)["gate"]["outcome"]
        reason = "\n".join(verdict.failures)
        if label == "FAIL":
            pytest.fail(reason, pytrace=False)
        if label == "xfail":
            pytest.xfail(reason)
        if label == "XPASS":
            pytest.fail(f"{entry.name} seed {seed} passes every rule but claims complies=False: "
                        f"update the claim to complies=True in {entry.file}", pytrace=False)


@pytest.fixture
def gate(request: pytest.FixtureRequest) -> Gate:
    session = request.config.stash[GateSession.KEY]
    if not session.writable_checked:
        # Fail before any training, not after it, when records could not be saved.
        results.check_writable(request.config.stash[RUN_KEY].results_dir)
        session.writable_checked = True
    return Gate(request.node)


@pytest.fixture(scope="session")
def mnist8k_device(pytestconfig: pytest.Config) -> torch.device:
    """The --device option, resolved (an xdist worker's own GPU where there are several)."""
    return engine.resolve_device(pytestconfig.stash[RUN_KEY].device)


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
                self.records.append(json.loads(value))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        # Written whenever compliance tests ran, even with no record, so an old summary in
        # the folder is never mistaken for this session's.
        if self.is_worker or not (self.records or self.compliance_ran):
            return
        rules = asdict(self.config.stash[RULES_KEY])
        folder = self.config.stash[RUN_KEY].results_dir
        last_k = rules["last_k"]
        ordered = sorted(self.records, key=lambda r: (r["result"]["candidate"], r["result"]["seed"]))
        summary = {
            "schema": results.SCHEMA,
            "kind": "summary",
            "rules": rules,
            "machine": results.machine_info(),
            "command": _command(self.config),
            "counts": table.counts(ordered),
            "runs": table.run_rows(ordered, last_k),
            "candidates": table.candidate_rows(ordered),
            "records": [record_name(r["result"]["candidate"], r["result"]["seed"]) for r in ordered],
        }
        try:
            results.write_json(folder / "summary.json", summary)
            results.write_text(folder / "summary.md", table.markdown(ordered, rules))
            self.written = [folder / "summary.md", folder / "summary.json"]
        except OSError as e:
            self.write_error = f"could not write the summary to {folder}: {e}"

    def pytest_terminal_summary(self, terminalreporter) -> None:
        tr = terminalreporter
        run = self.config.stash[RUN_KEY]
        if self.unmatched:
            known = ", ".join(sorted(self.config.stash[ENTRIES_KEY])) or "none"
            tr.write_sep("=", "mnist8k", yellow=True)
            tr.write_line(f"no registered candidate matches --candidates {run.candidates!r}; "
                          f"registered: {known}")
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
