"""Reading a source as text: a notebook's code cells (IPython magics stripped, saved outputs kept)
or a .py file, each as a Unit parsed with ast; the limits on what is read."""

from __future__ import annotations

import ast
import json
import re
import textwrap
from pathlib import Path

MAX_SOURCE_BYTES = 64 * 1024 * 1024  # a notebook with its plots; anything larger is no course notebook
MAX_FILES = 2000  # files read from one folder; a repository of a course exercise has a few dozen
MAX_LOG_BYTES = 4 * 1024 * 1024  # a course run's log is kilobytes; a larger text file is data, not a log
LOG_SUFFIXES = (".md", ".txt", ".log")
SKIP_DIRS = {
    ".git",
    ".ipynb_checkpoints",
    "__pycache__",
    "node_modules",
    "site-packages",
    ".venv",
    "venv",
    ".tox",
    "build",
    "dist",
}


# ---------------------------------------------------------------- reading sources

# Notes are (kind, where, text) tuples, kind "not translated" or "interpreted"; Imported.notes has them
# as "kind: where: text".


class Unit:
    """One piece of code read as text: a .py file, or a notebook's code cells joined in order. Its
    `tree` is parsed with line numbers of the joined text; `where` maps a line back to its cell."""

    # name -> [(line, kind, payload, statement)] at module level, set when a SourceProgram indexes the unit
    bindings: dict[str, list[tuple]]

    def __init__(self, path: Path, rel: str, text: str, tree: ast.Module, cells: list | None = None):
        self.path, self.rel, self.text, self.tree = path, rel, text, tree
        self.cells = cells  # [(cell number, first line, last line, saved text outputs)], notebooks only
        self.lines = text.split("\n")
        self.parents: dict[ast.AST, ast.AST] = {}
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                self.parents[child] = node
        self.calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
        self.is_entry = False

    @property
    def notebook(self) -> bool:
        return self.cells is not None

    def cell_of(self, line: int):
        for cell in self.cells or ():
            if cell[1] <= line <= cell[2]:
                return cell
        return None

    def where(self, line: int) -> str:
        """'cell 12, line 3' in the entry notebook (cells counted from 1, markdown included),
        'model.py, line 40' in a file, 'other.ipynb cell 2, line 1' in another notebook."""
        if self.notebook:
            cell = self.cell_of(line)
            if cell is None:
                return self.rel
            here = f"cell {cell[0]}, line {line - cell[1] + 1}"
            return here if self.is_entry else f"{self.rel} {here}"
        return f"{self.rel}, line {line}"

    def line_text(self, line: int) -> str:
        return self.lines[line - 1].strip() if 0 < line <= len(self.lines) else ""

    def segment(self, node: ast.stmt) -> str:
        """The node's source text as written, decorators included, dedented."""
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        lines = self.lines[first - 1 : node.end_lineno]
        return textwrap.dedent("\n".join(lines))


def _parse(text: str) -> ast.Module | None:
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _unparsed(text: str) -> str:
    """Why `text` does not parse, for a note (parsed again: only a file that failed pays)."""
    try:
        ast.parse(text)
    except SyntaxError as e:
        return f"line {e.lineno}: {e.msg}"
    except (RecursionError, MemoryError):
        return "nested deeper than Python's parser reads"
    except ValueError as e:
        return str(e)
    return "?"


# IPython's automagic: `pip install torchsummary` and `cd /content/drive` run as magics without their
# `%`; a line that starts with one of these words and goes on with a word, an option or a path (never an
# operator, as in `cd = 3` or `env.step(a)`) is one. Read only in cells that do not parse as Python.
AUTOMAGIC = re.compile(r"(pip|conda|cd|ls|pwd|mkdir|cat|cp|mv|rm|rmdir|matplotlib|load_ext)\s+[\w\-/~.\"'$][^\n]*")


def strip_magics(src: str) -> str:
    """IPython's `!shell` and `%magic` lines as `pass`, keeping the line count and indentation."""
    out = []
    for line in src.split("\n"):
        body = line.lstrip()
        auto = AUTOMAGIC.fullmatch(body.rstrip())
        # `ls -la` and `cd /content` are Python too (a subtraction, a division); `pip in x` is no magic
        magic = body.startswith(("!", "%")) or (
            auto is not None and (_parse(body) is None or body.split(None, 1)[1].startswith(("-", "/", "~")))
        )
        out.append(line[: len(line) - len(body)] + "pass" if magic else line)
    return "\n".join(out)


def _text(v) -> str:
    """nbformat's text: a string, or a list of strings (anything else in hostile JSON is left out)."""
    if isinstance(v, list):
        return "".join(x for x in v if isinstance(x, str))
    return v if isinstance(v, str) else ""


