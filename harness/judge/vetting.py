"""Static vetting of a candidate file, read as text and never executed: its declarations
(`@register_model(...)`: name, claim, recipe) and the policy it must keep (imports, names,
size), each breach named with its line. Defence in depth; the runner's sandbox is the wall."""

from __future__ import annotations

import ast
import copy
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_BYTES = 32 * 1024  # a real model with its recipe and reasoning fits in a few KB

# Modules a candidate may import: torch for the network, a few pure helpers, and the registry.
ALLOWED_MODULES = (
    "torch",
    "math",
    "functools",
    "typing",
    "dataclasses",
    "collections",
    "itertools",
    "__future__",
    "models.registry",
)
# Names that reach the interpreter, the file system, the network or the harness. A bare name
# (`open(...)`) and an attribute (`torch.sys`, `torch.load`) are refused alike, since torch's
# own modules carry references to sys and os.
FORBIDDEN_NAMES = frozenset(
    {
        "harness",
        "sys",
        "os",
        "importlib",
        "__import__",
        "builtins",
        "__builtins__",
        "exec",
        "eval",
        "compile",
        "open",
        "globals",
        "locals",
        "vars",
        "getattr",
        "setattr",
        "delattr",
        "breakpoint",
        "subprocess",
        "socket",
        "shutil",
        "pathlib",
        "io",
        "pickle",
        "ctypes",
        "signal",
        "threading",
        "multiprocessing",
        "gc",
        "inspect",
        "marshal",
        "urllib",
        "http",
        # torch's doors to files, the network, native code and the seed
        "load",
        "save",
        "from_file",
        "hub",
        "load_library",
        "cpp_extension",
        "_C",
        "ops",
        "classes",
        "jit",
        "package",
        "manual_seed",
        "seed",
        "set_rng_state",
        "fork_rng",
        "initial_seed",
        "Generator",
        "environ",
        "system",
        "popen",
        "distributed",
        # the gate's determinism and threads are the harness's to set
        "backends",
        "use_deterministic_algorithms",
        "set_num_threads",
        "set_default_dtype",
        # routes to code execution or to rewriting operators inside the builder process
        "library",
        "fx",
        "get_type_hints",
        "export",
        "compiler",
        "_dynamo",
        "default_generator",
        "get_rng_state",
    }
)
# Dunder attributes open the object graph (`x.__class__.__subclasses__()`); only these are plain.
ALLOWED_DUNDERS = frozenset({"__init__", "__name__", "__doc__"})


class VettingError(ValueError):
    """A candidate file breaks the policy or its declaration cannot be read; every breach is listed."""

    def __init__(self, file: str, problems: list[str]):
        self.file, self.problems = file, list(problems)
        super().__init__(f"{Path(file).name}: " + "; ".join(self.problems))


@dataclass(frozen=True)
class Declaration:
    """What a candidate file declares, read from its source."""

    name: str  # the decorated function's name: the candidate's name
    file: str
    line: int
    recipe: dict = field(default_factory=dict)
    claim: dict | None = None  # {"seeds": (..), "last_k": K}, or None: claims nothing

    @property
    def complies(self) -> bool:
        return self.claim is not None


DEVICE_KINDS = ("cpu", "cuda")  # what a claim can name: its evidence was made on that kind of device
CLAIM_DEFAULTS = {"seeds": (0,), "last_k": 3, "devices": ("cpu",)}  # what `claim=dict()` or `complies=True` means


# ---------------------------------------------------------------- literal data

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
    ast.FloorDiv: operator.floordiv,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {ast.USub: operator.neg, ast.UAdd: operator.pos}


# The judge reads these values in its own process, with no limit of time or memory: a few lines
# of constants naming each other ten times over, or integers raised and multiplied again, would
# grow without bound. A recipe and a claim hold tens of values, each number a few digits.
MAX_LITERAL_VALUES = 10_000
MAX_INT_BITS = 256


