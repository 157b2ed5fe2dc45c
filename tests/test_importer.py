"""The notebook importer: synthetic course solutions (tests/notebooks/) imported as candidate files and
checked against facts written down here by hand; every file vetted and read by the catalog; nothing in
a source ever executed."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

from harness.cli.importer import Imported, identifier, import_source, parse_log, write
from harness.cli.importer.sources import strip_magics
from harness.cli.notebooks import ImportFailed, _published_window, import_to
from harness.engine.recipe import Recipe
from harness.judge.catalog import scan
from harness.judge.vetting import VettingError, vet

NOTEBOOKS = Path(__file__).resolve().parent / "notebooks"


def _generator():
    spec = importlib.util.spec_from_file_location("make_notebooks", NOTEBOOKS / "make_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GEN = _generator()
NORMALIZE = dict(mean=0.1307, std=0.3081)

# What each synthetic source must import as, written by hand from the source: the candidate's name, the
# class its file defines, the builder's return, the exact recipe, substrings of its notes, and the
# published numbers (parameter count, the last epoch and its accuracy).
CASES = {
    "a_inline.ipynb": dict(
        name="a_inline_net",
        cls="class Net(nn.Module)",
        build="return Net()",
        helpers=[
            "dropout_value = 0.01",
            "def conv_block(cin, cout):",
            "import torch.nn as nn",
            "import torch.nn.functional as F",
        ],
        recipe=dict(
            epochs=15,
            batch_size=128,
            optimizer=dict(name="SGD", lr=0.02, momentum=0.9),
            schedule=dict(name="StepLR", step_size=6, gamma=0.1),
            **NORMALIZE,
            augment=[dict(name="RandomRotation", degrees=(-7.0, 7.0), fill=(1 / 255,))],
        ),
        notes=["fills PIL grey levels (0..255)", "the log counts epochs from 0"],
        params=6_104,
        last=(15, GEN.A_ACCS[-1]),
        comments=[
            'optimizer=dict(name="SGD", lr=0.02, momentum=0.9),  # cell 8, line 2: '
            "optimizer = optim.SGD(model.parameters(), lr=0.02, momentum=0.9)",
            "fill=(1 / 255,)),  # cell 3, line 2: transforms.RandomRotation((-7.0, 7.0), fill=(1,))",
        ],
    ),
    "b_sibling/b_plateau.ipynb": dict(
        name="b_plateau_net",
        cls="class Net(nn.Module)",
        build="return Net(width=14)",
        helpers=["DROP = 0.05", "def cbr(cin, cout, k=3):"],
        absent=["class Unused"],
        recipe=dict(
            epochs=15,
            batch_size=64,
            optimizer=dict(name="SGD", lr=0.03, momentum=0.9),
            schedule=dict(name="ReduceLROnPlateau", mode="min", factor=0.5, patience=1, monitor="test_loss"),
            **NORMALIZE,
            augment=[],
        ),
        notes=["the CUDA branch (`dict(shuffle=True, batch_size=64"],
        params=None,
        last=(15, round(GEN.B_ACCS[-1], 4)),
        comments=["scheduler.step(test_loss)"],
    ),
    "c_onecycle.ipynb": dict(
        name="c_onecycle_net",
        cls="class Net(nn.Module)",
        build="return Net(channels=20, dropout=0.05)",
        recipe=dict(
            epochs=15,
            batch_size=100,
            optimizer=dict(name="Adam", lr=0.01, weight_decay=1e-4),
            schedule=dict(name="OneCycleLR", pct_start=0.25, interval="step"),
            label_smoothing=0.1,
            clip_grad_norm=1.0,
            **NORMALIZE,
            augment=[
                dict(name="RandomAffine", degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1)),
                dict(name="ColorJitter", brightness=0.2, contrast=0.2),
                dict(
                    name="RandomApply",
                    p=0.1,
                    transforms=[dict(name="CenterCrop", size=22), dict(name="Resize", size=(28, 28))],
                ),
                dict(name="RandomErasing", p=0.2, scale=(0.02, 0.1), value=0.1307),
            ],
        ),
        notes=[
            "the source trains 20 epochs; capped at 15 by the rule",
            "saturation=0.2 does nothing",
            "its value 0 is the mean grey",
            "Resize((28, 28)) after RandomApply",
            "max_lr 0.01",
            "the scheduler was built for 20 epochs; here it spans the recipe's 15",
        ],
        params=None,
        last=(20, round(GEN.C_ACCS[-1], 2)),
    ),
    "d_script/train_script.py": dict(
        name="train_script_tinynet",
        cls="class TinyNet(nn.Module)",
        build="return TinyNet()",
        recipe=dict(
            epochs=12,
            batch_size=256,
            optimizer=dict(name="SGD", lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4),
            schedule=dict(name="StepLR", step_size=5, gamma=0.5),
            **NORMALIZE,
            augment=[
                dict(
                    name="RandomApply", p=0.3, transforms=[dict(name="GaussianBlur", kernel_size=3, sigma=(0.1, 1.0))]
                ),
                dict(name="RandomPerspective", distortion_scale=0.2, p=0.25, fill=0),
            ],
        ),
        notes=[],
        params=None,
        last=None,
        comments=[
            "batch_size=256,  # train_script.py, line 33: return torch.utils.data.DataLoader(",
            "train_script.py, line 10: BATCH = 256",
        ],
    ),
    "e_repo": dict(
        name="e_repo_model3",
        cls="class Model3(nn.Module)",
        build="return Model3()",
        helpers=["DROP = 0.02", "def sep(cin, cout):"],
        absent=["class Model1"],
        recipe=dict(
            epochs=15,
            batch_size=128,
            optimizer=dict(name="SGD", lr=0.2, momentum=0.95),
            schedule=dict(name="OneCycleLR", interval="step"),
            **NORMALIZE,
            augment=[dict(name="RandomRotation", degrees=8)],
        ),
        notes=["SGD's own lr 0.01 is replaced by OneCycleLR's max_lr 0.2", "momentum=0.95 is written"],
        params=None,
        last=(15, round(GEN.E_ACCS[-1], 2)),
    ),
    "f_untranslatable.ipynb": dict(
        name="f_untranslatable_net",
        cls="class Net(nn.Module)",
        build="return Net()",
        recipe=dict(
            epochs=10,
            batch_size=64,
            optimizer=dict(name="SGD", momentum=0.9),
            schedule=None,
            **NORMALIZE,
            augment=[dict(name="RandomRotation", degrees=5)],
        ),
        notes=[
            "not translated: cell 2, line 6: `transforms.RandomCrop(28, padding=2)`: not an op",
            "not translated: cell 2, line 9: `AddNoise()`: a transform of the source itself",
            "not translated: cell 3, line 9: `def mixup(x, y, alpha=0.2):`: mixup/cutmix",
            "not translated: cell 4, line 3: SGD argument lr=`lr`",
            "is computed when the code runs",
        ],
        params=None,
        last=None,
    ),
}


def _one(rel: str) -> Imported:
    found = import_source(NOTEBOOKS / rel)
    assert len(found) == 1, [i.name for i in found]
    return found[0]


def test_the_synthetic_sources_are_what_the_generator_writes():
    for rel, text in GEN.FILES.items():
        assert (NOTEBOOKS / rel).read_text(encoding="utf-8") == text, f"run tests/notebooks/make_notebooks.py ({rel})"


@pytest.mark.parametrize("rel", list(CASES))
def test_a_course_solution_imports_as_written_down(rel, tmp_path):
    want = CASES[rel]
    got = _one(rel)
    assert got.name == want["name"]
    code = got.code
    assert want["cls"] in code and f"def {want['name']}():\n" in code
    assert want["build"] in code
    for text in want.get("helpers", []):
        assert text in code
    for text in want.get("absent", []):
        assert text not in code
    for text in want.get("comments", []):
        assert text in code
    # the file as the harness reads it: vetted, one builder named as the file, the recipe valid
    paths = write([got], tmp_path)
    assert [p.name for p in paths] == [f"{got.name}.py", f"{got.name}.published.json"]
    (decl,) = vet(paths[0])
    assert decl.name == got.name and decl.claim is None
    assert decl.recipe == want["recipe"]
    Recipe.from_dict(decl.recipe)
    entries = scan(tmp_path)
    assert list(entries) == [got.name] and entries[got.name].error is None
    # every note in the docstring too, and each expected one present
    doc = code.split('"""')[1]
    for note in want["notes"]:
        assert any(note in n for n in got.notes), (note, got.notes)
    for note in got.notes:  # "kind: where: text" is "- where: text" under its kind's heading
        assert f"- {note.split(': ', 1)[1]}"[:60] in doc
    pub = json.loads(paths[1].read_text())
    assert pub == got.published
    assert pub["params"] == want["params"]
    if want["last"] is None:
        assert pub["epochs"] == []
    else:
        last = pub["epochs"][-1]
        assert (last["epoch"], last["test_acc"]) == want["last"]
        assert [e["epoch"] for e in pub["epochs"]] == list(range(1, want["last"][0] + 1))


def test_every_recipe_field_says_where_it_came_from():
    code = _one("a_inline.ipynb").code
    recipe = code[code.index("@register_model(") : code.index("), claim=None)")]
    for line in recipe.splitlines()[1:]:
        if line.strip() not in ("augment=[", "],"):
            assert "  # " in line, line
    assert "# cell 8, line 5: for epoch in range(EPOCHS):" in recipe
    assert "# cell 4, line 2: train_loader = torch.utils.data.DataLoader(train, batch_size=128" in recipe


def test_the_published_log_and_summary_are_read_from_the_outputs():
    got = _one("a_inline.ipynb").published
    assert got["params"] == 6_104
    assert got["epochs"][0] == {
        "epoch": 1,
        "test_loss": 0.05,
        "test_correct": 9810,
        "test_total": 10000,
        "test_acc": 98.1,
    }
    assert "cell 6 (torchsummary)" in got["source"] and "cell 8 (test log)" in got["source"]
    assert (
        "Published: 6,104 parameters; test accuracy 99.41, 99.43, 99.44, 99.46 in epochs 12-15 of 15"
        in _one("a_inline.ipynb").code
    )


@pytest.mark.parametrize(
    "text, want",
    [
        (
            "Test set: Average loss: 0.0192, Accuracy: 9943/10000 (99.43%)",
            [{"epoch": 1, "test_loss": 0.0192, "test_correct": 9943, "test_total": 10000, "test_acc": 99.43}],
        ),
        (
            "EPOCH: 14\nTest set: Average loss: 0.0192, Accuracy: 9943/10000 (99.4300%)",
            [{"epoch": 14, "test_loss": 0.0192, "test_correct": 9943, "test_total": 10000, "test_acc": 99.43}],
        ),
        ("Epoch 3\nTest Accuracy: 99.43%", [{"epoch": 3, "test_acc": 99.43}]),
        ("epoch=7 train_loss=0.1 test_acc=99.43", [{"epoch": 7, "test_acc": 99.43}]),
        (
            "Epoch 14/15:Test set final results: Average loss: 0.0249, Accuracy: 9919/10000 (99.19%)",
            [{"epoch": 14, "test_loss": 0.0249, "test_correct": 9919, "test_total": 10000, "test_acc": 99.19}],
        ),
        (
            "Epoch 12/15 | Train: 0.0400 (98.90%) | Test: 0.0183 (99.42%) | LR: 0.000100",
            [{"epoch": 12, "test_loss": 0.0183, "test_acc": 99.42}],
        ),
        (
            "Test Accuracy: 98.00%\nTest Accuracy: 99.00%",
            [{"epoch": 1, "test_acc": 98.0}, {"epoch": 2, "test_acc": 99.0}],
        ),
        (  # the first course template prints `({:.0f}%)`: the counts say the accuracy to the image
            "EPOCH: 0\nTest set: Average loss: 0.0204, Accuracy: 9933/10000 (99%)",
            [{"epoch": 1, "test_loss": 0.0204, "test_correct": 9933, "test_total": 10000, "test_acc": 99.33}],
        ),
        (  # counts and a percentage that disagree are not the same number: what was printed is kept
            "Test set: Average loss: 0.0204, Accuracy: 9933/10000 (97.10%)",
            [{"epoch": 1, "test_loss": 0.0204, "test_correct": 9933, "test_total": 10000, "test_acc": 97.1}],
        ),
    ],
)
def test_the_common_test_log_lines_are_read(text, want):
    assert parse_log(text)[0] == want


