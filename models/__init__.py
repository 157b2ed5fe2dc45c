"""Every candidate file in this folder, imported one by one: a broken file becomes a
candidate that fails with its own error instead of hiding the others."""
import importlib
import traceback
from pathlib import Path

from .registry import Candidate, create_model, get_candidate, list_models, register_broken, register_model

__all__ = ["Candidate", "create_model", "get_candidate", "list_models", "register_model"]

for _path in sorted(Path(__file__).parent.glob("*.py")):
    if _path.stem.startswith("_") or _path.stem == "registry":
        continue
    try:
        importlib.import_module(f"{__name__}.{_path.stem}")
    except Exception as _e:  # a candidate's bug must not stop the others from running
        _where = traceback.extract_tb(_e.__traceback__)[-1]
        register_broken(_path.stem, str(_path),
                        f"{type(_e).__name__}: {_e} ({Path(_where.filename).name}:{_where.lineno})")