def literal(node: ast.AST, names: dict | None = None):
    """The value of a declaration written as data: numbers, strings, booleans, None, tuples,
    lists, dicts, `dict(k=v)`, `dict(BASE, k=v)`, arithmetic on numbers (`1/255`, `-7.0`), and
    `names`: the file's own top-level constants written the same way."""
    return _literal(node, names or {})


def _count(value) -> int:
    """How many values a literal holds, its containers' entries included."""
    if isinstance(value, dict):
        return 1 + sum(_count(k) + _count(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return 1 + sum(_count(v) for v in value)
    return 1


def _literal(node: ast.AST, names: dict, spent: list[int] | None = None):
    spent = [0] if spent is None else spent

    def literal(inner):
        return _literal(inner, names, spent)

    def spend(n: int) -> None:
        spent[0] += n
        if spent[0] > MAX_LITERAL_VALUES:
            raise ValueError(
                f"line {getattr(node, 'lineno', '?')}: holds more than {MAX_LITERAL_VALUES:,} values "
                f"(constants naming constants): a declaration is a recipe and a claim, not data"
            )

    if isinstance(node, ast.Name) and node.id in names:
        spend(_count(names[node.id]))  # before the copy, which is what would grow
        return copy.deepcopy(names[node.id])
    spend(1)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str, bool, type(None))):
        if isinstance(node.value, int) and node.value.bit_length() > MAX_INT_BITS:
            raise ValueError(f"line {node.lineno}: an integer of {node.value.bit_length()} bits is not a setting")
        return node.value
    if isinstance(node, ast.Tuple):
        return tuple(literal(e) for e in node.elts)
    if isinstance(node, ast.List):
        return [literal(e) for e in node.elts]
    if isinstance(node, ast.Dict) and None not in node.keys:
        return {literal(k): literal(v) for k, v in zip(node.keys, node.values)}
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "dict"
        and len(node.args) <= 1
        and all(k.arg for k in node.keywords)
    ):
        base = literal(node.args[0]) if node.args else {}
        if isinstance(base, dict):
            return {**base, **{k.arg: literal(k.value) for k in node.keywords}}
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        value = literal(node.operand)
        if _is_number(value):
            return _UNARY[type(node.op)](value)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = literal(node.left), literal(node.right)
        if _is_number(left) and _is_number(right) and not (type(node.op) is ast.Pow and abs(right) > 64):
            try:
                value = _BINARY[type(node.op)](left, right)
            except ArithmeticError:
                pass
            else:
                # Every operand is at most MAX_INT_BITS, so each step is cheap; the result is
                # held to the same bound before anything builds on it.
                if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
                    raise ValueError(
                        f"line {node.lineno}: {ast.unparse(node)[:60]!r} is an integer of "
                        f"{value.bit_length()} bits, more than any setting needs"
                    )
                if not isinstance(value, complex) and (not isinstance(value, float) or math.isfinite(value)):
                    return value
    raise ValueError(
        f"line {getattr(node, 'lineno', '?')}: {ast.unparse(node)[:60]!r} is not literal data "
        f"(write numbers, strings, tuples, lists and dict(...) only)"
    )


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


# ---------------------------------------------------------------- policy


def _module_allowed(module: str) -> bool:
    return any(module == a or module.startswith(a + ".") for a in ALLOWED_MODULES)


