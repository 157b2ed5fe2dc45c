"""Imports a student's notebook, training script or cloned repository as mnist8k candidate files. The code
is read as text with ast and never run (a notebook is hostile input): the nn.Module classes its training
builds, copied with the constants and helpers they need; the recipe it trains them with, every field
commented with the line it came from; the author's published numbers from the notebook's saved outputs.
Whatever is not translated, or had to be interpreted, is named with its line and why."""

from __future__ import annotations

import ast
import builtins
import contextlib
import copy
import inspect
import json
import keyword
import math
import re
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from harness.engine.augmentations import AugmentError
from harness.engine.augmentations import parse as parse_augment
from harness.engine.recipe import MAX_EPOCHS, OPTIMIZERS, PER_STEP, SCHEDULERS, Recipe, RecipeError
from harness.judge.vetting import ALLOWED_MODULES, MAX_BYTES, policy_problems

MAX_SOURCE_BYTES = 64 * 1024 * 1024  # a notebook with its plots; anything larger is no course notebook
MAX_FILES = 2000  # files read from one folder; a repository of a course exercise has a few dozen
SKIP_DIRS = {
    ".git",
    ".ipynb_checkpoints",
    "__pycache__",
    "node_modules",
    "site-packages",
    ".venv",
    "venv",
    ".tox",
    "build",
    "dist",
}
MAX_DEPTH = 40  # resolution steps for one expression: name -> assignment -> call site -> ...

# Packages a course solution imports that are never one of its own files.
EXTERNAL = {
    "torch",
    "torchvision",
    "torchsummary",
    "torchinfo",
    "numpy",
    "np",
    "matplotlib",
    "tqdm",
    "PIL",
    "sklearn",
    "seaborn",
    "pandas",
    "albumentations",
    "cv2",
    "scipy",
    "google",
    "IPython",
    "timm",
    "lightning",
    "pytorch_lightning",
    "tensorboard",
    "wandb",
    "yaml",
    "requests",
}
# Allowed in a candidate file (vetting.ALLOWED_MODULES), as top-level package names.
CANDIDATE_MODULES = {m.split(".")[0] for m in ALLOWED_MODULES if m != "__future__"}
# Calls that return the model they are given: model.to(device), nn.DataParallel(model), ...
PASS_THROUGH_METHODS = {"to", "cuda", "cpu", "float", "double", "half", "train", "eval", "type", "requires_grad_"}
PASS_THROUGH_CALLS = {"DataParallel", "DistributedDataParallel", "compile"}
PARAMETER_METHODS = ("parameters", "named_parameters")
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


@dataclass
class Imported:
    """One model found in a source: the candidate file to write and what is known about it."""

    name: str  # candidate name = file stem, a valid identifier, e.g. "era_s6_model3"
    source: str  # the file (and cell) its class came from
    code: str  # the full text of models/<name>.py
    published: dict  # {"params": int|None, "epochs": [{"epoch", "test_acc", ...}], "source": "..."}
    notes: list[str]  # everything not translated or interpreted, each with its source line and why


# ---------------------------------------------------------------- reading sources

# Notes are (kind, where, text) tuples, kind "not translated" or "interpreted"; Imported.notes has them
# as "kind: where: text".


class Unit:
    """One piece of code read as text: a .py file, or a notebook's code cells joined in order. Its
    `tree` is parsed with line numbers of the joined text; `where` maps a line back to its cell."""

    # name -> [(line, kind, payload, statement)] at module level, set when a SourceProgram indexes the unit
    bindings: dict[str, list[tuple]]

    def __init__(self, path: Path, rel: str, text: str, tree: ast.Module, cells: list | None = None):
        self.path, self.rel, self.text, self.tree = path, rel, text, tree
        self.cells = cells  # [(cell number, first line, last line, saved text outputs)], notebooks only
        self.lines = text.split("\n")
        self.parents: dict[ast.AST, ast.AST] = {}
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                self.parents[child] = node
        self.calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
        self.is_entry = False

    @property
    def notebook(self) -> bool:
        return self.cells is not None

    def cell_of(self, line: int):
        for cell in self.cells or ():
            if cell[1] <= line <= cell[2]:
                return cell
        return None

    def where(self, line: int) -> str:
        """'cell 12, line 3' in the entry notebook (cells counted from 1, markdown included),
        'model.py, line 40' in a file, 'other.ipynb cell 2, line 1' in another notebook."""
        if self.notebook:
            cell = self.cell_of(line)
            if cell is None:
                return self.rel
            here = f"cell {cell[0]}, line {line - cell[1] + 1}"
            return here if self.is_entry else f"{self.rel} {here}"
        return f"{self.rel}, line {line}"

    def line_text(self, line: int) -> str:
        return self.lines[line - 1].strip() if 0 < line <= len(self.lines) else ""

    def segment(self, node: ast.stmt) -> str:
        """The node's source text as written, decorators included, dedented."""
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        lines = self.lines[first - 1 : node.end_lineno]
        return textwrap.dedent("\n".join(lines))


def _parse(text: str) -> ast.Module | None:
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


# IPython's automagic: `pip install torchsummary` and `cd /content/drive` run as magics without their
# `%`; a line that starts with one of these words and goes on with a word, an option or a path (never an
# operator, as in `cd = 3` or `env.step(a)`) is one. Read only in cells that do not parse as Python.
AUTOMAGIC = re.compile(r"(pip|conda|cd|ls|pwd|mkdir|cat|cp|mv|rm|rmdir|matplotlib|load_ext)\s+[\w\-/~.\"'$][^\n]*")


def _strip_magics(src: str) -> str:
    """IPython's `!shell` and `%magic` lines as `pass`, keeping the line count and indentation."""
    out = []
    for line in src.split("\n"):
        body = line.lstrip()
        auto = AUTOMAGIC.fullmatch(body.rstrip())
        # `ls -la` and `cd /content` are Python too (a subtraction, a division); `pip in x` is no magic
        magic = body.startswith(("!", "%")) or (
            auto is not None and (_parse(body) is None or body.split(None, 1)[1].startswith(("-", "/", "~")))
        )
        out.append(line[: len(line) - len(body)] + "pass" if magic else line)
    return "\n".join(out)


def _text(v) -> str:
    """nbformat's text: a string, or a list of strings (anything else in hostile JSON is left out)."""
    if isinstance(v, list):
        return "".join(x for x in v if isinstance(x, str))
    return v if isinstance(v, str) else ""


def _outputs_text(cell: dict) -> str:
    """A cell's saved text outputs in order: streams, and the text/plain of results and displays."""
    parts = []
    for out in cell.get("outputs") or []:
        if not isinstance(out, dict):
            continue
        if out.get("output_type") == "stream" or "text" in out:
            parts.append(_text(out.get("text")))
        data = out.get("data")
        if isinstance(data, dict):
            parts.append(_text(data.get("text/plain")))
    return "\n".join(p for p in parts if p)