def test_a_log_counted_from_zero_is_numbered_from_one_and_said_so():
    records, notes = parse_log("EPOCH: 0\nTest Accuracy: 98.0%\nEPOCH: 1\nTest Accuracy: 99.0%")
    assert [r["epoch"] for r in records] == [1, 2]
    assert notes == ["the log counts epochs from 0; they are numbered from 1 here"]


def test_a_folder_gives_each_trained_model_once():
    found = import_source(NOTEBOOKS / "e_repo")
    assert [i.name for i in found] == ["e_repo_model3"]
    assert "trained by train.ipynb" in found[0].code


def test_the_source_is_never_executed(tmp_path):
    # Run, each cell would write a file, call the shell, exec and raise; read as text, nothing happens.
    marks = Path(GEN.PWNED).parent
    before = sorted(marks.glob(Path(GEN.PWNED).name + "*"))
    found = import_source(NOTEBOOKS / "hostile.ipynb")
    assert sorted(marks.glob(Path(GEN.PWNED).name + "*")) == before == []
    assert not (NOTEBOOKS / "helper.py").exists()  # a %%writefile cell is read, never written
    assert [i.name for i in found] == ["hostile_net"]
    # The class body's open() is copied with the class: the importer says vetting refuses it, and it does.
    assert any("breaks the candidate policy" in n and "'open'" in n for n in found[0].notes)
    path = write(found, tmp_path)[0]
    with pytest.raises(VettingError, match="open"):
        vet(path)
    assert "hostile" not in sys.modules and "helper" not in sys.modules


def test_a_writefile_cell_is_a_module_the_notebook_imports(tmp_path):
    nb = GEN.notebook(
        GEN.code(
            "%%writefile net.py\nimport torch.nn as nn\n\nclass Tiny(nn.Module):\n"
            "    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(784, 10)\n\n"
            "    def forward(self, x):\n        return self.fc(x.flatten(1))\n"
        ),
        GEN.code(
            "import torch.optim as optim\nfrom net import Tiny\nmodel = Tiny()\n"
            "optimizer = optim.Adam(model.parameters(), lr=3e-3)\n"
        ),
    )
    (tmp_path / "w.ipynb").write_text(nb)
    (got,) = import_source(tmp_path / "w.ipynb")
    assert not (tmp_path / "net.py").exists()
    assert got.name == "w_tiny" and "class Tiny(nn.Module)" in got.code
    paths = write([got], tmp_path / "out")
    assert vet(paths[0])[0].recipe["optimizer"] == dict(name="Adam", lr=3e-3)
    assert any("no epoch count is found" in n for n in got.notes)


def test_a_generated_model_builds_to_the_published_count(tmp_path):
    # load_builder imports the file under a bare `models` package (serving the registry itself): the
    # interpreter's `models` modules are restored after, so nothing else in this process sees it.
    from harness.runner.builder import load_builder

    got = _one("a_inline.ipynb")
    write([got], tmp_path)
    saved = {k: v for k, v in sys.modules.items() if k == "models" or k.startswith("models.")}
    try:
        model = load_builder(str(tmp_path / f"{got.name}.py"), got.name)()
    finally:
        for k in [k for k in sys.modules if k == "models" or k.startswith("models.")]:
            del sys.modules[k]
        sys.modules.update(saved)
    assert sum(p.numel() for p in model.parameters()) == got.published["params"] == 6_104


def test_a_constant_computed_from_others_is_written_as_its_value(tmp_path):
    nb = GEN.notebook(
        GEN.code(
            GEN.IMPORTS
            + """
BASE = 0.1
DROP = BASE / 2

class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Sequential(nn.Dropout(DROP), nn.Linear(784, 10))

    def forward(self, x):
        return self.fc(x.flatten(1))

def train_fn():
    pass

model = Small()
optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
"""
        )
    )
    (tmp_path / "train_fn.ipynb").write_text(nb)
    (got,) = import_source(tmp_path / "train_fn.ipynb")
    assert "DROP = 0.05\n" in got.code and "BASE" not in got.code.split('"""')[2]
    assert any("`DROP = BASE / 2` is written as its value, 0.05" in n for n in got.notes)
    assert vet(write([got], tmp_path / "out")[0])[0].name == got.name == "train_fn_small"


def test_a_builder_never_takes_a_name_the_copied_code_defines(tmp_path):
    nb = GEN.notebook(
        GEN.code(
            GEN.IMPORTS
            + """
def clash_small(n):
    return nn.Linear(n, 10)

class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = clash_small(784)

    def forward(self, x):
        return self.fc(x.flatten(1))

model = Small()
optimizer = optim.Adam(model.parameters())
"""
        )
    )
    (tmp_path / "clash.ipynb").write_text(nb)
    (got,) = import_source(tmp_path / "clash.ipynb")
    assert got.name == "clash_small_2" and "def clash_small(n):" in got.code
    assert vet(write([got], tmp_path / "out")[0])[0].name == "clash_small_2"


def test_write_leaves_existing_files_alone(tmp_path):
    got = [_one("d_script/train_script.py")]
    write(got, tmp_path)
    with pytest.raises(FileExistsError, match="train_script_tinynet.py"):
        write(got, tmp_path)
    assert len(write(got, tmp_path, overwrite=True)) == 2


@pytest.mark.parametrize(
    "text, want",
    [
        ("ERA1S7_Net3", "era1s7_net3"),
        ("erav4 session6-scenario 3", "erav4_session6_scenario_3"),
        ("6_model", "m_6_model"),
        ("class", "class_"),
        ("Ünïcode.ipynb", "n_code_ipynb"),
        ("", "m_"),
    ],
)
def test_candidate_names_are_identifiers(text, want):
    assert identifier(text) == want and identifier(text).isidentifier()


# A training cell in the course's style: one epoch loop over `loader`, scored on `scored`, its log saved.
def _training_cell(cls: str, loader: str = "train_loader", scored: str = "test_loader", log: str = "") -> dict:
    return GEN.code(
        f"model = {cls}().to(device)\n"
        "optimizer = optim.SGD(model.parameters(), lr=0.03, momentum=0.9)\n"
        "for epoch in range(1, 16):\n"
        f"    train(model, device, {loader}, optimizer, epoch)\n"
        f"    test(model, device, {scored})\n",
        log,
    )


SMALL = """
class Small(nn.Module):
    def __init__(self, width=8):
        super().__init__()
        self.conv = nn.Conv2d(1, width, 3)
        self.fc = nn.Linear(width * 26 * 26, 10)

    def forward(self, x):
        return F.log_softmax(self.fc(self.conv(x).flatten(1)), dim=1)
"""


@pytest.mark.parametrize(
    "imports, says",
    [
        ("from model import Small", "`Small` is imported from `model`, which is not in the source (no model.py"),
        ("from nets.tiny import *", "`Small` is defined nowhere in the source; it may come from `from nets.tiny"),
    ],
)
def test_a_model_in_a_file_the_source_does_not_hold_is_named_in_the_error(imports, says, tmp_path):
    # A Colab notebook that reads its model from Drive, imported without the folder: the error says which
    # file is missing, so the author can give the folder instead.
    nb = GEN.notebook(
        GEN.code(GEN.IMPORTS + GEN.TRAIN_TEST + f"\n{imports}\ndevice = 'cuda'\n"),
        _training_cell("Small"),
    )
    (tmp_path / "colab.ipynb").write_text(nb)
    why: list[str] = []
    assert import_source(tmp_path / "colab.ipynb", why_none=why) == []
    assert any(says in w and w.startswith("not translated: cell 2, line 2:") for w in why), why
    with pytest.raises(ImportFailed, match="no trained nn.Module found") as e:
        import_to(tmp_path / "colab.ipynb", tmp_path / "out")
    assert says in str(e.value)
    # with the file beside it, the same notebook imports
    (tmp_path / "model.py").write_text(GEN.IMPORTS + SMALL)
    if "model" in imports.split()[1]:
        assert [i.name for i in import_source(tmp_path / "colab.ipynb")] == ["colab_small"]


def test_a_model_imported_from_a_module_renamed_since_names_the_file_that_defines_it(tmp_path):
    # `from model import Small` beside small_model.py: the notebook ran with the file under another name.
    # Which file it meant is not guessed; the one that defines the class is named.
    nb = GEN.notebook(
        GEN.code(GEN.IMPORTS + GEN.TRAIN_TEST + "\nfrom model import Small\ndevice = 'cuda'\n"),
        _training_cell("Small"),
    )
    (tmp_path / "colab.ipynb").write_text(nb)
    (tmp_path / "small_model.py").write_text(GEN.IMPORTS + SMALL)
    (tmp_path / "other.py").write_text(GEN.IMPORTS + SMALL.replace("Small", "Other"))
    why: list[str] = []
    assert import_source(tmp_path / "colab.ipynb", why_none=why) == []
    says = "(no model.py beside it), though small_model.py beside it defines Small: name that file model.py"
    assert any(says in w for w in why), why


def test_a_training_set_split_is_said_and_its_log_marked_as_validation(tmp_path):
    # The course's 50k/10k split: the harness still trains on all 60,000 images (its rule), says so, and
    # marks the published log as validation accuracy, which `judge` prints beside the published numbers.
    accs = [98.0 + 0.1 * i for i in range(15)]
    nb = GEN.notebook(
        GEN.code(GEN.IMPORTS + GEN.TRAIN_TEST + SMALL + "\ndevice = 'cuda'\n"),
        GEN.code(
            "from torch.utils.data import random_split\n"
            "tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])\n"
            "full = datasets.MNIST('../data', train=True, download=True, transform=tf)\n"
            "train_part, val_part = random_split(full, [50000, 10000])\n"
            "train_loader = torch.utils.data.DataLoader(train_part, batch_size=64, shuffle=True)\n"
            "val_loader = torch.utils.data.DataLoader(val_part, batch_size=64)\n"
        ),
        _training_cell("Small", scored="val_loader", log=GEN.log(accs)),
    )
    (tmp_path / "split.ipynb").write_text(nb)
    (got,) = import_source(tmp_path / "split.ipynb")
    assert any(
        n.startswith("not translated: cell 2, line 4: `random_split(full, [50000, 10000])`")
        and "the harness trains on all of them" in n
        for n in got.notes
    ), got.notes
    assert any("the published log is validation accuracy on training images" in n for n in got.notes)
    assert got.published["scored_on"] == "images held out of the training set, not the test set"
    assert "on images held out of the training set" in _published_window(got.published, 3)
    recipe = vet(write([got], tmp_path / "out")[0])[0].recipe
    assert recipe["batch_size"] == 64 and recipe["optimizer"] == dict(name="SGD", lr=0.03, momentum=0.9)


