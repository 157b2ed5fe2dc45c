"""The confusion of a model's test predictions: the matrix and its tables (the CLI's `eval`)."""

from __future__ import annotations

import torch
from tabulate import tabulate

CLASSES = 10


def confusion(labels: torch.Tensor, predicted: torch.Tensor, classes: int = CLASSES) -> list[list[int]]:
    """Counts [true][predicted]."""
    flat = torch.bincount(labels.cpu() * classes + predicted.cpu(), minlength=classes * classes)
    return flat.view(classes, classes).tolist()


def confusion_table(matrix: list[list[int]], tablefmt: str = "simple") -> str:
    rows = [[i, *(f"{n:,}" for n in row)] for i, row in enumerate(matrix)]
    headers = ["true \\ predicted", *map(str, range(len(matrix)))]
    return tabulate(
        rows, headers=headers, tablefmt=tablefmt, colalign=("right",) * (len(matrix) + 1), disable_numparse=True
    )


def per_class_table(matrix: list[list[int]], tablefmt: str = "simple") -> str:
    """Accuracy per true digit, and the digit it is most often taken for."""
    rows = []
    for i, row in enumerate(matrix):
        total, right = sum(row), row[i]
        wrong = [(n, j) for j, n in enumerate(row) if j != i and n]
        worst = max(wrong) if wrong else None
        rows.append(
            [
                i,
                f"{total:,}",
                f"{right:,}",
                f"{100.0 * right / total:.2f}" if total else "",
                f"{worst[1]} ({worst[0]})" if worst else "-",
            ]
        )
    return tabulate(
        rows,
        headers=["digit", "images", "correct", "accuracy %", "most taken for (times)"],
        tablefmt=tablefmt,
        colalign=("right", "right", "right", "right", "left"),
        disable_numparse=True,
    )