def read_notebook(path: Path, rel: str, notes: list) -> tuple[Unit, dict[str, str]]:
    """The notebook's code cells as one unit, and the files its `%%writefile` cells write (name ->
    text), which its imports may name. Cells that are not Python are skipped, each with a note."""
    try:
        nb = json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except (ValueError, RecursionError) as e:
        notes.append(("not translated", rel, f"is not notebook JSON ({str(e)[:80]}): nothing read"))
        nb = {}
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if cells is None and isinstance(nb, dict) and nb.get("worksheets"):  # nbformat 3
        cells = (nb["worksheets"][0] or {}).get("cells", [])
    cells = cells if isinstance(cells, list) else []
    written: dict[str, str] = {}
    text_lines: list[str] = []
    spans, body = [], []
    for number, cell in enumerate(cells, start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        src = _text(cell.get("source", cell.get("input", ""))).replace("\r\n", "\n").replace("\r", "\n")
        first = len(text_lines) + 1
        head = src.lstrip().split("\n", 1)[0].strip()
        if head.startswith("%%"):
            words = head[2:].split()
            magic = words[0] if words else ""
            if magic == "writefile" and len(words) > 1:
                written[words[-1]] = src.lstrip().split("\n", 1)[1] if "\n" in src.lstrip() else ""
                src = ""
            elif magic in ("time", "timeit", "capture", "prun", "debug"):
                src = _strip_magics(src)
            else:
                notes.append(("not translated", f"cell {number}", f"`%%{magic}` cell is not Python: skipped"))
                src = ""
        tree = _parse(src)
        if tree is None:
            tree = _parse(_strip_magics(src))
            if tree is None:
                notes.append(
                    (
                        "not translated",
                        f"cell {number}",
                        "does not parse as Python even without its IPython magics: skipped",
                    )
                )
                src = "\n" * src.count("\n")
                tree = ast.Module(body=[], type_ignores=[])
            else:
                src = _strip_magics(src)
        lines = src.split("\n")
        ast.increment_lineno(tree, first - 1)
        body += tree.body
        text_lines += lines
        spans.append((number, first, len(text_lines), _outputs_text(cell)))
    text = "\n".join(text_lines)
    return Unit(path, rel, text, ast.Module(body=body, type_ignores=[]), spans), written


def read_module(path: Path, rel: str, notes: list, text: str | None = None) -> Unit:
    if text is None:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as e:
            notes.append(("not translated", rel, f"cannot be read ({e.strerror or e})"))
            text = ""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    tree = _parse(text)
    if tree is None:
        notes.append(("not translated", rel, "does not parse as Python: skipped"))
        tree = ast.Module(body=[], type_ignores=[])
    return Unit(path, rel, text, tree)


# ---------------------------------------------------------------- values the resolution yields


@dataclass(frozen=True)
class External:
    """Something outside the source: a torch or torchvision name, a builtin, a package."""

    path: str


@dataclass(frozen=True, eq=False)
class ModuleVal:
    unit: Unit


@dataclass(frozen=True, eq=False)
class SelfVal:
    """`self` inside a method of a class of the source; `call` is the instantiation, when known."""

    cls: ast.ClassDef
    unit: Unit
    call: tuple | None = None  # (ast.Call, Ctx)


@dataclass(frozen=True, eq=False)
class ArgsVal:
    """The namespace argparse's parse_args() returns: its attributes are the options' defaults."""

    unit: Unit


@dataclass(frozen=True, eq=False)
class Obj:
    """A value that is not data (a model, a loader): truthy and not None, nothing more is known."""

    node: ast.AST


@dataclass(frozen=True)
class Frac:
    """A PIL grey level written as a fraction of 255 in the recipe, e.g. `1 / 255`."""

    num: float

    @property
    def value(self) -> float:
        return self.num / 255


# A function's node: what Ctx.func and SourceProgram.func_of() hold.
FuncNode = ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda


@dataclass(frozen=True)
class Ctx:
    """Where an expression is evaluated: its unit, its innermost function, its line, and the
    arguments a known call site binds to that function's parameters."""

    unit: Unit
    func: FuncNode | None
    line: int
    binds: tuple = ()


class Unknown(Exception):
    """An expression whose value the source text does not determine."""


_MARKERS = (External, ModuleVal, SelfVal, ArgsVal)

_BINARY_OPS = {
    ast.Add: lambda x, y: x + y,
    ast.Sub: lambda x, y: x - y,
    ast.Mult: lambda x, y: x * y,
    ast.Div: lambda x, y: x / y,
    ast.FloorDiv: lambda x, y: x // y,
    ast.Mod: lambda x, y: x % y,
    ast.Pow: lambda x, y: x**y,
}


def _truthy(v) -> bool:
    return True if isinstance(v, (Obj, *_MARKERS)) else bool(v)


def _name_of(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _literal_entry(node, key) -> ast.expr | None:
    """The value a dict, list or tuple literal holds at a constant key, or None."""
    if isinstance(node, ast.Dict):
        for k, v in zip(node.keys, node.values, strict=True):
            if isinstance(k, ast.Constant) and k.value == key and type(k.value) is type(key):
                return v
        return None
    if isinstance(node, (ast.List, ast.Tuple)) and type(key) is int and -len(node.elts) <= key < len(node.elts):
        elt = node.elts[key]
        return None if isinstance(elt, ast.Starred) or any(isinstance(e, ast.Starred) for e in node.elts) else elt
    return None


def _receiver(optimizer: ast.Call) -> ast.AST | None:
    """The model an optimizer's parameters come from: `model` in SGD(model.parameters(), ...)."""
    params = _argument(optimizer, 0, "params")
    for n in ast.walk(params) if params is not None else ():
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in PARAMETER_METHODS:
            return n.func.value
    return None


def _argument(call: ast.Call, index: int | None, *names: str):
    """A call's argument by position, or by one of its keyword names; None when not given."""
    if (
        index is not None
        and len(call.args) > index
        and not any(isinstance(a, ast.Starred) for a in call.args[: index + 1])
    ):
        return call.args[index]
    return next((k.value for k in call.keywords if k.arg in names), None)


def _short(node: ast.AST | str, limit: int = 90) -> str:
    text = node if isinstance(node, str) else ast.unparse(node)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _printable(text: str) -> str:
    """One line of printable text: what goes into a comment or the docstring of a generated file."""
    return "".join(c if c.isprintable() else " " for c in text.replace("\n", " "))


# ---------------------------------------------------------------- the program: units and names


class SourceProgram:
    """An entry (a notebook, a script, or a folder's scripts) and the local files its imports name,
    with the resolution of names to the expressions that give them their values."""

    def __init__(self, root: Path, entries: list[Unit], written: dict[str, str], notes: list):
        self.root, self.notes = root.resolve(), notes
        self.units: list[Unit] = []
        self.by_path: dict[Path, Unit] = {}
        self.written = written  # %%writefile files of the notebook: they shadow files on disk
        self.sink: list = notes  # where notes of the resolution go; set per candidate
        self.recording = 0  # > 0 while a value that goes into a candidate is read: only then are notes kept
        self._sites: dict[int, list] = {}  # call sites per function, found once
        self._active: set = set()  # resolutions under way, so that `a = b; b = a` ends
        self._locals: dict[int, dict] = {}  # local bindings per function, collected once
        self._live: dict[int, bool] = {}  # live() per node
        self._kinds: dict[int, str] = {}  # kind() per call, in the call's own ctx
        for unit in entries:  # registered first, so that an entry one imports is not read twice
            unit.is_entry = True
            self.units.append(unit)
            self.by_path[unit.path.resolve()] = unit
        for unit in entries:
            self._index(unit)

    # ------------------------------------------------ loading local imports

    def _add(self, unit: Unit) -> None:
        self.units.append(unit)
        self.by_path[unit.path.resolve()] = unit
        self._index(unit)

    def _index(self, unit: Unit) -> None:
        """The unit's bindings and functions, and the local modules its imports name, loaded."""
        unit.bindings = self._module_bindings(unit)
        for node in ast.walk(unit.tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    self.module(alias.name, unit, 0)
            elif isinstance(node, ast.ImportFrom):
                base = self.module(node.module or "", unit, node.level)
                if base is not None and (node.module is None or base.path.name == "__init__.py"):
                    for alias in node.names:  # `from . import model`, `from pkg import submodule`
                        self.module(((node.module + ".") if node.module else "") + alias.name, unit, node.level)

    def module(self, dotted: str, importer: Unit, level: int) -> Unit | None:
        """The unit of a local module an import names, loaded on first use; None for a package
        outside the source (torch, numpy) or a module not found in the source's folder."""
        parts = [p for p in dotted.split(".") if p]
        if not level and (not parts or parts[0] in EXTERNAL):
            return None
        if not level and len(parts) == 1 and f"{parts[0]}.py" in self.written:
            return self._load(importer.path.parent / f"{parts[0]}.py", self.written[f"{parts[0]}.py"])
        if level:
            base = importer.path.parent
            for _ in range(level - 1):
                base = base.parent
            return self._file(base, parts)
        # A standard module's name is the source's own file only when the file is there (test.py).
        standard = parts[0] in sys.stdlib_module_names
        bases, here = [], importer.path.parent.resolve()
        while True:
            bases.append(here)
            if here == self.root or self.root not in here.parents:
                break
            here = here.parent
        for base in bases:
            # A clone imports itself under its repository's name (`from ERA_V3.Session7 import *`):
            # the leading parts may name folders above the source, and one may name the folder itself.
            for k in range(1 if standard else len(parts)):
                found = self._file(base, parts[k:])
                if found is None and base.name == parts[k]:
                    found = self._file(base, parts[k + 1 :])
                if found is not None:
                    return found
        return None

    def _file(self, base: Path, parts: list[str]) -> Unit | None:
        target = base.joinpath(*parts) if parts else base
        for path in ((target.with_suffix(".py") if parts else None), target / "__init__.py"):
            if path is None or not path.is_file() or path.is_symlink():
                continue
            real = path.resolve()
            if real != self.root and self.root not in real.parents:
                continue  # never read outside the source's folder
            return self._load(real)
        return None

    def _load(self, path: Path, text: str | None = None) -> Unit:
        real = path.resolve()
        if real in self.by_path:
            return self.by_path[real]
        try:
            rel = str(real.relative_to(self.root))
        except ValueError:
            rel = path.name
        if text is None and real.stat().st_size > MAX_SOURCE_BYTES:
            self.notes.append(("not translated", rel, "is too large to be a module of the solution: skipped"))
            text = ""
        unit = read_module(real, rel, self.notes, text)
        self._add(unit)
        return unit

    # ------------------------------------------------ bindings

    @staticmethod
    def _bind_targets(target, value, line, node, into: dict) -> None:
        if isinstance(target, ast.Name):
            into.setdefault(target.id, []).append((line, "assign", value, node))
        elif isinstance(target, (ast.Tuple, ast.List)):
            for i, elt in enumerate(target.elts):
                if isinstance(elt, ast.Name):
                    into.setdefault(elt.id, []).append((line, "unpack", (value, i), node))

    def _collect(self, stmts, into: dict) -> None:
        """Bindings made by statements, into name -> [(line, kind, payload, statement)], looking into
        if/for/while/with/try blocks but not into function or class bodies."""
        for st in stmts:
            line = st.lineno
            if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                into.setdefault(st.name, []).append((line, "def", st, st))
                continue
            if isinstance(st, ast.Assign):
                for t in st.targets:
                    self._bind_targets(t, st.value, line, st, into)
            elif isinstance(st, ast.AnnAssign) and st.value is not None:
                self._bind_targets(st.target, st.value, line, st, into)
            elif isinstance(st, ast.AugAssign) and isinstance(st.target, ast.Name):
                into.setdefault(st.target.id, []).append((line, "opaque", st, st))
            elif isinstance(st, ast.Import):
                for a in st.names:
                    name = a.asname or a.name.split(".")[0]
                    into.setdefault(name, []).append((line, "import", (a.name if a.asname else name), st))
            elif isinstance(st, ast.ImportFrom):
                for a in st.names:
                    if a.name == "*":
                        into.setdefault("*", []).append((line, "star", (st.module or "", st.level), st))
                    else:
                        into.setdefault(a.asname or a.name, []).append(
                            (line, "from", (st.module or "", st.level, a.name), st)
                        )
            elif isinstance(st, (ast.For, ast.AsyncFor)):
                for n in ast.walk(st.target):
                    if isinstance(n, ast.Name):
                        into.setdefault(n.id, []).append((line, "opaque", st, st))
            elif isinstance(st, (ast.With, ast.AsyncWith)):
                for item in st.items:
                    if item.optional_vars is not None:
                        for n in ast.walk(item.optional_vars):
                            if isinstance(n, ast.Name):
                                into.setdefault(n.id, []).append((line, "opaque", st, st))
            for name in ("body", "orelse", "finalbody"):  # if, for, while, with, try
                inner = getattr(st, name, None)
                if isinstance(inner, list):
                    self._collect(inner, into)
            for handler in getattr(st, "handlers", []) or []:
                self._collect(handler.body, into)
            if isinstance(st, ast.Match):
                for case in st.cases:
                    self._collect(case.body, into)
        for vals in into.values():
            vals.sort(key=lambda b: b[0])

    def _module_bindings(self, unit: Unit) -> dict:
        into: dict = {}
        self._collect(unit.tree.body, into)
        return into

    def _func_bindings(self, func: ast.AST) -> dict:
        """A function's local bindings (a lambda has none), collected once."""
        cached = self._locals.get(id(func))
        if cached is None:
            cached = {}
            if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self._collect(func.body, cached)
            self._locals[id(func)] = cached
        return cached

    # ------------------------------------------------ structure

    def enclosing(self, node: ast.AST, unit: Unit, kinds) -> ast.AST | None:
        p = unit.parents.get(node)
        while p is not None and not isinstance(p, kinds):
            p = unit.parents.get(p)
        return p

    def func_of(self, node: ast.AST, unit: Unit) -> FuncNode | None:
        func = self.enclosing(node, unit, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        return func if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) else None

    def ctx_at(self, node: ast.AST, unit: Unit, binds: tuple = ()) -> Ctx:
        return Ctx(unit, self.func_of(node, unit), getattr(node, "lineno", 0), binds)

    def class_of(self, func: ast.AST, unit: Unit) -> ast.ClassDef | None:
        parent = unit.parents.get(func)
        return parent if isinstance(parent, ast.ClassDef) else None

    # ------------------------------------------------ notes

    def note(self, kind: str, unit: Unit | None, line: int | None, text: str) -> None:
        """A note of the resolution (a branch taken, a call site chosen), kept only while a value
        that goes into the candidate is read: the exploring the analysis does decides nothing."""
        if not self.recording:
            return
        where = unit.where(line) if unit is not None and line else (unit.rel if unit else "")
        item = (kind, where, text)
        if item not in self.sink:
            self.sink.append(item)

    # ------------------------------------------------ resolving names

    def _pick(self, bindings: list, line: int | None, unit: Unit, func=None, binds: tuple = ()) -> tuple | None:
        """The binding in effect at `line` (the last one before it; every one if line is None),
        passing over those in branches that cannot run (in this call of `func`, when binds are given)."""
        chosen = [b for b in bindings if line is None or b[0] < line]
        for b in reversed(chosen):
            if self.live(b[3], unit, func, binds):
                return b
        return None

    def _binding_ref(self, b: tuple, unit: Unit, func, binds: tuple):
        line, kind, payload, _ = b
        ctx = Ctx(unit, func, line, binds)
        if kind == "assign":
            return payload, ctx
        if kind == "unpack":
            value, i = payload
            return self.element(value, i, ctx)
        if kind == "def":
            return payload, ctx
        if kind == "import":
            mod = self.module(payload, unit, 0)
            return (ModuleVal(mod) if mod is not None else External(payload)), ctx
        if kind == "from":
            module, level, name = payload
            mod = self.module(module, unit, level)
            if mod is None and module and module.split(".")[0] not in EXTERNAL:
                # `from era1a5 import model, utils` in a notebook that clones its own repository under
                # that name: the package is the source's folder, its modules the source's files
                sub = self.module(f"{module}.{name}", unit, level)
                if sub is not None:
                    return ModuleVal(sub), ctx
            if mod is None:
                return External(f"{module}.{name}" if module else name), ctx
            sub = self.module(f"{module}.{name}" if module else name, unit, level) if name not in mod.bindings else None
            if sub is not None:
                return ModuleVal(sub), ctx
            return self.module_name(mod, name, None)
        return None

    def module_name(self, unit: Unit, name: str, line: int | None):
        """What `name` refers to at module level in `unit` at `line` (None: after the whole unit)."""
        b = self._pick(unit.bindings.get(name, []), line, unit)
        stars = [s for s in unit.bindings.get("*", []) if line is None or s[0] < line]
        for s in reversed(stars):  # a later star import shadows an earlier binding
            if b is not None and s[0] < b[0]:
                break
            module, level = s[2]
            mod = self.module(module, unit, level)
            if mod is not None and mod is not unit and (name in mod.bindings or mod.bindings.get("*")):
                key = ("star", id(mod), name)
                if key in self._active:
                    continue
                self._active.add(key)
                try:
                    found = self.module_name(mod, name, None)
                finally:
                    self._active.discard(key)
                if found is not None:
                    return found
        if b is not None:
            return self._binding_ref(b, unit, None, ())
        if hasattr(builtins, name):
            return External(name), Ctx(unit, None, 0)
        return None

    def name(self, name: str, ctx: Ctx):
        for param, ref in ctx.binds:
            if param == name:
                return ref
        func, line = ctx.func, ctx.line
        while func is not None:
            own = ctx.binds if func is ctx.func else ()
            b = self._pick(self._func_bindings(func).get(name, []), line, ctx.unit, func, own)
            if b is not None:
                return self._binding_ref(b, ctx.unit, func, ctx.binds if func is ctx.func else ())
            if name in self._params(func):
                # a lambda's parameters have no call sites the text can name
                return None if isinstance(func, ast.Lambda) else self.param(func, name, ctx)
            line = func.lineno
            func = self.func_of(func, ctx.unit)
        # Inside a function a global is read when the function runs, after the whole notebook was
        # read in the usual top-to-bottom run; at the top level, the last binding before the line.
        return self.module_name(ctx.unit, name, ctx.line if ctx.func is None else None)

    @staticmethod
    def _params(func) -> list[str]:
        a = func.args
        names = [x.arg for x in a.posonlyargs + a.args + a.kwonlyargs]
        return names + [x.arg for x in (a.vararg, a.kwarg) if x is not None]

    def param(self, func, name: str, ctx: Ctx):
        """A parameter's value: from the function's last call site in the source (an ambiguity,
        several call sites passing different text, is noted), else its default."""
        unit = ctx.unit
        cls = self.class_of(func, unit)
        params = self._params(func)
        if (
            cls is not None
            and params
            and name == params[0]
            and not any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in func.decorator_list)
        ):
            return SelfVal(cls, unit), ctx
        sites = []
        recording, self.recording = self.recording, 0  # looking at every call site decides nothing
        try:
            for call, cunit, is_method in self.call_sites(func, unit):
                bound = dict(self.bind(func, call, self.ctx_at(call, cunit), is_method))
                if name in bound:
                    sites.append((call, cunit, is_method, _short(bound[name][0])))
        finally:
            self.recording = recording
        if sites:
            call, cunit, is_method, _ = sites[-1]
            texts = sorted({s[3] for s in sites})
            if len(texts) > 1:
                self.note(
                    "interpreted",
                    cunit,
                    call.lineno,
                    f"`{name}` of {func.name}() differs between its {len(sites)} call sites "
                    f"({', '.join(texts)}); the last call site's is taken",
                )
            # bound again with notes kept: the branch or option default behind the value taken
            return dict(self.bind(func, call, self.ctx_at(call, cunit), is_method))[name]
        default = self._default(func, name)
        if default is not None:
            return default, Ctx(unit, self.func_of(func, unit), func.lineno)
        return None

    @staticmethod
    def _default(func, name: str):
        a = func.args
        positional = a.posonlyargs + a.args
        offset = len(positional) - len(a.defaults)
        for i, arg in enumerate(positional):
            if arg.arg == name and i >= offset:
                return a.defaults[i - offset]
        for arg, d in zip(a.kwonlyargs, a.kw_defaults):
            if arg.arg == name and d is not None:
                return d
        return None

    def call_sites(self, func, unit: Unit) -> list:
        """Calls of a function by its name anywhere in the program, in order: (call, unit, whether
        the first parameter is bound by the call, as a method's self or a class's instance is)."""
        key = id(func)
        if key in self._sites:
            return self._sites[key]
        cls = self.class_of(func, unit)
        out = []
        for u in self.units:
            for call in u.calls:
                f = call.func
                if func.name == "__init__" and cls is not None:
                    if _name_of(f) == cls.name:
                        out.append((call, u, True))
                elif cls is not None:
                    if isinstance(f, ast.Attribute) and f.attr == func.name:
                        out.append((call, u, True))
                elif (isinstance(f, ast.Name) and f.id == func.name) or (
                    isinstance(f, ast.Attribute) and f.attr == func.name
                ):
                    out.append((call, u, False))
        out.sort(key=lambda s: (self.units.index(s[1]), s[0].lineno))
        self._sites[key] = out
        return out

    def bind(self, func, call: ast.Call, ctx: Ctx, is_method: bool) -> tuple:
        """The call's arguments as (parameter, (expression, ctx)) pairs, `**kwargs` dicts expanded
        where they resolve to a dict written out."""
        a = func.args
        positional = [x.arg for x in a.posonlyargs + a.args]
        if is_method and positional:
            positional = positional[1:]
        binds = []
        for i, arg in enumerate(call.args):
            if isinstance(arg, ast.Starred):
                break
            if i < len(positional):
                binds.append((positional[i], (arg, ctx)))
        for kw in call.keywords:
            if kw.arg is not None:
                binds.append((kw.arg, (kw.value, ctx)))
            else:
                binds += self.dict_entries(kw.value, ctx)
        return tuple(binds)

    def dict_entries(self, expr, ctx: Ctx) -> list:
        """(key, (value expression, ctx)) of a dict written as `{...}` or `dict(...)`, with the
        `.update(...)` calls made on its name before `ctx.line` (a CUDA branch taken, as noted)."""
        r = self.deref(expr, ctx)
        if r is None:
            return []
        node, c = r
        entries = []
        if isinstance(node, ast.IfExp):
            pick = self.decide(node.test, c, node)
            if pick is None:
                return []
            entries = self.dict_entries(node.body if pick else node.orelse, c)
        elif isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values):
                if k is None:
                    entries += self.dict_entries(v, c)
                elif isinstance(k, ast.Constant) and isinstance(k.value, str):
                    entries.append((k.value, (v, c)))
        elif isinstance(node, ast.Call) and _name_of(node.func) == "dict":
            for arg in node.args[:1]:
                entries += self.dict_entries(arg, c)
            for kw in node.keywords:
                if kw.arg is None:
                    entries += self.dict_entries(kw.value, c)
                else:
                    entries.append((kw.arg, (kw.value, c)))
        else:
            return []
        if isinstance(expr, ast.Name):
            for upd in self._updates(expr.id, c, ctx):
                entries += self.dict_entries(upd, self.ctx_at(upd, ctx.unit, ctx.binds))
        return entries

    def _updates(self, name: str, defined: Ctx, use: Ctx) -> list:
        """Arguments of `name.update(...)` calls between a dict's definition and its use."""
        if defined.unit is not use.unit:
            return []
        out = []
        for call in use.unit.calls:
            f = call.func
            if (
                isinstance(f, ast.Attribute)
                and f.attr == "update"
                and isinstance(f.value, ast.Name)
                and f.value.id == name
                and defined.line < call.lineno < use.line
                and call.args
                and self.func_of(call, use.unit) is use.func
            ):
                out.append(call.args[0])
        return out

    def element(self, value, i: int, ctx: Ctx):
        """Element i of a tuple: written out, or returned by a function of the source."""
        r = self.deref(value, ctx)
        if r is None:
            return None
        node, c = r
        if (
            isinstance(node, (ast.Tuple, ast.List))
            and i < len(node.elts)
            and not any(isinstance(e, ast.Starred) for e in node.elts)
        ):
            return self.follow(node.elts[i], c)
        if isinstance(node, ast.Call) and self.kind(node, c) == "random_split":
            return node, c  # `train, val = random_split(...)`: each part is known by the split it comes from
        return None

    def self_attr(self, sv: SelfVal, attr: str, ctx: Ctx):
        """`self.attr` in a class of the source: a method, or the value assigned to it, preferring an
        assignment earlier in the same method, then __init__'s, then any method's."""
        cls, unit = sv.cls, sv.unit
        for st in cls.body:
            if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef)) and st.name == attr:
                return st, Ctx(unit, None, st.lineno)
        assigns = []
        for method in cls.body:
            if not isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(method):
                if isinstance(node, (ast.Assign, ast.AnnAssign)):
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    for t in targets:
                        if (
                            isinstance(t, ast.Attribute)
                            and t.attr == attr
                            and isinstance(t.value, ast.Name)
                            and t.value.id == "self"
                            and node.value is not None
                            and self.live(node, unit)
                        ):
                            assigns.append((method, node))
        if not assigns:
            for st in cls.body:  # a class attribute
                if isinstance(st, ast.Assign) and any(isinstance(t, ast.Name) and t.id == attr for t in st.targets):
                    return st.value, Ctx(unit, None, st.lineno)
            for base in cls.bases:  # a local base class's
                r = self.follow(base, Ctx(unit, None, cls.lineno))
                if r is not None and isinstance(r[0], ast.ClassDef) and r[0] is not cls:
                    return self.self_attr(SelfVal(r[0], r[1].unit, sv.call), attr, ctx)
            return None
        same = [a for a in assigns if a[0] is ctx.func and a[1].lineno < ctx.line]
        init = [a for a in assigns if a[0].name == "__init__"]
        method, node = (same or init or assigns)[-1]
        binds = ()
        if method.name == "__init__" and sv.call is not None:
            call, cctx = sv.call
            binds = self.bind(method, call, cctx, True)
        return node.value, Ctx(unit, method, node.lineno, binds)

    def argparse_default(self, attr: str):
        """The default of the command-line option `--attr` (argparse's add_argument), noted."""
        options = [(c, u) for u in self.units for c in u.calls if _name_of(c.func) == "add_argument"]
        for call, u in options:
            flags = [a.value for a in call.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            kws = {k.arg: k.value for k in call.keywords if k.arg}
            dest = kws.get("dest")
            names = {f.lstrip("-").replace("-", "_") for f in flags if f.startswith("--") or not f.startswith("-")}
            if (isinstance(dest, ast.Constant) and dest.value == attr) or attr in names:
                action = kws.get("action")
                if "default" in kws:
                    value = kws["default"]
                elif isinstance(action, ast.Constant) and action.value == "store_true":
                    value = ast.Constant(False)
                elif isinstance(action, ast.Constant) and action.value == "store_false":
                    value = ast.Constant(True)
                else:
                    value = ast.Constant(None)
                self.note(
                    "interpreted",
                    u,
                    call.lineno,
                    f"`args.{attr}` is a command-line option: its default `{_short(value)}` is taken "
                    f"(the command the author ran may have set another)",
                )
                return value, self.ctx_at(call, u)
        return None

    def follow(self, expr, ctx: Ctx, depth: int = 0):
        """The expression a name or attribute stands for, followed through assignments, imports,
        parameters bound at call sites and self's attributes: (node or marker, its ctx), or None."""
        if depth > MAX_DEPTH or expr is None:
            return None
        if isinstance(expr, _MARKERS):
            return expr, ctx
        key = (id(expr), id(ctx.func), ctx.line, ctx.binds and id(ctx.binds))
        if key in self._active:
            return None
        self._active.add(key)
        try:
            if isinstance(expr, ast.Name):
                r = self.name(expr.id, ctx)
                if r is None:
                    return None
                node, c = r
                if isinstance(node, ast.Call) and _name_of(node.func) == "parse_args":
                    return ArgsVal(c.unit), c  # `args = parser.parse_args()`: its options' defaults
                return self.follow(node, c, depth + 1) if isinstance(node, (ast.Name, ast.Attribute)) else (node, c)
            if isinstance(expr, ast.Attribute):
                base = self.follow(expr.value, ctx, depth + 1)
                if base is not None and isinstance(base[0], ast.Call):
                    # `args = parse_arguments()`: what a function of the source returns
                    f = self.callee(base[0], base[1])
                    if f is not None and isinstance(f[0], (ast.FunctionDef, ast.AsyncFunctionDef)):
                        base = self.deref(base[0], base[1]) or base
                if base is None:
                    return None
                node, c = base
                if isinstance(node, External):
                    return External(f"{node.path}.{expr.attr}"), ctx
                if isinstance(node, ModuleVal):
                    r = self.module_name(node.unit, expr.attr, None)
                    if r is None:
                        return None
                    return self.follow(r[0], r[1], depth + 1) if isinstance(r[0], (ast.Name, ast.Attribute)) else r
                if isinstance(node, SelfVal):
                    r = self.self_attr(node, expr.attr, ctx)
                elif isinstance(node, ArgsVal):
                    r = self.argparse_default(expr.attr)
                elif isinstance(node, ast.Call):
                    # an attribute of an instance of a class of the source: its self.attr
                    f = self.follow(node.func, c, depth + 1)
                    if f is not None and isinstance(f[0], ast.ClassDef):
                        r = self.self_attr(SelfVal(f[0], f[1].unit, (node, c)), expr.attr, c)
                    elif f is not None and _name_of(node.func) == "parse_args":
                        r = self.argparse_default(expr.attr)
                    else:
                        return None
                else:
                    return None
                if r is None:
                    return None
                return self.follow(r[0], r[1], depth + 1) if isinstance(r[0], (ast.Name, ast.Attribute)) else r
            if isinstance(expr, ast.Call) and _name_of(expr.func) == "parse_args":
                return ArgsVal(ctx.unit), ctx
            if isinstance(expr, ast.Subscript) and isinstance(expr.slice, ast.Constant):
                # `loaders['train']` of `loaders = {'train': DataLoader(...), 'test': ...}`: the entry
                # written for that key (a literal's, never one assigned later)
                base = self.follow(expr.value, ctx, depth + 1)
                entry = _literal_entry(base[0], expr.slice.value) if base is not None else None
                if entry is not None:
                    assert base is not None
                    return self.follow(entry, base[1], depth + 1)
            return expr, ctx
        finally:
            self._active.discard(key)

    def callee(self, call: ast.Call, ctx: Ctx):
        """What a call calls: a def of the source (ClassDef/FunctionDef, ctx), an External, or None."""
        r = self.follow(call.func, ctx)
        if r is None:
            return None
        node = r[0]
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef, External)):
            return r
        return None

    def kind(self, call: ast.Call, ctx: Ctx) -> str:
        """The name a call is known by when it is no def of the source: 'SGD', 'Compose', 'range'.
        A def of the source gives ''; an unresolved name gives its last written part."""
        if not ctx.binds and id(call) in self._kinds:
            return self._kinds[id(call)]
        r = self.callee(call, ctx)
        if r is None:
            found = _name_of(call.func)
        else:
            found = r[0].path.split(".")[-1] if isinstance(r[0], External) else ""
        if not ctx.binds:
            self._kinds[id(call)] = found
        return found

    def deref(self, expr, ctx: Ctx, depth: int = 0):
        """follow(), and through calls of the source's functions to what they return."""
        r = self.follow(expr, ctx)
        while r is not None and depth < 8 and isinstance(r[0], ast.Call):
            node, c = r
            f = self.callee(node, c)
            if f is None or not isinstance(f[0], (ast.FunctionDef, ast.AsyncFunctionDef)):
                break
            ret = self.returned(f[0], f[1].unit, node, c)
            if ret is None:
                break
            r = self.follow(ret[0], ret[1])
            depth += 1
        return r

    def returned(self, func, unit: Unit, call: ast.Call, cctx: Ctx):
        """The expression a function returns (its last live `return`), in the ctx of this call."""
        is_method = self.class_of(func, unit) is not None and isinstance(call.func, ast.Attribute)
        binds = self.bind(func, call, cctx, is_method)
        rets = [
            n
            for n in self._own_nodes(func)
            if isinstance(n, ast.Return) and n.value is not None and self.live(n, unit, func, binds)
        ]
        if not rets:
            return None
        # The first return this call surely reaches (`if kind == 'train': return A` then `return B` gives
        # A for kind='train'); else the last live one.
        ret = next((n for n in rets if binds and self._surely_reached(n, unit, func, binds)), rets[-1])
        return ret.value, Ctx(unit, func, ret.lineno, binds)

    def _surely_reached(self, node: ast.AST, unit: Unit, func, binds: tuple) -> bool:
        """Whether every branch between the function and the node is decided for it in this call: no
        undecided condition, no loop, no try around it."""
        child, p = node, unit.parents.get(node)
        while p is not None and p is not func:
            if isinstance(p, (ast.For, ast.AsyncFor, ast.While, ast.Try, ast.With, ast.Match)):
                return False
            if isinstance(p, ast.If):
                try:
                    holds = _truthy(self.value(p.test, self.ctx_at(p, unit, binds)))
                except Unknown:
                    return False
                if holds != (child in p.body):
                    return False
            child, p = p, unit.parents.get(p)
        return p is func

    @staticmethod
    def _own_nodes(func):
        """The nodes of a function's body, not those of functions or classes defined inside it."""
        stack = list(func.body)
        while stack:
            node = stack.pop(0)
            yield node
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                stack[:0] = list(ast.iter_child_nodes(node))

    # ------------------------------------------------ values

    @contextlib.contextmanager
    def recorded(self):
        """A context in which the notes of the resolution are kept (see note())."""
        self.recording += 1
        try:
            yield
        finally:
            self.recording -= 1

    def read(self, expr, ctx: Ctx):
        """value(), with the notes of its resolution kept: for what goes into a candidate."""
        with self.recorded():
            return self.value(expr, ctx)

    def value(self, expr, ctx: Ctx, depth: int = 0):
        """The Python value of an expression written as data, constants followed through names:
        numbers, strings, tuples, lists, dicts, arithmetic; Obj for anything else that is known to
        exist. Raises Unknown when the text does not determine it."""
        try:
            return self._value(expr, ctx, depth)
        except (TypeError, ValueError, ArithmeticError, RecursionError, MemoryError) as e:
            # data of the wrong kind (`{**3}`, a list as a key): the text determines no value
            raise Unknown(f"`{_short(expr)}` is not data ({type(e).__name__})") from None

    def _value(self, expr, ctx: Ctx, depth: int):
        if depth > MAX_DEPTH:
            raise Unknown(f"`{_short(expr)}` is too deep to follow")
        r = self.follow(expr, ctx)
        if r is None:
            raise Unknown(f"`{_short(expr)}` cannot be resolved from the source text")
        node, c = r
        if isinstance(node, _MARKERS):
            return node
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            return Obj(node)
        handler = self._VALUE_OF.get(type(node))
        if handler is None:
            raise Unknown(f"`{_short(node)}` is not data")
        out = handler(self, node, c, depth)
        if isinstance(node, ast.Dict) and isinstance(expr, ast.Name):
            # `d = {...}` then `d.update(...)` before the use: the use sees the dict as updated
            for upd in self._updates(expr.id, c, ctx):
                out.update(self.value(upd, self.ctx_at(upd, ctx.unit, ctx.binds), depth + 1))
        return out

    def _constant_value(self, node: ast.Constant, c: Ctx, depth: int):
        return node.value

    def _sequence_value(self, node: ast.Tuple | ast.List, c: Ctx, depth: int):
        if any(isinstance(e, ast.Starred) for e in node.elts):
            raise Unknown(f"`{_short(node)}` unpacks a sequence")
        items = [self.value(e, c, depth + 1) for e in node.elts]
        return tuple(items) if isinstance(node, ast.Tuple) else items

    def _dict_value(self, node: ast.Dict, c: Ctx, depth: int) -> dict:
        out = {}
        for k, val in zip(node.keys, node.values):
            if k is None:
                out.update(self.value(val, c, depth + 1))
            else:
                out[self.value(k, c, depth + 1)] = self.value(val, c, depth + 1)
        return out

    def _unary_value(self, node: ast.UnaryOp, c: Ctx, depth: int):
        x = self.value(node.operand, c, depth + 1)
        if isinstance(node.op, ast.Not):
            return not _truthy(x)
        if isinstance(x, (int, float)):
            try:
                return {ast.USub: lambda a: -a, ast.UAdd: lambda a: +a, ast.Invert: lambda a: ~a}[type(node.op)](x)
            except TypeError:
                pass
        raise Unknown(f"`{_short(node)}` is not arithmetic on numbers")

    def _binary_value(self, node: ast.BinOp, c: Ctx, depth: int):
        a, b = self.value(node.left, c, depth + 1), self.value(node.right, c, depth + 1)
        data = (int, float, str, tuple, list)
        # hostile text must not make the importer build a huge value: "x" * 10**9, 9 ** 10**9
        huge = (isinstance(node.op, ast.Pow) and isinstance(b, (int, float)) and abs(b) > 64) or (
            isinstance(node.op, ast.Mult)
            and any(isinstance(x, (str, tuple, list)) for x in (a, b))
            and any(isinstance(x, int) and x > 4096 for x in (a, b))
        )
        if type(node.op) in _BINARY_OPS and isinstance(a, data) and isinstance(b, data) and not huge:
            try:
                return _BINARY_OPS[type(node.op)](a, b)
            except (TypeError, ArithmeticError, ValueError):
                pass
        raise Unknown(f"`{_short(node)}` is not arithmetic on known numbers")

    def _boolean_value(self, node: ast.BoolOp, c: Ctx, depth: int):
        # short-circuits as Python does: operands after the one that decides need not resolve
        if isinstance(node.op, ast.And):
            x = True
            for e in node.values:
                x = self.value(e, c, depth + 1)
                if not _truthy(x):
                    return x
            return x
        x = False
        for e in node.values:
            x = self.value(e, c, depth + 1)
            if _truthy(x):
                return x
        return x

    def _comparison_value(self, node: ast.Compare, c: Ctx, depth: int) -> bool:
        left = self.value(node.left, c, depth + 1)
        for op, right_expr in zip(node.ops, node.comparators):
            right = self.value(right_expr, c, depth + 1)
            if not self._compare(op, left, right, node):
                return False
            left = right
        return True

    def _conditional_value(self, node: ast.IfExp, c: Ctx, depth: int):
        pick = self.decide(node.test, c, node)
        if pick is None:
            raise Unknown(f"`{_short(node)}` depends on `{_short(node.test)}`, which the text does not decide")
        return self.value(node.body if pick else node.orelse, c, depth + 1)

    def _item_value(self, node: ast.Subscript, c: Ctx, depth: int):
        container, key = self.value(node.value, c, depth + 1), self.value(node.slice, c, depth + 1)
        try:
            return container[key]
        except (TypeError, KeyError, IndexError):
            raise Unknown(f"`{_short(node)}` is not an item of known data") from None

    def _compare(self, op, a, b, node) -> bool:
        if isinstance(op, (ast.Is, ast.IsNot)):
            if b is None or a is None:
                same = a is None and b is None
                return same if isinstance(op, ast.Is) else not same
            raise Unknown(f"`{_short(node)}` compares identities")
        if isinstance(a, (Obj, *_MARKERS)) or isinstance(b, (Obj, *_MARKERS)):
            raise Unknown(f"`{_short(node)}` compares objects the text does not describe")
        try:
            return {
                ast.Eq: lambda: a == b,
                ast.NotEq: lambda: a != b,
                ast.Lt: lambda: a < b,
                ast.LtE: lambda: a <= b,
                ast.Gt: lambda: a > b,
                ast.GtE: lambda: a >= b,
                ast.In: lambda: a in b,
                ast.NotIn: lambda: a not in b,
            }[type(op)]()
        except (TypeError, KeyError):
            raise Unknown(f"`{_short(node)}` cannot be compared") from None

    def _call_value(self, node: ast.Call, c: Ctx, depth: int):
        kind = self.kind(node, c)
        f = self.callee(node, c)
        if f is not None and isinstance(f[0], External):
            if f[0].path.endswith("cuda.is_available"):
                return True  # the author's published run used a GPU; decide() says so where it matters
            simple: dict[str, Callable[..., Any]] = {
                "tuple": tuple,
                "list": list,
                "float": float,
                "int": int,
                "round": round,
                "abs": abs,
                "min": min,
                "max": max,
                "bool": bool,
                "str": str,
            }
            args = (
                [self.value(a, c, depth + 1) for a in node.args if not isinstance(a, ast.Starred)]
                if kind in simple or kind == "dict"
                else []
            )
            if kind == "dict":
                out = dict(args[0]) if args else {}  # a TypeError here is value()'s Unknown
                for kw in node.keywords:
                    if kw.arg is None:
                        out.update(self.value(kw.value, c, depth + 1))
                    else:
                        out[kw.arg] = self.value(kw.value, c, depth + 1)
                return out
            if kind in simple and not node.keywords:
                if any(isinstance(a, (Obj, *_MARKERS)) for a in args):
                    raise Unknown(f"`{_short(node)}` is computed when the code runs")
                try:
                    return simple[kind](*args)
                except (TypeError, ValueError, ArithmeticError):
                    raise Unknown(f"`{_short(node)}` fails on these values") from None
            return Obj(node)
        if f is not None and isinstance(f[0], (ast.FunctionDef, ast.AsyncFunctionDef)):
            ret = self.returned(f[0], f[1].unit, node, c)
            if ret is not None:
                return self.value(ret[0], ret[1], depth + 1)
            return Obj(node)
        if f is not None:
            return Obj(node)
        raise Unknown(f"`{_short(node)}` calls something the source does not define")

    _VALUE_OF: dict[type[ast.AST], Callable[..., Any]] = {
        ast.Constant: _constant_value,
        ast.Tuple: _sequence_value,
        ast.List: _sequence_value,
        ast.Dict: _dict_value,
        ast.UnaryOp: _unary_value,
        ast.BinOp: _binary_value,
        ast.BoolOp: _boolean_value,
        ast.Compare: _comparison_value,
        ast.IfExp: _conditional_value,
        ast.Subscript: _item_value,
        ast.Call: _call_value,
    }

    def _cudaish(self, test: ast.AST, ctx: Ctx) -> bool:
        """Whether a condition is about CUDA: in its text, or in what its names stand for."""
        text = ast.unparse(test).lower()
        if "cuda" in text or "gpu" in text:
            return True
        for n in ast.walk(test):
            if isinstance(n, (ast.Name, ast.Attribute)):
                r = self.follow(n, ctx)
                if (
                    r is not None
                    and isinstance(r[0], ast.AST)
                    and not isinstance(r[0], (ast.ClassDef, ast.FunctionDef))
                    and "cuda" in ast.unparse(r[0]).lower()
                ):
                    return True
        return False

    def decide(self, test: ast.AST, ctx: Ctx, where: ast.If | ast.While | ast.IfExp) -> bool | None:
        """Whether a condition holds, where the text decides it; None when undecided. CUDA is taken
        as available (the authors' published runs used a GPU): a test of it that the text does not
        decide otherwise (`device == 'cuda'`) is taken as true, and the CUDA branch is noted."""
        cudaish = self._cudaish(test, ctx)
        pick: bool | None
        try:
            pick = _truthy(self.value(test, ctx))
        except Unknown:
            pick = True if cudaish else None
        if cudaish and pick is not None:
            if isinstance(where, ast.IfExp):
                taken = _short(where.body if pick else where.orelse, 60)
                self.note(
                    "interpreted",
                    ctx.unit,
                    where.lineno,
                    f"`{_short(where.body, 60)} if {_short(test, 40)} else {_short(where.orelse, 60)}`: "
                    f"the CUDA branch (`{taken}`) is taken",
                )
            else:
                self.note("interpreted", ctx.unit, where.lineno, f"`if {_short(test, 60)}:`: the CUDA branch is taken")
        return pick

    def live(self, node: ast.AST, unit: Unit, func=None, binds: tuple = ()) -> bool:
        """False when the node sits in a branch whose condition the text decides against it. Kept
        once found, except while recording: then the decisions are made again, to be noted. With the
        binds of one call of `func`, its conditions are decided for that call: `get_loader('train')`
        and `get_loader('test')` each take their own branch of `if kind == 'train':`, where without
        them the parameter is the last call site's."""
        if binds and func is not None:
            return self._is_live(node, unit, func, binds)  # this call's decision: never kept
        if not self.recording and id(node) in self._live:
            return self._live[id(node)]
        result = self._is_live(node, unit)
        self._live[id(node)] = result
        return result

    def _is_live(self, node: ast.AST, unit: Unit, func=None, binds: tuple = ()) -> bool:
        child, p = node, unit.parents.get(node)
        while p is not None and not isinstance(p, ast.Module):
            if isinstance(p, (ast.If, ast.While)) and child is not p.test:
                key = ("live", id(p))
                if key not in self._active:
                    self._active.add(key)
                    pick: bool | None
                    try:
                        if (
                            isinstance(p, ast.If)
                            and isinstance(p.test, ast.Compare)
                            and ast.unparse(p.test).replace("'", '"') == '__name__ == "__main__"'
                        ):
                            pick = True
                        else:
                            inside = binds if func is not None and self.func_of(p, unit) is func else ()
                            pick = self.decide(p.test, self.ctx_at(p, unit, inside), p)
                    finally:
                        self._active.discard(key)
                    if pick is not None:
                        in_body = child in p.body
                        if (pick and not in_body) or (not pick and in_body):
                            return False
            child, p = p, unit.parents.get(p)
        return True

    # ------------------------------------------------ structure of the training

    def is_module_class(self, cls: ast.ClassDef, unit: Unit, depth: int = 0) -> bool:
        if depth > 8:
            return False
        for base in cls.bases:
            # pl.LightningModule wraps training around a network, pl.LightningDataModule holds the data: neither
            # is a network a candidate can build (one once was taken as the model, its loaders copied as layers)
            if _short(base).endswith("Module") and not _short(base).endswith(("LightningModule", "DataModule")):
                return True
            r = self.follow(base, Ctx(unit, None, cls.lineno))
            if (
                r is not None
                and isinstance(r[0], ast.ClassDef)
                and r[0] is not cls
                and self.is_module_class(r[0], r[1].unit, depth + 1)
            ):
                return True
        return False

    def models_of(self, expr, ctx: Ctx, depth: int = 0, through: frozenset = frozenset()) -> list:
        """The nn.Module classes of the source an expression evaluates to an instance of, each as
        (ClassDef, unit, the instantiating call, its ctx, how it was chosen or None). `through`: the
        functions already followed into, each entered once, so that recursion ends."""
        if depth > 8:
            return []
        r = self.follow(expr, ctx)
        if r is None or not isinstance(r[0], ast.Call):
            return []
        node, c = r
        f = self.follow(node.func, c)
        if f is not None and isinstance(f[0], ast.ClassDef):
            return [(f[0], f[1].unit, node, c, None)] if self.is_module_class(f[0], f[1].unit) else []
        if isinstance(node.func, ast.Attribute) and node.func.attr in PASS_THROUGH_METHODS:
            return self.models_of(node.func.value, c, depth + 1, through)
        if _name_of(node.func) in PASS_THROUGH_CALLS and node.args:
            return self.models_of(node.args[0], c, depth + 1, through)
        if f is not None and isinstance(f[0], (ast.FunctionDef, ast.AsyncFunctionDef)) and id(f[0]) not in through:
            unit = f[1].unit
            is_method = self.class_of(f[0], unit) is not None and isinstance(node.func, ast.Attribute)
            binds = self.bind(f[0], node, c, is_method)
            found = []
            for ret in self._own_nodes(f[0]):
                if isinstance(ret, ast.Return) and ret.value is not None and self.live(ret, unit, f[0], binds):
                    found += self.models_of(
                        ret.value, Ctx(unit, f[0], ret.lineno, binds), depth + 1, through | {id(f[0])}
                    )
            return found
        # model_map[name](...), or model_map.get(name, Default)(...): a class chosen by a key
        getter = (
            f is not None
            and isinstance(f[0], ast.Call)
            and isinstance(f[0].func, ast.Attribute)
            and f[0].func.attr == "get"
            and 1 <= len(f[0].args) <= 2
        )
        if f is not None and (isinstance(f[0], ast.Subscript) or getter):
            sub, sc = f
            table = self.follow(sub.func.value if getter else sub.value, sc)
            if table is not None and isinstance(table[0], ast.Dict):
                d, dc = table
                try:
                    key = self.value(sub.args[0] if getter else sub.slice, sc)
                except Unknown:
                    key = None
                pairs = list(zip(d.keys, d.values))
                chosen: list[tuple[Any, Any]] = [
                    (k, val) for k, val in pairs if isinstance(k, ast.Constant) and k.value == key
                ]
                why = None
                if not chosen and getter and key is not None and len(sub.args) == 2:
                    chosen, dc = [(None, sub.args[1])], sc  # a key the table lacks: .get's default
                elif not chosen:
                    chosen = pairs
                    why = (
                        f"`{_short(sub)}` picks the class at run time"
                        + (f" (its key {key!r} is not in the table)" if key is not None else "")
                        + "; every class of the table is imported"
                    )
                out = []
                for _, val in chosen:
                    cr = self.follow(val, dc)
                    if cr is not None and isinstance(cr[0], ast.ClassDef) and self.is_module_class(cr[0], cr[1].unit):
                        out.append((cr[0], cr[1].unit, node, c, why))
                return out
        return []

    def batch_loop(self, loop: ast.For | ast.AsyncFor | ast.While) -> bool:
        """A loop whose own body (not an inner loop's) calls .backward(): one pass per batch."""
        stack: list[ast.AST] = list(loop.body)
        while stack:
            node = stack.pop()
            if isinstance(
                node,
                (ast.For, ast.AsyncFor, ast.While, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda),
            ):
                continue
            if isinstance(node, ast.Call) and _name_of(node.func) == "backward":
                return True
            stack += list(ast.iter_child_nodes(node))
        return False

    def trains(self, node: ast.AST, unit: Unit, depth: int = 0, seen=None) -> bool:
        """Whether code runs a batch loop: inside it, or in a function of the source it calls."""
        seen = set() if seen is None else seen
        if id(node) in seen or depth > 4:
            return False
        seen.add(id(node))
        for n in ast.walk(node):
            if isinstance(n, (ast.For, ast.AsyncFor, ast.While)) and self.batch_loop(n):
                return True
        for n in ast.walk(node):
            if isinstance(n, ast.Call):
                f = self.callee(n, self.ctx_at(n, unit))
                if (
                    f is not None
                    and isinstance(f[0], (ast.FunctionDef, ast.AsyncFunctionDef))
                    and self.trains(f[0], f[1].unit, depth + 1, seen)
                ):
                    return True
        return False

    def epoch_loops(self) -> list:
        """Loops that run the training once per pass: (loop, unit), in source order."""
        out = []
        for unit in self.units:
            for node in ast.walk(unit.tree):
                if (
                    isinstance(node, (ast.For, ast.AsyncFor, ast.While))
                    and not self.batch_loop(node)
                    and self.live(node, unit)
                    and self.trains(node, unit)
                ):
                    inner = any(
                        isinstance(m, (ast.For, ast.AsyncFor, ast.While))
                        and m is not node
                        and not self.batch_loop(m)
                        and self.trains(m, unit)
                        for m in ast.walk(node)
                    )
                    if not inner:
                        out.append((node, unit))
        return out