@pytest.mark.parametrize(
    "imports, sets, says",
    [
        # `train`, `test` are the datasets; the functions came from a cell or file the notebook lost
        (
            "",
            "train",
            "the loop calls train(), which the source neither defines nor imports as a function (`train` is ",
        ),
        (
            "from utils import train, test",
            "train_set",
            "the loop calls train(), imported from `utils`, which is not in",
        ),
        ("from helpers import *", "train_set", "it may come from `from helpers import *` (cell 1, line"),
    ],
)
def test_an_epoch_loop_calling_a_function_the_source_lacks_names_it(imports, sets, says, tmp_path):
    # A notebook that ran against training functions it no longer holds: the loop still counts its epochs,
    # and the note names the missing function with its line, not only its symptoms (no epoch count found,
    # a scheduler never stepped).
    nb = GEN.notebook(
        GEN.code(GEN.IMPORTS + SMALL + f"\n{imports}\ndevice = 'cuda'\n"),
        GEN.code(
            "tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])\n"
            f"{sets} = datasets.MNIST('../data', train=True, download=True, transform=tf)\n"
            f"{sets.replace('train', 'test')} = datasets.MNIST('../data', train=False, transform=tf)\n"
            f"train_loader = torch.utils.data.DataLoader({sets}, batch_size=64, shuffle=True)\n"
            f"test_loader = torch.utils.data.DataLoader({sets.replace('train', 'test')}, batch_size=64)\n"
        ),
        GEN.code(
            "model = Small().to(device)\n"
            "optimizer = optim.SGD(model.parameters(), lr=0.03, momentum=0.9)\n"
            "scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=4, gamma=0.1)\n"
            "for epoch in range(1, 13):\n"
            "    train(model, device, train_loader, optimizer, epoch)\n"
            "    test(model, device, test_loader)\n"
        ),
    )
    (tmp_path / "lost.ipynb").write_text(nb)
    (got,) = import_source(tmp_path / "lost.ipynb")
    prefix = "not translated: cell 3, line 5: `train(model, device, train_loader, optimizer, epoch)`: "
    assert any(n.startswith(prefix) and says in n for n in got.notes), got.notes
    assert any(n.startswith("not translated: cell 3, line 6: `test(model, device, test_loader)`") for n in got.notes)
    assert not any("no epoch count is found" in n for n in got.notes), got.notes
    recipe = vet(write([got], tmp_path / "out")[0])[0].recipe
    assert recipe["epochs"] == 12 and recipe["batch_size"] == 64


LOADERS = (
    "tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])\n"
    "train_loader = torch.utils.data.DataLoader(datasets.MNIST('../data', train=True, transform=tf), batch_size=64)\n"
    "test_loader = torch.utils.data.DataLoader(datasets.MNIST('../data', train=False, transform=tf), batch_size=64)\n"
)


@pytest.mark.parametrize(
    "models, cls, said",
    [
        # one forward shared by the BN/GN/LN variants, written in their base class
        (SMALL + "\nclass Variant(Small):\n    def __init__(self):\n        super().__init__(4)\n", "Variant", False),
        # the output block ends in the module spelling
        (
            SMALL.replace("F.log_softmax(self.fc(self.conv(x).flatten(1)), dim=1)", "self.out(self.conv(x))").replace(
                "self.fc = nn.Linear(width * 26 * 26, 10)",
                "self.out = nn.Sequential(nn.Flatten(), nn.Linear(width * 26 * 26, 10), nn.LogSoftmax(dim=1))",
            ),
            "Small",
            False,
        ),
        (
            SMALL.replace("F.log_softmax(self.fc(self.conv(x).flatten(1)), dim=1)", "self.fc(self.conv(x).flatten(1))"),
            "Small",
            True,
        ),
    ],
)
def test_nll_loss_on_a_model_without_log_softmax_is_said_only_when_none_is_there(models, cls, said, tmp_path):
    nb = GEN.notebook(
        GEN.code(GEN.IMPORTS + GEN.TRAIN_TEST + models + "\ndevice = 'cuda'\n"),
        GEN.code(LOADERS),
        _training_cell(cls),
    )
    (tmp_path / "nll.ipynb").write_text(nb)
    (got,) = import_source(tmp_path / "nll.ipynb")
    assert any(f"nll_loss is applied to {cls}, which does not end in log_softmax" in n for n in got.notes) == said


@pytest.mark.parametrize(
    "dropout, said",
    [
        ("F.dropout(self.conv(x), 0.1)", True),  # training= defaults to True: it drops when scored too
        ("F.dropout(self.conv(x), 0.1, training=self.training)", False),
        ("F.dropout2d(self.conv(x), 0.1, self.training)", False),
        ("self.dropout(self.conv(x))", False),  # an nn.Dropout, which follows the mode
    ],
)
def test_a_functional_dropout_that_drops_when_scored_is_said_with_the_fix(dropout, said, tmp_path):
    models = SMALL.replace("self.conv(x).flatten(1)", f"{dropout}.flatten(1)").replace(
        "self.fc = nn", "self.dropout = nn.Dropout(0.1)\n        self.fc = nn"
    )
    source = GEN.code(GEN.IMPORTS + GEN.TRAIN_TEST + models + "\ndevice = 'cuda'\n")
    nb = GEN.notebook(source, GEN.code(LOADERS), _training_cell("Small"))
    (tmp_path / "drop.ipynb").write_text(nb)
    (got,) = import_source(tmp_path / "drop.ipynb")
    found = [n for n in got.notes if "drops in evaluation mode too" in n]
    assert bool(found) == said, got.notes
    if said:
        assert found[0].startswith("not translated: cell 1, line ") and "training=self.training" in found[0]


@pytest.mark.parametrize("dataset, said", [("CIFAR10", True), ("MNIST", False)])
def test_a_source_that_trains_on_another_dataset_says_so(dataset, said, tmp_path):
    # The course's later sessions train on CIFAR10 in the same repository: the candidate is still written,
    # with the line that builds the other dataset.
    nb = GEN.notebook(
        GEN.code(GEN.IMPORTS + GEN.TRAIN_TEST + SMALL + "\ndevice = 'cuda'\n"),
        GEN.code(LOADERS.replace("datasets.MNIST", f"datasets.{dataset}")),
        _training_cell("Small"),
    )
    (tmp_path / "other.ipynb").write_text(nb)
    (got,) = import_source(tmp_path / "other.ipynb")
    says = "not translated: cell 2, line 2: `datasets.CIFAR10('../data', train=True, transform=tf)`: the source trains"
    assert any(n.startswith(says) and "on CIFAR10, not MNIST" in n for n in got.notes) == said, got.notes
    assert said or not any("not MNIST" in n for n in got.notes)


def test_a_split_scored_on_the_test_set_is_no_validation_log(tmp_path):
    nb = GEN.notebook(
        GEN.code(GEN.IMPORTS + GEN.TRAIN_TEST + SMALL + "\ndevice = 'cuda'\n"),
        GEN.code(
            "from torch.utils.data import Subset\n"
            "full = datasets.MNIST('../data', train=True, transform=transforms.ToTensor())\n"
            "train_loader = torch.utils.data.DataLoader(Subset(full, range(20000)), batch_size=32)\n"
            "test_loader = torch.utils.data.DataLoader(datasets.MNIST('../data', train=False))\n"
        ),
        _training_cell("Small", log=GEN.log([99.0] * 15)),
    )
    (tmp_path / "subset.ipynb").write_text(nb)
    (got,) = import_source(tmp_path / "subset.ipynb")
    assert any("`Subset(full, range(20000))`: the source trains on a part" in n for n in got.notes), got.notes
    assert "scored_on" not in got.published and not any("validation accuracy" in n for n in got.notes)


def test_a_model_chosen_by_a_command_line_option_is_its_default(tmp_path):
    # `args = parser.parse_args()` at the top level: the if/elif on args.model takes the option's
    # default, and says so, instead of silently the last branch.
    script = (
        GEN.IMPORTS
        + GEN.TRAIN_TEST
        + SMALL
        + SMALL.replace("Small", "Wide")
        + """
import argparse

parser = argparse.ArgumentParser()
parser.add_argument("--model", default="small", choices=["small", "wide"])
args = parser.parse_args()
device = "cuda"
if args.model == "small":
    model = Small().to(device)
elif args.model == "wide":
    model = Wide().to(device)
optimizer = optim.SGD(model.parameters(), lr=0.03, momentum=0.9)
for epoch in range(1, 16):
    train(model, device, None, optimizer, epoch)
"""
    )
    (tmp_path / "train.py").write_text(script)
    (got,) = import_source(tmp_path / "train.py")
    assert got.name == "train_small"
    assert any("`args.model` is a command-line option: its default `'small'` is taken" in n for n in got.notes)


def test_different_parameter_counts_for_one_class_are_said(tmp_path):
    # The class was edited after its first summary; the later summary, nearest the training, is published.
    nb = GEN.notebook(
        GEN.code(GEN.IMPORTS + GEN.TRAIN_TEST + SMALL + "\ndevice = 'cuda'\n"),
        GEN.code("summary(Small().to(device), input_size=(1, 28, 28))", GEN.summary_table(7_760)),
        GEN.code("model = Small().to(device)\nsummary(model, input_size=(1, 28, 28))", GEN.summary_table(8_052)),
        _training_cell("Small", log=GEN.log([99.0] * 15)),
    )
    (tmp_path / "edited.ipynb").write_text(nb)
    (got,) = import_source(tmp_path / "edited.ipynb")
    assert got.published["params"] == 8_052
    assert any(
        "different parameter counts for Small (7,760 in cell 2, 8,052 in cell 3)" in n and "8,052 (cell 3)" in n
        for n in got.notes
    ), got.notes


# A repository in the ERA V1-V2 S5-S7 style: model.py and utils.py beside the notebooks, the loaders,
# optimizer and scheduler built by helpers of utils.py, the train loader asked for first.
REPO_MODEL = GEN.IMPORTS + SMALL
REPO_UTILS = (
    GEN.IMPORTS
    + GEN.TRAIN_TEST
    + """

def get_transforms(kind):
    if kind == "train":
        return transforms.Compose([transforms.RandomRotation((-7.0, 7.0), fill=0), transforms.ToTensor(),
                                   transforms.Normalize((0.1307,), (0.3081,))])
    return transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])


def get_loader(kind, kwargs):
    if kind == "train":
        data = datasets.MNIST("../data", train=True, download=True, transform=get_transforms("train"))
        return torch.utils.data.DataLoader(data, **kwargs)
    elif kind == "test":
        data = datasets.MNIST("../data", train=False, download=True, transform=get_transforms("test"))
        return torch.utils.data.DataLoader(data, batch_size=1000)


def get_optimizer(model, lr=0.01, momentum=0.9):
    return optim.SGD(model.parameters(), lr=lr, momentum=momentum)


def get_scheduler(optimizer, step_size=6, gamma=0.1):
    return optim.lr_scheduler.StepLR(optimizer, step_size=step_size, gamma=gamma)
"""
)


def _repo_notebook(
    lr: float, step_size: int | None, model: str = "Small", imports: str = "Small", printed: int | None = None
) -> str:
    sched = f"scheduler = get_scheduler(optimizer, step_size={step_size})\n" if step_size else ""
    # the torchsummary cell of a notebook, when it printed a count
    summary = (
        [GEN.code(f"summary({model}(), input_size=(1, 28, 28))", f"Total params: {printed:,}\n")] if printed else []
    )
    return GEN.notebook(
        GEN.code(f"from model import {imports}\nfrom utils import *\ndevice = 'cuda'\n"),
        GEN.code("kwargs = {'batch_size': 128, 'shuffle': True}\ntrain_loader = get_loader('train', kwargs)\n"),
        GEN.code("test_loader = get_loader('test', kwargs)\n"),
        *summary,
        GEN.code(
            f"model = {model}().to(device)\noptimizer = get_optimizer(model, lr={lr})\n{sched}"
            "for epoch in range(1, 16):\n    train(model, device, train_loader, optimizer, epoch)\n"
            "    test(model, device, test_loader)\n" + ("    scheduler.step()\n" if step_size else "")
        ),
    )