def policy_problems(tree: ast.AST) -> list[str]:
    """Every breach of the import, name and attribute policy, each with its line."""
    problems = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", "?")
        if isinstance(node, ast.Import):
            for alias in node.names:
                if not _module_allowed(alias.name):
                    problems.append(
                        f"line {line}: imports {alias.name!r}, outside the allowed modules "
                        f"({', '.join(ALLOWED_MODULES)})"
                    )
        elif isinstance(node, ast.ImportFrom):
            module = ("." * node.level) + (node.module or "")
            if node.level or not _module_allowed(module):
                problems.append(
                    f"line {line}: imports from {module!r}, outside the allowed modules ({', '.join(ALLOWED_MODULES)})"
                )
            for alias in node.names:
                if alias.name == "*" or alias.name in FORBIDDEN_NAMES:
                    problems.append(f"line {line}: imports {alias.name!r} from {module!r}")
        elif isinstance(node, ast.Name) and node.id in FORBIDDEN_NAMES:
            problems.append(f"line {line}: uses the name {node.id!r}, which reaches outside the model")
        elif isinstance(node, ast.Attribute):
            if node.attr in FORBIDDEN_NAMES:
                problems.append(f"line {line}: uses the attribute .{node.attr}, which reaches outside the model")
            elif node.attr.startswith("__") and node.attr not in ALLOWED_DUNDERS:
                problems.append(
                    f"line {line}: uses the attribute .{node.attr}; dunder attributes other than "
                    f"{', '.join(sorted(ALLOWED_DUNDERS))} are not allowed"
                )
            elif (
                node.attr.startswith("_")
                and not node.attr.startswith("__")
                and not (isinstance(node.value, ast.Name) and node.value.id == "self")
            ):
                # collections._sys, dataclasses._create_fn: private attributes are how modules leak
                problems.append(
                    f"line {line}: uses the private attribute .{node.attr} of another object; "
                    f"only self's own attributes may start with an underscore"
                )
        elif isinstance(node, (ast.arg, ast.AnnAssign, ast.FunctionDef, ast.AsyncFunctionDef)):
            note = node.returns if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else node.annotation
            if any(isinstance(n, ast.Constant) and isinstance(n.value, str) for n in ast.walk(note or ast.Pass())):
                problems.append(
                    f"line {line}: a string annotation is code that typing may evaluate; "
                    f"write the type itself or leave it out"
                )
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            problems.append(
                f"line {line}: `{type(node).__name__.lower()}` statements are not allowed (keep state in the module)"
            )
    return problems


# ---------------------------------------------------------------- declarations


def _register_call(decorator: ast.AST) -> ast.Call | None:
    if isinstance(decorator, ast.Call):
        f = decorator.func
        if (isinstance(f, ast.Name) and f.id == "register_model") or (
            isinstance(f, ast.Attribute) and f.attr == "register_model"
        ):
            return decorator
    return None


def _constants(tree: ast.Module) -> dict:
    """Top-level `NAME = <literal data>` assignments, in order, so a recipe may name a shared base."""
    names: dict[str, object] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                names[node.targets[0].id] = _literal(node.value, names)
            except ValueError:
                names.pop(node.targets[0].id, None)  # not data: a later use is reported there
    return names


def _claim(kwargs: dict) -> tuple[dict | None, str | None]:
    """The claim with its defaults filled in, and what is wrong with it (an unreadable claim is
    judged as a claim: its failure then fails the gate)."""
    if "claim" in kwargs and "complies" in kwargs:
        return dict(CLAIM_DEFAULTS), "give claim= or the older complies=, not both"
    if "complies" in kwargs:
        complies = kwargs["complies"]
        if not isinstance(complies, bool):
            return dict(CLAIM_DEFAULTS), f"complies= must be True or False, not {complies!r}"
        return (dict(CLAIM_DEFAULTS) if complies else None), None
    claim = kwargs.get("claim")
    if claim is None:
        return None, None
    if not isinstance(claim, dict):
        return dict(CLAIM_DEFAULTS), f"claim= must be dict(seeds=(...), last_k=K) or absent, not {claim!r}"
    unknown = sorted(set(claim) - set(CLAIM_DEFAULTS))
    full = {**CLAIM_DEFAULTS, **claim}
    seeds, last_k, devices = full["seeds"], full["last_k"], full["devices"]
    if unknown:
        return dict(CLAIM_DEFAULTS), f"claim has no field {', '.join(unknown)} (it takes seeds=, last_k= and devices=)"
    if not (
        isinstance(seeds, (tuple, list))
        and seeds
        and len(set(seeds)) == len(seeds)
        and all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in seeds)
    ):
        return dict(CLAIM_DEFAULTS), f"claim seeds = {seeds!r} must be distinct non-negative integers, e.g. (0, 1, 2)"
    if not (isinstance(last_k, int) and not isinstance(last_k, bool) and 1 <= last_k <= 15):
        return dict(CLAIM_DEFAULTS), f"claim last_k = {last_k!r} must be an integer from 1 to 15"
    if not (
        isinstance(devices, (tuple, list))
        and devices
        and len(set(devices)) == len(devices)
        and all(d in DEVICE_KINDS for d in devices)
    ):
        return dict(CLAIM_DEFAULTS), (
            f"claim devices = {devices!r} must name the device kinds its evidence was made on, "
            f'distinct, from {DEVICE_KINDS}, e.g. ("cpu",)'
        )
    return {"seeds": tuple(seeds), "last_k": last_k, "devices": tuple(devices)}, None