# ---------------------------------------------------------------- transforms

# torchvision's argument order, for transforms written with positional arguments
TRANSFORM_ARGS = {
    "RandomRotation": ("degrees", "interpolation", "expand", "center", "fill"),
    "RandomAffine": ("degrees", "translate", "scale", "shear", "interpolation", "fill", "center"),
    "ColorJitter": ("brightness", "contrast", "saturation", "hue"),
    "RandomApply": ("transforms", "p"),
    "RandomErasing": ("p", "scale", "ratio", "value", "inplace"),
    "RandomResizedCrop": ("size", "scale", "ratio", "interpolation", "antialias"),
    "CenterCrop": ("size",),
    "Resize": ("size", "interpolation", "max_size", "antialias"),
    "GaussianBlur": ("kernel_size", "sigma"),
    "RandomPerspective": ("distortion_scale", "p", "interpolation", "fill"),
    "Normalize": ("mean", "std", "inplace"),
}
TO_TENSOR = {"ToTensor", "PILToTensor", "ToImage", "ToDtype", "ConvertImageDtype"}
PIL_MODES = {0: "nearest", 2: "bilinear", 3: "bicubic"}  # PIL.Image's constants torchvision accepted


# ---------------------------------------------------------------- the importer


@dataclass
class RecipeField:
    """One recipe field: its value, and the source lines it came from."""

    value: Any  # data: a dict for optimizer and schedule, a number, a list of ops
    origins: list = field(default_factory=list)  # [(unit, line)]


