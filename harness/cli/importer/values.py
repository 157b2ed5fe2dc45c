"""The values resolving an expression yields besides plain data (an external object, a module, a
class's self, argparse's namespace, a grey level written as a fraction of 255), the context an
expression is resolved in, and the small ast helpers the other modules share."""

from __future__ import annotations

import ast
from dataclasses import dataclass

from harness.cli.importer.sources import Unit

PARAMETER_METHODS = ("parameters", "named_parameters")


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
class KwargsVal:
    """A function's `**kwargs` as one call binds it: the keywords no other parameter takes, each with
    the ctx its value is read in (a caller's `**kwargs` dict, or its own keywords)."""

    entries: tuple  # ((key, (expression, Ctx)), ...)


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


MARKERS = (External, ModuleVal, SelfVal, ArgsVal, KwargsVal)

BINARY_OPS = {
    ast.Add: lambda x, y: x + y,
    ast.Sub: lambda x, y: x - y,
    ast.Mult: lambda x, y: x * y,
    ast.Div: lambda x, y: x / y,
    ast.FloorDiv: lambda x, y: x // y,
    ast.Mod: lambda x, y: x % y,
    ast.Pow: lambda x, y: x**y,
}


def truthy(v) -> bool:
    return True if isinstance(v, (Obj, *MARKERS)) else bool(v)


def name_of(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def literal_entry(node, key) -> ast.expr | None:
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


def receiver_of(optimizer: ast.Call) -> ast.AST | None:
    """The model an optimizer's parameters come from: `model` in SGD(model.parameters(), ...)."""
    params = argument(optimizer, 0, "params")
    for n in ast.walk(params) if params is not None else ():
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in PARAMETER_METHODS:
            return n.func.value
    return None


def argument(call: ast.Call, index: int | None, *names: str):
    """A call's argument by position, or by one of its keyword names; None when not given."""
    if (
        index is not None
        and len(call.args) > index
        and not any(isinstance(a, ast.Starred) for a in call.args[: index + 1])
    ):
        return call.args[index]
    return next((k.value for k in call.keywords if k.arg in names), None)


def short(node: ast.AST | str, limit: int = 90) -> str:
    if isinstance(node, KwargsVal):
        node = f"dict({', '.join(f'{k}={short(v[0], limit)}' for k, v in node.entries)})"
    text = node if isinstance(node, str) else ast.unparse(node)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def printable(text: str) -> str:
    """One line of printable text: what goes into a comment or the docstring of a generated file."""
    return "".join(c if c.isprintable() else " " for c in text.replace("\n", " "))
