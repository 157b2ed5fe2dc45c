"""Fixtures the runner tests share: runner settings in the sandbox, and random digits."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from harness.engine.data import MNIST
from harness.judge import sandbox, trial

CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="module")
def sandboxed() -> trial.Settings:
    """Runner settings in the bubblewrap sandbox; with CI=true a missing sandbox fails, never skips."""
    why_not = sandbox.probe()
    if why_not is not None:
        (pytest.fail if CI else pytest.skip)(f"the runner sandbox is not available here: {why_not}")
    return trial.Settings(sandbox.choose("sandbox"), "cpu", threads=1)


@pytest.fixture(scope="module")
def tiny() -> MNIST:
    """Random digits: these tests are about what a runner can reach, not about accuracy."""
    g = torch.Generator().manual_seed(0)
    return MNIST(
        torch.randint(0, 256, (256, 28, 28), dtype=torch.uint8, generator=g),
        torch.randint(0, 10, (256,), generator=g),
        torch.randint(0, 256, (200, 28, 28), dtype=torch.uint8, generator=g),
        torch.randint(0, 10, (200,), generator=g),
        Path("/nonexistent"),
        "test",
    )