def _repo(tmp_path: Path, **notebooks: str) -> Path:
    (tmp_path / "model.py").write_text(REPO_MODEL)
    (tmp_path / "utils.py").write_text(REPO_UTILS)
    for stem, text in notebooks.items():
        (tmp_path / f"{stem}.ipynb").write_text(text)
    return tmp_path


def test_a_helper_called_for_train_and_for_test_gives_the_train_branch(tmp_path):
    # get_loader('train') before get_loader('test'): each call takes its own branch of `if kind == ...`,
    # where the parameter was once the last call site's ('test': no loader, no normalisation).
    (got,) = import_source(_repo(tmp_path, step1=_repo_notebook(0.05, 5)))
    recipe = vet(write([got], tmp_path / "out")[0])[0].recipe
    assert recipe["batch_size"] == 128 and (recipe["mean"], recipe["std"]) == (0.1307, 0.3081)
    assert recipe["augment"] == [dict(name="RandomRotation", degrees=(-7.0, 7.0), fill=0)]
    assert not any("differs between its 2 call sites" in n for n in got.notes), got.notes


def test_a_scheduler_a_helper_returns_is_stepped(tmp_path):
    # `scheduler = get_scheduler(optimizer)` of utils.py, stepped in the notebook: once left out as never built.
    (got,) = import_source(_repo(tmp_path, step1=_repo_notebook(0.05, 5)))
    recipe = vet(write([got], tmp_path / "out")[0])[0].recipe
    assert recipe["optimizer"] == dict(name="SGD", lr=0.05, momentum=0.9)
    assert recipe["schedule"] == dict(name="StepLR", step_size=5, gamma=0.1)


def test_step_notebooks_training_one_class_their_own_way_each_give_a_candidate(tmp_path):
    # step1..step3 train Small of model.py with other recipes: once only step1's was imported. step2 repeats
    # step1's recipe (one candidate); step4 trains a class it never imports (said, not passed over).
    repo = _repo(
        tmp_path,
        step1=_repo_notebook(0.05, None),
        step2=_repo_notebook(0.05, None),
        step3=_repo_notebook(0.1, 4),
        step4=_repo_notebook(0.1, 4, model="Wide"),
    )
    (repo / "model.py").write_text(REPO_MODEL + SMALL.replace("Small", "Wide"))
    skipped: list[str] = []
    found = import_source(repo, skipped=skipped)
    assert [i.name for i in found] == [f"{repo.name}_small", f"{repo.name}_step3_small"]
    assert "trained by step3.ipynb" in found[1].code
    recipes = [vet(p)[0].recipe for p in write(found, tmp_path / "out") if p.suffix == ".py"]
    assert [r["schedule"] for r in recipes] == [None, dict(name="StepLR", step_size=4, gamma=0.1)]
    assert len(skipped) == 1 and skipped[0].startswith("step4.ipynb: no trained model found")
    assert "`Wide` is neither defined nor imported where it is used, though model.py, line" in skipped[0]


# EVA5 S6 style: a Trainer class keeps the loader as `self.train_loader` (read in another method than the
# epoch loop) and a helper builds both loaders, the test one last.
LOADER_HELPER = """
def data_loader(data, batch_size, cuda):
    args = {'shuffle': True, 'batch_size': batch_size}
    if cuda:
        args['pin_memory'] = True
    return torch.utils.data.DataLoader(data, **args)


class Trainer:
    def __init__(self, model, optimizer, loader):
        self.model, self.optimizer, self.train_loader = model, optimizer, loader

    def train(self, epochs):
        for epoch in range(1, epochs + 1):
            self._epoch()

    def _epoch(self):
        for data, target in self.train_loader:
            self.optimizer.zero_grad()
            F.nll_loss(self.model(data), target).backward()
            self.optimizer.step()
"""


def test_a_loader_a_helper_builds_for_a_trainer_class_gives_the_batch_size(tmp_path):
    # once: "no training DataLoader is found", batch_size 128 taken in place of the helper's 64
    tf = "transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])"
    nb = GEN.notebook(
        GEN.code(GEN.IMPORTS + SMALL + LOADER_HELPER),
        GEN.code(
            f"train_set = datasets.MNIST('../data', train=True, download=True, transform={tf})\n"
            f"test_set = datasets.MNIST('../data', train=False, transform={tf})\n"
            "train_loader = data_loader(train_set, 64, True)\ntest_loader = data_loader(test_set, 1000, True)\n"
        ),
        GEN.code(
            "model = Small()\noptimizer = optim.SGD(model.parameters(), lr=0.03, momentum=0.9)\n"
            "Trainer(model, optimizer, train_loader).train(15)\n"
        ),
    )
    (tmp_path / "trainer.ipynb").write_text(nb)
    (got,) = import_source(tmp_path / "trainer.ipynb")
    recipe = vet(write([got], tmp_path / "out")[0])[0].recipe
    assert recipe["batch_size"] == 64 and (recipe["mean"], recipe["std"]) == (0.1307, 0.3081)
    assert not any("no training DataLoader" in n for n in got.notes), got.notes


LIGHTNING = """
import pytorch_lightning as pl


class LitNet(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = Small()

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.nll_loss(self(x), y)

    def configure_optimizers(self):
        return optim.SGD(self.parameters(), lr=0.05, momentum=0.9)


class MNISTData(pl.LightningDataModule):
    def __init__(self, batch_size=64):
        super().__init__()
        self.batch_size = batch_size

    def train_dataloader(self):
        ds = datasets.MNIST('../data', train=True, download=True, transform=transforms.ToTensor())
        return torch.utils.data.DataLoader(ds, batch_size=self.batch_size)


trainer = pl.Trainer(max_epochs=15)
trainer.fit(LitNet(), MNISTData())
"""


def test_a_lightning_data_module_is_never_taken_for_the_model(tmp_path):
    # pl.LightningDataModule ends in "Module": once imported as the model, its loaders copied as layers and
    # the candidate unbuildable. The network the LightningModule wraps is the one model class left.
    (tmp_path / "lit.py").write_text(GEN.IMPORTS + SMALL + LIGHTNING)
    found = import_source(tmp_path / "lit.py")
    assert [i.name for i in found] == ["lit_small"], [i.name for i in found]
    assert "class MNISTData" not in found[0].code


def test_keyword_optimizer_and_abbreviated_metric_names_are_read(tmp_path):
    # `ReduceLROnPlateau(optimizer=optimizer)` was noted as an argument "not data; left out", and
    # `scheduler.step(tst_loss)` as a metric that cannot be read.
    nb = GEN.notebook(
        GEN.code(GEN.IMPORTS + GEN.TRAIN_TEST + SMALL + "\ndevice = 'cuda'\n"),
        GEN.code(
            "tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])\n"
            "train_loader = torch.utils.data.DataLoader(datasets.MNIST('.', train=True, transform=tf), batch_size=64)\n"
            "test_loader = torch.utils.data.DataLoader(datasets.MNIST('.', train=False, transform=tf))\n"
            "model = Small().to(device)\n"
            "optimizer = optim.SGD(params=model.parameters(), lr=0.05, momentum=0.9)\n"
            "scheduler = optim.lr_scheduler.ReduceLROnPlateau(optimizer=optimizer, factor=0.5, patience=1)\n"
            "for epoch in range(1, 16):\n"
            "    train(model, device, train_loader, optimizer, epoch)\n"
            "    tst_loss = test(model, device, test_loader)\n"
            "    scheduler.step(tst_loss)\n"
        ),
    )
    (tmp_path / "kw.ipynb").write_text(nb)
    (got,) = import_source(tmp_path / "kw.ipynb")
    assert not any("not data" in n or "cannot be read" in n for n in got.notes), got.notes
    recipe = vet(write([got], tmp_path / "out")[0])[0].recipe
    assert recipe["optimizer"] == dict(name="SGD", lr=0.05, momentum=0.9)
    assert recipe["schedule"] == dict(name="ReduceLROnPlateau", factor=0.5, patience=1, monitor="test_loss")


def test_a_layer_forward_never_uses_is_said(tmp_path):
    # A block commented out of forward but still built: torchsummary's published count leaves its
    # parameters out, the harness's count does not; said, so the two counts are not compared blindly.
    unused = SMALL.replace(
        "        self.fc = nn.Linear",
        "        self.spare = nn.Sequential(nn.Conv2d(width, width, 3), nn.ReLU())\n"
        "        self.drop = nn.Dropout(0.1)\n        self.fc = nn.Linear",
    ).replace(
        "return F.log_softmax(self.fc(self.conv(x)",
        "# x = self.spare(x)\n        return F.log_softmax(self.fc(self.conv(x)",
    )
    nb = GEN.notebook(GEN.code(GEN.IMPORTS + GEN.TRAIN_TEST + unused + "\ndevice = 'cuda'\n"), _training_cell("Small"))
    (tmp_path / "spare.ipynb").write_text(nb)
    (got,) = import_source(tmp_path / "spare.ipynb")
    said = [n for n in got.notes if "never uses it" in n]
    # only the layer with weights: an unused Dropout changes no count
    assert len(said) == 1 and said[0].startswith("interpreted: cell 1, line ") and "Small.spare" in said[0], got.notes
    # a layer read only through self.children() is not said to be unused
    (tmp_path / "spare.ipynb").write_text(nb.replace("# x = self.spare(x)", "n = len(list(self.children()))"))
    (got,) = import_source(tmp_path / "spare.ipynb")
    assert not any("never uses it" in n for n in got.notes), got.notes


def test_a_repository_imported_under_its_clone_name_with_loaders_in_dicts(tmp_path):
    # `!git clone .../course-s5.git s5` then `from s5 import model, utils`: the package is the folder
    # itself (once "imported from s5.model, which is not in the source"); transforms, datasets and
    # loaders kept in dicts under 'train' and 'test' are read through their keys (once "no training
    # transforms are found").
    (tmp_path / "model.py").write_text(GEN.IMPORTS + SMALL)
    (tmp_path / "utils.py").write_text(GEN.IMPORTS + GEN.TRAIN_TEST)
    nb = GEN.notebook(
        GEN.code("!git clone https://example.org/course-s5.git s5\nfrom s5 import model, utils\n" + GEN.IMPORTS),
        GEN.code(
            "tf = {\n"
            "    'train': transforms.Compose([transforms.RandomRotation((-7.0, 7.0), fill=0),\n"
            "                                 transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))]),\n"
            "    'test': transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))]),\n"
            "}\n"
            "data = {'train': datasets.MNIST('.', train=True, transform=tf['train']),\n"
            "        'test': datasets.MNIST('.', train=False, transform=tf['test'])}\n"
            "loader_args = {'batch_size': 64, 'shuffle': True}\n"
            "loaders = {'train': torch.utils.data.DataLoader(data['train'], **loader_args),\n"
            "           'test': torch.utils.data.DataLoader(data['test'], **loader_args)}\n"
            "device = 'cuda'\n"
            "net = model.Small().to(device)\n"
            "optimizer = optim.SGD(net.parameters(), lr=0.05, momentum=0.9)\n"
            "for epoch in range(1, 16):\n"
            "    utils.train(net, device, loaders['train'], optimizer, epoch)\n"
            "    utils.test(net, device, loaders['test'])\n"
        ),
    )
    (tmp_path / "S5.ipynb").write_text(nb)
    (got,) = import_source(tmp_path)
    assert got.source.startswith("model.py"), got.source
    recipe = vet(write([got], tmp_path / "out")[0])[0].recipe
    assert recipe["batch_size"] == 64 and (recipe["mean"], recipe["std"]) == (0.1307, 0.3081)
    assert recipe["augment"] == [dict(name="RandomRotation", degrees=(-7.0, 7.0), fill=0)]
    assert not any("no training transforms" in n or "not reached" in n for n in got.notes), got.notes