class Analysis:
    """One program's candidates: its training sessions (an optimizer and the model it trains) and
    for each the recipe, the model's code and the published numbers."""

    def __init__(self, program: SourceProgram):
        self.p = program
        self.focus: set = set()  # the units a candidate is about, set per candidate

    # ------------------------------------------------ sessions

    def sessions(self) -> list:
        """(optimizer call, ctx, [model found]) for each live optimizer construction, in order."""
        p, out = self.p, []
        for unit in p.units:
            for call in unit.calls:
                ctx = p.ctx_at(call, unit)
                name = p.kind(call, ctx)
                if name not in OPTIMIZERS or not p.live(call, unit):
                    continue
                func = p.func_of(call, unit)
                if (
                    isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef))
                    and p.class_of(func, unit) is None
                    and not p.call_sites(func, unit)
                ):
                    with p.recorded():
                        p.note(
                            "interpreted",
                            unit,
                            call.lineno,
                            f"`{_short(call, 60)}` is in {func.name}(), which the source never calls: not used",
                        )
                    continue
                receiver = _receiver(call)
                models = p.models_of(receiver, ctx) if receiver is not None else []
                unique: list[tuple] = []
                for m in models:  # a class reached along two paths is one model
                    if not any(m[0] is u[0] and m[2] is u[2] for u in unique):
                        unique.append(m)
                out.append((call, ctx, unique))
        return out

    def root_classes(self, units) -> list:
        """nn.Module classes of these units that no other class of theirs uses: the models."""
        p, classes = self.p, []
        for unit in units:
            for node in unit.tree.body:
                if isinstance(node, ast.ClassDef) and p.is_module_class(node, unit):
                    classes.append((node, unit))
        used = set()
        for cls, _unit in classes:
            for n in ast.walk(cls):
                if isinstance(n, ast.Name) and n.id != cls.name:
                    used.add(n.id)
        return [(c, u) for c, u in classes if c.name not in used]

    def run(self, fallback: bool = True) -> list:
        """The candidates of the program: (model, session or None, notes). With fallback, a program
        that builds no optimizer still gives the classes it instantiates, or else defines."""
        session_notes: list[tuple] = []
        self.session_notes = session_notes  # kept: when nothing is found, they say why
        self.p.sink = session_notes
        models = self._trained_models(self.sessions(), session_notes)
        if not models and fallback:
            models = self._untrained_models()
        # what was found about the source as a whole (an optimizer never used) concerns every candidate
        return [(m, session, session_notes + notes) for m, session, notes in models.values()]

    def _trained_models(self, found: list, session_notes: list) -> dict:
        """{(class, args text): (model, session, notes)} for the sessions; a model trained by two
        optimizers keeps the later one."""
        models: dict = {}
        for call, ctx, ms in found:
            notes = []
            for m in self._session_models(call, ctx, ms, session_notes):
                key = (id(m[0]), self._args_text(m))
                if key in models and models[key][1][0] is not call:
                    prev = models[key][1]
                    notes.append(
                        (
                            "interpreted",
                            prev[1].unit.where(prev[0].lineno),
                            f"{m[0].name} is also trained with `{_short(prev[0], 60)}`; the later "
                            f"optimizer, at {ctx.unit.where(call.lineno)}, is taken",
                        )
                    )
                models[key] = (m, (call, ctx), notes)
        return models

    def _session_models(self, call: ast.Call, ctx: Ctx, ms: list, session_notes: list) -> list:
        """The models one optimizer is taken to train, when its parameters do not name exactly one."""
        own = [m for m in ms if m[1] is ctx.unit]
        if len(ms) > 1 and own and len(own) < len(ms):
            # One optimizer per model file (a config per model): the class chosen at run time is
            # taken to be the one defined beside the optimizer.
            return [
                m[:4]
                + (
                    f"`{_short(call, 50)}` trains one of {len(ms)} classes chosen at run time; "
                    f"{m[0].name}, defined beside it in {ctx.unit.rel}, is taken",
                )
                for m in own
            ]
        if ms:
            return ms
        # The optimizer's model is not visible (a parameter no call site binds): the one
        # model class of the optimizer's own file, when there is exactly one.
        roots = self.root_classes([ctx.unit])
        if len(roots) == 1:
            cls, unit = roots[0]
            return [
                (
                    cls,
                    unit,
                    None,
                    None,
                    f"the model `{_short(call.args[0] if call.args else call, 50)}` of `{_short(call, 50)}` "
                    f"cannot be traced to a class; {cls.name}, the one model class of {ctx.unit.rel}, is taken",
                )
            ]
        missing = self._missing_class(call, ctx)
        session_notes.append(
            (
                "not translated",
                ctx.unit.where(call.lineno),
                f"`{_short(call, 70)}`: the model it trains cannot be traced to a class of the source"
                + (f": {missing}" if missing else ""),
            )
        )
        return []

    def _missing_class(self, optimizer: ast.Call, ctx: Ctx) -> str | None:
        """Why the model class is not in the source, when an import of a file the source does not hold
        explains it (`from model import Net` with no model.py beside a notebook, common when a Colab
        notebook reads its helpers from Drive): said, so that the author can give the folder instead."""
        p = self.p
        receiver = _receiver(optimizer)
        r = p.follow(receiver, ctx) if receiver is not None else None
        if (
            r is not None
            and isinstance(r[0], SelfVal)
            and any(_short(b).endswith("LightningModule") for b in r[0].cls.bases)
        ):
            # configure_optimizers of a LightningModule that holds its layers itself: no nn.Module to build
            name = r[0].cls.name
            return (
                f"`{name}` is a LightningModule with its own layers, and a candidate is a plain nn.Module: move the "
                f"layers into an nn.Module class that {name} holds (`self.net = Net()`) to import it"
            )
        while r is not None and isinstance(r[0], ast.Call) and isinstance(r[0].func, ast.Attribute):
            if r[0].func.attr not in PASS_THROUGH_METHODS:
                break
            r = p.follow(r[0].func.value, r[1])  # model = Net().to(device): the call inside
        if r is None or not isinstance(r[0], ast.Call):
            return None
        call, c = r
        cls = _name_of(call.func)
        f = p.follow(call.func, c)
        if f is not None and isinstance(f[0], External):
            module = f[0].path.rpartition(".")[0]
            top = module.split(".")[0]
            if module and top not in EXTERNAL and top not in sys.stdlib_module_names:
                file = module.replace(".", "/") + ".py"
                return f"`{cls}` is imported from `{module}`, which is not in the source (no {file} beside it)"
            return None
        if f is None and cls:
            stale = self._stale_import(call, c)
            if stale:
                return stale
            defined = [(u, n) for u in p.units for n in u.tree.body if isinstance(n, ast.ClassDef) and n.name == cls]
            if defined:
                # a stale notebook: run with an import or a cell its saved text no longer has; not guessed
                u, n = defined[-1]
                return (
                    f"`{cls}` is neither defined nor imported where it is used, though {u.where(n.lineno)} defines "
                    f"it (the notebook ran with an import its saved text lacks); import it there to judge it"
                )
            stars = [s for s in c.unit.bindings.get("*", []) if p.module(s[2][0], c.unit, s[2][1]) is None]
            local = [s for s in stars if s[2][0].split(".")[0] not in EXTERNAL]
            if local:
                mods = ", ".join(f"`from {s[2][0]} import *` ({c.unit.where(s[0])})" for s in local)
                return f"`{cls}` is defined nowhere in the source; it may come from {mods}, a module not in the source"
        return None

    def _stale_import(self, call: ast.Call, ctx: Ctx) -> str | None:
        """`from model import Net` (or `model.Net()`) where model.py of the source defines no Net: the
        notebook ran against an older model.py (its class renamed since). Which class it meant is not
        guessed; said, with the classes the file has, so that the author can name one."""
        p = self.p
        if isinstance(call.func, ast.Attribute):
            r = p.follow(call.func.value, ctx)
            if r is None or not isinstance(r[0], ModuleVal):
                return None
            mod, name, line = r[0].unit, call.func.attr, call.lineno
        else:
            b = p._pick(ctx.unit.bindings.get(_name_of(call.func), []), ctx.line, ctx.unit)
            if b is None or b[1] != "from":
                return None
            module, level, name = b[2]
            found = p.module(module, ctx.unit, level)
            if found is None:
                return None
            mod, line = found, b[0]
        if name in mod.bindings or mod.bindings.get("*"):
            return None
        have = [n.name for n in mod.tree.body if isinstance(n, ast.ClassDef)]
        shown = ", ".join(have[:8]) + (", ..." if len(have) > 8 else "")
        return (
            f"`{name}` is imported from {mod.rel} ({ctx.unit.where(line)}), which does not define it"
            + (f" (its classes: {shown})" if have else "")
            + ": the notebook ran against another version of that file; import the class it trained to judge it"
        )

    def _untrained_models(self) -> dict:
        """{(class, args text): (model, None, notes)} when no optimizer is built: the classes the source
        instantiates (a summary() of a model), else its root classes."""
        p = self.p
        made: list[tuple] = []
        for unit in p.units:
            for call in unit.calls:
                ctx = p.ctx_at(call, unit)
                f = p.callee(call, ctx)
                if f is None or not isinstance(f[0], ast.ClassDef):
                    continue  # only direct instantiations: Net(), not what every function returns
                for m in p.models_of(call, ctx):
                    if (id(m[0]), self._args_text(m)) not in {(id(x[0]), self._args_text(x)) for x in made}:
                        made.append(m)
        if not made:
            entries = [u for u in p.units if u.is_entry]
            made = [
                (c, u, None, None, f"{c.name} is defined but never instantiated; it is taken as the model")
                for c, u in self.root_classes(entries or p.units)
            ]
        models: dict = {}
        for m in made:
            notes = [
                (
                    "not translated",
                    m[1].where(m[0].lineno),
                    "no optimizer is built in the source: the recipe holds the harness's defaults",
                )
            ]
            models[(id(m[0]), self._args_text(m))] = (m, None, notes)
        return models

    def _args_text(self, m) -> str:
        call = m[2]
        return ast.unparse(call) if call is not None and not isinstance(call.func, ast.Subscript) else ""

    # ------------------------------------------------ the recipe

    def recipe(self, session, model, notes: list) -> tuple[dict, tuple | None]:
        """The recipe of a session as fields {name: RecipeField}, and the training loop found (or None)."""
        p = self.p
        p.sink = notes
        fields: dict[str, RecipeField] = {}
        # (epochs=, origin) a scheduler was built for, when it says
        self.schedule_epochs: tuple[object, tuple[Unit, int]] | None = None
        # what the published log scores when it is not the test set (a part held out of the training set)
        self.log_on: str | None = None
        # the files this candidate is about: notes on other models' files of a folder are not its own
        self.focus = {u for u in (session[1].unit if session else None, model[1]) if u is not None} | {
            u for u in p.units if u.is_entry and u.notebook
        }
        if model is not None and model[2] is not None:
            self.why(model[2], model[3].unit)
        if session is not None:
            self.why(session[0], session[1].unit)
            self.optimizer(session, fields, notes)
            self.schedule(session, fields, notes)
        loop = self.epoch_loop(session, model)
        self.epochs(loop, fields, notes)
        loader = self.train_loader(loop, fields, notes)
        self.transforms(loader, fields, notes)
        self.loss_and_clipping(fields, notes, model)
        self.tricks(notes)
        self.reconcile(fields, notes)
        return fields, loop

    def why(self, node: ast.AST, unit: Unit, ctx: Ctx | None = None) -> None:
        """Notes the decisions that make a chosen node run: a CUDA branch, a command-line default;
        in the call of its function that `ctx` binds, when it was reached through one."""
        with self.p.recorded():
            if ctx is not None and ctx.binds:
                self.p.live(node, unit, ctx.func, ctx.binds)
            else:
                self.p.live(node, unit)

    def _kwargs(self, call: ast.Call, ctx: Ctx, cls, skip_first: bool, notes: list, what: str) -> tuple[dict, list]:
        """A torch class's arguments as written, positional ones named by its signature, each
        evaluated to data; those that cannot be are left out and noted."""
        p = self.p
        names = list(inspect.signature(cls).parameters)
        # `ReduceLROnPlateau(optimizer=optimizer)`, `SGD(params=model.parameters())`: the object the
        # recipe is built around, named by keyword, is no setting to read
        first = names[0] if skip_first and names else None
        if skip_first:
            names = names[1:]
        out, origins = {}, [(ctx.unit, call.lineno)]
        args = call.args[1:] if skip_first else call.args
        # (name, expression) as written, or (name, (expression, its ctx)) from a `**dict`
        pairs: list[tuple[str, ast.expr | tuple[ast.expr, Ctx]]] = [
            (names[i], a) for i, a in enumerate(args) if i < len(names) and not isinstance(a, ast.Starred)
        ]
        for kw in call.keywords:
            if kw.arg is None:
                with p.recorded():
                    for k, (vexpr, vctx) in p.dict_entries(kw.value, ctx):
                        if k != first:
                            pairs.append((k, (vexpr, vctx)))
            elif kw.arg != first:
                pairs.append((kw.arg, kw.value))
        for key, expr in pairs:
            vctx = ctx
            if isinstance(expr, tuple):
                expr, vctx = expr
            try:
                out[key] = p.read(expr, vctx)
            except Unknown as e:
                notes.append(
                    (
                        "not translated",
                        ctx.unit.where(call.lineno),
                        f"{what} argument {key}=`{_short(expr, 50)}`: {e}; left out (torch's default applies)",
                    )
                )
                continue
            if isinstance(expr, ast.AST) and not isinstance(expr, ast.Constant):
                r = p.follow(expr, vctx)
                if r is not None and isinstance(r[0], ast.AST) and hasattr(r[0], "lineno") and r[1].unit is not None:
                    origins.append((r[1].unit, r[0].lineno))
        return out, origins

    def optimizer(self, session, fields: dict, notes: list) -> None:
        """The session's optimizer: its class and arguments as data."""
        call, ctx = session[0], session[1]
        name = self.p.kind(call, ctx)
        kwargs, origins = self._kwargs(call, ctx, OPTIMIZERS[name], True, notes, name)
        for key in list(kwargs):
            if isinstance(kwargs[key], (Obj, *_MARKERS)):
                notes.append(
                    ("not translated", ctx.unit.where(call.lineno), f"{name} argument {key}: not data; left out")
                )
                del kwargs[key]
        if call.args and isinstance(call.args[0], (ast.List, ast.Tuple, ast.Dict)):
            notes.append(
                (
                    "not translated",
                    ctx.unit.where(call.lineno),
                    f"`{_short(call, 70)}` gives parameter groups; one group with the optimizer's "
                    f"own arguments is used",
                )
            )
        fields["optimizer"] = RecipeField({"name": name, **kwargs}, origins)

    def schedule(self, session, fields: dict, notes: list) -> None:
        """The scheduler built on the session's optimizer and how the training steps it."""
        found = self._schedulers_of(session[0])
        if not found:
            return
        if len(found) > 1:
            call, ctx, name = found[-1]
            notes.append(
                (
                    "interpreted",
                    ctx.unit.where(call.lineno),
                    f"{len(found)} schedulers are built on this optimizer "
                    f"({', '.join(f[2] for f in found)}); the last, `{_short(call, 50)}`, is taken",
                )
            )
        call, ctx, name = found[-1]
        self.why(call, ctx.unit)
        kwargs, origins = self._kwargs(call, ctx, SCHEDULERS[name], True, notes, name)
        where = ctx.unit.where(call.lineno)
        stepping = self._stepping(call, name, where, origins, notes)
        if stepping is None:
            return
        step, interval, arg = stepping
        self._drop_non_data(kwargs, name, where, notes)
        origins = self._drop_run_length(kwargs, origins, call, ctx, name, where, notes)
        sched = {"name": name, **kwargs}
        if name == "ReduceLROnPlateau":
            self._plateau_monitor(sched, step, arg, where, notes)
        elif interval == "step" or (interval == "epoch" and name in PER_STEP):
            # said when the source steps it in the batch loop, or per epoch against the class's default
            sched["interval"] = interval
        fields["schedule"] = RecipeField(sched, origins)

    def _schedulers_of(self, opt_call: ast.Call) -> list:
        """(call, ctx, class name) of each live scheduler built on this optimizer call, in order."""
        p = self.p
        found = []
        for unit in p.units:
            for call in unit.calls:
                ctx = p.ctx_at(call, unit)
                name = p.kind(call, ctx)
                if name not in SCHEDULERS or not p.live(call, unit):
                    continue
                first = _argument(call, 0, "optimizer")
                # deref: `optimizer = get_optimizer(model, ...)`, a helper of utils.py that returns it
                r = p.deref(first, ctx) if first is not None else None
                if r is not None and r[0] is opt_call:
                    found.append((call, ctx, name))
        return found

    def _stepping(self, call: ast.Call, name: str, where: str, origins: list, notes: list) -> tuple | None:
        """How the training steps the scheduler: (the step taken or None, "step"/"epoch"/None, the
        argument it passes); None when the scheduler is never stepped and so is left out."""
        steps = self.steps(call)
        if not steps:
            if self._has_training():
                notes.append(
                    (
                        "not translated",
                        where,
                        f"`{_short(call, 60)}` is created but never stepped: left out (a constant rate)",
                    )
                )
                return None
            notes.append(
                (
                    "interpreted",
                    where,
                    f"no training loop is in the source, so how {name} is stepped cannot be seen; "
                    f"it steps {'per batch' if name in PER_STEP else 'per epoch'}, as it is meant to",
                )
            )
            return None, None, None
        per_batch = [s for s in steps if s[2]]
        per_epoch = [s for s in steps if not s[2]]
        chosen = (per_batch or per_epoch) if name in PER_STEP else (per_epoch or per_batch)
        step = chosen[-1]
        self.why(step[0], step[1].unit)
        if per_batch and per_epoch:
            notes.append(
                (
                    "interpreted",
                    step[1].unit.where(step[0].lineno),
                    f"`.step()` of this scheduler is called both per batch and per epoch under "
                    f"conditions the text does not decide; {'per batch' if step[2] else 'per epoch'} "
                    f"is taken, as {name} is meant to step",
                )
            )
        arg = _argument(step[0], 0, "metrics", "metric")
        origins.append((step[1].unit, step[0].lineno))
        if arg is not None and name != "ReduceLROnPlateau":
            notes.append(
                (
                    "interpreted",
                    step[1].unit.where(step[0].lineno),
                    f"`{_short(step[0], 50)}` passes an argument {name}.step() does not use: ignored",
                )
            )
        return step, "step" if step[2] else "epoch", arg

    @staticmethod
    def _drop_non_data(kwargs: dict, name: str, where: str, notes: list) -> None:
        """Leaves out the scheduler's arguments a recipe cannot hold: objects, and print switches."""
        for key in list(kwargs):
            # the run-length arguments are often computed (len(train_loader)); _drop_run_length says why
            if isinstance(kwargs[key], (Obj, *_MARKERS)) and key not in ("epochs", "steps_per_epoch", "total_steps"):
                notes.append(("not translated", where, f"{name} argument {key}: not data; left out"))
                del kwargs[key]
        for key in ("verbose",):
            if key in kwargs:
                notes.append(("interpreted", where, f"{name}({key}={kwargs[key]!r}) only prints: left out"))
                del kwargs[key]

    def _drop_run_length(
        self, kwargs: dict, origins: list, call: ast.Call, ctx: Ctx, name: str, where: str, notes: list
    ) -> list:
        """Leaves out the arguments that size the schedule to the run, which the harness passes
        itself; returns the origins without the lines of the values left out."""
        arg_lines = {}  # argument -> the node its value came from, to drop the origin of one left out
        for kw in call.keywords:
            if kw.arg:
                r = self.p.follow(kw.value, ctx)
                if r is not None and isinstance(r[0], ast.AST):
                    arg_lines[kw.arg] = r[0]
        for key in ("epochs", "steps_per_epoch", "total_steps", "last_epoch"):
            if key in kwargs:
                val = kwargs.pop(key)
                left = getattr(arg_lines.get(key), "lineno", None)
                origins = [o for o in origins if o[1] != left or o[1] == call.lineno]
                why = {
                    "epochs": "the harness passes the recipe's epochs",
                    "steps_per_epoch": "the harness passes the batches per epoch",
                    "total_steps": "the harness passes epochs x batches",
                    "last_epoch": "every run starts the schedule at its beginning",
                }[key]
                shown = _short(val.node) if isinstance(val, Obj) else repr(val)
                notes.append(("interpreted", where, f"{name}'s {key}={shown}: {why}"))
                if key == "epochs":
                    # epochs() falls back to it when no training loop counts the epochs
                    self.schedule_epochs = (val, (ctx.unit, call.lineno))
        return origins

    def _plateau_monitor(self, sched: dict, step, arg, where: str, notes: list) -> None:
        """What ReduceLROnPlateau watches, read from its step call, and the mode that keeps its behaviour."""
        monitor = self.monitor(arg, step[1]) if arg is not None else None
        if monitor is None:
            notes.append(
                (
                    "interpreted",
                    where,
                    f"what ReduceLROnPlateau watches cannot be read from "
                    f"`{_short(step[0], 50) if step else 'its step call'}`; test_loss is taken",
                )
            )
            monitor = "test_loss"
        sched["monitor"] = monitor
        if monitor.endswith("_acc") and "mode" not in sched:
            notes.append(
                (
                    "interpreted",
                    where,
                    f"ReduceLROnPlateau watches {monitor} with torch's default mode 'min' (it lowers "
                    f"the rate when accuracy stops falling): mode='min' is written to keep that",
                )
            )
            sched["mode"] = "min"

    def _has_training(self) -> bool:
        """Whether the source has a backward pass at all: a loop the scheduler could be stepped in."""
        return any(isinstance(n, ast.Call) and _name_of(n.func) == "backward" for u in self.p.units for n in u.calls)

    def steps(self, sched_call: ast.Call) -> list:
        """The live `.step()` calls on a scheduler: (call, ctx, per batch?). A `.step()` on a name
        or attribute that reads like a scheduler and resolves to nothing is taken as this one's."""
        p = self.p
        tied, loose = [], []
        for unit in p.units:
            for call in unit.calls:
                f = call.func
                if not (isinstance(f, ast.Attribute) and f.attr == "step") or not p.live(call, unit):
                    continue
                ctx = p.ctx_at(call, unit)
                r = p.deref(f.value, ctx)  # `scheduler = get_scheduler(optimizer)`: what the helper returns
                loop = p.enclosing(call, unit, (ast.For, ast.AsyncFor, ast.While))
                inner_func = p.func_of(call, unit)
                if loop is not None and inner_func is not None and p.func_of(loop, unit) is not inner_func:
                    loop = None  # the loop is outside the function the step is in
                per_batch = isinstance(loop, (ast.For, ast.AsyncFor, ast.While)) and p.batch_loop(loop)
                if r is not None and r[0] is sched_call:
                    tied.append((call, ctx, per_batch))
                elif r is None and "sched" in ast.unparse(f.value).lower():
                    loose.append((call, ctx, per_batch))
        if tied:
            return tied
        with p.recorded():
            for call, ctx, _ in loose:
                p.note(
                    "interpreted",
                    ctx.unit,
                    call.lineno,
                    f"`{_short(call, 50)}` cannot be traced to a scheduler; it is taken as "
                    f"`{_short(sched_call, 50)}`'s",
                )
        return loose

    def monitor(self, arg, ctx: Ctx) -> str | None:
        """What a number passed to ReduceLROnPlateau.step() is, read from the names it passes through."""
        p = self.p
        seen, expr, c = 0, arg, ctx
        while expr is not None and seen < 12:
            seen += 1
            label = self._metric(_name_of(expr) or (ast.unparse(expr) if isinstance(expr, ast.AST) else ""))
            if label:
                return label
            if isinstance(expr, ast.Subscript):
                expr = expr.value
                continue
            if not isinstance(expr, ast.Name):
                return None
            r = p.name(expr.id, c)
            if r is None:
                return None
            nxt, c = r
            if isinstance(nxt, ast.Call):  # `loss, acc = test(...)` or `metric = evaluate(...)`
                callee = _name_of(nxt.func).lower()
                if "loss" in expr.id.lower() or "acc" in expr.id.lower():
                    split = (
                        "test"
                        if any(k in callee for k in ("test", "val", "eval"))
                        else "train"
                        if "train" in callee
                        else None
                    )
                    if split:
                        return f"{split}_{'loss' if 'loss' in expr.id.lower() else 'acc'}"
                return None
            expr = nxt
        return None

    @staticmethod
    def _metric(text: str) -> str | None:
        t = text.lower()
        kind = "loss" if "loss" in t else "acc" if "acc" in t else None
        if kind is None:
            return None
        # `trn_loss`, `tst_loss`: the abbreviations are as common as the words
        if "train" in t or "trn" in t:
            return f"train_{kind}"
        if any(k in t for k in ("test", "tst", "val", "eval")):
            return f"test_{kind}"
        return None

    # ------------------------------------------------ epochs and batches

    def epoch_loop(self, session, model):
        """The loop that trains this session's model once per pass, or None."""
        p = self.p
        loops = p.epoch_loops()
        if not loops:
            return None
        targets = set()
        if session is not None:
            targets.add(id(session[0]))
        if model is not None and model[2] is not None:
            targets.add(id(model[2]))
        mine = []
        for loop, unit in loops:
            for n in ast.walk(loop):
                if isinstance(n, (ast.Name, ast.Attribute)):
                    r = p.follow(n, p.ctx_at(n, unit))
                    if r is not None and id(r[0]) in targets:
                        mine.append((loop, unit))
                        break
        if mine:
            return mine[-1]
        if session is not None:
            after = [lp for lp in loops if lp[1] is session[1].unit and lp[0].lineno > session[0].lineno]
            if after:
                return after[0]
        return loops[-1] if len(loops) == 1 or session is None else None

    def epochs(self, loop, fields: dict, notes: list) -> None:
        """The epoch count: the training loop's range(), else the scheduler's epochs=; capped at the
        rule's limit, as noted."""
        count, origin, origins = None, None, []
        if loop is not None:
            count, origin, origins = self._loop_count(loop, notes)
            self._note_early_stop(loop, notes)
        if count is None:
            count, origin = self._trainer_epochs(notes)
            origins += [origin] if origin is not None else []
        planned = self.schedule_epochs
        if count is None and planned is not None and isinstance(planned[0], int):
            count, origin = planned[0], planned[1]
            origins.append(origin)
            notes.append(
                (
                    "interpreted",
                    origin[0].where(origin[1]),
                    f"the epoch count is read from the scheduler's epochs={count}, as no training loop "
                    f"that counts them is in the source",
                )
            )
        count = self._allowed_epochs(count, origin, notes)
        if planned is not None and isinstance(planned[0], int) and planned[0] != count:
            u, line = planned[1]
            notes.append(
                (
                    "interpreted",
                    u.where(line),
                    f"the scheduler was built for {planned[0]} epochs; here it spans the recipe's {count}",
                )
            )
        fields["epochs"] = RecipeField(count, origins)

    def _trainer_epochs(self, notes: list) -> tuple:
        """(count, origin) from a Lightning `Trainer(max_epochs=N)`, which runs the training loop the
        source does not write; (None, None) when there is none. The last one built is taken."""
        p = self.p
        found = []
        for u in p.units:
            for c in u.calls:
                ctx = p.ctx_at(c, u)
                kw = next((k.value for k in c.keywords if k.arg == "max_epochs"), None)
                if kw is None or p.kind(c, ctx) != "Trainer" or not p.live(c, u):
                    continue
                try:
                    n = p.read(kw, ctx)
                except Unknown:
                    continue
                if isinstance(n, int) and not isinstance(n, bool):
                    found.append((n, (u, c.lineno)))
        if not found:
            return None, None
        if len({n for n, _ in found}) > 1:
            u, line = found[-1][1]
            shown = ", ".join(f"{n} ({o[0].where(o[1])})" for n, o in found)
            notes.append(("interpreted", u.where(line), f"Trainers with max_epochs {shown}: the last is taken"))
        return found[-1]

    def _loop_count(self, loop, notes: list) -> tuple:
        """(count or None, its origin, the origins): how many times the loop runs, when it counts
        with range() over data the text determines."""
        p = self.p
        node, unit = loop
        count, origin, origins = None, None, []
        self.why(node, unit)
        it = node.iter if isinstance(node, (ast.For, ast.AsyncFor)) else None
        ctx = p.ctx_at(node, unit)
        while (
            isinstance(it, ast.Call)
            and p.kind(it, ctx) in ("tqdm", "enumerate", "iter", "notebook", "auto")
            and it.args
        ):
            it = it.args[0]
        if isinstance(it, ast.Call) and p.kind(it, ctx) in ("range", "trange"):
            try:
                args = [p.read(a, ctx) for a in it.args]
                count = len(range(*args))
                origin = (unit, node.lineno)
                origins.append(origin)
                for a in it.args:  # the line of a constant the loop counts to: EPOCHS = 15
                    r = p.follow(a, ctx)
                    if r is not None and isinstance(r[0], (ast.expr, ast.stmt)) and isinstance(a, ast.Name):
                        origins.append((r[1].unit, r[0].lineno))
            except (Unknown, TypeError, ValueError, OverflowError) as e:
                notes.append(
                    (
                        "not translated",
                        unit.where(node.lineno),
                        f"the epoch count of `for ... in {_short(it, 50)}` cannot be read ({e})",
                    )
                )
        else:
            notes.append(
                (
                    "not translated",
                    unit.where(node.lineno),
                    f"the training loop `{_short(it if it is not None else node.test, 50)}` does not "
                    f"count its epochs with range()",
                )
            )
        return count, origin, origins

    def _note_early_stop(self, loop, notes: list) -> None:
        """Says so when the loop can `break`, as the harness always trains every epoch."""
        node, unit = loop
        for n in ast.walk(node):
            if isinstance(n, ast.Break) and self.p.enclosing(n, unit, (ast.For, ast.AsyncFor, ast.While)) is node:
                notes.append(
                    (
                        "not translated",
                        unit.where(n.lineno),
                        "the training loop may stop early (`break`): the harness trains every epoch",
                    )
                )
                break

    @staticmethod
    def _allowed_epochs(count: int | None, origin: tuple | None, notes: list) -> int:
        """The count within the rule's limits: MAX_EPOCHS when none is found or it is more, 1 when it is
        not positive."""
        if count is None:
            notes.append(("not translated", "", f"no epoch count is found: {MAX_EPOCHS}, the rule's limit, is used"))
            return MAX_EPOCHS
        if count > MAX_EPOCHS:
            where = origin[0].where(origin[1]) if origin else ""
            notes.append(
                ("interpreted", where, f"epochs: the source trains {count} epochs; capped at {MAX_EPOCHS} by the rule")
            )
            return MAX_EPOCHS
        if count < 1:
            notes.append(("not translated", "", f"the epoch count {count} is not positive: 1 is used"))
            return 1
        return count

    def _loaders(self) -> list:
        """Live DataLoader calls: (call, ctx)."""
        p = self.p
        return [
            (c, p.ctx_at(c, u))
            for u in p.units
            for c in u.calls
            if p.kind(c, p.ctx_at(c, u)) == "DataLoader" and p.live(c, u)
        ]

    def _is_train(self, call: ast.Call, ctx: Ctx) -> bool:
        p = self.p
        ds = _argument(call, 0, "dataset")
        r = p.deref(ds, ctx) if ds is not None else None
        if r is not None and isinstance(r[0], ast.Call):
            for kw in r[0].keywords:
                if kw.arg == "train":
                    try:
                        return bool(p.value(kw.value, r[1]))
                    except Unknown:
                        break
        names = " ".join(_short(x) for x in (ds,) if x is not None).lower()
        parent = ctx.unit.parents.get(call)
        if isinstance(parent, ast.Assign):
            names += " " + " ".join(_short(t) for t in parent.targets).lower()
        return "train" in names and "test" not in names

    def _built_by_helper(self, r) -> bool:
        """Whether a resolution is a training DataLoader a helper function returns for one of its calls."""
        if r is None or not isinstance(r[0], ast.Call) or not r[1].binds:
            return False
        return self.p.kind(r[0], r[1]) == "DataLoader" and self._is_train(r[0], r[1])

    def _helper_loader(self):
        """The last training DataLoader a helper function returns for a live call of it
        (`train_loader = data_loader(train_set, 64, ...)`). Wanted where the training loop cannot be followed
        to its loader (a Trainer class keeps it as `self.train_loader`, read in another method): the helper's
        own DataLoader call, over its parameter, is no training loader until bound to one call's arguments."""
        p = self.p
        found = None
        for u in p.units:
            for c in u.calls:
                ctx = p.ctx_at(c, u)
                if ctx.func is None and p.live(c, u):
                    r = p.deref(c, ctx)
                    if r is not None and r[0] is not c and self._built_by_helper(r):
                        found = r
        return found

    def train_loader(self, loop, fields: dict, notes: list):
        """The training DataLoader and its batch size: the loader the training loop passes, else the
        last training loader built. The CUDA branch of a conditional argument dict is taken."""
        p = self.p
        loaders = [(c, x) for c, x in self._loaders() if self._is_train(c, x)]
        chosen = None
        if loop is not None:
            node, unit = loop
            for n in ast.walk(node):
                if isinstance(n, (ast.Name, ast.Attribute)):
                    r = p.deref(n, p.ctx_at(n, unit))
                    if r is not None and any(r[0] is c for c, _ in loaders):
                        chosen = next((c, x) for c, x in loaders if c is r[0])
                    if self._built_by_helper(r):
                        # `train_loader = get_loader('train', kwargs)`: the helper's loader, in that call's ctx,
                        # where the branch of `if kind == 'train':` and the caller's kwargs are this call's
                        chosen = r
        if chosen is None and loaders:
            chosen = loaders[-1]
        if chosen is None:
            chosen = self._helper_loader()
        if chosen is None:
            notes.append(
                (
                    "not translated",
                    "",
                    "no training DataLoader is found: batch_size 128, the harness's default, is used",
                )
            )
            fields["batch_size"] = RecipeField(128, [])
            return None
        call, ctx = chosen
        self.why(call, ctx.unit, ctx)
        self._part_of_training_set(call, ctx, loop, notes)
        others = {self._batch_text(c, x) for c, x in loaders if c is not call}
        batch, origins = self._batch(call, ctx, notes)
        if others and any(o != str(batch) for o in others):
            notes.append(
                (
                    "interpreted",
                    ctx.unit.where(call.lineno),
                    f"{len(loaders)} training DataLoaders are built (batch sizes "
                    f"{', '.join(sorted(others | {str(batch)}))}); the one the training uses, "
                    f"`{_short(call, 50)}`, is taken",
                )
            )
        fields["batch_size"] = RecipeField(batch, origins)
        for kw in call.keywords:
            if kw.arg == "drop_last":
                try:
                    if p.read(kw.value, ctx):
                        notes.append(
                            (
                                "not translated",
                                ctx.unit.where(call.lineno),
                                "drop_last=True: the harness keeps the last, partial batch",
                            )
                        )
                except Unknown:
                    pass
            if kw.arg in ("sampler", "batch_sampler"):
                notes.append(
                    (
                        "not translated",
                        ctx.unit.where(call.lineno),
                        f"{kw.arg}=: the harness shuffles the whole training set each epoch",
                    )
                )
        return call, ctx

    def _part_of_training_set(self, call: ast.Call, ctx: Ctx, loop, notes: list) -> None:
        """A training DataLoader over a part of MNIST's training set (random_split into train and
        validation, as the course's 50k/10k split does, or a Subset): the harness trains on all 60,000
        images by its rule, so this is said, never silently changed; and when the epoch loop scores a
        loader over the part held out, the published log is validation accuracy, not test accuracy."""
        p = self.p
        ds = _argument(call, 0, "dataset")
        r = p.deref(ds, ctx) if ds is not None else None
        if r is None or not isinstance(r[0], ast.Call) or p.kind(r[0], r[1]) not in ("random_split", "Subset"):
            return
        split, sc = r
        where = sc.unit.where(split.lineno)
        notes.append(
            (
                "not translated",
                where,
                f"`{_short(split, 60)}`: the source trains on a part of the 60,000 training images; the "
                f"harness trains on all of them (its rule)",
            )
        )
        held = []
        for c, x in self._loaders():
            d = _argument(c, 0, "dataset")
            q = p.deref(d, x) if d is not None and c is not call else None
            if q is not None and q[0] is split:
                held.append(c)
        scored = loop is not None and any(
            (q := p.deref(n, p.ctx_at(n, loop[1]))) is not None and any(q[0] is h for h in held)
            for n in ast.walk(loop[0])
            if isinstance(n, (ast.Name, ast.Attribute))
        )
        if scored:
            self.log_on = "images held out of the training set, not the test set"
            notes.append(
                (
                    "interpreted",
                    where,
                    "the epoch loop scores a loader over the part the split holds out: the published "
                    "log is validation accuracy on training images, not test accuracy",
                )
            )

    def _batch_text(self, call, ctx) -> str:
        sink, self.p.sink = self.p.sink, []
        try:
            return str(self._batch(call, ctx, [])[0])
        finally:
            self.p.sink = sink

    def _batch(self, call: ast.Call, ctx: Ctx, notes: list):
        p = self.p
        pairs = [("batch_size", (call.args[1], ctx))] if len(call.args) > 1 else []
        for kw in call.keywords:
            if kw.arg == "batch_size":
                pairs.append(("batch_size", (kw.value, ctx)))
            elif kw.arg is None:
                with p.recorded():
                    pairs += [e for e in p.dict_entries(kw.value, ctx) if e[0] == "batch_size"]
        if not pairs:
            notes.append(
                (
                    "interpreted",
                    ctx.unit.where(call.lineno),
                    "the training DataLoader sets no batch_size: torch's default, 1, is taken",
                )
            )
            return 1, [(ctx.unit, call.lineno)]
        expr, c = pairs[-1][1]
        origins = [(ctx.unit, call.lineno)]
        try:
            value = p.read(expr, c)
        except Unknown as e:
            notes.append(
                (
                    "not translated",
                    ctx.unit.where(call.lineno),
                    f"batch_size `{_short(expr, 40)}`: {e}; 128, the harness's default, is used",
                )
            )
            return 128, origins
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            notes.append(
                (
                    "not translated",
                    ctx.unit.where(call.lineno),
                    f"batch_size `{_short(expr, 40)}` is not a positive integer; 128, the harness's default, is used",
                )
            )
            return 128, origins
        if c.line and c.line != call.lineno:
            origins.append((c.unit, c.line))
        r = p.follow(expr, c)
        line = getattr(r[0], "lineno", None) if r is not None else None
        if line not in (None, call.lineno, c.line):
            origins.append((r[1].unit, r[0].lineno))
        return value, origins

    # ------------------------------------------------ transforms

    def transforms(self, loader, fields: dict, notes: list) -> None:
        """mean, std and augment: the training transforms, from the training DataLoader's dataset or
        else a Compose named for training."""
        compose = self._loader_transforms(loader)
        if compose is not None and compose[0] != "single":
            self._note_unused_composes(compose, notes)
        if compose is None:
            compose = self._named_transforms(notes)
        if compose is None:
            notes.append(
                (
                    "interpreted",
                    "",
                    "no training transforms are found: the images are used as ToTensor "
                    "gives them (mean=0.0, std=1.0, no augmentation)",
                )
            )
            self._untransformed(fields)
            return
        read = self._transform_items(compose, notes)
        if read is None:
            self._untransformed(fields)
            return
        node, c, items = read
        mean, std, norm_at = self._normalization(items, node, c, fields, notes)
        self._note_after_normalize(items, norm_at, notes)
        ops = []
        stage = "pil"  # torchvision's MNIST gives PIL images until ToTensor
        for i, (e, ec) in enumerate(items):
            stage = "normalized" if norm_at is not None and i > norm_at else stage
            op, stage = self._op(e, ec, stage, mean, std, notes)
            if op is not None:
                ops.append(op)
        ops = self._valid_ops(ops, notes)
        fields["augment"] = RecipeField(ops, [(c.unit, node.lineno)])

    @staticmethod
    def _untransformed(fields: dict) -> None:
        """The recipe's transforms when the source's cannot be read: the images as ToTensor gives them."""
        fields["mean"] = RecipeField(0.0, [])
        fields["std"] = RecipeField(1.0, [])
        fields["augment"] = RecipeField([], [])

    def _loader_transforms(self, loader) -> tuple | None:
        """The transform of the loader's dataset: (Compose call, ctx), ("single", (node, ctx)) for a
        transform not wrapped in Compose, or None when it cannot be followed."""
        if loader is None:
            return None
        p = self.p
        call, ctx = loader
        ds = _argument(call, 0, "dataset")
        r = p.deref(ds, ctx) if ds is not None else None
        if r is None or not isinstance(r[0], ast.Call):
            return None
        tf = next((k.value for k in r[0].keywords if k.arg in ("transform", "transforms")), None)
        if tf is None and p.kind(r[0], r[1]) in ("MNIST", "FashionMNIST", "EMNIST", "KMNIST"):
            tf = _argument(r[0], 2)  # MNIST(root, train, transform)
        if tf is None:
            return None
        compose = p.deref(tf, r[1])
        if compose is not None and (
            not isinstance(compose[0], ast.Call) or p.kind(compose[0], compose[1]) != "Compose"
        ):
            return ("single", compose)
        return compose

    def _note_unused_composes(self, compose: tuple, notes: list) -> None:
        """Composes named for training that the training DataLoader does not use, in the files this
        candidate is about: an author may have meant one of them."""
        for other, octx in self._train_composes():
            if other is not compose[0] and (octx.unit in self.focus or octx.unit is compose[1].unit):
                notes.append(
                    (
                        "not translated",
                        octx.unit.where(other.lineno),
                        f"`{_short(other, 60)}` is named for training, but the training DataLoader "
                        f"uses `{_short(compose[0], 40)}` at {compose[1].unit.where(compose[0].lineno)}: "
                        f"left out",
                    )
                )

    def _named_transforms(self, notes: list) -> tuple | None:
        """The last Compose named for training, when the DataLoader's own cannot be followed."""
        found = self._train_composes()
        compose = found[-1] if found else None
        if compose is not None:
            notes.append(
                (
                    "interpreted",
                    compose[1].unit.where(compose[0].lineno),
                    f"the training transforms are not reached from the training DataLoader; "
                    f"`{_short(compose[0], 50)}`, named for training, is taken",
                )
            )
        return compose

    def _transform_items(self, compose: tuple, notes: list) -> tuple | None:
        """(node, ctx, [(transform, ctx)]): the transforms in order, each followed to its expression;
        None when a Compose's list cannot be read."""
        p = self.p
        if compose[0] == "single":
            node, c = compose[1]
            return node, c, [(node, c)]
        node, c = compose
        lst = _argument(node, 0, "transforms")
        elts = self._list_items(lst, c) if lst is not None else None
        if elts is None:
            notes.append(
                (
                    "not translated",
                    c.unit.where(node.lineno),
                    f"`{_short(node, 60)}`: its list of transforms cannot be read",
                )
            )
            return None
        items = []
        for e, ec in elts:
            if isinstance(e, ast.Starred):
                notes.append(("not translated", ec.unit.where(e.lineno), f"`{_short(e, 50)}`: unpacked list"))
                continue
            er = p.follow(e, ec)
            items.append(er if er is not None else (e, ec))
        return node, c, items

    def _list_items(self, expr, ctx: Ctx, depth: int = 0) -> list | None:
        """The elements a list of transforms holds where it is read, each (expression, ctx): a literal,
        `a + b`, `x if cond else y` and `if` blocks the text decides, a name with the `+=`, append, extend
        and insert made on it since its assignment. None when any part cannot be read (a loop adds to it)."""
        p = self.p
        if depth > 12:
            return None
        if isinstance(expr, (ast.List, ast.Tuple)):
            return [(e, ctx) for e in expr.elts]
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
            left = self._list_items(expr.left, ctx, depth + 1)
            right = self._list_items(expr.right, ctx, depth + 1) if left is not None else None
            return None if right is None or left is None else left + right
        if isinstance(expr, ast.IfExp):
            try:
                test = _truthy(p.value(expr.test, ctx))
            except Unknown:
                return None
            return self._list_items(expr.body if test else expr.orelse, ctx, depth + 1)
        if isinstance(expr, ast.Name):
            return self._name_items(expr.id, ctx, depth)
        r = p.deref(expr, ctx)
        if r is None or r[0] is expr or not isinstance(r[0], ast.AST):
            return None
        return self._list_items(r[0], r[1], depth + 1)

    def _name_items(self, name: str, ctx: Ctx, depth: int) -> list | None:
        """A list variable's elements where `ctx` reads it: its last assignment before that line, and what
        the statements between add to it. The statements of its own scope only."""
        p, unit = self.p, ctx.unit
        events: list[tuple[int, str, Any]] = []
        for n in ast.walk(ctx.func if ctx.func is not None else unit.tree):
            line = getattr(n, "lineno", 0)
            if not line or line >= ctx.line or p.func_of(n, unit) is not ctx.func:
                continue
            if isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in n.targets):
                events.append((line, "set", n))
            elif isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Name) and n.target.id == name:
                events.append((line, "add", n))
            elif (
                isinstance(n, ast.Call)
                and isinstance(n.func, ast.Attribute)
                and isinstance(n.func.value, ast.Name)
                and n.func.value.id == name
                and n.func.attr in ("append", "extend", "insert")
            ):
                events.append((line, n.func.attr, n))
        events.sort(key=lambda e: (e[0], getattr(e[2], "col_offset", 0)))
        live = [e for e in events if p.live(e[2], unit, ctx.func, ctx.binds)]
        sets = [i for i, e in enumerate(live) if e[1] == "set"]
        if not live:
            r = p.follow(ast.Name(id=name, ctx=ast.Load()), ctx)  # a parameter, or a name of another scope
            return None if r is None or not isinstance(r[0], ast.AST) else self._list_items(r[0], r[1], depth + 1)
        if not sets:
            return None  # added to, but assigned where this scope does not show
        first = sets[-1]
        if any(p.enclosing(e[2], unit, (ast.For, ast.AsyncFor, ast.While)) for e in live[first:]):
            return None  # how many times a loop adds cannot be read
        st = live[first][2]
        items = self._list_items(st.value, Ctx(unit, ctx.func, st.lineno, ctx.binds), depth + 1)
        for line, kind, n in live[first + 1 :]:
            if items is None:
                return None
            at = Ctx(unit, ctx.func, line, ctx.binds)
            if kind == "add" and isinstance(n.op, ast.Add):
                more = self._list_items(n.value, at, depth + 1)
                items = None if more is None else items + more
            elif kind == "append" and len(n.args) == 1:
                items = items + [(n.args[0], at)]
            elif kind == "extend" and len(n.args) == 1:
                more = self._list_items(n.args[0], at, depth + 1)
                items = None if more is None else items + more
            elif kind == "insert" and len(n.args) == 2:
                try:
                    i = p.value(n.args[0], at)
                except Unknown:
                    return None
                if not isinstance(i, int):
                    return None
                items = items[:i] + [(n.args[1], at)] + items[i:]
            else:
                return None
        return items

    def _normalization(self, items: list, node, c: Ctx, fields: dict, notes: list) -> tuple:
        """(mean, std, index of the Normalize or None), written into fields: the first Normalize
        with one number each, else the images as ToTensor gives them."""
        p = self.p
        # Normalize first: a RandomErasing after it erases to values of normalised images.
        mean = std = None
        norm_at = None
        for i, (e, ec) in enumerate(items):
            if isinstance(e, ast.Call) and p.kind(e, ec) == "Normalize":
                args = self._targs(e, ec, "Normalize")
                try:
                    m, sd = args.get("mean"), args.get("std")
                    m = m[0] if isinstance(m, (tuple, list)) else m
                    sd = sd[0] if isinstance(sd, (tuple, list)) else sd
                    if isinstance(m, (int, float)) and isinstance(sd, (int, float)):
                        if mean is not None:
                            notes.append(
                                (
                                    "not translated",
                                    ec.unit.where(e.lineno),
                                    "a second Normalize: only the first is kept",
                                )
                            )
                            continue
                        mean, std, norm_at = float(m), float(sd), i
                        fields["mean"] = RecipeField(mean, [(ec.unit, e.lineno)])
                        fields["std"] = RecipeField(std, [(ec.unit, e.lineno)])
                except (TypeError, IndexError):
                    pass
        if mean is None:
            notes.append(
                (
                    "interpreted",
                    c.unit.where(node.lineno),
                    "the training transforms do not normalise: mean=0.0, std=1.0, the images as ToTensor gives them",
                )
            )
            fields["mean"] = RecipeField(0.0, [(c.unit, node.lineno)])
            fields["std"] = RecipeField(1.0, [(c.unit, node.lineno)])
            mean, std = 0.0, 1.0
        return mean, std, norm_at

    def _note_after_normalize(self, items: list, norm_at: int | None, notes: list) -> None:
        """Says so when augmentation follows Normalize, as the harness always normalises last."""
        p = self.p
        if norm_at is None:
            return
        after = items[norm_at + 1 :]
        if after and not all(
            isinstance(e, ast.Call) and p.kind(e, ec) in ("RandomErasing", *TO_TENSOR) for e, ec in after
        ):
            notes.append(
                (
                    "interpreted",
                    items[norm_at][1].unit.where(items[norm_at][0].lineno),
                    "transforms follow Normalize: the harness normalises after all augmentation",
                )
            )

    def _train_composes(self) -> list:
        """Live Compose calls whose name (their variable, or the function returning them) says training."""
        p, found = self.p, []
        for unit in p.units:
            for call in unit.calls:
                ctx = p.ctx_at(call, unit)
                if p.kind(call, ctx) != "Compose" or not p.live(call, unit):
                    continue
                parent = unit.parents.get(call)
                label = ""
                if isinstance(parent, ast.Assign):
                    label = " ".join(_short(t) for t in parent.targets)
                elif isinstance(parent, ast.Return) and ctx.func is not None:
                    label = getattr(ctx.func, "name", "")
                label = label.lower()
                if "train" in label and "test" not in label:
                    found.append((call, ctx))
        return found

    def _targs(self, call: ast.Call, ctx: Ctx, name: str) -> dict:
        names = TRANSFORM_ARGS.get(name, ())
        pairs = [(names[i], a) for i, a in enumerate(call.args) if i < len(names)]
        pairs += [(k.arg, k.value) for k in call.keywords if k.arg]
        out: dict[str, Any] = {}
        for key, expr in pairs:
            if key == "transforms":
                out[key] = expr
                continue
            if key == "interpolation":
                r = self.p.follow(expr, ctx)
                if r is not None and isinstance(r[0], External):
                    out[key] = r[0].path.split(".")[-1].lower()
                    continue
            try:
                out[key] = self.p.read(expr, ctx)
            except Unknown as e:
                out[key] = Unknown(str(e))
        return out

    def _fill(self, v, stage: str, mean: float, std: float):
        """A fill or erase value as the harness's [0, 1] images take it: PIL grey levels are /255,
        values of normalised images are un-normalised."""
        if isinstance(v, (list, tuple)):
            return type(v)(self._fill(x, stage, mean, std) for x in v)
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            return v
        if stage == "pil":
            return Frac(v) if v != 0 else v
        if stage == "normalized":
            return round(v * std + mean, 6)
        return v

    def _op(self, e, ec: Ctx, stage: str, mean: float, std: float, notes: list):
        """One torchvision transform as a harness op (or None), and the stage after it."""
        p = self.p
        where = ec.unit.where(getattr(e, "lineno", ec.line))
        if not isinstance(e, ast.Call):
            notes.append(("not translated", where, f"`{_short(e, 60)}`: not a transform call"))
            return None, stage
        name = p.kind(e, ec)
        text = _short(e, 70)
        if name in TO_TENSOR:
            return None, ("tensor" if stage == "pil" else stage)
        if name == "Normalize":
            return None, "normalized"
        if name == "Grayscale":
            notes.append(("interpreted", where, f"`{text}`: MNIST is already one channel: left out"))
            return None, stage
        if name not in TRANSFORM_ARGS:
            why = (
                "a transform of the source itself"
                if p.callee(e, ec) is not None and not isinstance(p.callee(e, ec)[0], External)
                else "not an op of harness.engine.augmentations"
            )
            notes.append(("not translated", where, f"`{text}`: {why}"))
            return None, stage
        args = self._targs(e, ec, name)
        for key, v in list(args.items()):
            if isinstance(v, Unknown):
                notes.append(("not translated", where, f"`{text}`: {key}: {v}; the transform is left out"))
                return None, stage
        op: dict[str, Any] = {"name": name}
        for key, v in args.items():
            if key == "transforms":
                continue
            op[key] = v
        if name == "RandomApply":
            return self._random_apply(op, args["transforms"], ec, stage, mean, std, where, text, notes)
        if not self._convert_fills(op, stage, mean, std, where, text, notes):
            return None, stage
        if "interpolation" in op and isinstance(op["interpolation"], int):
            op["interpolation"] = PIL_MODES.get(op["interpolation"], op["interpolation"])
        self._drop_no_ops(op, where, text, notes)
        if name == "RandomErasing" and stage == "pil":
            notes.append(("interpreted", where, f"`{text}` comes before ToTensor, where torchvision refuses it; kept"))
        op["_where"] = (ec.unit, e.lineno)
        return op, stage

    def _random_apply(
        self, op: dict, transforms, ec: Ctx, stage: str, mean: float, std: float, where: str, text: str, notes: list
    ):
        """RandomApply with its inner transforms as ops (or None when none is left), and the stage after it."""
        p = self.p
        r = p.follow(transforms, ec)
        inner = []
        if r is None or not isinstance(r[0], (ast.List, ast.Tuple)):
            notes.append(("not translated", where, f"`{text}`: its transforms cannot be read"))
            return None, stage
        for x in r[0].elts:
            xr = p.follow(x, r[1]) or (x, r[1])
            o, stage = self._op(xr[0], xr[1], stage, mean, std, notes)
            if o is not None:
                inner.append(o)
        if not inner:
            return None, stage
        name = op["name"]
        op = (
            {"name": name, "p": op.get("p", 0.5), "transforms": inner}
            if "p" in op
            else {"name": name, "transforms": inner}
        )
        return op, stage

    def _convert_fills(self, op: dict, stage: str, mean: float, std: float, where: str, text: str, notes: list) -> bool:
        """Rewrites an op's fill and erase values for the harness's raw [0, 1] images, in place;
        False when one cannot be (a string fill), and the op is left out."""
        name = op["name"]
        for key in ("fill", "value"):
            if key in op:
                before = op[key]
                if isinstance(before, str):
                    notes.append(("not translated", where, f"`{text}`: {key}={before!r} is not supported"))
                    return False
                op[key] = self._fill(before, stage, mean, std)
                if stage == "normalized" and before != op[key]:
                    notes.append(
                        (
                            "interpreted",
                            where,
                            f"`{text}` acts on normalised images: {key} {before!r} is {op[key]!r} on the raw "
                            f"[0, 1] images the harness augments",
                        )
                    )
        if name == "RandomErasing" and stage == "normalized" and "value" not in op:
            # torchvision erases to 0, which after Normalize is the mean grey, not black
            op["value"] = round(mean, 6)
            notes.append(
                (
                    "interpreted",
                    where,
                    f"`{text}` follows Normalize: its value 0 is the mean grey, value={op['value']} on raw images",
                )
            )
        if (
            stage == "pil"
            and name in ("RandomRotation", "RandomAffine", "RandomPerspective")
            and isinstance(op.get("fill"), (Frac, tuple, list))
            and op.get("fill") != (0,)
        ):
            notes.append(
                ("interpreted", where, f"`{text}` fills PIL grey levels (0..255): fill is written as a fraction of 255")
            )
        return True

    @staticmethod
    def _drop_no_ops(op: dict, where: str, text: str, notes: list) -> None:
        """Leaves out, in place, arguments that do nothing to MNIST or that the harness does not spell."""
        if op["name"] == "ColorJitter":
            for key in ("saturation", "hue"):
                v = op.get(key)
                if v is not None and v not in (0, (1, 1), (0, 0)):
                    notes.append(
                        ("interpreted", where, f"`{text}`: {key}={v!r} does nothing to a one-channel image: left out")
                    )
                    del op[key]
        for key in ("resample", "fillcolor"):
            if key in op:
                notes.append(("not translated", where, f"`{text}`: {key}= is torchvision's old spelling; left out"))
                del op[key]

    def _valid_ops(self, ops: list, notes: list) -> list:
        """The ops the harness accepts: each checked alone (a refused one is left out and noted), then
        the list, where a Resize to 28 after a RandomApply that crops is moved inside it (the harness
        keeps the size inside RandomApply; on uncropped images that Resize does nothing)."""
        out = self._resize_inside_random_apply(self._accepted_ops(ops, notes), notes)
        try:
            parse_augment(_plain_ops(out))
        except AugmentError as e:
            notes.append(
                (
                    "not translated",
                    "",
                    f"the augmentation is refused by the harness ({'; '.join(e.problems)}): left out",
                )
            )
            return []
        return out

    @staticmethod
    def _accepted_ops(ops: list, notes: list) -> list:
        """The ops the harness accepts one by one; a RandomApply refused for its size is kept for
        _resize_inside_random_apply, which may fix it."""
        kept = []
        for op in ops:
            try:
                parse_augment([_plain_op(op)])
            except AugmentError as e:
                if op["name"] == "RandomApply" and any("size" in x for x in e.problems):
                    kept.append(op)
                    continue
                u, line = op.get("_where", (None, None))
                notes.append(
                    (
                        "not translated",
                        u.where(line) if u else "",
                        f"{op['name']} is refused by the harness: {'; '.join(e.problems)}",
                    )
                )
                continue
            kept.append(op)
        return kept

    @staticmethod
    def _resize_inside_random_apply(kept: list, notes: list) -> list:
        """The ops with each RandomApply the harness refuses for its size either fixed by the Resize
        after it, moved inside, or left out."""
        out, i = [], 0
        while i < len(kept):
            op = kept[i]
            if op["name"] == "RandomApply":
                try:
                    parse_augment([_plain_op(op)])
                except AugmentError:
                    nxt = kept[i + 1] if i + 1 < len(kept) else None
                    moved = _with_resize_inside(op, nxt)
                    if moved is not None and nxt is not None:
                        u, line = nxt.get("_where", (None, None))
                        notes.append(
                            (
                                "interpreted",
                                u.where(line) if u else "",
                                f"Resize({nxt['size']!r}) after RandomApply([...crop...]) is moved inside "
                                f"it: the harness keeps the size inside RandomApply, and on uncropped "
                                f"images that Resize does nothing",
                            )
                        )
                        out.append(moved)
                        i += 2
                        continue
                    u, line = op.get("_where", (None, None))
                    notes.append(
                        (
                            "not translated",
                            u.where(line) if u else "",
                            "RandomApply changes the image size, which the harness refuses: left out",
                        )
                    )
                    i += 1
                    continue
            out.append(op)
            i += 1
        return out

    # ------------------------------------------------ loss, clipping and what cannot be translated

    LOSS_AND_CLIP = {
        "CrossEntropyLoss",
        "cross_entropy",
        "nll_loss",
        "NLLLoss",
        "MSELoss",
        "BCELoss",
        "BCEWithLogitsLoss",
        "KLDivLoss",
        "mse_loss",
        "kl_div",
        "clip_grad_norm_",
        "clip_grad_norm",
        "clip_grad_value_",
    }

    def loss_and_clipping(self, fields: dict, notes: list, model) -> None:
        """label_smoothing and clip_grad_norm from the live loss and clipping calls; losses the
        harness cannot train with are noted."""
        p = self.p
        smoothing, clip = [], []
        uses_nll = False
        for unit in p.units:
            for call in unit.calls:
                ctx = p.ctx_at(call, unit)
                name = p.kind(call, ctx)
                if name not in self.LOSS_AND_CLIP or not p.live(call, unit):
                    continue
                if name in ("CrossEntropyLoss", "cross_entropy"):
                    smoothing += self._label_smoothing(call, ctx, unit, notes)
                elif name in ("nll_loss", "NLLLoss"):
                    uses_nll = True
                elif name in ("MSELoss", "BCELoss", "BCEWithLogitsLoss", "KLDivLoss", "mse_loss", "kl_div"):
                    notes.append(
                        (
                            "not translated",
                            unit.where(call.lineno),
                            f"`{_short(call, 50)}`: the harness trains with cross-entropy only",
                        )
                    )
                elif name in ("clip_grad_norm_", "clip_grad_norm"):
                    clip += self._max_norm(call, ctx, unit, notes)
                elif name in ("clip_grad_value_",):
                    notes.append(
                        (
                            "not translated",
                            unit.where(call.lineno),
                            f"`{_short(call, 50)}`: clipping by value is not a recipe field",
                        )
                    )
        self._take_last_smoothing(smoothing, fields, notes)
        self._take_last_clip(clip, fields, notes)
        if uses_nll and model is not None and "log_softmax" not in model[1].segment(model[0]):
            notes.append(
                (
                    "not translated",
                    model[1].where(model[0].lineno),
                    f"nll_loss is applied to {model[0].name}, which does not end in log_softmax; the harness's "
                    f"cross-entropy on its outputs is not the same loss",
                )
            )

    def _label_smoothing(self, call: ast.Call, ctx: Ctx, unit: Unit, notes: list) -> list:
        """[(label_smoothing, unit, line)] of one cross-entropy call, when it sets one that reads as a number."""
        out = []
        for kw in call.keywords:
            if kw.arg == "label_smoothing":
                try:
                    out.append((float(self.p.read(kw.value, ctx)), unit, call.lineno))
                except (Unknown, TypeError, ValueError, OverflowError) as e:
                    notes.append(
                        (
                            "not translated",
                            unit.where(call.lineno),
                            f"label_smoothing `{_short(kw.value, 40)}`: {e}",
                        )
                    )
        return out

    def _max_norm(self, call: ast.Call, ctx: Ctx, unit: Unit, notes: list) -> list:
        """[(max_norm, unit, line)] of one clip_grad_norm_ call, empty when it cannot be read."""
        arg = _argument(call, 1, "max_norm")
        try:
            v = self.p.read(arg, ctx) if arg is not None else None
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
                raise Unknown(f"`{_short(arg, 40)}` is not a number")
        except Unknown as e:
            notes.append(("not translated", unit.where(call.lineno), f"`{_short(call, 50)}`: max_norm {e}"))
            return []
        return [(float(v), unit, call.lineno)] if v is not None else []

    @staticmethod
    def _take_last_smoothing(smoothing: list, fields: dict, notes: list) -> None:
        """label_smoothing: the last loss's, when any loss smooths."""
        values = {s[0] for s in smoothing}
        if values - {0.0}:
            s = smoothing[-1]
            if len(values) > 1:
                notes.append(
                    (
                        "interpreted",
                        s[1].where(s[2]),
                        f"label_smoothing differs between losses ({sorted(values)}); the last is taken",
                    )
                )
            if s[0] > 0:
                fields["label_smoothing"] = RecipeField(s[0], [(s[1], s[2])])

    @staticmethod
    def _take_last_clip(clip: list, fields: dict, notes: list) -> None:
        """clip_grad_norm: the last call's norm."""
        if clip:
            c = clip[-1]
            if len({x[0] for x in clip}) > 1:
                notes.append(
                    ("interpreted", c[1].where(c[2]), "clip_grad_norm_ is called with several norms; the last is taken")
                )
            fields["clip_grad_norm"] = RecipeField(c[0], [(c[1], c[2])])

    TRICKS = (
        (re.compile(r"mixup|mix_up|cutmix|cut_mix", re.I), "mixup/cutmix: the harness trains on single images"),
        (re.compile(r"\bautocast\b|GradScaler|\bamp\b"), "mixed precision: the harness sets the precision"),
        (re.compile(r"AveragedModel|swa_utils|SWALR"), "weight averaging: write it as the recipe's ema, if it is one"),
        (re.compile(r"\.apply\(\s*\w*init", re.I), "a custom weight initialisation: the harness builds with torch's"),
        (
            re.compile(r"param_groups\[[^\]]*\]\s*\[\s*['\"]lr['\"]\s*\]\s*="),
            "the learning rate is set by hand in the loop",
        ),
    )

    def tricks(self, notes: list) -> None:
        """Training-loop constructs a recipe cannot hold, each named where it first appears."""
        p = self.p
        for unit in p.units:
            model_lines: set[int] = set()
            for node in ast.walk(unit.tree):
                if isinstance(node, ast.ClassDef) and p.is_module_class(node, unit):
                    # ast types end_lineno as optional, for nodes built by hand; a parsed one has it
                    model_lines.update(range(node.lineno, cast(int, node.end_lineno) + 1))
            for pattern, why in self.TRICKS:
                for i, line in enumerate(unit.lines, start=1):
                    code = line.split("#", 1)[0]
                    if i not in model_lines and pattern.search(code):
                        notes.append(("not translated", unit.where(i), f"`{_short(line.strip(), 60)}`: {why}"))
                        break
            # A loss changed inside the batch loop (an L1 term, a second loss) is not the harness's loss.
            for node in ast.walk(unit.tree):
                if isinstance(node, (ast.For, ast.While)) and p.batch_loop(node):
                    for st in ast.walk(node):
                        if (
                            isinstance(st, ast.AugAssign)
                            and isinstance(st.target, ast.Name)
                            and st.target.id == "loss"
                            and isinstance(st.op, (ast.Add, ast.Sub))
                        ):
                            notes.append(
                                (
                                    "not translated",
                                    unit.where(st.lineno),
                                    f"`{_short(st, 60)}`: a term added to the loss in the loop",
                                )
                            )
                        if (
                            isinstance(st, ast.If)
                            and any(
                                isinstance(c, ast.Call)
                                and _name_of(c.func) == "step"
                                and "optim" in ast.unparse(c.func).lower()
                                for c in ast.walk(st)
                            )
                            and "%" in ast.unparse(st.test)
                        ):
                            notes.append(
                                (
                                    "not translated",
                                    unit.where(st.lineno),
                                    f"`if {_short(st.test, 40)}:` around optimizer.step(): gradient "
                                    f"accumulation is not a recipe field",
                                )
                            )

    # ------------------------------------------------ making it valid

    def reconcile(self, fields: dict, notes: list) -> None:
        """The optimizer and schedule as the harness takes them: OneCycleLR's max_lr becomes the
        optimizer's lr, arguments a class refuses are left out, each change noted."""
        opt = fields.get("optimizer")
        if opt is None:
            notes.append(
                (
                    "not translated",
                    "",
                    "no optimizer is found: SGD(lr=0.01, momentum=0.9), the harness's default, is used",
                )
            )
            fields["optimizer"] = opt = RecipeField({"name": "SGD", "lr": 0.01, "momentum": 0.9}, [])
        sched = fields.get("schedule")
        o, where = opt.value, opt.origins[0][0].where(opt.origins[0][1]) if opt.origins else ""
        if sched is not None:
            s = sched.value
            swhere = sched.origins[0][0].where(sched.origins[0][1]) if sched.origins else ""
            rate = {"OneCycleLR": "max_lr", "CyclicLR": "base_lr"}.get(s["name"])
            if rate in s:
                peak = s.pop(rate)
                if isinstance(peak, (list, tuple)):
                    notes.append(
                        ("interpreted", swhere, f"{s['name']}'s {rate}={peak!r} per group: the first is taken")
                    )
                    peak = peak[0]
                if "lr" in o and o["lr"] != peak:
                    notes.append(
                        (
                            "interpreted",
                            swhere,
                            f"{o['name']}'s own lr {o['lr']!r} is replaced by {s['name']}'s {rate} {peak!r}: "
                            f"the recipe's lr is {'the peak' if rate == 'max_lr' else 'the base rate'}",
                        )
                    )
                o["lr"] = peak
            if (
                s["name"] in ("OneCycleLR", "CyclicLR")
                and s.get("cycle_momentum", True)
                and o["name"] == "SGD"
                and not o.get("momentum")
            ):
                high = s.get("max_momentum", 0.95)
                notes.append(
                    (
                        "interpreted",
                        swhere,
                        f"{s['name']} cycles SGD's momentum (0.85 to 0.95 by default) although the optimizer "
                        f"sets none, as torch does; momentum={high} is written so the recipe states it",
                    )
                )
                o["momentum"] = high
        for _ in range(3):  # each pass leaves out what the harness refuses, until nothing is refused
            data = {k: _plain_value(f.value) for k, f in fields.items()}
            try:
                Recipe.from_dict(data)
                return
            except RecipeError as e:
                changed = False
                for problem in e.problems:
                    m = re.match(r"recipe field '(optimizer|schedule)\.(\w+)'", problem)
                    if m and m.group(2) != "name" and m.group(2) in fields[m.group(1)].value:
                        del fields[m.group(1)].value[m.group(2)]
                        notes.append(("not translated", where, f"{problem}: left out"))
                        changed = True
                    elif problem.startswith("recipe field 'schedule"):
                        notes.append(("not translated", where, f"{problem}: the schedule is left out"))
                        fields.pop("schedule", None)
                        changed = True
                if not changed:
                    for problem in e.problems:
                        notes.append(("not translated", "", f"the recipe is refused: {problem}"))
                    return