def _outputs_text(cell: dict) -> str:
    """A cell's saved text outputs in order: streams, and the text/plain of results and displays."""
    parts = []
    for out in cell.get("outputs") or []:
        if not isinstance(out, dict):
            continue
        if out.get("output_type") == "stream" or "text" in out:
            parts.append(_text(out.get("text")))
        data = out.get("data")
        if isinstance(data, dict):
            parts.append(_text(data.get("text/plain")))
    return "\n".join(p for p in parts if p)


def read_notebook(path: Path, rel: str, notes: list) -> tuple[Unit, dict[str, str]]:
    """The notebook's code cells as one unit, and the files its `%%writefile` cells write (name ->
    text), which its imports may name. Cells that are not Python are skipped, each with a note."""
    try:
        nb = json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except (ValueError, RecursionError) as e:
        notes.append(("not translated", rel, f"is not notebook JSON ({str(e)[:80]}): nothing read"))
        nb = {}
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if cells is None and isinstance(nb, dict) and nb.get("worksheets"):  # nbformat 3
        cells = (nb["worksheets"][0] or {}).get("cells", [])
    cells = cells if isinstance(cells, list) else []
    written: dict[str, str] = {}
    text_lines: list[str] = []
    spans, body = [], []
    for number, cell in enumerate(cells, start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        src = _text(cell.get("source", cell.get("input", ""))).replace("\r\n", "\n").replace("\r", "\n")
        first = len(text_lines) + 1
        head = src.lstrip().split("\n", 1)[0].strip()
        if head.startswith("%%"):
            words = head[2:].split()
            magic = words[0] if words else ""
            if magic == "writefile" and len(words) > 1:
                written[words[-1]] = src.lstrip().split("\n", 1)[1] if "\n" in src.lstrip() else ""
                src = ""
            elif magic in ("time", "timeit", "capture", "prun", "debug"):
                src = strip_magics(src)
            else:
                notes.append(("not translated", f"cell {number}", f"`%%{magic}` cell is not Python: skipped"))
                src = ""
        tree = _parse(src)
        if tree is None:
            tree = _parse(strip_magics(src))
            if tree is None:
                notes.append(
                    (
                        "not translated",
                        f"cell {number}",
                        "does not parse as Python even without its IPython magics: skipped",
                    )
                )
                src = "\n" * src.count("\n")
                tree = ast.Module(body=[], type_ignores=[])
            else:
                src = strip_magics(src)
        lines = src.split("\n")
        ast.increment_lineno(tree, first - 1)
        body += tree.body
        text_lines += lines
        spans.append((number, first, len(text_lines), _outputs_text(cell)))
    text = "\n".join(text_lines)
    return Unit(path, rel, text, ast.Module(body=body, type_ignores=[]), spans), written


def read_module(path: Path, rel: str, notes: list, text: str | None = None) -> Unit:
    if text is None:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as e:
            notes.append(("not translated", rel, f"cannot be read ({e.strerror or e})"))
            text = ""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    tree = _parse(text)
    if tree is None:
        notes.append(("not translated", rel, f"does not parse as Python ({_unparsed(text)}): skipped"))
        tree = ast.Module(body=[], type_ignores=[])
    return Unit(path, rel, text, tree)


def log_files(root: Path, home: Path) -> list[Path]:
    """The text files (README.md, logs/*.txt, *.log) a repository may keep a training run's printout in,
    looked for in `home` (the training script's folder), the folders above it up to `root`, and the
    folders right below each of those (logs/, a sibling model folder), nearest to `home` first: the
    folders climbed from `home`, then the folders descended, then the path."""
    root, home = root.resolve(), home.resolve()
    if home != root and root not in home.parents:
        home = root
    ups = [home, *[p for p in home.parents if p == root or root in p.parents]]
    folders = list(dict.fromkeys(ups + [d for up in ups for d in sorted(up.iterdir()) if _readable_dir(d)]))
    found = []
    for folder in folders:
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() in LOG_SUFFIXES and path.is_file() and not path.is_symlink():
                if path.stat().st_size <= MAX_LOG_BYTES:
                    found.append(path)
            if len(found) >= MAX_FILES:
                break
    return sorted(found, key=lambda p: (_steps(home, p.parent), str(p)))


def _readable_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink() and path.name not in SKIP_DIRS and not path.name.startswith(".")


def _steps(a: Path, b: Path) -> tuple[int, int]:
    """The folders walked from `a` to `b`: up to their common folder, and down again."""
    common = 0
    for x, y in zip(a.parts, b.parts):
        if x != y:
            break
        common += 1
    return len(a.parts) - common, len(b.parts) - common