@pytest.mark.parametrize(
    "imports, build, where",
    [("from model import Net", "Net", "cell 1, line "), ("import model as nets", "nets.Net", "cell 2, line 1")],
)
def test_a_class_the_imported_file_no_longer_defines_is_named(imports, build, where, tmp_path):
    # The notebook ran against an older model.py (its class renamed since): once only "cannot be traced
    # to a class of the source"; now the file, the name and the classes it does define.
    (tmp_path / "model.py").write_text(GEN.IMPORTS + SMALL + SMALL.replace("Small", "Wide"))
    nb = GEN.notebook(GEN.code(GEN.IMPORTS + GEN.TRAIN_TEST + f"\n{imports}\ndevice = 'cuda'\n"), _training_cell(build))
    (tmp_path / "old.ipynb").write_text(nb)
    why: list[str] = []
    assert import_source(tmp_path / "old.ipynb", why_none=why) == []
    says = f"`Net` is imported from model.py ({where}"
    assert any(says in w and "which does not define it (its classes: Small, Wide)" in w for w in why), why


def test_a_method_the_model_never_calls_that_needs_a_forbidden_import_is_left_out(tmp_path):
    # `def model_summary(self): summary(self, (1, 28, 28))` beside forward: once copied with a note that
    # the file "will fail when built" (it built; only a call would fail); now left out, and said.
    helper = SMALL.replace(
        "    def forward(self, x):",
        "    def model_summary(self, size):\n        summary(self, size)\n\n"
        "    def shape(self):\n        return self.conv.weight.shape\n\n"
        "    def forward(self, x):",
    )
    (tmp_path / "model.py").write_text(GEN.IMPORTS + "from torchsummary import summary\n" + helper)
    nb = GEN.notebook(
        GEN.code(GEN.IMPORTS + GEN.TRAIN_TEST + "\nfrom model import Small\ndevice = 'cuda'\n"), _training_cell("Small")
    )
    (tmp_path / "s.ipynb").write_text(nb)
    (got,) = import_source(tmp_path)
    assert "def model_summary" not in got.code and "summary(self" not in got.code
    assert "def shape(self):" in got.code  # unused but harmless: kept as written
    said = [n for n in got.notes if "model_summary" in n]
    assert said == [
        "interpreted: model.py, line 15: Small.model_summary, which the model never calls, uses `summary` from "
        "torchsummary.summary, which a candidate may not import: left out"
    ], got.notes
    assert not any("will fail when built" in n for n in got.notes), got.notes
    vet(write([got], tmp_path / "out")[0])


def test_two_notebooks_printing_two_counts_for_one_candidate_are_said(tmp_path):
    # step1 and step2 train Small with one recipe (one candidate), but print different parameter counts:
    # one of them ran an older model.py. Once step2 was passed over silently.
    repo = _repo(
        tmp_path, step1=_repo_notebook(0.05, None, printed=6_054), step2=_repo_notebook(0.05, None, printed=5_854)
    )
    (got,) = import_source(repo)
    assert got.published["params"] == 6_054
    said = [n for n in got.notes if "with the same recipe" in n]
    assert said == [
        "interpreted: step2.ipynb: trains Small with the same recipe and prints 5,854 parameters where step1.ipynb "
        "prints 6,054: one of them ran another version of the class; step1.ipynb's count and log are taken as published"
    ], got.notes
    assert "prints 5,854 parameters" in got.code  # in the file's docstring too
    # the same count in both: nothing to say
    (repo / "step2.ipynb").write_text(_repo_notebook(0.05, None, printed=6_054))
    (got,) = import_source(repo)
    assert not any("with the same recipe" in n for n in got.notes), got.notes


def test_automagic_lines_without_their_percent_sign_are_magics(tmp_path):
    # `pip install torchsummary` in the cell that builds the model: IPython runs it as %pip; once the whole
    # cell was skipped as "does not parse as Python", and its model with it.
    nb = GEN.notebook(
        GEN.code(GEN.IMPORTS + GEN.TRAIN_TEST + SMALL + "\ndevice = 'cuda'\n"),
        GEN.code("pip install torchsummary\ncd /content\nls -la\n" + "".join(_training_cell("Small")["source"])),
    )
    (tmp_path / "auto.ipynb").write_text(nb)
    (got,) = import_source(tmp_path / "auto.ipynb")
    assert not any("does not parse" in n for n in got.notes), got.notes
    assert vet(write([got], tmp_path / "out")[0])[0].recipe["optimizer"] == dict(name="SGD", lr=0.03, momentum=0.9)
    # Python that begins with those words is left as it is
    assert strip_magics("cat = 3\npip in x\nenv.step(a)") == "cat = 3\npip in x\nenv.step(a)"


@pytest.mark.parametrize(
    "build, want",
    [
        ("MODELS = {'small': Small, 'wide': Wide}\nmodel = MODELS['wide']().to(device)", "Wide"),
        (
            "def get_model(name):\n    return {'small': Small, 'wide': Wide}.get(name, Small)()\n"
            "model = get_model('wide').to(device)",
            "Wide",
        ),
        (
            "def get_model(name):\n    return {'small': Small}.get(name, Wide)()\n"
            "model = get_model('other').to(device)",
            "Wide",
        ),
        (
            "def get_model(name='wide'):\n    models = {'small': Small, 'wide': Wide}\n    return models[name]()\n"
            "model = get_model().to(device)",
            "Wide",
        ),
    ],
)
def test_a_model_a_factory_picks_by_key_is_followed(build, want, tmp_path):
    # `{'model1': Model1}.get(name, Model1)()` was not followed (the optimizer's model "cannot be traced",
    # and every class was imported untrained); a constant key picks its entry, a missing one .get's default.
    nb = GEN.notebook(
        GEN.code(GEN.IMPORTS + GEN.TRAIN_TEST + SMALL + SMALL.replace("Small", "Wide") + "\ndevice = 'cuda'\n"),
        GEN.code(
            build + "\noptimizer = optim.SGD(model.parameters(), lr=0.03, momentum=0.9)\n"
            "for epoch in range(1, 16):\n    train(model, device, train_loader, optimizer, epoch)\n"
        ),
    )
    (tmp_path / "factory.ipynb").write_text(nb)
    (got,) = import_source(tmp_path / "factory.ipynb")
    assert f"return {want}()" in got.code and not any("cannot be traced" in n for n in got.notes), got.notes
    assert vet(write([got], tmp_path / "out")[0])[0].recipe["optimizer"] == dict(name="SGD", lr=0.03, momentum=0.9)


TAIL = "[transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))]"
ROT = "transforms.RandomRotation((-7.0, 7.0), fill=0)"


@pytest.mark.parametrize(
    "build, rotates",
    [
        (f"base = {TAIL}\naug = [{ROT}]\ntrain_tf = transforms.Compose(aug + base)", True),
        (f"tf = [{ROT}] if AUGMENT else []\ntf = tf + {TAIL}\ntrain_tf = transforms.Compose(tf)", True),
        (f"tf = []\nif AUGMENT:\n    tf += [{ROT}]\ntf += {TAIL}\ntrain_tf = transforms.Compose(tf)", True),
        (f"tf = []\nif not AUGMENT:\n    tf += [{ROT}]\ntf += {TAIL}\ntrain_tf = transforms.Compose(tf)", False),
        (f"tf = []\nif AUGMENT:\n    tf.append({ROT})\ntf.extend({TAIL})\ntrain_tf = transforms.Compose(tf)", True),
        (f"tf = {TAIL}\ntf.insert(0, {ROT})\ntrain_tf = transforms.Compose(tf)", True),
        (
            f"def get_tf(train=True):\n    t = {TAIL}\n    if train:\n        t = [{ROT}] + t\n"
            "    return transforms.Compose(t)\ntrain_tf = get_tf(True)",
            True,
        ),
    ],
)
def test_a_transform_list_built_in_steps_is_read(build, rotates, tmp_path):
    # Lists joined with + or += under an `if`, or grown by append/extend/insert: once "its list of transforms
    # cannot be read" (mean 0, std 1, no augmentation), or for append silently the empty list it started as.
    nb = GEN.notebook(
        GEN.code(GEN.IMPORTS + GEN.TRAIN_TEST + SMALL + "\ndevice = 'cuda'\nAUGMENT = True\n"),
        GEN.code(
            build
            + "\ntrain_loader = torch.utils.data.DataLoader(datasets.MNIST('.', transform=train_tf), batch_size=64)\n"
        ),
        _training_cell("Small"),
    )
    (tmp_path / "steps.ipynb").write_text(nb)
    (got,) = import_source(tmp_path / "steps.ipynb")
    recipe = vet(write([got], tmp_path / "out")[0])[0].recipe
    assert (recipe["mean"], recipe["std"]) == (0.1307, 0.3081), got.notes
    assert recipe["augment"] == ([dict(name="RandomRotation", degrees=(-7.0, 7.0), fill=0)] if rotates else [])


def test_a_transform_list_a_loop_grows_is_not_guessed(tmp_path):
    nb = GEN.notebook(
        GEN.code(GEN.IMPORTS + GEN.TRAIN_TEST + SMALL + "\ndevice = 'cuda'\n"),
        GEN.code(
            f"tf = []\nfor t in [{ROT}] + {TAIL}:\n    tf.append(t)\ntrain_tf = transforms.Compose(tf)\n"
            "train_loader = torch.utils.data.DataLoader(datasets.MNIST('.', transform=train_tf), batch_size=64)\n"
        ),
        _training_cell("Small"),
    )
    (tmp_path / "loop.ipynb").write_text(nb)
    (got,) = import_source(tmp_path / "loop.ipynb")
    assert any("`transforms.Compose(tf)`: its list of transforms cannot be read" in n for n in got.notes), got.notes


LIT = """
import pytorch_lightning as pl


class Lit(pl.LightningModule):
    def __init__(self, lr=0.05):
        super().__init__()
        self.lr = lr
        self.net = Small()

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.nll_loss(self(x), y)

    def configure_optimizers(self):
        optimizer = torch.optim.SGD(self.parameters(), lr=self.lr, momentum=0.9)
        return [optimizer], [torch.optim.lr_scheduler.StepLR(optimizer, step_size=5, gamma=0.1)]


tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
train_loader = torch.utils.data.DataLoader(datasets.MNIST(".", train=True, transform=tf), batch_size=64)
trainer = pl.Trainer(max_epochs=EPOCHS)
trainer.fit(Lit(lr=0.03), train_loader)
"""