def _plain_op(op: dict) -> dict:
    """An op as parse_augment() takes it: grey levels as numbers, without the source line."""
    return {k: (_plain_ops(v) if k == "transforms" else _frac_value(v)) for k, v in op.items() if k != "_where"}


def _plain_ops(ops: list) -> list:
    return [_plain_op(o) for o in ops]


def _with_resize_inside(op: dict, nxt: dict | None) -> dict | None:
    """The RandomApply `op` with the Resize to 28 that follows it moved inside, when the harness
    accepts that; else None."""
    if nxt is None or nxt["name"] != "Resize":
        return None
    size = nxt["size"]
    if tuple((size,) * 2 if isinstance(size, int) else size) not in ((28, 28), (28,)):
        return None
    moved = dict(op, transforms=op["transforms"] + [nxt])
    try:
        parse_augment([_plain_op(moved)])
    except AugmentError:
        return None
    return moved


def _frac_value(v):
    if isinstance(v, Frac):
        return v.value
    if isinstance(v, (list, tuple)):
        return type(v)(_frac_value(x) for x in v)
    return v


def _plain_value(v):
    if isinstance(v, dict):
        return {k: _plain_value(x) for k, x in v.items() if k != "_where"}
    if isinstance(v, list):
        return [_plain_value(x) for x in v]
    return _frac_value(v)


