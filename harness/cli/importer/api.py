"""The public API: import_source finds the programs in a source and imports each trained model as an
Imported (candidate code, published numbers, notes); write puts them into a folder of candidates."""

from __future__ import annotations

import ast
import json
import keyword
from dataclasses import dataclass
from pathlib import Path

from harness.cli.importer.program import SourceProgram
from harness.cli.importer.published import published, unused_layers
from harness.cli.importer.recipe import Analysis
from harness.cli.importer.sources import MAX_FILES, MAX_SOURCE_BYTES, SKIP_DIRS, read_module, read_notebook
from harness.cli.importer.writer import Writer, docstring_text, identifier
from harness.judge.vetting import MAX_BYTES, policy_problems


@dataclass
class Imported:
    """One model found in a source: the candidate file to write and what is known about it."""

    name: str  # candidate name = file stem, a valid identifier, e.g. "era_s6_model3"
    source: str  # the file (and cell) its class came from
    code: str  # the full text of models/<name>.py
    published: dict  # {"params": int|None, "epochs": [{"epoch", "test_acc", ...}], "source": "..."}
    notes: list[str]  # everything not translated or interpreted, each with its source line and why


# ---------------------------------------------------------------- the public API


def _programs(source: Path, notes: list) -> tuple[list[SourceProgram], str]:
    """The programs of a source: a notebook or a script with its local imports; for a folder, one per
    notebook and one for its scripts together. With the prefix of the candidates' names."""
    source = Path(source)
    if source.is_dir():
        root, prefix = source, identifier(source.resolve().name)
        files = []
        for path in sorted(root.rglob("*")):
            rel = path.relative_to(root)
            if any(part in SKIP_DIRS or part.startswith(".") for part in rel.parts[:-1]) or path.is_symlink():
                continue
            if path.suffix in (".py", ".ipynb") and path.is_file():
                files.append(path)
            if len(files) >= MAX_FILES:
                notes.append(("not translated", str(root), f"more than {MAX_FILES} files: the rest are not read"))
                break
        programs = []
        for path in files:
            if path.suffix == ".ipynb":
                programs.append(_notebook_program(path, root, notes))
        scripts = [path for path in files if path.suffix == ".py"]
        if scripts:
            units = [read_module(path, str(path.relative_to(root)), notes) for path in scripts]
            programs.append(SourceProgram(root, units, {}, notes))
        return programs, prefix
    prefix = identifier(source.stem)
    if source.suffix == ".ipynb":
        return [_notebook_program(source, source.parent, notes)], prefix
    unit = read_module(source, source.name, notes)
    return [SourceProgram(source.parent, [unit], {}, notes)], prefix


def _notebook_program(path: Path, root: Path, notes: list) -> SourceProgram:
    if path.stat().st_size > MAX_SOURCE_BYTES:
        notes.append(("not translated", path.name, "is too large to be a course notebook: skipped"))
        return SourceProgram(root, [], {}, notes)
    own: list = []
    unit, written = read_notebook(path, str(path.relative_to(root)), own)
    program = SourceProgram(root, [unit], written, notes)
    program.read_notes = own
    return program


def _format_note(note: tuple) -> str:
    kind, where, text = note
    return f"{kind}: {where + ': ' if where else ''}{text}"


def _docstring(name: str, model, source: str, pub: dict, notes: list, entry: str) -> str:
    cls = model[0].name
    trained = f" (trained by {entry}, where the cells are)" if entry and entry not in source else ""
    lines = [
        f"{name}: {cls} from {source}{trained}, imported from the source text (never run) by harness.cli.importer."
    ]
    if pub.get("params") is not None or pub.get("epochs"):
        bits = []
        if pub.get("params") is not None:
            bits.append(f"{pub['params']:,} parameters")
        eps = [e for e in pub.get("epochs", []) if e.get("test_acc") is not None]
        if eps:
            last = eps[-4:]
            accs = ", ".join(f"{e['test_acc']:.2f}" for e in last)
            bits.append(f"test accuracy {accs} in epochs {last[0]['epoch']}-{last[-1]['epoch']} of {eps[-1]['epoch']}")
        lines.append(f"Published: {'; '.join(bits)} ({pub['source']}).")
    else:
        lines.append("Published: nothing found in saved outputs.")
    for kind, title in (("not translated", "Not translated"), ("interpreted", "Interpreted")):
        items = [n for n in notes if n[0] == kind]
        if items:
            lines.append("")
            lines.append(f"{title}:")
            for _, where, text in items:
                lines.append(f"- {where + ': ' if where else ''}{text}")
    return "\n".join(docstring_text(line) for line in lines) + "\n"


