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
    except (Exception, SystemExit) as _e:  # a candidate's bug must not stop the others from running
        if isinstance(_e, SyntaxError):
            _file, _line = _e.filename, _e.lineno
        else:  # the deepest frame inside this folder, else the deepest of all
            _frames = traceback.extract_tb(_e.__traceback__)
            _own = [f for f in _frames if Path(f.filename).parent == _path.parent] or _frames
            _file, _line = _own[-1].filename, _own[-1].lineno
        register_broken(_path.stem, str(_path), f"{type(_e).__name__}: {_e} ({Path(_file).name}:{_line})")
