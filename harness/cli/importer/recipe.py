"""Translating the training: which sessions train which model classes, and the recipe they train them
with (optimizer, schedule, epochs, batch size, transforms and normalisation, loss and clipping),
each field with the line it came from, made valid for mnist8k's Recipe."""

from __future__ import annotations

import ast
import inspect
import re
import sys
from dataclasses import dataclass, field
from typing import Any, cast

from harness.cli.importer.program import EXTERNAL, PASS_THROUGH_METHODS, SourceProgram, in_tests
from harness.cli.importer.sources import Unit
from harness.cli.importer.values import (
    MARKERS,
    Ctx,
    External,
    Frac,
    ModuleVal,
    Obj,
    SelfVal,
    Unknown,
    argument,
    name_of,
    receiver_of,
    short,
    truthy,
)
from harness.engine.augmentations import AugmentError
from harness.engine.augmentations import parse as parse_augment
from harness.engine.recipe import MAX_EPOCHS, OPTIMIZERS, PER_STEP, SCHEDULERS, Recipe, RecipeError

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
# torchvision's transforms that draw at random without Random in their name
RANDOM_OPS = {
    "ColorJitter",
    "GaussianBlur",
    "ElasticTransform",
    "AutoAugment",
    "RandAugment",
    "TrivialAugmentWide",
    "AugMix",
}
TO_TENSOR = {"ToTensor", "PILToTensor", "ToImage", "ToDtype", "ConvertImageDtype"}
# transforms that keep MNIST's 28x28 size, before which a 28x28 crop takes the whole image
SIZE_KEPT = TO_TENSOR | {
    "Normalize",
    "Grayscale",
    "RandomRotation",
    "RandomAffine",
    "ColorJitter",
    "GaussianBlur",
    "RandomErasing",
    "RandomPerspective",
}
PIL_MODES = {0: "nearest", 2: "bilinear", 3: "bicubic"}  # PIL.Image's constants torchvision accepted
# the files beside a notebook read for a class it imports from a module not there: few, and small
MAX_SIBLINGS, MAX_SIBLING_BYTES = 50, 1_000_000
# torchvision's image datasets that are not MNIST, as the course's later sessions use them
OTHER_DATASETS = {
    "CIFAR10",
    "CIFAR100",
    "SVHN",
    "FashionMNIST",
    "KMNIST",
    "EMNIST",
    "QMNIST",
    "STL10",
    "ImageFolder",
    "ImageNet",
    "CelebA",
    "Caltech101",
    "Caltech256",
    "Flowers102",
    "OxfordIIITPet",
    "USPS",
}
# every spelling of a model's last layer for nll_loss: F.log_softmax, x.log_softmax(), nn.LogSoftmax
LOG_SOFTMAX = re.compile(r"log_?softmax", re.IGNORECASE)
# F.dropout and its kin, whose training= defaults to True even in evaluation mode (nn.Dropout follows the mode)
FUNCTIONAL_DROPOUT = {"dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout"}
# the names of the functions an epoch loop calls to train or score, by course habit
TRAINING_NAME = re.compile(r"train|test|fit|eval|valid", re.IGNORECASE)


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
        for unit, call, ctx, _ in p.live_calls(OPTIMIZERS):
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
                        f"`{short(call, 60)}` is in {func.name}(), which the source never calls: not used",
                    )
                continue
            receiver = receiver_of(call)
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
                            f"{m[0].name} is also trained with `{short(prev[0], 60)}`; the later "
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
                    f"`{short(call, 50)}` trains one of {len(ms)} classes chosen at run time; "
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
                    f"the model `{short(call.args[0] if call.args else call, 50)}` of `{short(call, 50)}` "
                    f"cannot be traced to a class; {cls.name}, the one model class of {ctx.unit.rel}, is taken",
                )
            ]
        missing = self._missing_class(call, ctx)
        session_notes.append(
            (
                "not translated",
                ctx.unit.where(call.lineno),
                f"`{short(call, 70)}`: the model it trains cannot be traced to a class of the source"
                + (f": {missing}" if missing else ""),
            )
        )
        return []

    def _missing_class(self, optimizer: ast.Call, ctx: Ctx) -> str | None:
        """Why the model class is not in the source, when an import of a file the source does not hold
        explains it (`from model import Net` with no model.py beside a notebook, common when a Colab
        notebook reads its helpers from Drive): said, so that the author can give the folder instead."""
        p = self.p
        receiver = receiver_of(optimizer)
        r = p.follow(receiver, ctx) if receiver is not None else None
        if (
            r is not None
            and isinstance(r[0], SelfVal)
            and any(short(b).endswith("LightningModule") for b in r[0].cls.bases)
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
        cls = name_of(call.func)
        f = p.follow(call.func, c)
        if f is not None and isinstance(f[0], External):
            module = f[0].path.rpartition(".")[0]
            top = module.split(".")[0]
            if module and top not in EXTERNAL and top not in sys.stdlib_module_names:
                file = module.replace(".", "/") + ".py"
                said = f"`{cls}` is imported from `{module}`, which is not in the source (no {file} beside it)"
                # model1.py beside a notebook that imports `from model import Model1`: run with the file renamed
                # (Drive, or a copy made for the run); which file it was is not guessed, only said
                files = self._files_defining(cls, ctx.unit)
                if files:
                    shown = ", ".join(files[:4]) + (", ..." if len(files) > 4 else "")
                    said += f", though {shown} beside it defines {cls}: name that file {file} to import it"
                return said
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

    @staticmethod
    def _files_defining(cls: str, unit: Unit) -> list[str]:
        """The .py files beside a unit whose text defines a class of this name, read as text only: a folder's
        notebook is read without the files it does not import."""
        pattern = re.compile(rf"^class\s+{re.escape(cls)}\b", re.MULTILINE)
        found = []
        try:
            files = sorted(unit.path.parent.glob("*.py"))[:MAX_SIBLINGS]
        except OSError:
            return []
        for f in files:
            try:
                if f.is_symlink() or not f.is_file() or f.stat().st_size > MAX_SIBLING_BYTES:
                    continue
                if pattern.search(f.read_text(encoding="utf-8", errors="replace")):
                    found.append(f.name)
            except OSError:
                continue
        return found

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
            b = p._pick(ctx.unit.bindings.get(name_of(call.func), []), ctx.line, ctx.unit)
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
        # the epochs the source asks for, before the rule's limit: a published run may stop short of them
        self.asked_epochs: int | None = None
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
        loop = self._note_missing_calls(loop, session, model, notes)
        self.epochs(loop, fields, notes)
        loader = self.train_loader(loop, fields, notes)
        self._note_other_dataset(notes)
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
                        f"{what} argument {key}=`{short(expr, 50)}`: {e}; left out (torch's default applies)",
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
            if isinstance(kwargs[key], (Obj, *MARKERS)):
                notes.append(
                    ("not translated", ctx.unit.where(call.lineno), f"{name} argument {key}: not data; left out")
                )
                del kwargs[key]
        if call.args and isinstance(call.args[0], (ast.List, ast.Tuple, ast.Dict)):
            notes.append(
                (
                    "not translated",
                    ctx.unit.where(call.lineno),
                    f"`{short(call, 70)}` gives parameter groups; one group with the optimizer's own arguments is used",
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
                    f"({', '.join(f[2] for f in found)}); the last, `{short(call, 50)}`, is taken",
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
        if interval == "epoch" and self._cycle_stepped_per_epoch(kwargs, name, step, fields, where, notes):
            fields["optimizer"].origins.append(origins[0])
            fields["schedule"] = RecipeField(None, origins)  # written as None, with the lines that make it so
            return
        self._drop_non_data(kwargs, name, where, notes)
        origins = self._drop_run_length(kwargs, origins, call, ctx, name, where, notes)
        sched = {"name": name, **kwargs}
        if name == "ReduceLROnPlateau":
            self._plateau_monitor(sched, step, arg, where, notes)
        elif interval == "step" or (interval == "epoch" and name in PER_STEP):
            # said when the source steps it in the batch loop, or per epoch against the class's default
            sched["interval"] = interval
        fields["schedule"] = RecipeField(sched, origins)

    def _cycle_stepped_per_epoch(self, kwargs: dict, name: str, step, fields: dict, where: str, notes: list) -> bool:
        """OneCycleLR or CyclicLR sized in batches (steps_per_epoch=len(train_loader)) but stepped once per
        epoch: the author's run takes a handful of the cycle's thousands of steps, so its rate never leaves
        the cycle's start. That rate (and the momentum the cycle starts with) is written as a constant,
        without the schedule, since the harness would run the whole cycle. True when so."""
        if name == "OneCycleLR":
            per, total = kwargs.get("steps_per_epoch"), kwargs.get("total_steps")
            sized = (per is not None and per != 1) or isinstance(total, Obj)
            peak, div = kwargs.get("max_lr"), kwargs.get("div_factor", 25.0)
            peak = peak[0] if isinstance(peak, (list, tuple)) and peak else peak
            ok = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (peak, div)) and div > 0
            start, high, shown = (peak / div if ok else None), kwargs.get("max_momentum", 0.95), "max_lr/div_factor"
        elif name == "CyclicLR":
            up = kwargs.get("step_size_up")
            sized = up is None or isinstance(up, Obj)
            start, high, shown = kwargs.get("base_lr"), kwargs.get("max_momentum", 0.9), "base_lr"
            start = start[0] if isinstance(start, (list, tuple)) and start else start
        else:
            return False
        if not sized or not isinstance(start, (int, float)) or isinstance(start, bool) or "optimizer" not in fields:
            return False
        o = fields["optimizer"].value
        said = [f"{shown} = {start:g}"]
        if o.get("lr") is not None and o["lr"] != start:
            said.append(f"{o['name']}'s own lr {o['lr']!r} replaced, as {name} sets it when built")
        o["lr"] = start
        signature = inspect.signature(OPTIMIZERS[o["name"]]).parameters
        if kwargs.get("cycle_momentum", True) and isinstance(high, (int, float)):
            if "momentum" in signature:
                o["momentum"] = high
                said.append(f"momentum {high:g}, where the cycle starts it")
            elif "betas" in signature:
                betas = o.get("betas", signature["betas"].default)
                o["betas"] = (high, betas[1])
                said.append(f"betas[0] {high:g}, where the cycle starts it")
        notes.append(
            (
                "interpreted",
                where,
                f"{name} is sized in batches but `{short(step[0], 40)}` "
                f"({step[1].unit.where(step[0].lineno)}) steps it once per epoch: the author's run takes one "
                f"of the cycle's many steps per epoch, so its rate stays at the start; a constant rate is "
                f"written without the schedule ({'; '.join(said)})",
            )
        )
        return True

    def _schedulers_of(self, opt_call: ast.Call) -> list:
        """(call, ctx, class name) of each live scheduler built on this optimizer call, in order."""
        p = self.p
        found = []
        for _, call, ctx, name in p.live_calls(SCHEDULERS):
            first = argument(call, 0, "optimizer")
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
                        f"`{short(call, 60)}` is created but never stepped: left out (a constant rate)",
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
        arg = argument(step[0], 0, "metrics", "metric")
        origins.append((step[1].unit, step[0].lineno))
        if arg is not None and name != "ReduceLROnPlateau":
            notes.append(
                (
                    "interpreted",
                    step[1].unit.where(step[0].lineno),
                    f"`{short(step[0], 50)}` passes an argument {name}.step() does not use: ignored",
                )
            )
        return step, "step" if step[2] else "epoch", arg

    @staticmethod
    def _drop_non_data(kwargs: dict, name: str, where: str, notes: list) -> None:
        """Leaves out the scheduler's arguments a recipe cannot hold: objects, and print switches."""
        for key in list(kwargs):
            # the run-length arguments are often computed (len(train_loader)); _drop_run_length says why
            if isinstance(kwargs[key], (Obj, *MARKERS)) and key not in ("epochs", "steps_per_epoch", "total_steps"):
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
                shown = short(val.node) if isinstance(val, Obj) else repr(val)
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
                    f"`{short(step[0], 50) if step else 'its step call'}`; test_loss is taken",
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
        return any(isinstance(n, ast.Call) and name_of(n.func) == "backward" for u in self.p.units for n in u.calls)

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
                if (r is not None and r[0] is sched_call) or p.reaches(f.value, ctx, sched_call):
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
                    f"`{short(call, 50)}` cannot be traced to a scheduler; it is taken as `{short(sched_call, 50)}`'s",
                )
        return loose

    def monitor(self, arg, ctx: Ctx) -> str | None:
        """What a number passed to ReduceLROnPlateau.step() is, read from the names it passes through."""
        p = self.p
        seen, expr, c = 0, arg, ctx
        while expr is not None and seen < 12:
            seen += 1
            label = self._metric(name_of(expr) or (ast.unparse(expr) if isinstance(expr, ast.AST) else ""))
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
                callee = name_of(nxt.func).lower()
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

    def _note_missing_calls(self, loop, session, model, notes: list):
        """Says which training or test functions an epoch loop calls that the source does not hold, and
        gives the loop: the one found, else the loop of such a call. A notebook that ran against helpers
        it no longer defines or imports (a cell deleted, or `train` now bound to a dataset) has no loop
        that trains, and without the missing name the only notes would be its symptoms: no epoch count,
        a scheduler never stepped."""
        p = self.p
        targets = {id(n) for n in (session[0] if session else None, model[2] if model else None) if n is not None}
        found: list[tuple] = []  # (loop, unit, passes the session's model or optimizer?, [(call, why)])
        for unit in p.units:
            for call in unit.calls:
                why = self._missing_callee(call, unit, targets)
                if why is None:
                    continue
                enclosing = p.enclosing(call, unit, (ast.For, ast.AsyncFor, ast.While))
                if enclosing is None or not p.live(call, unit):
                    continue
                if loop is not None and not (unit is loop[1] and any(n is call for n in ast.walk(loop[0]))):
                    continue
                entry = next((f for f in found if f[0] is enclosing), None)
                if entry is None:
                    entry = (enclosing, unit, [False], [])
                    found.append(entry)
                entry[2][0] |= why[1]
                entry[3].append((call, why[0]))
        if not found:
            return loop
        if loop is None:
            mine = [f for f in found if f[2][0]]
            after = [
                f for f in found if session is not None and f[1] is session[1].unit and f[0].lineno > session[0].lineno
            ]
            chosen = mine[-1] if mine else after[0] if after else found[0] if len(found) == 1 else None
            found = [chosen] if chosen is not None else found
            loop = (chosen[0], chosen[1]) if chosen is not None else None
        for _, unit, _, calls in found:
            for call, why in calls:
                notes.append(("not translated", unit.where(call.lineno), f"`{short(call, 60)}`: {why}"))
        return loop

    def _missing_callee(self, call: ast.Call, unit: Unit, targets: set) -> tuple[str, bool] | None:
        """(why, passes the session's model or optimizer) for a call of a training or test function the
        source neither defines nor imports; None for any other call. A call is taken for one by its name
        (train, test, fit, evaluate, ...) or by passing the model or optimizer trained."""
        p, f = self.p, call.func
        if not isinstance(f, (ast.Name, ast.Attribute)):
            return None
        ctx = p.ctx_at(call, unit)
        if isinstance(f, ast.Attribute):
            base = p.follow(f.value, ctx)
            if base is None or not isinstance(base[0], External):
                return None  # a method of an object (model.eval()) is no function of a module
        name = name_of(f)
        passes = any(
            (r := p.follow(n, ctx)) is not None and id(r[0]) in targets
            for a in [*call.args, *(k.value for k in call.keywords)]
            for n in ast.walk(a)
            if isinstance(n, (ast.Name, ast.Attribute))
        )
        if not (passes or TRAINING_NAME.search(name.split(".")[-1])):
            return None
        r = p.follow(f, ctx)
        what = "what it runs (its batch loop, a scheduler it steps) is not read"
        if r is None:
            stars = [
                b
                for b in unit.bindings.get("*", [])
                if b[2][0].split(".")[0] not in EXTERNAL and p.module(b[2][0], unit, b[2][1]) is None
            ]
            if stars:
                mods = ", ".join(f"`from {b[2][0]} import *` ({unit.where(b[0])})" for b in stars)
                return (
                    f"the loop calls {name}(), defined nowhere in the source; it may come from {mods}, a module "
                    f"not in the source: {what}",
                    passes,
                )
            return f"the loop calls {name}(), which the source neither defines nor imports: {what}", passes
        node, c = r
        if isinstance(node, External):
            module = node.path.rpartition(".")[0]
            top = module.split(".")[0]
            if not module or top in EXTERNAL or top in sys.stdlib_module_names:
                return None
            file = module.replace(".", "/") + ".py"
            return (
                f"the loop calls {name}(), imported from `{module}`, which is not in the source (no {file} beside "
                f"it): {what}",
                passes,
            )
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) or not isinstance(
            node, ast.expr
        ):
            return None
        return (
            f"the loop calls {name}(), which the source neither defines nor imports as a function (`{name}` is "
            f"`{short(node, 40)}` there, {c.unit.where(node.lineno)}): {what}",
            passes,
        )

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
        if count is None and loop is None:
            origin = self._one_pass()
            if origin is not None:
                count = 1
                origins.append(origin)
                notes.append(
                    (
                        "interpreted",
                        origin[0].where(origin[1]),
                        "the batch loop runs once, in no epoch loop: one pass over the training set, epochs=1",
                    )
                )
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
        self.asked_epochs = count if isinstance(count, int) else None
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

    def _one_pass(self) -> tuple | None:
        """(unit, line) of the one batch loop the source runs, once and in no epoch loop (a script's
        `for data, target in train_loader:` in a train() called once); None when there is no such loop,
        or more than one, or one place calls its function twice."""
        p = self.p
        if p.epoch_loops():
            return None
        found = []
        for unit in p.units:
            if in_tests(unit):
                continue
            for node in ast.walk(unit.tree):
                if not (isinstance(node, (ast.For, ast.AsyncFor)) and p.batch_loop(node) and p.live(node, unit)):
                    continue
                func = p.func_of(node, unit)
                if isinstance(func, ast.Lambda):
                    return None
                # a call inside a loop would make that loop an epoch loop, so each call is one pass; calls from
                # two scripts (main.py and train.py's own `__main__` block) are two ways to run it, but two in
                # one place run it twice
                calls = [] if func is None else [s for s in p.call_sites(func, unit) if not in_tests(s[1])]
                places = [(id(u), id(p.func_of(c, u))) for c, u, _ in calls]
                if len(set(places)) < len(places):
                    return None
                if func is None or calls:
                    found.append((unit, node.lineno))
        return found[0] if len(found) == 1 else None

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
                        f"the epoch count of `for ... in {short(it, 50)}` cannot be read ({e})",
                    )
                )
        else:
            notes.append(
                (
                    "not translated",
                    unit.where(node.lineno),
                    f"the training loop `{short(it if it is not None else node.test, 50)}` does not "
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

    def _note_other_dataset(self, notes: list) -> None:
        """Says so when the source builds a torchvision dataset other than MNIST and no MNIST at all (the
        course's CIFAR10 sessions, kept in the same repository): the harness trains on MNIST, where a model
        built for 3x32x32 images fails, and the published numbers are of the other dataset."""
        p, others, mnist = self.p, [], False
        for u in p.units:
            for c in u.calls:
                ctx = p.ctx_at(c, u)
                r = p.callee(c, ctx)
                if r is None or not isinstance(r[0], External) or not r[0].path.startswith("torchvision."):
                    continue
                name = r[0].path.rpartition(".")[2]
                if name == "MNIST":
                    mnist = True
                elif name in OTHER_DATASETS and p.live(c, u):
                    others.append((c, u, name))
        if others and not mnist:
            c, u, name = others[0]
            notes.append(
                (
                    "not translated",
                    u.where(c.lineno),
                    f"`{short(c, 60)}`: the source trains on {name}, not MNIST: the harness trains the model on "
                    f"MNIST's 1x28x28 images, and the published numbers are {name}'s",
                )
            )

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
        """Whether a DataLoader reads the training set: its dataset's train=, else its names."""
        flag = self._train_flag(call, ctx)
        if flag is not None:
            return flag
        ds = argument(call, 0, "dataset")
        names = " ".join(short(x) for x in (ds,) if x is not None).lower()
        parent = ctx.unit.parents.get(call)
        if isinstance(parent, ast.Assign):
            names += " " + " ".join(short(t) for t in parent.targets).lower()
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
        every = self._loaders()
        loaders = [(c, x) for c, x in every if self._is_train(c, x)]
        chosen = None
        if loop is not None:
            node, unit = loop
            trained = self._training_arguments(loop)
            found = []  # (passed to a function that trains?, the loader)
            for n in ast.walk(node):
                if isinstance(n, (ast.Name, ast.Attribute)):
                    r = p.deref(n, p.ctx_at(n, unit))
                    # the loader train() is given is the training loader, whatever its dataset is named
                    # (`train_loader = DataLoader(test_data)`); one only scored must look like training
                    pool = every if id(n) in trained else loaders
                    if r is not None and any(r[0] is c for c, _ in pool):
                        found.append((id(n) in trained, next((c, x) for c, x in pool if c is r[0])))
                    if self._built_by_helper(r):
                        # `train_loader = get_loader('train', kwargs)`: the helper's loader, in that call's ctx,
                        # where the branch of `if kind == 'train':` and the caller's kwargs are this call's
                        found.append((id(n) in trained, r))
            # a loader over training images that the loop only scores (`test_loader = DataLoader(train_data)`)
            # is not the one it trains on
            picked = [x for t, x in found if t] or [x for _, x in found]
            chosen = picked[-1] if picked else None
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
        if self._train_flag(call, ctx) is False:
            notes.append(
                (
                    "not translated",
                    ctx.unit.where(call.lineno),
                    f"`{short(call, 60)}`: the training loop trains on the test split (train=False): the harness "
                    "trains on MNIST's training set, and the published numbers are of a model trained on the test set",
                )
            )
        self._part_of_training_set(call, ctx, loop, notes)
        self._scored_on_training_images(call, loop, notes)
        self._scored_on_augmented_images(call, loop, notes)
        others = {self._batch_text(c, x) for c, x in loaders if c is not call}
        batch, origins = self._batch(call, ctx, notes)
        if others and any(o != str(batch) for o in others):
            notes.append(
                (
                    "interpreted",
                    ctx.unit.where(call.lineno),
                    f"{len({id(c) for c, _ in loaders} | {id(call)})} training DataLoaders are built (batch sizes "
                    f"{', '.join(sorted(others | {str(batch)}))}); the one the training uses, "
                    f"`{short(call, 50)}`, is taken",
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
        r = self._split_beneath((call, ctx))
        if r is None:
            return
        split, sc = r
        where = sc.unit.where(split.lineno)
        notes.append(
            (
                "not translated",
                where,
                f"`{short(split, 60)}`: the source trains on a part of the 60,000 training images; the "
                f"harness trains on all of them (its rule)",
            )
        )
        held = []
        for c, x in self._loaders():
            q = self._split_beneath((c, x)) if c is not call else None
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

    def _split_beneath(self, loader) -> tuple | None:
        """The random_split or Subset a loader's dataset is, or a wrapper of the source is given
        (`TransformDataset(random_split(...)[0], train_transform)`): (call, ctx), or None."""
        call, ctx = loader
        ds = argument(call, 0, "dataset")
        r = self._split(ds, ctx) if ds is not None else None
        wrapper = self._source_dataset(loader) if r is None else None
        if wrapper is None:
            return r
        dcall, dctx = wrapper[2], wrapper[3]
        splits = (self._split(a, dctx) for a in [*dcall.args, *(k.value for k in dcall.keywords)])
        return next(filter(None, splits), None)

    def _split(self, expr, ctx: Ctx) -> tuple | None:
        """(call, ctx) of the random_split or Subset an expression stands for (`random_split(...)[0]` too), or None."""
        p = self.p
        for e in (expr, expr.value) if isinstance(expr, ast.Subscript) else (expr,):
            r = p.deref(e, ctx)
            if r is not None and isinstance(r[0], ast.Call) and p.kind(r[0], r[1]) in ("random_split", "Subset"):
                return r
        return None

    def _dataset_call(self, call: ast.Call, ctx: Ctx) -> tuple | None:
        """(the call, its ctx) a DataLoader's dataset is written as (`datasets.MNIST(...)`), or None."""
        ds = argument(call, 0, "dataset")
        r = self.p.deref(ds, ctx) if ds is not None else None
        return r if r is not None and isinstance(r[0], ast.Call) else None

    def _source_dataset(self, loader) -> tuple | None:
        """(ClassDef, its unit, the dataset call, its ctx) when a loader's dataset is an instance of a class
        of the source: a wrapper (`TransformDataset(subset, transform)`) or a subclass of MNIST."""
        r = self._dataset_call(*loader) if loader is not None else None
        if r is None:
            return None
        f = self.p.callee(r[0], r[1])
        if f is None or not isinstance(f[0], ast.ClassDef):
            return None
        return f[0], f[1].unit, r[0], r[1]

    def _training_arguments(self, loop) -> set:
        """ids of the nodes in the arguments of the epoch loop's calls that run a batch loop (train(...),
        not test(...)): where a loader is trained on rather than scored."""
        p, (node, unit) = self.p, loop
        out: set = set()
        for c in ast.walk(node):
            if isinstance(c, ast.Call) and p.trains(c, unit):
                for a in [*c.args, *(k.value for k in c.keywords)]:
                    out |= {id(n) for n in ast.walk(a)}
        return out

    def _scored_loaders(self, call: ast.Call, loop):
        """(the name, the DataLoader call and its context) of each loader the epoch loop reads besides
        the ones it trains on (`call` among them): the loaders its published log scores."""
        p, (node, unit) = self.p, loop
        trained = self._training_arguments(loop)
        for n in ast.walk(node):
            if not isinstance(n, (ast.Name, ast.Attribute)) or id(n) in trained:
                continue
            r = p.deref(n, p.ctx_at(n, unit))
            if r is not None and isinstance(r[0], ast.Call) and r[0] is not call and p.kind(r[0], r[1]) == "DataLoader":
                yield n, r

    def _scored_on_training_images(self, call: ast.Call, loop, notes: list) -> None:
        """The epoch loop scores a loader that reads MNIST's training set (a `test_loader` built over
        `train_data` by mistake): the published log is then accuracy on images the model trains on, which the
        harness's test accuracy cannot be compared with; said, and marked beside the published numbers."""
        if loop is None or self.log_on:
            return
        for n, r in self._scored_loaders(call, loop):
            if not self._reads_training_set(r[0], r[1]):
                continue
            self.log_on = "the training images, not the test set"
            notes.append(
                (
                    "interpreted",
                    r[1].unit.where(r[0].lineno),
                    f"`{short(n, 30)}` = `{short(r[0], 50)}`, which the epoch loop scores, reads MNIST's "
                    f"training set: the published log is accuracy on training images, not test accuracy",
                )
            )
            return

    def _scored_on_augmented_images(self, call: ast.Call, loop, notes: list) -> None:
        """The epoch loop scores a loader whose dataset applies random transforms (a test set built with the
        training `transform`, RandomAffine and all): the published log is then accuracy on augmented test
        images, lower than on the test set as it is; said, and marked beside the published numbers."""
        if loop is None or self.log_on:
            return
        p = self.p
        for n, r in self._scored_loaders(call, loop):
            compose = self._loader_transforms(r)
            read = self._transform_items(compose, []) if compose is not None else None
            random = [
                p.kind(e, ec)
                for e, ec in (read[2] if read is not None else [])
                if isinstance(e, ast.Call) and (p.kind(e, ec).startswith("Random") or p.kind(e, ec) in RANDOM_OPS)
            ]
            if not random:
                continue
            self.log_on = "test images augmented as for training, not the test set as it is"
            notes.append(
                (
                    "interpreted",
                    r[1].unit.where(r[0].lineno),
                    f"`{short(n, 30)}` = `{short(r[0], 50)}`, which the epoch loop scores, applies "
                    f"{', '.join(dict.fromkeys(random))} to the test images: the published log is accuracy on "
                    f"augmented test images, not on the test set as it is",
                )
            )
            return

    def _reads_training_set(self, call: ast.Call, ctx: Ctx) -> bool:
        """Whether a DataLoader's dataset is written as MNIST's training set (train=True), not guessed from names."""
        return self._train_flag(call, ctx) is True

    def _train_flag(self, call: ast.Call, ctx: Ctx) -> bool | None:
        """The train= a DataLoader's dataset is written with; None where it is not written or not read."""
        p = self.p
        r = self._dataset_call(call, ctx)
        if r is None:
            return None
        kw = next((k for k in r[0].keywords if k.arg == "train"), None)
        if kw is None:
            return None
        try:
            return bool(p.value(kw.value, r[1]))
        except Unknown:
            return None

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
                    f"batch_size `{short(expr, 40)}`: {e}; 128, the harness's default, is used",
                )
            )
            return 128, origins
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            notes.append(
                (
                    "not translated",
                    ctx.unit.where(call.lineno),
                    f"batch_size `{short(expr, 40)}` is not a positive integer; 128, the harness's default, is used",
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
        self._note_own_getitem(loader, notes)
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
            if self._whole_crop(e, ec, items[:i]):
                notes.append(
                    (
                        "interpreted",
                        ec.unit.where(e.lineno),
                        f"`{short(e, 60)}` crops MNIST's 28x28 images to 28x28 with no padding: it does "
                        f"nothing, and is left out",
                    )
                )
                continue
            op, stage = self._op(e, ec, stage, mean, std, notes)
            if op is not None:
                ops.append(op)
        ops = self._valid_ops(ops, notes)
        fields["augment"] = RecipeField(ops, [(c.unit, node.lineno)])

    def _note_own_getitem(self, loader, notes: list) -> None:
        """Says so when the training images pass through a `__getitem__` of the source (an MNIST subclass
        that augments with imgaug, a wrapper): only a transform it is given is translated, and what
        its own code does to an image would otherwise be dropped without a word."""
        source = self._source_dataset(loader)
        if source is None:
            return
        cls, unit = source[0], source[1]
        getitem = next((m for m in cls.body if isinstance(m, ast.FunctionDef) and m.name == "__getitem__"), None)
        if getitem is None:
            return
        notes.append(
            (
                "not translated",
                unit.where(getitem.lineno),
                f"the training images pass through {cls.name}.__getitem__, code of the source: only the "
                f"transform it is given is translated; whatever else it does to an image (an augmentation) is not",
            )
        )

    @staticmethod
    def _untransformed(fields: dict) -> None:
        """The recipe's transforms when the source's cannot be read: the images as ToTensor gives them."""
        fields["mean"] = RecipeField(0.0, [])
        fields["std"] = RecipeField(1.0, [])
        fields["augment"] = RecipeField([], [])

    def _loader_transforms(self, loader) -> tuple | None:
        """The transform of the loader's dataset: (Compose call, ctx), ("single", (node, ctx)) for a
        transform not wrapped in Compose, or None when it cannot be followed."""
        r = self._dataset_call(*loader) if loader is not None else None
        if r is None:
            return None
        p = self.p
        tf = next((k.value for k in r[0].keywords if k.arg in ("transform", "transforms")), None)
        tctx = r[1]
        if tf is None and p.kind(r[0], r[1]) in ("MNIST", "FashionMNIST", "EMNIST", "KMNIST"):
            tf = argument(r[0], 2)  # MNIST(root, train, transform)
        source = self._source_dataset(loader) if tf is None else None
        if source is not None:
            # a wrapper of the source given the transform positionally: its __init__'s `transform` parameter
            init = next((m for m in source[0].body if isinstance(m, ast.FunctionDef) and m.name == "__init__"), None)
            bound = dict(p.bind(init, r[0], r[1], True)) if init is not None else {}
            tf, tctx = bound.get("transform", bound.get("transforms", (None, tctx)))
        if tf is None:
            return None
        compose = p.deref(tf, tctx)
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
                        f"`{short(other, 60)}` is named for training, but the training DataLoader "
                        f"uses `{short(compose[0], 40)}` at {compose[1].unit.where(compose[0].lineno)}: "
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
                    f"`{short(compose[0], 50)}`, named for training, is taken",
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
        lst = argument(node, 0, "transforms")
        elts = self._list_items(lst, c) if lst is not None else None
        if elts is None:
            notes.append(
                (
                    "not translated",
                    c.unit.where(node.lineno),
                    f"`{short(node, 60)}`: its list of transforms cannot be read",
                )
            )
            return None
        items = []
        for e, ec in elts:
            if isinstance(e, ast.Starred):
                notes.append(("not translated", ec.unit.where(e.lineno), f"`{short(e, 50)}`: unpacked list"))
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
                test = truthy(p.value(expr.test, ctx))
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
        unread = None  # the first Normalize whose arguments the text does not give
        for i, (e, ec) in enumerate(items):
            if isinstance(e, ast.Call) and p.kind(e, ec) == "Normalize":
                args = self._targs(e, ec, "Normalize")
                try:
                    m, sd = args.get("mean"), args.get("std")
                    m = m[0] if isinstance(m, (tuple, list)) else m
                    sd = sd[0] if isinstance(sd, (tuple, list)) else sd
                    odd = [v for v in (m, sd) if v is not None and not isinstance(v, (int, float))]
                    if unread is None and odd:
                        v = odd[0]
                        why = f"`{short(v.node, 60)}`" if isinstance(getattr(v, "node", None), ast.AST) else str(v)
                        unread = (i, e, ec, why)
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
        if mean is None and unread is not None:
            # The images are normalised, by numbers the run computed (torch.std(train_data)): MNIST's own
            # are what such a computation gives, where 0 and 1 would train on unnormalised images.
            i, e, ec, why = unread
            norm_at, mean, std = i, 0.1307, 0.3081
            notes.append(
                (
                    "not translated",
                    ec.unit.where(e.lineno),
                    f"`{short(e, 60)}`: Normalize's arguments are computed at run time ({why}): "
                    f"mean={mean}, std={std}, MNIST's, are written in their place",
                )
            )
            fields["mean"] = RecipeField(mean, [(ec.unit, e.lineno)])
            fields["std"] = RecipeField(std, [(ec.unit, e.lineno)])
        elif mean is None:
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
        for unit, call, ctx, _ in p.live_calls({"Compose"}):
            parent = unit.parents.get(call)
            label = ""
            if isinstance(parent, ast.Assign):
                label = " ".join(short(t) for t in parent.targets)
            elif isinstance(parent, ast.Return) and ctx.func is not None:
                label = getattr(ctx.func, "name", "")
            label = label.lower()
            if "train" in label and "test" not in label:
                found.append((call, ctx))
        return found

    def _whole_crop(self, e, ec: Ctx, before: list) -> bool:
        """Whether `e` is a RandomCrop of the whole image: 28x28, no padding, where no earlier transform
        changed MNIST's size (after `Pad(2)` the same crop is a random shift)."""
        p = self.p
        if not isinstance(e, ast.Call) or p.kind(e, ec) != "RandomCrop":
            return False
        if any(not isinstance(b, ast.Call) or p.kind(b, bc) not in SIZE_KEPT for b, bc in before):
            return False
        size, padding = argument(e, 0, "size"), argument(e, 1, "padding")
        try:
            size = p.read(size, ec) if size is not None else None
            padding = p.read(padding, ec) if padding is not None else None
        except Unknown:
            return False
        sizes = tuple(size) if isinstance(size, (tuple, list)) else (size,)
        return sizes in ((28,), (28, 28)) and padding in (None, 0, (0, 0), (0, 0, 0, 0), [0, 0], [0, 0, 0, 0])

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
            notes.append(("not translated", where, f"`{short(e, 60)}`: not a transform call"))
            return None, stage
        name = p.kind(e, ec)
        text = short(e, 70)
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
        for unit, call, ctx, name in p.live_calls(self.LOSS_AND_CLIP):
            if name in ("CrossEntropyLoss", "cross_entropy"):
                smoothing += self._label_smoothing(call, ctx, unit, notes)
            elif name in ("nll_loss", "NLLLoss"):
                uses_nll = True
            elif name in ("MSELoss", "BCELoss", "BCEWithLogitsLoss", "KLDivLoss", "mse_loss", "kl_div"):
                notes.append(
                    (
                        "not translated",
                        unit.where(call.lineno),
                        f"`{short(call, 50)}`: the harness trains with cross-entropy only",
                    )
                )
            elif name in ("clip_grad_norm_", "clip_grad_norm"):
                clip += self._max_norm(call, ctx, unit, notes)
            elif name in ("clip_grad_value_",):
                notes.append(
                    (
                        "not translated",
                        unit.where(call.lineno),
                        f"`{short(call, 50)}`: clipping by value is not a recipe field",
                    )
                )
        self._take_last_smoothing(smoothing, fields, notes)
        self._take_last_clip(clip, fields, notes)
        if uses_nll and model is not None and not self._ends_in_log_softmax(model[0], model[1]):
            notes.append(
                (
                    "not translated",
                    model[1].where(model[0].lineno),
                    f"nll_loss is applied to {model[0].name}, which does not end in log_softmax; the harness's "
                    f"cross-entropy on its outputs is not the same loss",
                )
            )
        if model is not None:
            self._dropout_in_evaluation(model[0], model[1], notes)

    def _ends_in_log_softmax(self, cls: ast.ClassDef, unit: Unit) -> bool:
        """Whether a log_softmax is in the model's text (`_model_classes`), in any of its spellings
        (F.log_softmax, x.log_softmax, nn.LogSoftmax)."""
        return any(LOG_SOFTMAX.search(u.segment(c)) for c, u in self._model_classes(cls, unit))

    def _model_classes(self, cls: ast.ClassDef, unit: Unit):
        """The model's class and the classes of the source it inherits or builds (a forward shared by
        BN/GN/LN subclasses, an output block ending in nn.LogSoftmax), each once."""
        classes: dict[str, list] = {}
        for u in self.p.units:
            for n in u.tree.body:
                if isinstance(n, ast.ClassDef):
                    classes.setdefault(n.name, []).append((n, u))
        todo, seen = [(cls, unit)], {id(cls)}
        while todo:
            c, u = todo.pop()
            yield c, u
            for m in ast.walk(c):
                name = m.id if isinstance(m, ast.Name) else m.attr if isinstance(m, ast.Attribute) else None
                for other in classes.get(name or "", []):
                    if id(other[0]) not in seen and len(seen) < 64:
                        seen.add(id(other[0]))
                        todo.append(other)

    def _dropout_in_evaluation(self, cls: ast.ClassDef, unit: Unit, notes: list) -> None:
        """A functional dropout the model calls without `training=` drops in evaluation mode too, so the
        model's evaluation program draws random numbers, which the gate refuses: said, with the fix."""
        for c, u in self._model_classes(cls, unit):
            for call in ast.walk(c):
                if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)):
                    continue
                receiver = ast.unparse(call.func.value)  # F.dropout, never self.dropout (an nn.Dropout)
                if call.func.attr not in FUNCTIONAL_DROPOUT or not (receiver == "F" or receiver.endswith("functional")):
                    continue
                if len(call.args) > 2 or any(k.arg in ("training", "train") for k in call.keywords):
                    continue
                notes.append(
                    (
                        "not translated",
                        u.where(call.lineno),
                        f"`{short(call, 50)}` drops in evaluation mode too (its training= defaults to True): the "
                        f"gate refuses an evaluation program that draws random numbers; write "
                        f"`{call.func.attr}(..., training=self.training)` or use nn.Dropout",
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
                            f"label_smoothing `{short(kw.value, 40)}`: {e}",
                        )
                    )
        return out

    def _max_norm(self, call: ast.Call, ctx: Ctx, unit: Unit, notes: list) -> list:
        """[(max_norm, unit, line)] of one clip_grad_norm_ call, empty when it cannot be read."""
        arg = argument(call, 1, "max_norm")
        try:
            v = self.p.read(arg, ctx) if arg is not None else None
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
                raise Unknown(f"`{short(arg, 40)}` is not a number")
        except Unknown as e:
            notes.append(("not translated", unit.where(call.lineno), f"`{short(call, 50)}`: max_norm {e}"))
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
                        notes.append(("not translated", unit.where(i), f"`{short(line.strip(), 60)}`: {why}"))
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
                                    f"`{short(st, 60)}`: a term added to the loss in the loop",
                                )
                            )
                        elif (
                            isinstance(st, ast.Call)
                            and isinstance(st.func, ast.Attribute)
                            and st.func.attr == "backward"
                        ):
                            added = self._added_term(st.func.value, p.ctx_at(st, unit))
                            if added is not None:
                                term, at = added
                                note = (
                                    "not translated",
                                    at.where(term.lineno),
                                    f"`{short(term, 60)}`: the loss {short(st.func.value, 20)}.backward() "
                                    "takes is more than the criterion on the output and target: the harness "
                                    "trains with cross-entropy only",
                                )
                                if not any(n[1] == note[1] for n in notes if n[0] == "not translated"):
                                    notes.append(note)
                        if (
                            isinstance(st, ast.If)
                            and any(
                                isinstance(c, ast.Call)
                                and name_of(c.func) == "step"
                                and "optim" in ast.unparse(c.func).lower()
                                for c in ast.walk(st)
                            )
                            and "%" in ast.unparse(st.test)
                        ):
                            notes.append(
                                (
                                    "not translated",
                                    unit.where(st.lineno),
                                    f"`if {short(st.test, 40)}:` around optimizer.step(): gradient "
                                    f"accumulation is not a recipe field",
                                )
                            )

    def _added_term(self, expr, ctx: Ctx) -> tuple | None:
        """(the statement or expression, its unit) where a term is added to the loss `expr` stands for:
        `nll + lam * l1` assigned in the loop, or returned by a function of the source the loop calls
        (`loss = l1_penalty(model, loss)`), or `loss +=` in that function; None for a bare criterion."""
        p = self.p
        r = p.follow(expr, ctx) or (expr, ctx)
        for _ in range(8):
            node, c = r
            if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
                return node, c.unit
            if not isinstance(node, ast.Call):
                return None
            f = p.callee(node, c)
            if f is None or not isinstance(f[0], (ast.FunctionDef, ast.AsyncFunctionDef)):
                return None
            ret = p.returned(f[0], f[1].unit, node, c)
            if ret is None:
                return None
            if isinstance(ret[0], ast.Name):
                for n in p._own_nodes(f[0]):
                    if (
                        isinstance(n, ast.AugAssign)
                        and isinstance(n.target, ast.Name)
                        and n.target.id == ret[0].id
                        and isinstance(n.op, (ast.Add, ast.Sub))
                    ):
                        return n, f[1].unit
            r = p.follow(ret[0], ret[1]) or ret
        return None

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
        sched = sched if sched is not None and sched.value is not None else None
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