def import_source(
    source: Path,
    why_none: list[str] | None = None,
    skipped: list[str] | None = None,
    reserved: frozenset[str] = frozenset(),
) -> list[Imported]:
    """The candidates in a notebook (.ipynb), a script (.py) or a folder: one per model class the
    training builds and trains, with its recipe, published numbers and notes. Nothing is executed.
    A class trained with two recipes (the step notebooks of a course folder, each training the same
    class of model.py its own way) gives two candidates; one reached twice with the same gives one.
    When none is found, the notes that say why (a model class imported from a file the source does
    not hold) are appended to `why_none`; each program of a folder that gave none while others did
    is said in `skipped`, with its notes, so that no notebook of a folder is passed over silently.
    `reserved`: names the candidates may not take (files of the output folder imported from another
    source); one that would is given a free name, and said."""
    source = Path(source)
    if not source.exists():
        raise FileNotFoundError(source)
    read_notes: list = []
    programs, prefix = _programs(source, read_notes)
    results: list[Imported] = []
    seen_code: dict[str, tuple] = {}  # code key -> (its index in results, what its docstring is made of)
    taken: set[str] = set()
    trained: set = set()  # (file, line) of each class imported: another recipe for it is named by its notebook
    unexplained: list = []  # what the programs that gave no model say of their optimizers
    for program in programs:
        if not program.units:
            continue
        analysis = Analysis(program)
        found = analysis.run(fallback=not results)
        said = [n for n in analysis.session_notes if n[0] == "not translated"]
        unexplained += [] if found else said
        said = [n for n in program.read_notes if n[0] == "not translated"] + said
        # a folder's scripts are read together for the models they train: only those that tried are said
        if not found and skipped is not None and (said or any(u.notebook for u in program.units if u.is_entry)):
            skipped.append(_skipped_line(program, said))
        class_names = [m[0].name for m, _, _ in found]
        for model, session, notes in found:
            notes = [n for n in read_notes + program.read_notes if n not in notes] + notes
            cls, unit = model[0], model[1]
            if model[4]:
                notes.append(("interpreted", unit.where(cls.lineno), model[4]))
            notes += unused_layers(cls, unit)
            fields, loop = analysis.recipe(session, model, notes)
            pub, pub_notes = published(program, model, loop, analysis.asked_epochs)
            if analysis.log_on and pub["epochs"]:
                pub["scored_on"] = analysis.log_on  # printed beside the published numbers by `judge`
            for text in pub_notes:
                notes.append(("interpreted", pub["source"].split(":")[0], text))
            writer = Writer(program)
            entry = next((u.rel for u in program.units if u.is_entry and u.notebook), "")
            args = (prefix, model, class_names, taken, writer.defined(model), entry, frozenset(trained))
            name, plain = _candidate_name(*args, reserved), _candidate_name(*args)
            if name != plain:
                notes.append(
                    (
                        "interpreted",
                        "",
                        f"`{plain}` is already in the output folder, not imported from this source: "
                        f"this one is named `{name}`",
                    )
                )
            where = unit.where(cls.lineno)  # names the file, but for the entry notebook's cells
            origin = f"{unit.rel}, {where}" if unit.notebook and unit.is_entry else where
            code_notes = list(notes)
            program.sink = code_notes
            code = writer.code(name, model, fields, _DOC_PLACEHOLDER, code_notes)
            key = _code_key(code, name)
            if key in seen_code:
                # the same class, arguments and recipe reached from two programs of a folder: one candidate,
                # but two printed counts mean one notebook ran another version of the class
                at, made = seen_code[key]
                if pub["params"] is not None and made[4]["params"] not in (None, pub["params"]):
                    made[5].append(
                        (
                            "interpreted",
                            entry or unit.rel,
                            f"trains {cls.name} with the same recipe and prints "
                            f"{pub['params']:,} parameters where {made[6] or made[3]} prints {made[4]['params']:,}: "
                            f"one of them ran another version of the class; {made[6] or made[3]}'s count and log "
                            f"are taken as published",
                        )
                    )
                    results[at].code = _with_docstring(*made)
                    results[at].notes = [_format_note(n) for n in _dedupe(made[5])]
                continue
            taken.add(name)
            trained.add((unit.path.resolve(), cls.lineno))
            code_notes += _policy_notes(code.replace(_DOC_PLACEHOLDER, ""))
            seen_code[key] = (len(results), (code, name, model, origin, pub, code_notes, entry))
            code = _with_docstring(code, name, model, origin, pub, code_notes, entry)
            results.append(
                Imported(
                    name=name,
                    source=origin,
                    code=code,
                    published=pub,
                    notes=[_format_note(n) for n in _dedupe(code_notes)],
                )
            )
    if not results and why_none is not None:  # a file that could not be read at all is said first
        unread = [n for n in read_notes if n[0] == "not translated"]
        for program in programs:  # a folder's notebook named, as its cells are numbered in their own file
            entry = next((u.rel for u in program.units if u.is_entry), "")
            named = len(programs) > 1 and entry
            unread += [
                (k, f"{entry}, {w}" if named else w, t) for k, w, t in program.read_notes if k == "not translated"
            ]
        why_none += [_format_note(n) for n in _dedupe(unread + unexplained)]
    return results


# Stands for the docstring while the code is written: the docstring lists the notes writing the code makes.
_DOC_PLACEHOLDER = "\0DOC\0"


def _code_key(code: str, name: str) -> str:
    """The candidate's code without its name and comments: two programs of a folder that reach the same
    class with the same arguments and recipe give the same key, though their comments cite other lines."""
    text = code.replace(_DOC_PLACEHOLDER, "").replace(name, "")
    try:
        return ast.unparse(ast.parse(text))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return text