# ---------------------------------------------------------------- published numbers

TEST_FULL = re.compile(
    r"(?:test|val\w*)\b[^\n]*?loss\s*[:=]?\s*([0-9.]+)[^\n]*?accuracy\s*[:=]?\s*(\d+)\s*/\s*(\d+)"
    r"\s*\(\s*([0-9.]+)\s*%?\s*\)",
    re.I,
)
TEST_RATIO = re.compile(
    r"(?:test|val\w*)\b[^\n]*?accuracy\s*[:=]?\s*(\d+)\s*/\s*(\d+)\s*\(\s*([0-9.]+)\s*%?\s*\)", re.I
)
TEST_ACC = re.compile(r"(?:test|val(?:idation)?)[ _-]?acc(?:uracy)?\s*[:=]\s*([0-9.]+)\s*%?", re.I)
TEST_PAIR = re.compile(r"\b(?:test|val)\s*[:=]\s*([0-9.]+)\s*\(\s*([0-9.]+)\s*%\s*\)", re.I)
TEST_LOSS = re.compile(r"(?:test|val\w*)[ _-]?(?:set\W+)?(?:average\s+)?loss\s*[:=]\s*([0-9.]+)", re.I)
EPOCH = re.compile(r"\bepoch\b\s*[:=#]?\s*(\d+)", re.I)
PARAMS = re.compile(r"Total params:\s*([\d,]+)")


