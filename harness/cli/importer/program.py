"""The program a source makes: its units and the local files they import, names resolved to their
bindings and values, which conditions are decided, which classes are nn.Modules, which loops
train and which models they train."""

from __future__ import annotations

import ast
import builtins
import contextlib
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from harness.cli.importer.sources import MAX_SOURCE_BYTES, Unit, read_module
from harness.cli.importer.values import (
    BINARY_OPS,
    MARKERS,
    ArgsVal,
    Ctx,
    External,
    FuncNode,
    KwargsVal,
    ModuleVal,
    Obj,
    SelfVal,
    Unknown,
    literal_entry,
    name_of,
    short,
    truthy,
)
from harness.judge.vetting import MAX_INT_BITS

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


# Calls that return the model they are given: model.to(device), nn.DataParallel(model), ...
PASS_THROUGH_METHODS = {"to", "cuda", "cpu", "float", "double", "half", "train", "eval", "type", "requires_grad_"}
PASS_THROUGH_CALLS = {"DataParallel", "DistributedDataParallel", "compile"}
# Hostile text must not make the importer build a huge value: "x" * 10**9, 9 ** 10**9, or a
# string or a number doubled again on each of a few hundred lines. No setting comes near these;
# integers are held to the bound vetting holds the written file to.
MAX_SEQUENCE = 100_000

# What a saved output line says of the device the run had: `CUDA Available? False`, `cuda: True`,
# `Using device: cpu`, a tensor printed with device='cuda:0'.
CUDA_FLAG = re.compile(r"\b(?:cuda|gpu)\b[\w ?]{0,24}?[?:=]\s*(true|false)\b", re.IGNORECASE)
DEVICE_SAID = re.compile(r"\bdevice\b(?:\(type=)?\W{0,4}(cuda|cpu)\b", re.IGNORECASE)


def _huge(op: ast.operator, a, b) -> bool:
    """Whether `a op b` would be larger than any value a recipe reads (computed from the sizes,
    before the value is built)."""
    numbers = [x for x in (a, b) if isinstance(x, (int, float)) and not isinstance(x, bool)]
    sequences = [x for x in (a, b) if isinstance(x, (str, tuple, list))]
    if any(isinstance(x, int) and x.bit_length() > MAX_INT_BITS for x in numbers):
        return True
    if isinstance(op, ast.Pow) and len(numbers) == 2:
        return abs(b) > 64 or (isinstance(a, int) and isinstance(b, int) and a.bit_length() * abs(b) > MAX_INT_BITS)
    if isinstance(op, ast.Mult) and sequences and numbers:
        return numbers[0] > MAX_SEQUENCE or len(sequences[0]) * numbers[0] > MAX_SEQUENCE
    if isinstance(op, ast.Add) and len(sequences) == 2:
        return len(a) + len(b) > MAX_SEQUENCE
    if isinstance(op, ast.Mult) and len(numbers) == 2 and all(isinstance(x, int) for x in numbers):
        return a.bit_length() + b.bit_length() > MAX_INT_BITS
    return False


# ---------------------------------------------------------------- the program: units and names