@pytest.mark.parametrize("epochs, want", [(12, 12), (20, 15)])
def test_a_lightning_trainer_gives_the_epoch_count(epochs, want, tmp_path):
    # `pl.Trainer(max_epochs=12)` runs the loop the script does not write: once "no epoch count is found"
    # and the rule's 15 taken.
    (tmp_path / "lit.py").write_text(GEN.IMPORTS + SMALL + LIT.replace("EPOCHS", str(epochs)))
    (got,) = import_source(tmp_path / "lit.py")
    recipe = vet(write([got], tmp_path / "out")[0])[0].recipe
    assert recipe["epochs"] == want and not any("no epoch count" in n for n in got.notes), got.notes
    assert recipe["optimizer"] == dict(name="SGD", lr=0.03, momentum=0.9)
    assert recipe["schedule"] == dict(name="StepLR", step_size=5, gamma=0.1)
    assert f"epochs={want},  # lit.py, line " in got.code and "pl.Trainer(max_epochs=" in got.code


def test_a_lightning_module_with_its_own_layers_is_named_in_the_error(tmp_path):
    own = LIT.replace("        self.net = Small()\n", "        self.conv = nn.Conv2d(1, 8, 3)\n").replace(
        "return self.net(x)", "return self.conv(x).mean((2, 3))"
    )
    (tmp_path / "lit.py").write_text(GEN.IMPORTS + own.replace("EPOCHS", "12"))
    with pytest.raises(ImportFailed, match="`Lit` is a LightningModule with its own layers"):
        import_to(tmp_path / "lit.py", tmp_path / "out")


GROWING_SETTINGS = {
    # Each step within the old limits (an exponent of 64 at most, a sequence times 4,096 at most), each
    # chain a few MB here, and a few lines more would make it a number of 2**30 bits or a string of 68 GB.
    "powers of powers": "A = 2**64\nB = A**64\nC = B**64\nEPOCHS = C**64",
    "repeats of repeats": "s = 'x' * 4096\nEPOCHS = s * 4096",
    "doublings": "s = 'x' * 4096\n" + "s = s + s\n" * 12 + "EPOCHS = s",
}


@pytest.mark.parametrize("settings", GROWING_SETTINGS.values(), ids=GROWING_SETTINGS.keys())
def test_values_that_grow_without_bound_are_not_computed(settings, tmp_path):
    # The importer computes the arithmetic it reads; hostile text must not make it build a value that
    # takes minutes or all memory. The epoch count is then unknown, and said so.
    nb = GEN.notebook(
        GEN.code(GEN.IMPORTS + GEN.TRAIN_TEST + SMALL + "\ndevice = 'cuda'\n" + settings),
        GEN.code(
            "model = Small().to(device)\noptimizer = optim.SGD(model.parameters(), lr=0.03, momentum=0.9)\n"
            "for epoch in range(EPOCHS):\n    train(model, device, train_loader, optimizer, epoch)\n"
        ),
    )
    (tmp_path / "grow.ipynb").write_text(nb)
    (got,) = import_source(tmp_path / "grow.ipynb")
    said = [n for n in got.notes if "the epoch count of `for ... in range(EPOCHS)` cannot be read" in n]
    assert said and "would be larger than any setting: not computed" in said[0], got.notes


@pytest.mark.parametrize(
    "text, why", [("x = (\n", "line 1: '(' was never closed"), ("x = " + "-" * 30000 + "1\n", "nested deeper")]
)
def test_a_script_that_does_not_parse_says_why_when_nothing_is_found(text, why, tmp_path):
    (tmp_path / "train.py").write_text(text + GEN.IMPORTS + SMALL)
    with pytest.raises(ImportFailed, match=f"train.py: does not parse as Python \\({re.escape(why)}"):
        import_to(tmp_path / "train.py", tmp_path / "out")


KWARGS_LOADER = """
def build_mnist(train, transform, **kwargs):
    ds = datasets.MNIST('../data', train=train, download=True, transform=transform)
    return ds, torch.utils.data.DataLoader(ds, **kwargs)
"""


@pytest.mark.parametrize(
    "call",
    [
        "build_mnist(True, tf, **kwargs)",
        "build_mnist(True, tf, batch_size=256, shuffle=True)",
        "build_mnist(transform=tf, train=True, **{'batch_size': 256})",
    ],
)
def test_keywords_a_helper_passes_on_as_its_kwargs_give_the_batch_size(call, tmp_path):
    # `DataLoader(ds, **kwargs)` in a helper taking `**kwargs`: once read as no batch_size (torch's 1)
    tf = "transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])"
    nb = GEN.notebook(
        GEN.code(GEN.IMPORTS + GEN.TRAIN_TEST + SMALL + KWARGS_LOADER),
        GEN.code(
            f"tf = {tf}\nkwargs = {{'batch_size': 256, 'shuffle': True}}\n"
            f"train_set, train_loader = {call}\ntest_set, test_loader = build_mnist(False, tf, batch_size=1000)\n"
        ),
        GEN.code(
            "model = Small()\noptimizer = optim.SGD(model.parameters(), lr=0.03, momentum=0.9)\n"
            "for epoch in range(1, 16):\n    train(model, 'cpu', train_loader, optimizer, epoch)\n"
            "    test(model, 'cpu', test_loader)\n"
        ),
    )
    (tmp_path / "kw.ipynb").write_text(nb)
    (got,) = import_source(tmp_path / "kw.ipynb")
    recipe = vet(write([got], tmp_path / "out")[0])[0].recipe
    assert recipe["batch_size"] == 256 and (recipe["mean"], recipe["std"]) == (0.1307, 0.3081)
    assert not any("sets no batch_size" in n for n in got.notes), got.notes


SCHEDULED_TRAIN = """
def train(model, loader, optimizer, scheduler):
    model.train()
    for data, target in loader:
        optimizer.zero_grad()
        F.nll_loss(model(data), target).backward()
        optimizer.step()
        scheduler.step()


def experiment_a(epochs):
    model = Small(width=6)
    optimizer = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    scheduler = optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.05, epochs=epochs, steps_per_epoch=len(train_loader))
    for epoch in range(epochs):
        train(model, train_loader, optimizer, scheduler)


def experiment_b(epochs):
    model = Small(width=4)
    optimizer = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    scheduler = optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.1, epochs=epochs, steps_per_epoch=len(train_loader))
    for epoch in range(epochs):
        train(model, train_loader, optimizer, scheduler)
"""


def test_a_scheduler_each_experiment_passes_to_one_training_function_is_stepped(tmp_path):
    # train(..., scheduler) called by two experiments, each with its own scheduler: the parameter once
    # stood for the last call's only, and experiment_a's OneCycleLR was left out as never stepped
    tf = "transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])"
    nb = GEN.notebook(
        GEN.code(GEN.IMPORTS + SMALL),
        GEN.code(
            f"train_set = datasets.MNIST('../data', train=True, download=True, transform={tf})\n"
            "train_loader = torch.utils.data.DataLoader(train_set, batch_size=128, shuffle=True)\n"
        ),
        GEN.code(SCHEDULED_TRAIN),
        GEN.code("experiment_a(15)\nexperiment_b(15)\n"),
    )
    (tmp_path / "exp.ipynb").write_text(nb)
    found = import_source(tmp_path / "exp.ipynb")
    assert [i.code.count("OneCycleLR") > 0 for i in found] == [True, True]
    recipes = [vet(p)[0].recipe for p in write(found, tmp_path / "out") if p.suffix == ".py"]
    assert [(r["optimizer"]["lr"], r["schedule"]) for r in recipes] == [
        (0.05, dict(name="OneCycleLR", interval="step")),
        (0.1, dict(name="OneCycleLR", interval="step")),
    ]
    assert not any("never stepped" in n for i in found for n in i.notes)


@pytest.mark.parametrize("scored", ["train_set", "test_set"])
def test_a_test_loader_over_the_training_set_marks_the_published_log(scored, tmp_path):
    # `test_loader = DataLoader(train_data, ...)`: the log prints n/60000, accuracy on the images trained on.
    # Once the last loader over training images in the loop was taken for training (its batch size too).
    tf = "transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])"
    total = 60_000 if scored == "train_set" else 10_000
    right = [total - 600 + 10 * e for e in range(15)]
    log = "".join(f"Test set: Average loss: 0.0500, Accuracy: {n}/{total} ({100 * n / total:.2f}%)\n" for n in right)
    nb = GEN.notebook(
        GEN.code(GEN.IMPORTS + GEN.TRAIN_TEST + SMALL),
        GEN.code(
            f"train_set = datasets.MNIST('../data', train=True, download=True, transform={tf})\n"
            f"test_set = datasets.MNIST('../data', train=False, download=True, transform={tf})\n"
            f"train_loader = torch.utils.data.DataLoader(train_set, batch_size=64, shuffle=True)\n"
            f"test_loader = torch.utils.data.DataLoader({scored}, batch_size=1000)\n"
        ),
        GEN.code(
            "model = Small()\noptimizer = optim.SGD(model.parameters(), lr=0.03, momentum=0.9)\n"
            "for epoch in range(1, 16):\n    train(model, 'cpu', train_loader, optimizer, epoch)\n"
            "    test(model, 'cpu', test_loader)\n",
            log,
        ),
    )
    (tmp_path / "scored.ipynb").write_text(nb)
    (got,) = import_source(tmp_path / "scored.ipynb")
    recipe = vet(write([got], tmp_path / "out")[0])[0].recipe
    assert recipe["batch_size"] == 64
    said = [n for n in got.notes if "reads MNIST's training set" in n]
    if scored == "train_set":
        assert got.published["scored_on"] == "the training images, not the test set"
        assert said and said[0].startswith("interpreted: cell 2, line 4: `test_loader` = "), got.notes
    else:
        assert "scored_on" not in got.published and not said


def test_a_cell_that_does_not_parse_is_said_of_its_own_notebook_only(tmp_path):
    # a folder: copy.ipynb's training cell has a typo. Its "cell 4 does not parse" was once a note of every
    # candidate of the folder (read as the candidate's own cell 4) and left out of copy.ipynb's skipped line.
    broken = json.loads(_repo_notebook(0.05, None))
    broken["cells"][3]["source"] = ["model = Small().to(device))\n"] + broken["cells"][3]["source"][1:]
    repo = _repo(tmp_path, good=_repo_notebook(0.05, None), copy=json.dumps(broken))
    skipped: list[str] = []
    (got,) = import_source(repo, skipped=skipped)
    assert "trained by good.ipynb" in got.code
    assert not any("does not parse" in n for n in got.notes), got.notes
    assert skipped == [
        "copy.ipynb: no trained model found (not translated: cell 4: does not parse as Python even without its "
        "IPython magics: skipped)"
    ]


FIT_SCRIPT = """
from pkg.nets import Small


def fit(epochs=2, batch_size=16):
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    data = datasets.MNIST("data", train=True, download=True, transform=tf)
    loader = torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=True)
    model = Small()
    optimizer = optim.Adam(model.parameters(), lr=0.002)
    for epoch in range(epochs):
        for images, labels in loader:
            optimizer.zero_grad()
            F.nll_loss(model(images), labels).backward()
            optimizer.step()
    return model
"""


