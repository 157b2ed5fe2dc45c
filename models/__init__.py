"""The candidates, one or more per file, each registered with `@register_model`. This package
imports none of them: the judge reads them from their sources (harness/catalog.py), and a
sandboxed builder imports one file at a time (harness/builder.py)."""
from .registry import Candidate, create_model, get_candidate, list_models, register_model

__all__ = ["Candidate", "create_model", "get_candidate", "list_models", "register_model"]