def _declarations(tree: ast.Module, file: str) -> tuple[list[Declaration], list[str]]:
    found, problems = [], []
    names = _constants(tree)
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        calls = [c for c in map(_register_call, node.decorator_list) if c is not None]
        if not calls:
            continue
        where = f"line {node.lineno}: {node.name}"
        if node not in tree.body or not isinstance(node, ast.FunctionDef):
            problems.append(f"{where}: @register_model must decorate a plain function at the top of the file")
            continue
        if len(calls) > 1 or len(node.decorator_list) > 1:
            problems.append(f"{where}: @register_model must be the function's only decorator")
            continue
        call = calls[0]
        if call.args:
            problems.append(f"{where}: @register_model takes keyword arguments only (recipe=..., complies=...)")
            continue
        kwargs: dict[str, object] = {}
        for kw in call.keywords:
            if kw.arg is None:  # `**mapping`: its keys are not read, so it cannot be vetted
                problems.append(f"{where}: @register_model takes named arguments (recipe=..., claim=...), not **")
                continue
            try:
                kwargs[kw.arg] = _literal(kw.value, names)
            except ValueError as e:
                problems.append(f"{where}: {kw.arg}= {e}")
        unknown = sorted(set(kwargs) - {"recipe", "claim", "complies"})
        if unknown:
            problems.append(
                f"{where}: @register_model has no argument {', '.join(unknown)} (it takes recipe= and claim=)"
            )
        recipe = kwargs.get("recipe", {})
        if not isinstance(recipe, dict):
            problems.append(f"{where}: recipe= must be a dict of fields, not {type(recipe).__name__}")
            recipe = {}
        claim, why = _claim(kwargs)
        if why:
            problems.append(f"{where}: {why}")
        found.append(Declaration(node.name, file, node.lineno, recipe, claim))
    if not found and not problems:
        problems.append("no @register_model(...) function: a candidate file registers one builder")
    return found, problems


def vet(path: Path) -> list[Declaration]:
    """The declarations of a candidate file, or VettingError listing every problem in it."""
    path = Path(path)
    try:
        blob = path.read_bytes()
    except OSError as e:
        raise VettingError(str(path), [f"cannot be read ({e.strerror or e})"]) from None
    if len(blob) > MAX_BYTES:
        raise VettingError(
            str(path), [f"{len(blob):,} bytes > {MAX_BYTES:,}: a candidate file holds a model, not data"]
        )
    try:
        tree = ast.parse(blob.decode("utf-8"), filename=str(path))
        found, declared = _declarations(tree, str(path))
        problems = policy_problems(tree) + declared
    except UnicodeDecodeError as e:
        raise VettingError(str(path), [f"is not UTF-8 text ({e.reason} at byte {e.start})"]) from None
    except SyntaxError as e:
        raise VettingError(str(path), [f"line {e.lineno}: syntax error: {e.msg}"]) from None
    except (RecursionError, MemoryError):
        # Python's parser, and any walk over its tree, gives up on expressions nested thousands
        # deep; a file of 32 KB can hold one, and no model needs it.
        raise VettingError(
            str(path), ["nests its expressions deeper than Python's parser can read: write them flat"]
        ) from None
    if problems:
        raise VettingError(str(path), problems)
    return found