@pytest.mark.parametrize(
    "calls, epochs, batch, says",
    [
        # a test calls the entry point with its own settings: the file sorts after pkg/, once its call was taken
        (
            {"pkg/fit.py": 'if __name__ == "__main__":\n    fit(epochs=12)\n', "tests/test_fit.py": "fit(1, 256)\n"},
            12,
            16,
            "tests/test_fit.py, line 3: `batch_size` of fit() is 256 in the test files' calls, which are not the "
            "author's run; 16, of pkg/fit.py, line 24, is taken",
        ),
        # a later call that leaves batch_size out runs with the default: once only the call passing it counted
        (
            {"pkg/fit.py": "fit(epochs=3, batch_size=64)\nfit(epochs=12)\n"},
            12,
            16,
            "pkg/fit.py, line 24: `batch_size` of fit() differs between its 2 call sites (16, 64); the last call "
            "site's is taken",
        ),
    ],
)
def test_the_author_s_call_of_the_entry_point_gives_its_arguments(calls, epochs, batch, says, tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "pkg" / "nets.py").write_text(GEN.IMPORTS + SMALL)
    (tmp_path / "pkg" / "fit.py").write_text(GEN.IMPORTS + FIT_SCRIPT + calls["pkg/fit.py"])
    for rel, text in calls.items():
        if rel.startswith("tests/"):
            (tmp_path / rel).write_text("from pkg.fit import fit\n\n" + text)
    (got,) = import_source(tmp_path)
    recipe = vet(write([got], tmp_path / "out")[0])[0].recipe
    assert (recipe["epochs"], recipe["batch_size"]) == (epochs, batch), got.notes
    assert f"interpreted: {says}" in got.notes, got.notes


ONE_PASS = """
from pkg.nets import Small


def run():
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    data = datasets.MNIST("data", train=True, download=True, transform=tf)
    loader = torch.utils.data.DataLoader(data, batch_size=64, shuffle=True)
    model = Small()
    optimizer = optim.Adam(model.parameters(), lr=0.002)
    model.train()
    for images, labels in loader:
        optimizer.zero_grad()
        F.nll_loss(model(images), labels).backward()
        optimizer.step()
    return model
"""


@pytest.mark.parametrize(
    "runs, epochs, says",
    [
        # one call, from the script's own __main__ block and from another script: one pass (once 15, "no epoch count")
        (
            'if __name__ == "__main__":\n    run()\n',
            1,
            "interpreted: pkg/train.py, line 18: the batch loop runs once, in no epoch loop: one pass over the "
            "training set, epochs=1",
        ),
        # called twice in a row: how many passes the author meant is not guessed
        ("run()\nrun()\n", 15, "not translated: no epoch count is found: 15, the rule's limit, is used"),
    ],
)
def test_a_single_pass_over_the_loader_is_one_epoch(runs, epochs, says, tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "pkg" / "nets.py").write_text(GEN.IMPORTS + SMALL)
    (tmp_path / "pkg" / "train.py").write_text(GEN.IMPORTS + ONE_PASS + runs)
    (tmp_path / "main.py").write_text("from pkg.train import run\n\nrun()\n")
    (tmp_path / "tests" / "test_run.py").write_text("from pkg.train import run\n\n\ndef test_run():\n    run()\n")
    (got,) = import_source(tmp_path)
    recipe = vet(write([got], tmp_path / "out")[0])[0].recipe
    assert recipe["epochs"] == epochs, got.notes
    assert says in got.notes, got.notes


@pytest.mark.parametrize(
    "optimizer, cycle, want",
    [
        (
            "optim.SGD(model.parameters(), lr=0.001, momentum=0.9)",
            "max_lr=0.1, div_factor=10",
            dict(name="SGD", lr=0.01, momentum=0.95),
        ),
        ("optim.Adam(model.parameters(), lr=0.001)", "max_lr=0.1", dict(name="Adam", lr=0.004, betas=(0.95, 0.999))),
    ],
)
def test_a_one_cycle_sized_in_batches_but_stepped_per_epoch_is_its_starting_rate(optimizer, cycle, want, tmp_path):
    # OneCycleLR over epochs x len(train_loader) steps, stepped once after each train(): the author's rate never
    # left max_lr/div_factor. It was once written as the whole cycle stepped per epoch (interval="epoch").
    nb = GEN.notebook(
        GEN.code(GEN.IMPORTS + GEN.TRAIN_TEST + SMALL),
        GEN.code(
            "tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])\n"
            "train_loader = torch.utils.data.DataLoader(datasets.MNIST('.', train=True, transform=tf), batch_size=64)\n"
            "test_loader = torch.utils.data.DataLoader(datasets.MNIST('.', train=False, transform=tf), batch_size=5)\n"
        ),
        GEN.code(
            f"model = Small()\noptimizer = {optimizer}\n"
            f"scheduler = optim.lr_scheduler.OneCycleLR(optimizer, {cycle}, epochs=12, "
            "steps_per_epoch=len(train_loader))\n"
            "for epoch in range(12):\n    train(model, 'cpu', train_loader, optimizer, epoch)\n"
            "    scheduler.step()\n    test(model, 'cpu', test_loader)\n"
        ),
    )
    (tmp_path / "cycle.ipynb").write_text(nb)
    (got,) = import_source(tmp_path / "cycle.ipynb")
    recipe = vet(write([got], tmp_path / "out")[0])[0].recipe
    opt = dict(recipe["optimizer"])
    assert opt.pop("lr") == pytest.approx(want.pop("lr")) and opt == want, got.notes
    assert recipe["schedule"] is None
    said = [n for n in got.notes if "OneCycleLR" in n]
    assert len(said) == 1 and "steps it once per epoch" in said[0] and "a constant rate" in said[0], got.notes


def test_a_method_using_builtins_is_kept_and_one_using_a_forbidden_builtin_is_left_out(tmp_path):
    # `sum(p.numel() for p in self.parameters())` in a method forward never calls was once left out as using
    # "`sum` from sum, which a candidate may not import"; a builtin vetting refuses (open) still is
    helper = SMALL.replace(
        "    def forward(self, x):",
        "    def weights(self):\n        return sum(p.numel() for p in self.parameters())\n\n"
        "    def normed(self):\n        return any(isinstance(m, nn.BatchNorm2d) for m in self.modules())\n\n"
        "    def dump(self, path):\n        open(path, 'w').write(str(self))\n\n"
        "    def forward(self, x):",
    )
    (tmp_path / "model.py").write_text(GEN.IMPORTS + helper)
    nb = GEN.notebook(GEN.code(GEN.IMPORTS + GEN.TRAIN_TEST + "\nfrom model import Small\n"), _training_cell("Small"))
    (tmp_path / "s.ipynb").write_text(nb)
    (got,) = import_source(tmp_path)
    assert "def weights(self):" in got.code and "def normed(self):" in got.code and "def dump" not in got.code
    said = [n for n in got.notes if "Small." in n]
    assert said == [
        "interpreted: model.py, line 20: Small.dump, which the model never calls, uses `open`, which a candidate "
        "may not use: left out"
    ], got.notes
    vet(write([got], tmp_path / "out")[0])


def test_a_second_source_whose_candidate_takes_the_same_name_never_replaces_the_first(tmp_path, capsys):
    # two clones of the same course folder name (erav3) in different places: the second import once
    # overwrote the first's file with no message
    first, second, out = tmp_path / "a" / "erav3", tmp_path / "b" / "erav3", tmp_path / "models"
    for folder, lr in ((first, 0.05), (second, 0.02)):
        folder.mkdir(parents=True)
        _repo(folder, step=_repo_notebook(lr, None))
    (mine,) = import_to(first, out)
    kept = (out / "erav3_small.py").read_text()
    (again,) = import_to(first, out)  # the same source again: its own file, replaced
    assert again.name == mine.name == "erav3_small"
    (other,) = import_to(second, out)
    assert other.name == "erav3_small_2" and (out / "erav3_small.py").read_text() == kept
    assert (
        "interpreted: `erav3_small` is already in the output folder, not imported from this source: this one is "
        "named `erav3_small_2`" in other.notes
    )
    assert "-> " + str(out / "erav3_small_2.py") in capsys.readouterr().out
    assert vet(out / "erav3_small_2.py")[0].recipe["optimizer"]["lr"] == 0.02
    # a file no import wrote (by hand, or before imports were recorded) is never replaced either
    (tmp_path / "hand").mkdir()
    (tmp_path / "hand" / "erav3_small.py").write_text("# written by hand\n")
    (got,) = import_to(first, tmp_path / "hand")
    assert got.name == "erav3_small_2" and (tmp_path / "hand" / "erav3_small.py").read_text() == "# written by hand\n"


@pytest.mark.parametrize("test_tf", ["tf", "plain"])
def test_a_test_set_built_with_the_training_augmentation_marks_the_published_log(test_tf, tmp_path):
    # one `tf` with RandomAffine for both sets: the log the author published scores augmented test images.
    # It was once taken for test accuracy like any other.
    log = "".join(
        f"Test set: Average loss: 0.0500, Accuracy: {9800 + e}/10000 ({(9800 + e) / 100:.2f}%)\n" for e in range(15)
    )
    nb = GEN.notebook(
        GEN.code(GEN.IMPORTS + GEN.TRAIN_TEST + SMALL),
        GEN.code(
            "affine = transforms.RandomAffine(degrees=8, translate=(0.1, 0.1))\n"
            "tf = transforms.Compose([affine, transforms.ToTensor()])\n"
            "plain = transforms.Compose([transforms.ToTensor()])\n"
            "train_loader = torch.utils.data.DataLoader(datasets.MNIST('.', train=True, transform=tf), batch_size=64)\n"
            f"test_loader = torch.utils.data.DataLoader(datasets.MNIST('.', train=False, transform={test_tf}))\n"
        ),
        GEN.code(
            "model = Small()\noptimizer = optim.SGD(model.parameters(), lr=0.03, momentum=0.9)\n"
            "for epoch in range(1, 16):\n    train(model, 'cpu', train_loader, optimizer, epoch)\n"
            "    test(model, 'cpu', test_loader)\n",
            log,
        ),
    )
    (tmp_path / "aug.ipynb").write_text(nb)
    (got,) = import_source(tmp_path / "aug.ipynb")
    said = [n for n in got.notes if "augmented test images" in n]
    if test_tf == "tf":
        assert got.published["scored_on"] == "test images augmented as for training, not the test set as it is"
        assert len(said) == 1 and said[0].startswith("interpreted: cell 2, line 5: `test_loader` = "), got.notes
        assert said[0].endswith(
            "which the epoch loop scores, applies RandomAffine to the test images: the published log is accuracy "
            "on augmented test images, not on the test set as it is"
        )
        assert "on test images augmented as for training" in _published_window(got.published, 3)
    else:
        assert "scored_on" not in got.published and not said


@pytest.mark.parametrize(
    "crop, nothing",
    [
        ("transforms.RandomCrop(28)", True),
        ("transforms.RandomCrop((28, 28), padding=0)", True),
        ("transforms.Pad(2), transforms.RandomCrop(28)", False),
    ],
)
def test_a_crop_of_the_whole_image_is_said_to_do_nothing(crop, nothing, tmp_path):
    # RandomCrop(28) of a 28x28 image was "not translated: not an op"; after Pad(2) it is a random shift
    tf = f"transforms.Compose([{crop}, transforms.RandomRotation(5), transforms.ToTensor()])"
    nb = GEN.notebook(
        GEN.code(GEN.IMPORTS + GEN.TRAIN_TEST + SMALL),
        GEN.code(f"train_loader = torch.utils.data.DataLoader(datasets.MNIST('.', train=True, transform={tf}))\n"),
        GEN.code(
            "model = Small()\noptimizer = optim.SGD(model.parameters(), lr=0.03)\n"
            "for epoch in range(1, 16):\n    train(model, 'cpu', train_loader, optimizer, epoch)\n"
        ),
    )
    (tmp_path / "crop.ipynb").write_text(nb)
    (got,) = import_source(tmp_path / "crop.ipynb")
    recipe = vet(write([got], tmp_path / "out")[0])[0].recipe
    assert [op["name"] for op in recipe["augment"]] == ["RandomRotation"]
    said = [n for n in got.notes if "RandomCrop" in n]
    assert len(said) == 1 and ("it does nothing, and is left out" in said[0]) == nothing, got.notes
    assert said[0].startswith("interpreted" if nothing else "not translated"), got.notes