class SourceProgram:
    """An entry (a notebook, a script, or a folder's scripts) and the local files its imports name,
    with the resolution of names to the expressions that give them their values."""

    def __init__(self, root: Path, entries: list[Unit], written: dict[str, str], notes: list):
        self.root, self.notes = root.resolve(), notes
        # what reading the entry notebook said (a cell that does not parse): its own candidates' notes, not
        # every notebook's of a folder
        self.read_notes: list = []
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
        self._cpu_run: list[tuple | None] = []  # cpu_run(), found once
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
        several call sites passing different text, is noted), a site that leaves it out giving its
        default; calls in test files count only when nothing else calls the function."""
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
        default = self._default(func, name)
        sites: list[tuple[ast.Call, Unit, bool, str | None]] = []  # the text passed; None: the default
        recording, self.recording = self.recording, 0  # looking at every call site decides nothing
        try:
            for call, cunit, is_method in self.call_sites(func, unit):
                bound = dict(self.bind(func, call, self.ctx_at(call, cunit), is_method))
                if name in bound:
                    sites.append((call, cunit, is_method, short(bound[name][0])))
                elif default is not None and not _unpacks(call):
                    sites.append((call, cunit, is_method, None))
        finally:
            self.recording = recording
        # a test calls the entry point with its own small settings: the author's run is the other calls
        run = [s for s in sites if not in_tests(s[1])] or sites
        if run:
            call, cunit, is_method, taken = run[-1]
            shown = sorted({short(default) if s[3] is None else s[3] for s in run})
            if len(shown) > 1:
                self.note(
                    "interpreted",
                    cunit,
                    call.lineno,
                    f"`{name}` of {func.name}() differs between its {len(run)} call sites "
                    f"({', '.join(shown)}); the last call site's is taken",
                )
            aside = [s for s in sites if s not in run]
            tests = sorted({short(default) if s[3] is None else s[3] for s in aside})
            kept = short(default) if taken is None else taken
            if tests and tests != [kept]:
                self.note(
                    "interpreted",
                    aside[-1][1],
                    aside[-1][0].lineno,
                    f"`{name}` of {func.name}() is {', '.join(tests)} in the test files' calls, which are not "
                    f"the author's run; {kept}, of {cunit.where(call.lineno)}, is taken",
                )
            if taken is not None:
                # bound again with notes kept: the branch or option default behind the value taken
                return dict(self.bind(func, call, self.ctx_at(call, cunit), is_method))[name]
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
                    if name_of(f) == cls.name:
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
        where they resolve to a dict written out; a `**kwargs` parameter is bound to the keywords no other
        parameter takes."""
        a = func.args
        positional = [x.arg for x in a.posonlyargs + a.args]
        if is_method and positional:
            positional = positional[1:]
        binds: list[tuple[str, tuple[Any, Ctx]]] = []
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
        if a.kwarg is not None:
            # `def build(ds, **kwargs): return DataLoader(ds, **kwargs)`: the keywords no named parameter
            # takes are the dict the function reads as kwargs
            named = set(positional) | {x.arg for x in a.posonlyargs + a.args + a.kwonlyargs}
            rest = tuple(b for b in binds if b[0] not in named)
            binds.append((a.kwarg.arg, (KwargsVal(rest), ctx)))
        return tuple(binds)

    def dict_entries(self, expr, ctx: Ctx) -> list:
        """(key, (value expression, ctx)) of a dict written as `{...}` or `dict(...)`, with the
        `.update(...)` calls made on its name before `ctx.line` (a CUDA branch taken, as noted)."""
        r = self.deref(expr, ctx)
        if r is None:
            return []
        node, c = r
        entries = []
        if isinstance(node, KwargsVal):
            return list(node.entries)
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
        elif isinstance(node, ast.Call) and name_of(node.func) == "dict":
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
        options = [(c, u) for u in self.units for c in u.calls if name_of(c.func) == "add_argument"]
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
                    f"`args.{attr}` is a command-line option: its default `{short(value)}` is taken "
                    f"(the command the author ran may have set another)",
                )
                return value, self.ctx_at(call, u)
        return None

    def follow(self, expr, ctx: Ctx, depth: int = 0):
        """The expression a name or attribute stands for, followed through assignments, imports,
        parameters bound at call sites and self's attributes: (node or marker, its ctx), or None."""
        if depth > MAX_DEPTH or expr is None:
            return None
        if isinstance(expr, MARKERS):
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
                if isinstance(node, ast.Call) and name_of(node.func) == "parse_args":
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
                    elif f is not None and name_of(node.func) == "parse_args":
                        r = self.argparse_default(expr.attr)
                    else:
                        return None
                else:
                    return None
                if r is None:
                    return None
                return self.follow(r[0], r[1], depth + 1) if isinstance(r[0], (ast.Name, ast.Attribute)) else r
            if isinstance(expr, ast.Call) and name_of(expr.func) == "parse_args":
                return ArgsVal(ctx.unit), ctx
            if isinstance(expr, ast.Subscript) and isinstance(expr.slice, ast.Constant):
                # `loaders['train']` of `loaders = {'train': DataLoader(...), 'test': ...}`: the entry
                # written for that key (a literal's, never one assigned later)
                base = self.follow(expr.value, ctx, depth + 1)
                entry = literal_entry(base[0], expr.slice.value) if base is not None else None
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
            found = name_of(call.func)
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

    def reaches(self, expr, ctx: Ctx, target: ast.AST, depth: int = 0) -> bool:
        """Whether `expr` can stand for `target` in some run: deref() gives a parameter its last call
        site's argument, but a helper called from several places (one `train(..., scheduler)` for each
        experiment's scheduler) holds each caller's in turn, so every call site is tried."""
        r = self.deref(expr, ctx)
        if r is not None and r[0] is target:
            return True
        func = ctx.func
        if (
            depth > 3
            or not isinstance(expr, ast.Name)
            or not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef))
            or expr.id not in self._params(func)
            or any(p == expr.id for p, _ in ctx.binds)
            or self._func_bindings(func).get(expr.id)
        ):
            return False
        for call, cunit, is_method in self.call_sites(func, ctx.unit):
            bound = dict(self.bind(func, call, self.ctx_at(call, cunit), is_method))
            arg = bound.get(expr.id)
            if arg is not None and isinstance(arg[0], ast.AST) and self.reaches(arg[0], arg[1], target, depth + 1):
                return True
        return False

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
                    holds = truthy(self.value(p.test, self.ctx_at(p, unit, binds)))
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
            raise Unknown(f"`{short(expr)}` is not data ({type(e).__name__})") from None

    def _value(self, expr, ctx: Ctx, depth: int):
        if depth > MAX_DEPTH:
            raise Unknown(f"`{short(expr)}` is too deep to follow")
        r = self.follow(expr, ctx)
        if r is None:
            raise Unknown(f"`{short(expr)}` cannot be resolved from the source text")
        node, c = r
        if isinstance(node, MARKERS):
            return node
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            return Obj(node)
        handler = self._VALUE_OF.get(type(node))
        if handler is None:
            raise Unknown(f"`{short(node)}` is not data")
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
            raise Unknown(f"`{short(node)}` unpacks a sequence")
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
            return not truthy(x)
        if isinstance(x, (int, float)):
            try:
                return {ast.USub: lambda a: -a, ast.UAdd: lambda a: +a, ast.Invert: lambda a: ~a}[type(node.op)](x)
            except TypeError:
                pass
        raise Unknown(f"`{short(node)}` is not arithmetic on numbers")

    def _binary_value(self, node: ast.BinOp, c: Ctx, depth: int):
        a, b = self.value(node.left, c, depth + 1), self.value(node.right, c, depth + 1)
        data = (int, float, str, tuple, list)
        if type(node.op) in BINARY_OPS and isinstance(a, data) and isinstance(b, data):
            if _huge(node.op, a, b):
                raise Unknown(f"`{short(node)}` would be larger than any setting: not computed")
            try:
                return BINARY_OPS[type(node.op)](a, b)
            except (TypeError, ArithmeticError, ValueError):
                pass
        raise Unknown(f"`{short(node)}` is not arithmetic on known numbers")

    def _boolean_value(self, node: ast.BoolOp, c: Ctx, depth: int):
        # short-circuits as Python does: operands after the one that decides need not resolve
        if isinstance(node.op, ast.And):
            x = True
            for e in node.values:
                x = self.value(e, c, depth + 1)
                if not truthy(x):
                    return x
            return x
        x = False
        for e in node.values:
            x = self.value(e, c, depth + 1)
            if truthy(x):
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
            raise Unknown(f"`{short(node)}` depends on `{short(node.test)}`, which the text does not decide")
        return self.value(node.body if pick else node.orelse, c, depth + 1)

    def _item_value(self, node: ast.Subscript, c: Ctx, depth: int):
        container, key = self.value(node.value, c, depth + 1), self.value(node.slice, c, depth + 1)
        try:
            return container[key]
        except (TypeError, KeyError, IndexError):
            raise Unknown(f"`{short(node)}` is not an item of known data") from None

    def _compare(self, op, a, b, node) -> bool:
        if isinstance(op, (ast.Is, ast.IsNot)):
            if b is None or a is None:
                same = a is None and b is None
                return same if isinstance(op, ast.Is) else not same
            raise Unknown(f"`{short(node)}` compares identities")
        if isinstance(a, (Obj, *MARKERS)) or isinstance(b, (Obj, *MARKERS)):
            raise Unknown(f"`{short(node)}` compares objects the text does not describe")
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
            raise Unknown(f"`{short(node)}` cannot be compared") from None

    def _call_value(self, node: ast.Call, c: Ctx, depth: int):
        kind = self.kind(node, c)
        f = self.callee(node, c)
        if f is not None and isinstance(f[0], External):
            if f[0].path.endswith("cuda.is_available"):
                return self.cuda_available()  # decide() says so where it matters
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
                if any(isinstance(a, (Obj, *MARKERS)) for a in args):
                    raise Unknown(f"`{short(node)}` is computed when the code runs")
                try:
                    return simple[kind](*args)
                except (TypeError, ValueError, ArithmeticError):
                    raise Unknown(f"`{short(node)}` fails on these values") from None
            return Obj(node)
        if f is not None and isinstance(f[0], (ast.FunctionDef, ast.AsyncFunctionDef)):
            ret = self.returned(f[0], f[1].unit, node, c)
            if ret is not None:
                return self.value(ret[0], ret[1], depth + 1)
            return Obj(node)
        if f is not None:
            return Obj(node)
        raise Unknown(f"`{short(node)}` calls something the source does not define")

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

    def cpu_run(self) -> tuple | None:
        """(unit, cell number, the output line) when the saved outputs say the run had no GPU and
        none says it had one; None otherwise. The authors' runs are taken to have used a GPU only
        where their outputs do not say otherwise: a CPU run took the loaders' CPU branch."""
        if not self._cpu_run:
            said_cpu, said_gpu = None, False
            for unit in self.units:
                for number, _first, _last, outputs in unit.cells or ():
                    for line in outputs.splitlines():
                        flag, dev = CUDA_FLAG.search(line), DEVICE_SAID.search(line)
                        if (flag and flag.group(1).lower() == "true") or (dev and dev.group(1).lower() == "cuda"):
                            said_gpu = True
                        elif (flag or dev) and said_cpu is None:
                            said_cpu = (unit, number, line.strip())
            self._cpu_run.append(None if said_gpu else said_cpu)
        return self._cpu_run[0]

    def cuda_available(self) -> bool:
        return self.cpu_run() is None

    def decide(self, test: ast.AST, ctx: Ctx, where: ast.If | ast.While | ast.IfExp) -> bool | None:
        """Whether a condition holds, where the text decides it; None when undecided. CUDA is taken
        as available (the authors' published runs used a GPU) unless the saved outputs say the run had
        none: a test of it that the text does not decide otherwise (`device == 'cuda'`) is taken as
        that, and the branch taken is noted."""
        cudaish = self._cudaish(test, ctx)
        pick: bool | None
        try:
            pick = truthy(self.value(test, ctx))
        except Unknown:
            pick = self.cuda_available() if cudaish else None
        if cudaish and pick is not None:
            if isinstance(where, ast.IfExp):
                said = f"`{short(where.body, 60)} if {short(test, 40)} else {short(where.orelse, 60)}`"
                taken = short(where.body if pick else where.orelse, 60)
            else:
                said, taken = f"`if {short(test, 60)}:`", ""
            cpu = self.cpu_run()
            if cpu is not None:
                unit, number, line = cpu
                cell = f"cell {number}" if unit.is_entry else f"{unit.rel} cell {number}"
                why = f"the saved outputs show a run without a GPU ({cell} printed `{short(line, 60)}`)"
                text = f"{said}: `{taken}` is taken: {why}" if taken else f"{said} is {pick}: {why}"
            else:
                text = f"{said}: the CUDA branch (`{taken}`) is taken" if taken else f"{said}: the CUDA branch is taken"
            self.note("interpreted", ctx.unit, where.lineno, text)
        return pick

    def live_calls(self, kinds) -> Iterator[tuple[Unit, ast.Call, Ctx, str]]:
        """(unit, call, its context, its kind) for each live call of one of `kinds`, in source
        order; liveness is asked only of calls of those kinds."""
        for unit in self.units:
            for call in unit.calls:
                ctx = self.ctx_at(call, unit)
                name = self.kind(call, ctx)
                if name in kinds and self.live(call, unit):
                    yield unit, call, ctx, name

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
            if short(base).endswith("Module") and not short(base).endswith(("LightningModule", "DataModule")):
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
        if name_of(node.func) in PASS_THROUGH_CALLS and node.args:
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
                        f"`{short(sub)}` picks the class at run time"
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
            if isinstance(node, ast.Call) and name_of(node.func) == "backward":
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


def in_tests(unit: Unit) -> bool:
    """Whether a file is a test of the source (tests/, test_*.py, *_test.py, conftest.py), not its run."""
    parts = Path(unit.rel).parts
    name = parts[-1] if parts else ""
    return (
        any(part in ("test", "tests") for part in parts[:-1])
        or name.startswith("test_")
        or name.endswith("_test.py")
        or name == "conftest.py"
    )


def _unpacks(call: ast.Call) -> bool:
    """Whether a call passes `*args` or `**kwargs`: an argument it seems to leave out may be in them."""
    return any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords)
