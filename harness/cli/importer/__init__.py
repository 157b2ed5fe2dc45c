"""Imports a student's notebook, training script or cloned repository as mnist8k candidate files. The code
is read as text with ast and never run (a notebook is hostile input): the nn.Module classes its training
builds, copied with the constants and helpers they need; the recipe it trains them with, every field
commented with the line it came from; the author's published numbers from the notebook's saved outputs.
Whatever is not translated, or had to be interpreted, is named with its line and why.

Each module imports only those above it in this list:
- sources: notebooks (magics stripped) and .py files read as parsed Units; the size and folder limits
- values: the values a resolution yields besides data (External, Obj, Frac, ...), Ctx, shared ast helpers
- program: SourceProgram, the units and local imports, names resolved to values, the model classes
  and the loops that train them
- recipe: Analysis, the training sessions and their models, and the recipe translated field by field
  (optimizer, schedule, epochs, batch size, transforms, normalisation, loss, clipping)
- published: the published numbers read from saved outputs and logs (parse_log), unused layers
- writer: the candidate file (Writer, identifier)
- api: import_source, write and Imported
"""

from __future__ import annotations

from harness.cli.importer.api import Imported, import_source, write
from harness.cli.importer.published import parse_log
from harness.cli.importer.writer import identifier

__all__ = ["Imported", "identifier", "import_source", "parse_log", "write"]