def parse_log(text: str) -> tuple[list[dict], list[str]]:
    """Per-epoch test results in a saved output, in order: {"epoch", "test_acc", ...}, with the epoch
    as printed (from 1; a log counting from 0 is shifted, and said so) or else by order; and notes."""
    records: list[dict] = []
    notes: list[str] = []
    current: int | None = None
    used: set[int] = set()
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
        em = EPOCH.search(line)
        if rec is None:
            if em:
                current = int(em.group(1))
            continue
        epoch = int(em.group(1)) if em and em.start() < (m.start() if m else len(line)) else current
        if epoch is None or epoch in used:
            epoch = (max(used) + 1) if used else (1 if epoch is None else epoch)
        if records and epoch <= records[-1]["epoch"] and epoch in (0, 1):  # a new run: keep the last one
            notes.append("the outputs hold more than one run; the last one is taken")
            records, used = [], set()
        used.add(epoch)
        records.append({"epoch": epoch, **rec})
        current = None
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


def published(program: SourceProgram, model, loop) -> tuple[dict, list]:
    """The author's numbers from the entry notebook's saved outputs: the parameter count torchsummary
    printed and the per-epoch test results of the training cell."""
    entry = next((u for u in program.units if u.is_entry and u.notebook), None)
    empty: dict = {"params": None, "epochs": [], "source": ""}
    if entry is None or entry.cells is None:  # a notebook's unit has its cells
        return empty, []
    cells = entry.cells
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
    for c in cells:
        for m in PARAMS.finditer(c[3]):
            if last_train is None or c[0] <= last_train or params is None:
                params, params_cell = int(m.group(1).replace(",", "")), c[0]
    if model is not None and params is not None:
        notes += _stale_summaries(entry, model[0].name, params, params_cell)
    parts = []
    if params_cell is not None:
        parts.append(f"cell {params_cell} (torchsummary)")
    if log_cells:
        parts.append(f"cell{'s' if len(log_cells) > 1 else ''} {', '.join(str(c[0]) for c in log_cells)} (test log)")
    source = f"{entry.rel}: saved outputs of {' and '.join(parts)}" if parts else ""
    return {"params": params, "epochs": records, "source": source}, notes


