"""Candidates as the tests reach them: read by the catalog and built in a runner (sandboxed
where bubblewrap works), never imported into the test process."""

from __future__ import annotations

import functools
from pathlib import Path

import torch

from harness.judge import catalog, sandbox, trial


def settings() -> trial.Settings:
    return trial.Settings(sandbox.choose("auto"), "cpu", threads=1)


@functools.cache
def build(name: str, models_dir: Path = catalog.REPO_MODELS, *, anatomy: bool = False) -> trial.Built:
    """The candidate built from seed 0 in a runner that has already ended (once per process:
    each runner start costs a torch import)."""
    entry = catalog.scan(models_dir)[name]
    assert entry.error is None, entry.error
    with trial.runner(Path(entry.file), settings()) as r:
        return trial.build(r, name, 0, anatomy=anatomy)


def state_keys(name: str) -> list[str]:
    return list(build(name).state)


def outputs(name: str, state: dict[str, torch.Tensor], images: torch.Tensor) -> torch.Tensor:
    entry = catalog.scan(catalog.REPO_MODELS)[name]
    with trial.runner(Path(entry.file), settings()) as r:
        return trial.predict(trial.build(r, name, 0), state, images)


def run_candidate(name: str, *, seed: int, device: str, epochs: int):
    """A shortened training of a repository candidate through the runner, as the gate trains."""
    from harness.engine import data
    from harness.engine.recipe import Recipe

    entry = catalog.scan(catalog.REPO_MODELS)[name]
    recipe = Recipe.from_dict(entry.recipe).replace(epochs=epochs)
    with trial.runner(Path(entry.file), trial.Settings(sandbox.choose("auto"), device)) as r:
        built = trial.build(r, name, seed)
        return trial.train(built, name, recipe, data.load(), seed).result


def write_candidates(folder: Path, source: str) -> list[str]:
    """Candidate files from one source holding several builders: a file per builder, named
    as it (a candidate's name is its file's name), each with the source's shared head."""
    import re
    import textwrap

    source = textwrap.dedent(source)
    head, *parts = re.split(r"(?m)^(?=@register_model)", source)
    names = []
    for part in parts:
        name = re.search(r"(?m)^def (\w+)\(", part).group(1)
        (Path(folder) / f"{name}.py").write_text(head + part)
        names.append(name)
    return names
