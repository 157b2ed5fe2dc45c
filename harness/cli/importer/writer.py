"""Writing the candidate file: the model classes with the constants, helpers and imports they need,
and the recipe with each field's origin as a comment."""

from __future__ import annotations

import ast
import builtins
import copy
import keyword
import math
import re
import textwrap

from harness.cli.importer.program import SourceProgram
from harness.cli.importer.recipe import RecipeField
from harness.cli.importer.sources import Unit
from harness.cli.importer.values import MARKERS, Ctx, External, Frac, ModuleVal, Obj, Unknown, printable, short
from harness.engine.fields import literal
from harness.judge.vetting import ALLOWED_MODULES, FORBIDDEN_NAMES

# Allowed in a candidate file (vetting.ALLOWED_MODULES), as top-level package names.
CANDIDATE_MODULES = {m.split(".")[0] for m in ALLOWED_MODULES if m != "__future__"}


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
    """A value the importer read, as the file writes it: grey levels as `N / 255`, a number that
    is not finite as None, the source line an op was read from left out."""
    return literal(v, _leaf, hide=("_where",))


def _leaf(v) -> str:
    if isinstance(v, Frac):
        num = int(v.num) if float(v.num).is_integer() else v.num
        return f"{num} / 255"
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else "None"
    if isinstance(v, (bool, int)) or v is None:
        return repr(v)
    return repr(str(v))


def _origin_comment(origins: list) -> str:
    seen, parts = set(), []
    for unit, line in origins:
        if unit is None or (id(unit), line) in seen:
            continue
        seen.add((id(unit), line))
        parts.append(f"{unit.where(line)}: {short(unit.line_text(line), 80)}")
    return printable("; ".join(parts[:3]))


def docstring_text(text: str) -> str:
    return printable(text).replace("\\", "\\\\").replace('"""', '\\"\\"\\"')


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
                if _builtin(name, r):
                    if name in FORBIDDEN_NAMES:
                        bad.append(f"`{name}`, which a candidate may not use")
                elif r is None and not hasattr(builtins, name):
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
                    f"`{name}` ({short(target, 40) if isinstance(target, ast.AST) else target}) "
                    f"is not a definition that can be copied",
                )
            )
        return b

    def _add_import(self, name: str, target: External, node, u: Unit, at: int | None, imports: list, notes: list):
        """The import line for an outside name the code uses, unless it is a builtin or a package a
        candidate may not import (noted)."""
        if _builtin(name, (target, None)):
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
        if isinstance(value, (Obj, *MARKERS)) or not isinstance(value, (int, float, str, bool, tuple, list, dict)):
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
                f"`{short(node, 60)}` is written as its value, {short(_lit(value), 40)}",
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
            where, text = cctx.unit.where(call.lineno), short(cctx.unit.line_text(call.lineno), 90)
            lines.append(f"    # {printable(where)}: {printable(text)}")
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
                    f"the model's argument `{short(expr, 40)}`: {e}; written as in the source",
                )
            )
            return short(expr, 200)
        notes.append(
            (
                "not translated",
                ctx.unit.where(getattr(expr, "lineno", ctx.line)),
                f"the model's argument `{short(expr, 40)}` is not data; written as in the source",
            )
        )
        return short(expr, 200)

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


def _builtin(name: str, resolved: tuple | None) -> bool:
    """Whether `name` resolves to Python's builtin of that name (sum, any, isinstance): used, never imported."""
    return (
        resolved is not None
        and isinstance(resolved[0], External)
        and resolved[0].path == name
        and hasattr(builtins, name)
    )