def _unused_layers(cls: ast.ClassDef, unit: Unit) -> list[tuple]:
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
        head = _name_of(stmt.value.func).rpartition(".")[2]
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


# ---------------------------------------------------------------- the candidate file


def identifier(text: str) -> str:
    """A lowercase Python identifier from a file or class name: 'ERA1S7_Net3' -> 'era1s7_net3'."""
    s = re.sub(r"[^0-9a-zA-Z]+", "_", text, flags=re.ASCII).strip("_").lower()
    s = re.sub(r"_+", "_", s)
    if not s or s[0].isdigit():
        s = "m_" + s
    if keyword.iskeyword(s):
        s += "_"
    return s


def _lit(v) -> str:
    """How a recipe value is written in the file: dict(k=v), "strings", (tuples,), 1 / 255."""
    if isinstance(v, Frac):
        num = int(v.num) if float(v.num).is_integer() else v.num
        return f"{num} / 255"
    if isinstance(v, bool) or v is None:
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else "None"
    if isinstance(v, int):
        return repr(v)
    if isinstance(v, dict):
        items = {k: x for k, x in v.items() if k != "_where"}
        if all(isinstance(k, str) and k.isidentifier() and not keyword.iskeyword(k) for k in items):
            return "dict(" + ", ".join(f"{k}={_lit(x)}" for k, x in items.items()) + ")"
        return "{" + ", ".join(f"{_lit(k)}: {_lit(x)}" for k, x in items.items()) + "}"
    if isinstance(v, tuple):
        return "(" + ", ".join(map(_lit, v)) + (",)" if len(v) == 1 else ")")
    if isinstance(v, list):
        return "[" + ", ".join(map(_lit, v)) + "]"
    return repr(str(v))


def _origin_comment(origins: list) -> str:
    seen, parts = set(), []
    for unit, line in origins:
        if unit is None or (id(unit), line) in seen:
            continue
        seen.add((id(unit), line))
        parts.append(f"{unit.where(line)}: {_short(unit.line_text(line), 80)}")
    return _printable("; ".join(parts[:3]))


def _docstring_text(text: str) -> str:
    return _printable(text).replace("\\", "\\\\").replace('"""', '\\"\\"\\"')


class Writer:
    """The candidate file: docstring, imports, the model's code with what it needs, the builder."""

    def __init__(self, program: SourceProgram):
        self.p = program

    def dependencies(self, cls: ast.ClassDef, unit: Unit, line: int | None, notes: list) -> tuple[list, list]:
        """The definitions the class needs, dependencies first: [(unit, node, text)], and the import
        lines. A constant whose value is data is written as that value (text), its source noted."""
        order: list[tuple[Unit, ast.stmt, str | None]] = []
        imports: list[str] = []
        seen: set[int] = set()

        def visit(node, u, at):
            if id(node) in seen:
                return
            seen.add(id(node))
            text = self._as_data(node, u, notes)
            if text is not None:
                order.append((u, node, text))
                return
            walked = node
            if node is cls:
                dead = self._unusable_methods(cls, u, at, notes)
                if dead:
                    walked = copy.copy(cls)
                    walked.body = [n for n in cls.body if n not in dead]
                    text = self._without(cls, dead, u)
            for name in self._free_names(walked, u):
                if isinstance(node, (ast.ClassDef, ast.FunctionDef)) and name == node.name:
                    continue
                b = self._definition(name, node, u, at, imports, notes)
                if b is not None:
                    stmt, su = b
                    # `at` is a line of the unit that builds the model: in another file it says nothing
                    visit(stmt, su, None if su is not unit else at)
            order.append((u, node, text))

        visit(cls, unit, line)
        return order, imports

    def _unusable_methods(self, cls: ast.ClassDef, u: Unit, at: int | None, notes: list) -> list:
        """Methods of the model class that nothing the model runs calls (`def model_summary(self):
        summary(self, ...)`) and that use a name a candidate cannot have (torchsummary, tqdm, a name the
        source never defines): left out, with a note, instead of copied to fail only if ever called."""
        methods = [n for n in cls.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        if not any(m.name == "forward" for m in methods):
            return []  # a forward inherited from elsewhere may call any of them
        live = {m.name for m in methods if m.name.startswith("__") or m.name == "forward" or m.decorator_list}

        def reads(node) -> set:
            # self.<name> and getattr(self, "<name>") alike: a method reached either way is live
            return {
                n.attr if isinstance(n, ast.Attribute) else n.value
                for n in ast.walk(node)
                if isinstance(n, ast.Attribute) or (isinstance(n, ast.Constant) and isinstance(n.value, str))
            }

        named = set().union(*(reads(n) for n in cls.body if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))))
        live |= named
        while True:
            more = set().union(*(reads(m) for m in methods if m.name in live)) - live
            if not more & {m.name for m in methods}:
                break
            live |= more
        dead = []
        for m in methods:
            if m.name in live:
                continue
            bad = []
            for name in self._free_names(m, u):
                r = self.p.module_name(u, name, at)
                if r is None and not hasattr(builtins, name):
                    bad.append(f"`{name}`, which the source does not define")
                elif r is not None and isinstance(r[0], External) and r[0].path.split(".")[0] not in CANDIDATE_MODULES:
                    bad.append(f"`{name}` from {r[0].path}, which a candidate may not import")
            if bad:
                dead.append(m)
                notes.append(
                    (
                        "interpreted",
                        u.where(m.lineno),
                        f"{cls.name}.{m.name}, which the model never calls, uses {'; '.join(bad)}: left out",
                    )
                )
        return dead

    @staticmethod
    def _without(cls: ast.ClassDef, dead: list, u: Unit) -> str:
        """The class's text as written, less the lines of the methods left out."""
        first = min([cls.lineno] + [d.lineno for d in cls.decorator_list])
        gone: set[int] = set()
        for m in dead:
            start = min([m.lineno] + [d.lineno for d in m.decorator_list])
            gone.update(range(start, (m.end_lineno or m.lineno) + 1))
        kept = [u.lines[i - 1] for i in range(first, (cls.end_lineno or cls.lineno) + 1) if i not in gone]
        while kept and not kept[-1].strip():
            kept.pop()
        return textwrap.dedent("\n".join(kept))

    def _free_names(self, node, u: Unit) -> list:
        """Names the code reads that it does not bind itself: parameters, locals, loop targets."""
        p = self.p
        bound = set()
        for n in ast.walk(node):
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                bound.update(p._params(n))
            elif isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store) and p.func_of(n, u) is not None:
                bound.add(n.id)
            elif isinstance(n, ast.comprehension):
                bound.update(t.id for t in ast.walk(n.target) if isinstance(t, ast.Name))
        names = []
        for n in ast.walk(node):
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and n.id not in bound and n.id not in names:
                names.append(n.id)
        return names

    def _definition(self, name: str, node, u: Unit, at: int | None, imports: list, notes: list):
        """The statement of the source that defines `name` for `node`, to be copied before it: (stmt,
        unit), or None when the name is an import (added to imports), a builtin, or cannot be copied
        (noted)."""
        r = self.p.module_name(u, name, at)
        if r is None:
            if not hasattr(builtins, name):
                notes.append(
                    (
                        "not translated",
                        u.where(node.lineno),
                        f"{getattr(node, 'name', 'the code')} uses `{name}`, which the source does not "
                        f"define: the file will fail when built",
                    )
                )
            return None
        target, c = r
        if isinstance(target, External):
            self._add_import(name, target, node, u, at, imports, notes)
            return None
        if isinstance(target, ModuleVal):
            notes.append(
                (
                    "not translated",
                    u.where(node.lineno),
                    f"{getattr(node, 'name', 'the code')} uses the module `{name}` of the source: not copied",
                )
            )
            return None
        b = self._statement(target, c)
        if b is None:
            notes.append(
                (
                    "not translated",
                    u.where(node.lineno),
                    f"`{name}` ({_short(target, 40) if isinstance(target, ast.AST) else target}) "
                    f"is not a definition that can be copied",
                )
            )
        return b

    def _add_import(self, name: str, target: External, node, u: Unit, at: int | None, imports: list, notes: list):
        """The import line for an outside name the code uses, unless it is a builtin or a package a
        candidate may not import (noted)."""
        if target.path == name and hasattr(builtins, name):
            return
        line_text = self._import_line(name, target.path, self._import_binding(u, name, at))
        top = target.path.split(".")[0]
        if top not in CANDIDATE_MODULES:
            notes.append(
                (
                    "not translated",
                    u.where(node.lineno),
                    f"{getattr(node, 'name', 'the code')} uses `{name}` from {target.path}, which a "
                    f"candidate may not import: the file will fail when built",
                )
            )
        elif line_text not in imports:
            imports.append(line_text)

    def _import_binding(self, unit: Unit, name: str, line: int | None):
        """The import statement binding `name` in the unit, when one does (not a star import)."""
        b = self.p._pick(unit.bindings.get(name, []), line, unit)
        return b if b is not None and b[1] in ("import", "from") else None

    def _as_data(self, node: ast.AST, unit: Unit, notes: list) -> str | None:
        """`NAME = <data>` for a constant whose value is computed from others (`DROP = args.drop`,
        `width = base * 2`): the value, which the file can hold, instead of what it was computed from."""
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            return None
        if isinstance(node.value, ast.Constant):
            return None  # copied as written, with its comment
        try:
            value = self.p.read(node.value, Ctx(unit, None, node.lineno))
        except Unknown:
            return None
        if isinstance(value, (Obj, *_MARKERS)) or not isinstance(value, (int, float, str, bool, tuple, list, dict)):
            return None
        try:
            text = f"{node.targets[0].id} = {_lit(value)}"
            ast.literal_eval(text.split(" = ", 1)[1])
        except (ValueError, SyntaxError, RecursionError):
            return None
        notes.append(
            (
                "interpreted",
                unit.where(node.lineno),
                f"`{_short(node, 60)}` is written as its value, {_short(_lit(value), 40)}",
            )
        )
        return text

    @staticmethod
    def _import_line(name: str, path: str, binding) -> str:
        """The import as the source writes it (`import torch.nn as nn`), else as its path reads."""
        if binding is not None and binding[1] == "import":
            module = binding[2]
            return f"import {module}" if module == name else f"import {module} as {name}"
        if binding is not None and binding[1] == "from" and not binding[2][1]:
            module, _, attr = binding[2]
            return f"from {module} import {attr}" + ("" if attr == name else f" as {name}")
        module, _, attr = path.rpartition(".")
        if not module:
            return f"import {path}" if name == path else f"import {path} as {name}"
        return f"from {module} import {attr}" + ("" if attr == name else f" as {name}")

    def _statement(self, target, ctx: Ctx):
        """The top-level statement that defines a value: the def itself, or the assignment around it."""
        if isinstance(target, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            return target, ctx.unit
        if not isinstance(target, ast.AST):
            return None
        node: ast.AST | None = target
        while node is not None and not isinstance(node, (ast.Assign, ast.AnnAssign)):
            node = ctx.unit.parents.get(node)
        if node is None or self.p.func_of(node, ctx.unit) is not None:
            return None
        return node, ctx.unit

    def code(self, name: str, model, fields: dict, doc: str, notes: list) -> str:
        cls, unit, call, cctx = model[0], model[1], model[2], model[3]
        # the class's globals as they stand where the notebook builds it, when that is at its top level
        top_level = call is not None and cctx is not None and cctx.unit is unit and cctx.func is None
        line = call.lineno if top_level else None
        order, imports = self.dependencies(cls, unit, line, notes)
        body = "\n\n\n".join(text if text is not None else u.segment(n) for u, n, text in order)
        args = self.constructor(call, cctx, notes) if call is not None else ""
        lines = ['"""' + doc + '"""']
        imports = sorted(set(imports), key=lambda s: (not s.startswith("import torch"), s))
        lines += imports + ["", "from models.registry import register_model", "", ""]
        lines.append(body)
        lines += ["", "", self.decorator(fields)]
        lines.append(f"def {name}():")
        if call is not None and cctx is not None:
            where, text = cctx.unit.where(call.lineno), _short(cctx.unit.line_text(call.lineno), 90)
            lines.append(f"    # {_printable(where)}: {_printable(text)}")
        lines.append(f"    return {cls.name}({args})")
        return "\n".join(lines) + "\n"

    def defined(self, model) -> set[str]:
        """The names the model's copied code defines: a builder may not take one of them."""
        order, _ = self.dependencies(model[0], model[1], None, [])
        return {
            n.name if hasattr(n, "name") else getattr(n.targets[0], "id", "") if isinstance(n, ast.Assign) else ""
            for _, n, _ in order
        }

    def constructor(self, call: ast.Call, ctx: Ctx, notes: list) -> str:
        """The instantiation's arguments as data where they resolve, as written where they do not."""
        if isinstance(call.func, ast.Subscript):
            return ""
        p, parts = self.p, []
        for a in call.args:
            parts.append(self._arg(a, ctx, notes))
        for kw in call.keywords:
            if kw.arg is None:
                for k, (v, c) in p.dict_entries(kw.value, ctx):
                    parts.append(f"{k}={self._arg(v, c, notes)}")
            else:
                parts.append(f"{kw.arg}={self._arg(kw.value, ctx, notes)}")
        return ", ".join(parts)

    def _arg(self, expr, ctx: Ctx, notes: list) -> str:
        try:
            v = self.p.read(expr, ctx)
            if isinstance(v, (int, float, str, bool, type(None), tuple, list, dict)):
                return _lit(v) if not isinstance(v, str) else repr(v)
        except Unknown as e:
            notes.append(
                (
                    "not translated",
                    ctx.unit.where(getattr(expr, "lineno", ctx.line)),
                    f"the model's argument `{_short(expr, 40)}`: {e}; written as in the source",
                )
            )
            return _short(expr, 200)
        notes.append(
            (
                "not translated",
                ctx.unit.where(getattr(expr, "lineno", ctx.line)),
                f"the model's argument `{_short(expr, 40)}` is not data; written as in the source",
            )
        )
        return _short(expr, 200)

    @staticmethod
    def decorator(fields: dict) -> str:
        order = ("epochs", "batch_size", "optimizer", "schedule", "label_smoothing", "clip_grad_norm", "mean", "std")
        out = ["@register_model(recipe=dict("]
        for key in order:
            if key not in fields:
                if key == "schedule":
                    out.append("    schedule=None,  # no scheduler steps in the source: a constant rate")
                continue
            f = fields[key]
            comment = _origin_comment(f.origins) or "not in the source: see the docstring"
            out.append(f"    {key}={_lit(f.value)},  # {comment}")
        aug = fields.get("augment", RecipeField([], []))
        ops = aug.value
        if not ops:
            where = _origin_comment(aug.origins)
            said = f"{where}: no augmentation" if where else "no augmentation"
            out.append(f"    augment=[],  # {said}; see the docstring")
        else:
            out.append("    augment=[")
            for op in ops:
                where = op.get("_where")
                comment = _origin_comment([where]) if where else ""
                out.append(f"        {_lit(op)},  # {comment}" if comment else f"        {_lit(op)},")
                for inner in op.get("transforms", []) if isinstance(op.get("transforms"), list) else []:
                    w = inner.get("_where")
                    if w:
                        out.append(f"        # {_origin_comment([w])}")
            out.append("    ],")
        out.append("), claim=None)")
        return "\n".join(out)


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
    unit, written = read_notebook(path, str(path.relative_to(root)), notes)
    return SourceProgram(root, [unit], written, notes)


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
    return "\n".join(_docstring_text(line) for line in lines) + "\n"


def import_source(source: Path, why_none: list[str] | None = None, skipped: list[str] | None = None) -> list[Imported]:
    """The candidates in a notebook (.ipynb), a script (.py) or a folder: one per model class the
    training builds and trains, with its recipe, published numbers and notes. Nothing is executed.
    A class trained with two recipes (the step notebooks of a course folder, each training the same
    class of model.py its own way) gives two candidates; one reached twice with the same gives one.
    When none is found, the notes that say why (a model class imported from a file the source does
    not hold) are appended to `why_none`; each program of a folder that gave none while others did
    is said in `skipped`, with its notes, so that no notebook of a folder is passed over silently."""
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
        # a folder's scripts are read together for the models they train: only those that tried are said
        if not found and skipped is not None and (said or any(u.notebook for u in program.units if u.is_entry)):
            skipped.append(_skipped_line(program, said))
        class_names = [m[0].name for m, _, _ in found]
        for model, session, notes in found:
            notes = [n for n in read_notes if n not in notes] + notes
            cls, unit = model[0], model[1]
            if model[4]:
                notes.append(("interpreted", unit.where(cls.lineno), model[4]))
            notes += _unused_layers(cls, unit)
            fields, loop = analysis.recipe(session, model, notes)
            pub, pub_notes = published(program, model, loop)
            if analysis.log_on and pub["epochs"]:
                pub["scored_on"] = analysis.log_on  # printed beside the published numbers by `judge`
            for text in pub_notes:
                notes.append(("interpreted", pub["source"].split(":")[0], text))
            writer = Writer(program)
            entry = next((u.rel for u in program.units if u.is_entry and u.notebook), "")
            name = _candidate_name(prefix, model, class_names, taken, writer.defined(model), entry, frozenset(trained))
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
    if not results and why_none is not None:
        why_none += [_format_note(n) for n in _dedupe(unexplained)]
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
    prefix: str, model, class_names: list, taken: set, defined: set, entry: str = "", trained: frozenset = frozenset()
) -> str:
    """`<prefix>_<class>`; with the class's file between when two models share a class name (Net in
    model_v1.py and model_v2.py), or the notebook's that trains it when this class is in `trained`, already
    imported (Net of model.py trained by step1.ipynb and by step2.ipynb), and a number after when even that is taken or
    is a name the copied code defines (the builder would shadow it)."""
    cls, unit = model[0], model[1]
    name = identifier(f"{prefix}_{cls.name}")
    stem = Path(unit.rel).stem
    trainer = Path(entry).stem if entry and entry != unit.rel and identifier(Path(entry).stem) != prefix else ""
    if name in taken and trainer and (unit.path.resolve(), cls.lineno) in trained:
        name = identifier(f"{prefix}_{trainer}_{cls.name}")
    elif (class_names.count(cls.name) > 1 or name in taken) and identifier(stem) != prefix:
        name = identifier(f"{prefix}_{stem}_{cls.name}")
    base, k = name, 2
    while name in taken or name in defined:
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


def write(imported: list[Imported], out_dir: Path, overwrite: bool = False) -> list[Path]:
    """Writes NAME.py and NAME.published.json per model into out_dir; returns the paths written.
    Existing files are left alone (FileExistsError names them) unless overwrite=True."""
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
    return [p for p, _ in targets]