def _skipped_line(program: SourceProgram, said: list) -> str:
    """What a folder's program that gave no candidate was, and what its notes say of why."""
    entries = ", ".join(u.rel for u in program.units if u.is_entry) or "?"
    why = "; ".join(_format_note(n) for n in _dedupe(said)[:3])
    return f"{entries}: no trained model found" + (f" ({why})" if why else "")


def _candidate_name(
    prefix: str,
    model,
    class_names: list,
    taken: set,
    defined: set,
    entry: str = "",
    trained: frozenset = frozenset(),
    reserved: frozenset = frozenset(),
) -> str:
    """`<prefix>_<class>`; with the class's file between when two models share a class name (Net in
    model_v1.py and model_v2.py), or the notebook's that trains it when this class is in `trained`, already
    imported (Net of model.py trained by step1.ipynb and by step2.ipynb), and a number after when even that is taken, is
    `reserved` (a file of the output folder from another source) or is a name the copied code defines (the builder
    would shadow it)."""
    cls, unit = model[0], model[1]
    name = identifier(f"{prefix}_{cls.name}")
    stem = Path(unit.rel).stem
    trainer = Path(entry).stem if entry and entry != unit.rel and identifier(Path(entry).stem) != prefix else ""
    if name in taken and trainer and (unit.path.resolve(), cls.lineno) in trained:
        name = identifier(f"{prefix}_{trainer}_{cls.name}")
    elif (class_names.count(cls.name) > 1 or name in taken) and identifier(stem) != prefix:
        name = identifier(f"{prefix}_{stem}_{cls.name}")
    base, k = name, 2
    while name in taken or name in reserved or name in defined:
        name, k = f"{base}_{k}", k + 1
    return name


def _policy_notes(code: str) -> list:
    """A note for each way the copied code breaks the candidate policy, which vetting would refuse."""
    try:
        problems = policy_problems(ast.parse(code))
    except SyntaxError as e:
        problems = [f"line {e.lineno}: syntax error: {e.msg}"]
    return [
        (
            "not translated",
            "",
            f"the copied code breaks the candidate policy ({problem}): "
            f"vetting will refuse the file until it is rewritten",
        )
        for problem in problems
    ]


def _with_docstring(code: str, name: str, model, origin: str, pub: dict, code_notes: list, entry: str) -> str:
    """The code with its docstring in place of _DOC_PLACEHOLDER; a file over the size limit is noted in
    the docstring too (appended to code_notes)."""
    doc = _docstring(name, model, origin, pub, code_notes, entry)
    code = code.replace(_DOC_PLACEHOLDER, doc)
    if len(code.encode()) > MAX_BYTES:
        code_notes.append(
            (
                "not translated",
                "",
                f"the file is {len(code.encode()):,} bytes, over the {MAX_BYTES:,} a candidate may have",
            )
        )
        code = code.replace(doc, _docstring(name, model, origin, pub, code_notes, entry))
    return code


def _dedupe(notes: list) -> list:
    out = []
    for n in notes:
        if n not in out:
            out.append(n)
    return out


# In an output folder: {candidate name: the source it was imported from}, so that importing another
# source whose candidates would take the same names (two clones both named s6erav3) never replaces them.
MANIFEST = ".imported.json"


def imported_sources(out_dir: Path) -> dict[str, str]:
    """The source each candidate of an output folder was imported from, as `write` recorded it."""
    try:
        data = json.loads((Path(out_dir) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}


def reserved_names(out_dir: Path, source: Path) -> frozenset[str]:
    """The candidates of an output folder that another source gave, or that no import recorded (written by
    hand): names an import of `source` must not take."""
    out_dir = Path(out_dir)
    there = {p.stem for p in out_dir.glob("*.py")} if out_dir.is_dir() else set()
    mine = {n for n, s in imported_sources(out_dir).items() if s == str(Path(source).resolve())}
    return frozenset(there - mine)


def write(imported: list[Imported], out_dir: Path, overwrite: bool = False, source: Path | None = None) -> list[Path]:
    """Writes NAME.py and NAME.published.json per model into out_dir; returns the paths written.
    Existing files are left alone (FileExistsError names them) unless overwrite=True. With the
    `source` they came from, each name is recorded in the folder's MANIFEST."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    targets = []
    for item in imported:
        if not item.name.isidentifier() or keyword.iskeyword(item.name):
            raise ValueError(f"{item.name!r} is not a candidate name (a Python identifier)")
        targets += [
            (out_dir / f"{item.name}.py", item.code),
            (out_dir / f"{item.name}.published.json", json.dumps(item.published, indent=2) + "\n"),
        ]
    existing = [str(p) for p, _ in targets if p.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"already there (pass overwrite=True to replace): {', '.join(existing)}")
    for path, text in targets:
        path.write_text(text, encoding="utf-8")
    if source is not None:
        record = imported_sources(out_dir) | {item.name: str(Path(source).resolve()) for item in imported}
        (out_dir / MANIFEST).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return [p for p, _ in targets]