SOURCE_DATASETS = """
class Shifted(datasets.MNIST):
    def __getitem__(self, index):
        image, label = super().__getitem__(index)
        return torch.roll(image, shifts=int(torch.randint(-2, 3, ())), dims=-1), label


class WithTransform(torch.utils.data.Dataset):
    def __init__(self, inner, transform=None):
        self.inner, self.transform = inner, transform

    def __len__(self):
        return len(self.inner)

    def __getitem__(self, index):
        image, label = self.inner[index]
        return self.transform(image), label


rotate = transforms.Compose([transforms.RandomRotation(6), transforms.ToTensor()])
"""


@pytest.mark.parametrize(
    "dataset, cls, augment, split",
    [
        # an MNIST subclass that augments in __getitem__: once augment=[] without a word
        ("Shifted('.', train=True, transform=transforms.ToTensor())", "Shifted", [], False),
        # a wrapper given a split and the transform positionally: once neither the split nor the rotation was seen
        (
            "WithTransform(torch.utils.data.random_split(datasets.MNIST('.', train=True), [55000, 5000])[0], rotate)",
            "WithTransform",
            ["RandomRotation"],
            True,
        ),
    ],
)
def test_a_dataset_class_of_the_source_is_said_and_followed_to_its_split(dataset, cls, augment, split, tmp_path):
    nb = GEN.notebook(
        GEN.code(GEN.IMPORTS + GEN.TRAIN_TEST + SMALL + SOURCE_DATASETS),
        GEN.code(f"train_loader = torch.utils.data.DataLoader({dataset}, batch_size=32)\n"),
        GEN.code(
            "model = Small()\noptimizer = optim.SGD(model.parameters(), lr=0.03)\n"
            "for epoch in range(1, 16):\n    train(model, 'cpu', train_loader, optimizer, epoch)\n"
        ),
    )
    (tmp_path / "ds.ipynb").write_text(nb)
    (got,) = import_source(tmp_path / "ds.ipynb")
    recipe = vet(write([got], tmp_path / "out")[0])[0].recipe
    assert [op["name"] for op in recipe["augment"]] == augment, got.notes
    said = [n for n in got.notes if f"pass through {cls}.__getitem__" in n]
    assert len(said) == 1 and said[0].startswith("not translated: cell 1, line "), got.notes
    assert any("the source trains on a part of the 60,000 training images" in n for n in got.notes) == split


def test_a_validation_split_under_a_wrapper_marks_the_published_log(tmp_path):
    # both parts of the split wrapped with their own transform, the held-out one scored each epoch
    nb = GEN.notebook(
        GEN.code(GEN.IMPORTS + GEN.TRAIN_TEST + SMALL + SOURCE_DATASETS),
        GEN.code(
            "fit_part, held_part = torch.utils.data.random_split(datasets.MNIST('.', train=True), [55000, 5000])\n"
            "train_loader = torch.utils.data.DataLoader(WithTransform(fit_part, rotate), batch_size=32)\n"
            "val_loader = torch.utils.data.DataLoader(WithTransform(held_part, transforms.ToTensor()))\n"
        ),
        GEN.code(
            "model = Small()\noptimizer = optim.SGD(model.parameters(), lr=0.03)\n"
            "for epoch in range(1, 16):\n    train(model, 'cpu', train_loader, optimizer, epoch)\n"
            "    test(model, 'cpu', val_loader)\n"
        ),
    )
    (tmp_path / "val.ipynb").write_text(nb)
    (got,) = import_source(tmp_path / "val.ipynb")
    assert any("the published log is validation accuracy" in n for n in got.notes), got.notes


@pytest.mark.parametrize(
    "printed, batch",
    [
        ("CUDA Available? False\n", 64),
        ("Using device: cpu\n", 64),
        ("CUDA Available? True\n", 128),
        ("", 128),
        ("device: cpu\ntensor([1.], device='cuda:0')\n", 128),  # one output says a GPU was used
    ],
)
def test_the_loaders_cpu_branch_is_taken_where_the_saved_outputs_show_a_run_without_a_gpu(tmp_path, printed, batch):
    # the course template's `dict(batch_size=128, ...) if cuda else dict(batch_size=64)` was once read with
    # the CUDA branch whatever the run printed, so a CPU run's batch of 64 was written as 128
    nb = GEN.notebook(
        GEN.code(GEN.IMPORTS + GEN.TRAIN_TEST + SMALL),
        GEN.code(
            "cuda = torch.cuda.is_available()\nprint('CUDA Available?', cuda)\n"
            "device = torch.device('cuda' if cuda else 'cpu')\n"
            "args = dict(shuffle=True, batch_size=128, num_workers=4, pin_memory=True) if cuda "
            "else dict(shuffle=True, batch_size=64)\n"
            "tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])\n"
            "train_loader = torch.utils.data.DataLoader(datasets.MNIST('.', train=True, transform=tf), **args)\n"
            "test_loader = torch.utils.data.DataLoader(datasets.MNIST('.', train=False, transform=tf), **args)\n",
            *([printed] if printed else []),
        ),
        _training_cell("Small"),
    )
    (tmp_path / "cpu.ipynb").write_text(nb)
    (got,) = import_source(tmp_path / "cpu.ipynb")
    assert vet(write([got], tmp_path / "out")[0])[0].recipe["batch_size"] == batch, got.notes
    said = [n for n in got.notes if "batch_size=64)` is taken" in n]
    if batch == 64:
        assert len(said) == 1 and f"cell 2 printed `{printed.strip()}`" in said[0], got.notes
        assert "without a GPU" in said[0]
    else:
        assert not said and any("the CUDA branch (`dict(shuffle=True, batch_size=128" in n for n in got.notes)


@pytest.mark.parametrize(
    "computed",
    [
        "train_mean = torch.mean(raw.data.float() / 255)\ntrain_std = torch.std(raw.data.float() / 255)\n",
        "train_mean, train_std = raw.data.float().mean() / 255, raw.data.float().std() / 255\n",
    ],
)
def test_a_normalize_whose_arguments_are_computed_at_run_time_is_said_and_mnists_are_written(tmp_path, computed):
    # `Normalize((train_mean,), (train_std,))` from numbers the run computed was once read as "the training
    # transforms do not normalise", mean=0, std=1 written with no word of the Normalize
    nb = GEN.notebook(
        GEN.code(GEN.IMPORTS + GEN.TRAIN_TEST + SMALL + "\ndevice = 'cuda'\n"),
        GEN.code(
            "raw = datasets.MNIST('.', train=True, transform=transforms.ToTensor())\n" + computed + "tf = "
            "transforms.Compose([transforms.ToTensor(), transforms.Normalize((train_mean,), (train_std,))])\n"
            "train_loader = torch.utils.data.DataLoader(datasets.MNIST('.', train=True, transform=tf), batch_size=64)\n"
            "test_loader = torch.utils.data.DataLoader(datasets.MNIST('.', train=False, transform=tf), batch_size=64)\n"
        ),
        _training_cell("Small"),
    )
    (tmp_path / "computed.ipynb").write_text(nb)
    (got,) = import_source(tmp_path / "computed.ipynb")
    recipe = vet(write([got], tmp_path / "out")[0])[0].recipe
    assert (recipe["mean"], recipe["std"]) == (0.1307, 0.3081), got.notes
    assert not [n for n in got.notes if "do not normalise" in n], got.notes
    said = [n for n in got.notes if "Normalize's arguments are computed at run time" in n]
    assert len(said) == 1 and said[0].startswith("not translated: cell 2, line "), got.notes
    assert "mean=0.1307, std=0.3081, MNIST's" in said[0]


def test_the_loader_train_is_given_is_followed_to_its_dataset_and_a_test_split_is_said(tmp_path):
    # `test_loader = DataLoader(train_data)`, `train_loader = DataLoader(test_data)`, train(..., train_loader): the
    # training loader was once chosen by its dataset's name, so train_data's batch size and augmentation were
    # written and nothing said that the loop trains on MNIST's train=False split
    nb = GEN.notebook(
        GEN.code(GEN.IMPORTS + GEN.TRAIN_TEST + SMALL + "\ndevice = 'cuda'\n"),
        GEN.code(
            "train_tf = transforms.Compose([transforms.RandomRotation((-9.0, 9.0)), transforms.ToTensor(), "
            "transforms.Normalize((0.1307,), (0.3081,))])\n"
            "test_tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])\n"
            "train_data = datasets.MNIST('.', train=True, transform=train_tf)\n"
            "test_data = datasets.MNIST('.', train=False, transform=test_tf)\n"
            "test_loader = torch.utils.data.DataLoader(train_data, batch_size=512, shuffle=True)\n"
            "train_loader = torch.utils.data.DataLoader(test_data, batch_size=32, shuffle=True)\n"
        ),
        _training_cell("Small"),
    )
    (tmp_path / "swapped.ipynb").write_text(nb)
    (got,) = import_source(tmp_path / "swapped.ipynb")
    recipe = vet(write([got], tmp_path / "out")[0])[0].recipe
    assert recipe["batch_size"] == 32 and recipe["augment"] == [], got.notes
    said = [n for n in got.notes if "the training loop trains on the test split (train=False)" in n]
    assert len(said) == 1 and said[0].startswith("not translated: cell 2, line 6: "), got.notes


L1_HELPERS = """
def l1_of(model):
    return sum(p.abs().sum() for p in model.parameters())

def with_l1(model, loss, lam):
    return loss + lam * l1_of(model)

def add_l1(model, loss, lam):
    loss += lam * l1_of(model)
    return loss
"""


@pytest.mark.parametrize(
    "step, line",
    [
        ("loss = F.nll_loss(model(data), target) + 1e-4 * l1_of(model)", "cell 2, line 5"),
        ("loss = F.nll_loss(model(data), target)\n        loss = loss + 1e-4 * l1_of(model)", "cell 2, line 6"),
        ("loss = with_l1(model, F.nll_loss(model(data), target), 1e-4)", "cell 1, line 5"),
        ("loss = add_l1(model, F.nll_loss(model(data), target), 1e-4)", "cell 1, line 8"),
        ("loss = F.nll_loss(model(data), target)", None),
        ("loss = F.nll_loss(model(data), target) / 2", None),
    ],
)
def test_a_term_added_to_the_training_loss_directly_or_by_a_helper_is_said(tmp_path, step, line):
    # only `loss += ...` written in the batch loop was once noted: `loss = nll + l1`, or a helper returning
    # `loss + lam * l1` (or doing `loss +=` itself), trained with an L1 penalty the harness drops, silently
    train = (
        "def train(model, device, train_loader, optimizer, epoch):\n"
        "    model.train()\n"
        "    for data, target in train_loader:\n"
        "        optimizer.zero_grad()\n"
        f"        {step}\n"
        "        loss.backward()\n"
        "        optimizer.step()\n"
    )
    nb = GEN.notebook(
        GEN.code(L1_HELPERS + GEN.IMPORTS + GEN.TRAIN_TEST + SMALL),
        GEN.code(train),  # the course's train(), redefined with the penalty
        GEN.code("device = 'cuda'\n" + LOADERS),
        _training_cell("Small"),
    )
    (tmp_path / "l1.ipynb").write_text(nb)
    (got,) = import_source(tmp_path / "l1.ipynb")
    said = [n for n in got.notes if "more than the criterion on the output and target" in n]
    if line is None:
        assert not said, got.notes
    else:
        assert len(said) == 1 and said[0].startswith(f"not translated: {line}: "), got.notes
