"""The author's published numbers: per-epoch test results and the parameter count read from a notebook's
saved outputs, with notes where the built model's count can differ from them (layers forward never uses,
summaries printed by earlier versions of the class)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from harness.cli.importer.program import SourceProgram
from harness.cli.importer.sources import Unit, log_files
from harness.cli.importer.values import name_of

# torch.nn layers without weights: one built and never used changes no parameter count
PARAMETER_FREE = (
    "Dropout",
    "ReLU",
    "LeakyReLU",
    "GELU",
    "SiLU",
    "ELU",
    "Sigmoid",
    "Tanh",
    "Softmax",
    "LogSoftmax",
    "MaxPool",
    "AvgPool",
    "AdaptiveAvgPool",
    "AdaptiveMaxPool",
    "Flatten",
    "Identity",
    "Upsample",
    "ZeroPad",
)


# ---------------------------------------------------------------- published numbers

TEST_FULL = re.compile(
    r"(?:test|val\w*)\b[^\n]*?loss\s*[:=]?\s*([0-9.]+)[^\n]*?accuracy\s*[:=]?\s*(\d+)(?:\.0+)?\s*/\s*(\d+)(?:\.0+)?"
    r"\s*\(\s*([0-9.]+)\s*%?\s*\)",
    re.I,
)
# counts printed as floats too (`9832.0/10000`): the template's `correct` summed as a tensor's .item()
RATIO = r"accuracy\s*[:=]?\s*(\d+)(?:\.0+)?\s*/\s*(\d+)(?:\.0+)?\s*\(\s*([0-9.]+)\s*%?\s*\)"
TEST_RATIO = re.compile(r"(?:test|val\w*)\b[^\n]*?" + RATIO, re.I)
TEST_ACC = re.compile(r"(?:test|val(?:idation)?)[ _-]?acc(?:uracy)?\s*[:=]\s*([0-9.]+)\s*%?", re.I)
TEST_PAIR = re.compile(r"\b(?:test|val)\s*[:=]\s*([0-9.]+)\s*\(\s*([0-9.]+)\s*%\s*\)", re.I)
TEST_LOSS = re.compile(r"(?:test|val\w*)[ _-]?(?:set\W+)?(?:average\s+)?loss\s*[:=]\s*([0-9.]+)", re.I)
# A heading over the lines of a test result (`Test/Validation Results:`, then `Average loss: ...` and
# `Accuracy: 9868/10000 (98.68%)` on lines of their own, which do not name the test set)
TEST_HEADING = re.compile(r"\W*(?:test|val\w*)\b[^:]*:", re.I)
HEADED_RATIO = re.compile(RATIO, re.I)
HEADED_LOSS = re.compile(r"(?:average\s+)?loss\s*[:=]\s*([0-9.]+)", re.I)
EPOCH = re.compile(r"\bepoch\b\s*[:=#]?\s*(\d+)", re.I)
# A line that sums a run up (`Best Test Accuracy: 99.45%`, `Training completed with validation accuracy`)
SUMMARY = re.compile(r"\b(?:best|final|finished|completed?|achieved|overall|highest|max(?:imum)?|peak)\b", re.I)
PARAMS = re.compile(r"Total params\s*:?\s*(\d[\d,]*)")
NEW_RUN = "the outputs hold more than one run; the last one is taken"


def _results(text: str) -> list[tuple[int | None, dict, bool]]:
    """Each test result of a log in order: (the epoch printed on its line or on the header line before it,
    or None; the result; whether it is a summary line with no epoch of its own)."""
    found: list[tuple[int | None, dict, bool]] = []
    current: int | None = None
    headed, headed_loss = False, None  # inside a `Test Results:` block, and the loss it printed
    for raw in re.split(r"[\r\n]+", text):
        line = raw.strip()
        if not line:
            continue
        rec = None
        m = TEST_FULL.search(line)
        if m:
            rec = {
                "test_loss": float(m.group(1)),
                "test_correct": int(m.group(2)),
                "test_total": int(m.group(3)),
                "test_acc": float(m.group(4)),
            }
        elif m := TEST_RATIO.search(line):
            rec = {"test_correct": int(m.group(1)), "test_total": int(m.group(2)), "test_acc": float(m.group(3))}
        elif m := TEST_PAIR.search(line):
            rec = {"test_loss": float(m.group(1)), "test_acc": float(m.group(2))}
        elif (am := TEST_ACC.search(line)) and "%|" not in line:  # a tqdm bar's running number is no result
            rec = {"test_acc": float(am.group(1))}
            lm = TEST_LOSS.search(line)
            if lm:
                rec["test_loss"] = float(lm.group(1))
        elif headed and (m := HEADED_RATIO.match(line)):
            rec = {"test_correct": int(m.group(1)), "test_total": int(m.group(2)), "test_acc": float(m.group(3))}
            if headed_loss is not None:
                rec = {"test_loss": headed_loss, **rec}
        elif headed and (lm := HEADED_LOSS.match(line)):
            headed_loss = float(lm.group(1))
            continue
        em = EPOCH.search(line)
        if rec is None:
            if em:
                current = int(em.group(1))
            heading = TEST_HEADING.fullmatch(line) is not None
            # a rule of `=====` inside the block keeps it open; any other line closes it
            if heading or any(ch.isalnum() for ch in line):
                headed, headed_loss = heading, None
            continue
        epoch = int(em.group(1)) if em and em.start() < (m.start() if m else len(line)) else current
        found.append((epoch, rec, epoch is None and SUMMARY.search(line) is not None))
        current, headed, headed_loss = None, False, None
    return found


def parse_log(text: str) -> tuple[list[dict], list[str]]:
    """Per-epoch test results in a saved output, in order: {"epoch", "test_acc", ...}, with the epoch
    as printed (from 1; a log counting from 0 is shifted, and said so) or else by order; and notes."""
    found = _results(text)
    if not all(summary for _, _, summary in found):
        # a run's best or final accuracy repeats one of its epochs: counted, it would be one more epoch
        found = [f for f in found if not f[2]]
    records: list[dict] = []
    notes: list[str] = []
    used: set[int] = set()
    last_printed: int | None = None
    for printed, rec, _ in found:
        # a log counting from 0 or 1 again is a new run (a cell run twice, a README with a CPU and a
        # GPU run); a repeated epoch that is no restart (a validation and a test line) is numbered on
        before = last_printed if last_printed is not None else records[-1]["epoch"] if records else None
        if printed in (0, 1) and before is not None and printed < before:
            notes.append(NEW_RUN)
            records, used = [], set()
        epoch = printed
        if epoch is None or epoch in used:
            epoch = (max(used) + 1) if used else (1 if epoch is None else epoch)
        used.add(epoch)
        records.append({"epoch": epoch, **rec})
        last_printed = printed if printed is not None else last_printed
    notes = list(dict.fromkeys(notes))
    if records and records[0]["epoch"] == 0:
        notes.append("the log counts epochs from 0; they are numbered from 1 here")
        for r in records:
            r["epoch"] += 1
    for r in records:
        _exact_accuracy(r)
        if "test_acc" in r and not 0 <= r["test_acc"] <= 100:
            r["test_acc"] = None
    return records, notes


def _exact_accuracy(rec: dict) -> None:
    """The accuracy from the printed counts when the printed percentage rounds them: the course's first
    templates print `({:.0f}%)`, so 9,933 of 10,000 shows as 99%, which would misreport every epoch."""
    correct, total, shown = rec.get("test_correct"), rec.get("test_total"), rec.get("test_acc")
    if not correct or not total or shown is None:
        return
    exact = round(100 * correct / total, 4)
    if abs(exact - shown) <= 0.5:  # the same number, printed with fewer digits; else keep what was printed
        rec["test_acc"] = exact


def published(program: SourceProgram, model, loop, asked: int | None = None) -> tuple[dict, list]:
    """The author's numbers: the parameter count torchsummary printed and the per-epoch test results,
    from the entry notebook's saved outputs, else from a log the repository keeps (README.md,
    logs/*.txt); with a note when the run stopped before the `asked` epochs (the source's count)."""
    entry = next((u for u in program.units if u.is_entry and u.notebook), None)
    pub: dict = {"params": None, "epochs": [], "source": ""}
    notes: list[str] = []
    if entry is not None and entry.cells is not None:  # a notebook's unit has its cells
        pub, notes = _from_outputs(program, entry, model, loop)
    if pub["params"] is None and not pub["epochs"]:
        trainer = loop[1] if loop is not None else entry or next((u for u in program.units if u.is_entry), None)
        home = trainer.path.parent if trainer is not None else program.root
        pub, notes = _from_repository(program.root, home)
    ran = pub["epochs"][-1]["epoch"] if pub["epochs"] else None
    if asked is not None and ran is not None and ran < asked:
        notes.append(f"the saved run stopped after {ran} of the {asked} epochs the source asks for")
    return pub, notes


def _from_outputs(program: SourceProgram, entry: Unit, model, loop) -> tuple[dict, list]:
    """The numbers in the entry notebook's saved outputs: torchsummary's count and the training cell's log."""
    cells = entry.cells or []
    train_cells = []
    if loop is not None and loop[1] is entry:
        node = loop[0]
        func = program.func_of(node, entry)
        if func is None:
            train_cells = [entry.cell_of(node.lineno)]
        else:
            train_cells = [entry.cell_of(c.lineno) for c, u, _ in program.call_sites(func, entry) if u is entry]
    elif loop is not None:
        func = program.func_of(loop[0], loop[1])
        if func is not None:
            train_cells = [entry.cell_of(c.lineno) for c, u, _ in program.call_sites(func, loop[1]) if u is entry]
    train_cells = [c for c in train_cells if c is not None]
    log_cells = [c for c in train_cells if parse_log(c[3])[0]] or [c for c in cells if parse_log(c[3])[0]]
    records: list[dict] = []
    notes: list[str] = []
    if len(log_cells) > 1:
        # Several cells print a test log: each is a run. This model's is the first at or after the cell
        # that builds it, else the last.
        made = (
            model[2].lineno
            if model is not None and model[2] is not None and model[3] is not None and model[3].unit is entry
            else None
        )
        start = entry.cell_of(made)[0] if made is not None and entry.cell_of(made) else None
        after = [c for c in log_cells if start is not None and c[0] >= start]
        chosen = after[0] if after else log_cells[-1]
        notes.append(
            f"cells {', '.join(str(c[0]) for c in log_cells)} each print a test log; cell {chosen[0]}'s "
            f"is taken as this model's"
        )
        log_cells = [chosen]
    if log_cells:
        records, more = parse_log(log_cells[0][3])
        notes += more
    params, params_cell = None, None
    last_train = max((c[0] for c in train_cells), default=None)
    printed: tuple | None = None  # the count taken if every summary counted: (cell, count, other class or None)
    for c in cells:
        for count, other in _counts(program, entry, c, model[0].name if model is not None else None):
            if last_train is None or c[0] <= last_train or printed is None:
                printed = (c[0], count, other)
            if other is None and (last_train is None or c[0] <= last_train or params is None):
                params, params_cell = count, c[0]
    if printed is not None and printed[2] is not None and model is not None:
        notes.append(
            f"cell {printed[0]} prints a summary of {printed[2]}, not of {model[0].name} (the class trained): "
            f"its count ({printed[1]:,}) is not taken as published"
            + (f"; cell {params_cell}'s ({params:,}) is" if params is not None else "")
        )
    if model is not None and params is not None:
        notes += _stale_summaries(entry, model[0].name, params, params_cell)
    parts = []
    if params_cell is not None:
        parts.append(f"cell {params_cell} (torchsummary)")
    if log_cells:
        parts.append(f"cell{'s' if len(log_cells) > 1 else ''} {', '.join(str(c[0]) for c in log_cells)} (test log)")
    source = f"{entry.rel}: saved outputs of {' and '.join(parts)}" if parts else ""
    return {"params": params, "epochs": records, "source": source}, notes


def _summarised(program: SourceProgram, entry: Unit, cell) -> list[str | None]:
    """The class each summary call of a cell's code prints, in order (`summary(model, ...)`,
    `summary(Net().to(device), ...)`, torchinfo's, `model.summary()`): the name of the class of the
    source its argument evaluates to, or None where that cannot be read."""
    found: list[tuple[int, int, str | None]] = []
    for call in entry.calls:
        if not cell[1] <= call.lineno <= cell[2] or name_of(call.func).rpartition(".")[2] != "summary":
            continue
        arg = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "model"), None)
        if arg is None and isinstance(call.func, ast.Attribute):
            arg = call.func.value  # model.summary()
        if arg is None:
            continue
        classes = {m[0].name for m in program.models_of(arg, program.ctx_at(call, entry))}
        found.append((call.lineno, call.col_offset, classes.pop() if len(classes) == 1 else None))
    return [name for _, _, name in sorted(found, key=lambda f: (f[0], f[1]))]


def _counts(program: SourceProgram, entry: Unit, cell, cls: str | None) -> list[tuple[int, str | None]]:
    """The parameter counts a cell prints, each with the other class of the source it is a summary of,
    or None where it may be of `cls`, the class trained: a summary of a variant built beside it and
    never trained is not this model's. The counts are paired with the cell's summary calls in order
    when there are as many; else they are of another class only when every summary call is."""
    counts = [int(m.group(1).replace(",", "")) for m in PARAMS.finditer(cell[3])]
    classes = _summarised(program, entry, cell) if counts and cls is not None else []
    if len(classes) == len(counts):
        return [(n, c if c != cls else None) for c, n in zip(classes, counts)]
    if classes and all(c is not None and c != cls for c in classes):
        other = " or ".join(dict.fromkeys(c for c in classes if c))
        return [(n, other) for n in counts]
    return [(n, None) for n in counts]


def _from_repository(root: Path, home: Path) -> tuple[dict, list]:
    """The numbers in the text files a repository keeps (a run trained by a script prints into no
    notebook; its author pastes the printout into README.md or keeps logs/*.txt): the log and the
    count each from the file nearest the training script's folder `home` that holds one."""
    logs: list[tuple[str, list[dict], list[str]]] = []
    counts: list[tuple[str, int]] = []
    for path in log_files(root, home):
        text = path.read_text(encoding="utf-8", errors="replace")
        rel = str(path.relative_to(root.resolve()))
        records, more = parse_log(text)
        if records:
            logs.append((rel, records, more))
        counts += [(rel, int(m.group(1).replace(",", ""))) for m in PARAMS.finditer(text)][-1:]
    if not logs and not counts:
        return {"params": None, "epochs": [], "source": ""}, []
    named: dict[str, list[str]] = {}
    if logs:
        named.setdefault(logs[0][0], []).append("test log")
    if counts:
        named.setdefault(counts[0][0], []).append("Total params")
    notes = [
        f"the published numbers are read from {' and '.join(named)}, kept in the repository, as no saved "
        f"outputs hold them: a log kept in a repository may come from an older version of the code"
    ]
    if len(logs) > 1:
        notes.append(
            f"{', '.join(r for r, _, _ in logs)} each hold a test log; {logs[0][0]}'s is taken, the nearest to "
            f"the training script's folder (then by name)"
        )
    notes += logs[0][2] if logs else []
    source = "; ".join(f"{rel}: kept in the repository ({' and '.join(what)})" for rel, what in named.items())
    return {"params": counts[0][1] if counts else None, "epochs": logs[0][1] if logs else [], "source": source}, notes


def unused_layers(cls: ast.ClassDef, unit: Unit) -> list[tuple]:
    """A note for each layer `__init__` builds that no method of the class reads (a block commented out
    of forward): its parameters count in the harness's total but not in torchsummary's, which sees only
    the layers a forward pass runs, so the built count exceeds the published one by theirs."""
    methods = {n.name: n for n in cls.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    init = methods.get("__init__")
    if init is None or "forward" not in methods:
        return []  # a forward inherited from another class may read any of them
    dynamic = ("children", "modules", "named_children", "named_modules", "__dict__", "_modules")
    built: dict[str, ast.stmt] = {}
    for stmt in ast.walk(init):
        if not isinstance(stmt, ast.Assign) or not isinstance(stmt.value, ast.Call):
            continue
        head = name_of(stmt.value.func).rpartition(".")[2]
        if not head[:1].isupper() or head.startswith(PARAMETER_FREE):
            continue  # layers with weights are classes (nn.Conv2d, a block of the source); a tensor is none
        for t in stmt.targets:
            if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self":
                built.setdefault(t.attr, stmt)
    read: set[str] = set()
    for n in ast.walk(cls):
        if isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Load):
            read.add(n.attr)
        elif isinstance(n, ast.Name) and n.id in ("getattr", "vars"):
            return []  # layers reached by name at run time: which ones cannot be read
        elif isinstance(n, ast.Constant) and isinstance(n.value, str):
            read.add(n.value)
    if read & set(dynamic):
        return []
    return [
        (
            "interpreted",
            unit.where(stmt.lineno),
            f"{cls.name}.{attr} is built in __init__ but forward never uses it: its parameters count in the "
            f"harness's total, not in torchsummary's (which counts the layers a forward pass runs); kept as "
            f"in the source",
        )
        for attr, stmt in built.items()
        if attr not in read
    ]


def _stale_summaries(entry: Unit, cls: str, params: int, params_cell: int | None) -> list[str]:
    """A note when cells that build this class print different parameter counts: the class was edited
    between runs (cells re-run out of order), so the saved code may not be what printed the log, and
    the count the judge builds can differ from the published one for that reason alone."""
    counts = []
    for number, first, last, outputs in entry.cells or []:
        if re.search(rf"\b{re.escape(cls)}\s*\(", "\n".join(entry.lines[first - 1 : last])):
            counts += [(number, int(m.group(1).replace(",", ""))) for m in PARAMS.finditer(outputs)]
    if len({n for _, n in counts}) < 2:
        return []
    shown = ", ".join(f"{n:,} in cell {c}" for c, n in counts)
    return [
        f"the saved outputs print different parameter counts for {cls} ({shown}): the notebook was edited "
        f"between runs, so its code may not be the one that printed the log; {params:,} (cell {params_cell}) "
        f"is taken as published"
    ]
