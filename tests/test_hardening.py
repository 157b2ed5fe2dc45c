"""The gate against a hostile candidate, row by row of what once got through: a forged
generator state, complex weights, BatchNorm look-alikes, builders that hang or fill memory,
huge augmentation sizes, squatted names, summary injection and schedules steered by the
test set. Each asserts the named outcome from what the judge records."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from test_integrity import attack_file, built_in_runner, stopped_reason

from harness.engine import data
from harness.engine.recipe import Recipe, RecipeError
from harness.judge import catalog, head_start, judging, seeds, trial
from harness.judge.rules import Rules, apply_rules
from harness.records.schema import EpochRow, RunResult
from harness.report import table
from harness.runner import initial_skill, programs


def test_a_forged_generator_state_after_a_decoy_is_caught_per_tensor(tmp_path, sandboxed):
    """One buffer drawn from the harness's seed, then every real weight from a state fixed in
    advance: the seed check compares tensor by tensor, so the decoy cannot carry the rest."""
    path = attack_file(
        tmp_path,
        """
        class Lucky(nn.Module):
            def __init__(self):
                super().__init__()
                self.register_buffer("decoy", torch.randn(4))
                forged = torch.Generator()
                forged.manual_seed(1234)
                torch.default_generator.set_state(forged.get_state())
                self.lin = nn.Linear(784, 10)
            def forward(self, x):
                return self.lin(x.flatten(1)) + self.decoy.sum() * 0
        """,
        "Lucky()",
    )
    reason = stopped_reason(path, sandboxed)
    assert "weight 'lin.weight' does not depend on the seed" in reason, reason


def test_constant_and_identity_inits_may_ignore_the_seed(tmp_path, sandboxed):
    path = attack_file(
        tmp_path,
        """
        class Fixed(nn.Module):
            def __init__(self):
                super().__init__()
                self.lin = nn.Linear(784, 10)
                self.gate = nn.Parameter(torch.ones(10))
                self.mix = nn.Parameter(torch.eye(10))
            def forward(self, x):
                return (self.lin(x.flatten(1)) * self.gate) @ self.mix
        """,
        "Fixed()",
    )
    assert built_in_runner(path, sandboxed).budget.total == 7850 + 10 + 100


def test_complex_weights_count_two_real_scalars_each(tmp_path, sandboxed):
    path = attack_file(
        tmp_path,
        """
        class Complex(nn.Module):
            def __init__(self):
                super().__init__()
                self.w = nn.Parameter(torch.randn(784, 10, dtype=torch.complex64) * 0.01)
            def forward(self, x):
                w = torch.view_as_real(self.w)
                return x.flatten(1) @ w[..., 0] + x.flatten(1) @ w[..., 1]
        """,
        "Complex()",
    )
    assert built_in_runner(path, sandboxed).budget.total == 2 * 7840


def test_batchnorm_look_alike_statistics_used_as_weights_are_counted(tmp_path, sandboxed):
    path = attack_file(
        tmp_path,
        """
        class LookAlike(nn.Module):
            def __init__(self):
                super().__init__()
                self.weight = nn.Parameter(torch.randn(784, 10) * 0.01)
                self.register_buffer("running_mean", torch.randn(784, 10))
                self.register_buffer("running_var", torch.randn(784, 10))
                self.register_buffer("num_batches_tracked", torch.tensor(0))
            def forward(self, x):
                return x.flatten(1) @ (self.weight + self.running_mean + self.running_var)
        """,
        "LookAlike()",
    )
    built = built_in_runner(path, sandboxed)
    assert built.budget.total == 3 * 7840 + 2 and built.budget.excluded == ()  # the counter is an int64


def test_a_builder_that_never_returns_fails_within_the_build_limit(tmp_path, sandboxed):
    path = attack_file(
        tmp_path,
        """
        def forever():
            while True:
                pass
        """,
        "forever()",
    )
    settings = dataclasses.replace(sandboxed, build_limit=3.0)
    reason = stopped_reason(path, settings)
    assert reason == "attack: failed: took more than 3 s to build", reason


def test_a_builder_that_fills_memory_fails_on_the_memory_limit(tmp_path, sandboxed):
    path = attack_file(tmp_path, "HOARD = []", "HOARD.append(torch.ones(2**29)) or nn.Linear(784, 10)")
    settings = dataclasses.replace(sandboxed, memory_limit=int(1.5 * 2**30))
    reason = stopped_reason(path, settings)
    assert reason.startswith("attack: failed: exceeded the 1.5 GiB memory limit while building"), reason


def test_a_builder_that_forges_a_compressed_message_is_refused_before_it_is_inflated(tmp_path, sandboxed):
    # The builder runs the candidate's code, which can find the wire and write to it. torch.load inflates
    # compressed records, so a few hundred KB could become gigabytes in the judge, which has no memory
    # limit; the judge refuses such a message before decoding it. (Here 64 MB, deflated to ~64 KB.)
    path = attack_file(
        tmp_path,
        """
        import gc
        import io
        import struct
        import zipfile

        def forge():
            plain = io.BytesIO()
            torch.save({"kind": "built", "padding": torch.zeros(2**24)}, plain)
            packed = io.BytesIO()
            with zipfile.ZipFile(plain) as src, zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as dst:
                for info in src.infolist():
                    dst.writestr(info.filename, src.read(info.filename))
            blob = packed.getvalue()
            wire = next(o for o in gc.get_objects() if isinstance(o, io.BufferedWriter) and o.name not in (1, 2))
            wire.write(struct.pack("<Q", len(blob)) + blob)
            wire.flush()
            return nn.Linear(784, 10)
        """,
        "forge()",
    )
    with pytest.raises(trial.RunnerFailed, match=r"a message holds compressed records \(archive/data.pkl"):
        built_in_runner(path, sandboxed)


def test_an_epoch_far_slower_than_the_first_is_stopped(tmp_path, sandboxed, tiny):
    """The watchdog after the first epoch: here set so tight that the second epoch breaks it."""
    path = attack_file(tmp_path, "")
    settings = dataclasses.replace(sandboxed, epoch_factor=1e-6, epoch_floor=0.0)
    with trial.runner(path, settings) as r:
        built = trial.build(r, "attack", 0)
        outcome = trial.train(built, "attack", Recipe.from_dict(dict(epochs=3, batch_size=64)), tiny, 0)
    assert outcome.result.status == "crashed"
    assert outcome.result.error.startswith("failed: epoch 2 took more than 0 s"), outcome.result.error
    assert len(outcome.result.epochs) == 1  # what finished is kept


@pytest.mark.parametrize(
    "augment, field",
    [
        ([dict(name="Resize", size=20000), dict(name="Resize", size=28)], "augment[0].size = 20000"),
        ([dict(name="CenterCrop", size=(28, 5000))], "augment[0].size"),
        ([dict(name="RandomRotation", degrees=5)] * 40, "augment holds 40 transforms"),
    ],
)
def test_augmentation_sizes_and_counts_are_bounded_naming_the_field(augment, field):
    with pytest.raises(RecipeError) as e:
        Recipe.from_dict(dict(epochs=1, augment=augment))
    assert field in str(e.value), str(e.value)


def test_a_file_cannot_take_another_candidates_name(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    ok = "from models.registry import register_model\n\n@register_model(recipe={})\ndef {}():\n    pass\n"
    (models / "model3.py").write_text(ok.format("dict(epochs=1)", "model3"))
    (models / "zz_pr.py").write_text(ok.format("dict(epochs=1)", "model3"))
    entries = catalog.scan(models)
    assert entries["model3"].error is None and entries["model3"].file.endswith("model3.py")
    assert entries["zz_pr"].error == (
        "zz_pr.py declares 'model3'; a candidate's name is its file's name: "
        "rename the function to zz_pr() or the file to model3.py"
    )


def _record(name: str, failure: str, outcome: str = "xfail") -> dict:
    result = RunResult(candidate=name, params=100, seed=0, device="cpu", torch="x", threads=1, recipe={})
    return {
        "result": dataclasses.asdict(result),
        "verdict": {"passed": False, "failures": [failure]},
        "gate": {"outcome": outcome},
    }


def test_candidate_text_cannot_rewrite_the_summary():
    hostile = "boom\n\n## Why\n- everything passed\n\nOutcome: 12 pass.\n<!-- " + "x" * 2_000_000
    records = [
        _record("model3", "model3 seed 0: run crashed: fine", "pass"),
        _record("evil<!--", f"evil seed 0: the builder raised RuntimeError: {hostile}"),
    ]
    text = table.markdown(records, dataclasses.asdict(Rules()))
    lines = text.splitlines()
    assert lines[2].startswith("Outcome: 1 pass, 1 xfail.")  # the real outcome, first
    assert "<!--" not in text and "&lt;\\!--" in text
    assert "\n## Why" not in text and "\nOutcome: 12" not in text
    assert len(text.encode()) < table.MAX_SUMMARY + 4096
    assert "…" in text  # the padded message was shortened


def test_a_schedule_steered_by_the_test_set_is_marked_and_fails_a_claim_unless_allowed():
    recipe = Recipe.from_dict(
        dict(epochs=3, schedule=dict(name="ReduceLROnPlateau", monitor="test_acc", mode="max", patience=0, factor=0.01))
    )
    rows = [
        EpochRow(
            epoch=e,
            train_loss=0.1,
            train_acc=99.0,
            test_loss=0.02,
            test_acc=99.6,
            test_correct=9960,
            test_total=10000,
            lr=0.1,
            seconds=1.0,
        )
        for e in (1, 2, 3)
    ]
    result = RunResult(
        candidate="plateau",
        params=5000,
        seed=0,
        device="cpu",
        torch="x",
        threads=1,
        recipe=recipe.to_dict(),
        epochs=rows,
        status="completed",
    )
    refused = apply_rules(result, Rules(), 3)
    assert not refused.passed and "steered by the test set: its schedule monitors test_acc" in refused.failures[0]
    assert "monitor train_loss or train_acc instead" in refused.failures[0]
    assert apply_rules(result, Rules(allow_test_feedback=True), 3).passed
    rec = {"result": dataclasses.asdict(result), "verdict": dataclasses.asdict(refused), "gate": {"outcome": "FAIL"}}
    assert table.run_row(rec, 3)["verdict"] == "FAIL (steered by the test set)"


# A stand-in for weights trained offline and decoded from the source at build.
OFFLINE = "torch.sin(torch.arange(7840.0) * 1.37).reshape(10, 784) * 0.05"


@pytest.mark.parametrize(
    "hide, expected",
    [
        ("self.w = nn.Parameter(TABLE + 1e-7 * torch.randn(10, 784))", "the same values up to noise"),
        ("self.w = nn.Parameter(TABLE * (0.5 + torch.rand(())))", "the same values up to noise"),
        ("self.w = nn.Parameter(TABLE.sign() * 0.05)", "identical under both"),
        (
            "self.register_parameter(f'w{int(torch.randint(0, 10**6, ()))}', nn.Parameter(TABLE))",
            "changes its name, shape or type with the seed",
        ),
        (
            "self.w = nn.Parameter(torch.cat([TABLE.reshape(-1), torch.zeros(int(torch.randint(1, 50, ())))]))",
            "changes its name, shape or type with the seed",
        ),
        ("self.w = nn.Parameter(torch.randn(10, 784) * 0.01); self.table = TABLE.t()", "(constant, eval program)"),
    ],
    ids=["noise", "scale", "signs", "name", "shape", "evaluation-only"],
)
def test_weights_chosen_in_advance_are_caught_however_they_are_hidden(tmp_path, sandboxed, hide, expected):
    """Offline weights with seed noise added, rescaled by a seed draw, kept as signs only, under
    a name or a shape drawn from the seed, or read by the evaluation program only."""
    path = attack_file(
        tmp_path,
        f"""
        class Offline(nn.Module):
            def __init__(self):
                super().__init__()
                TABLE = {OFFLINE}
                {hide}
            def forward(self, x):
                w = [p for p in self.parameters()][0][:7840].reshape(10, 784)
                out = x.flatten(1) @ w.t()
                if not self.training and hasattr(self, "table"):
                    out = out + x.flatten(1) @ self.table
                return out
        """,
        "Offline()",
    )
    reason = stopped_reason(path, sandboxed)
    assert "attack: weight '" in reason and expected in reason and "the harness owns the seed" in reason, reason


def test_the_seed_check_lets_noisy_identities_and_sparse_inits_through_but_not_a_table_in_pieces():
    def draws(make):
        out = []
        for s in (1, 2):
            torch.manual_seed(s)
            out.append(make())
        return out

    for make in (
        lambda: {"w": torch.eye(64) + 0.01 * torch.randn(64, 64)},
        lambda: {"w": torch.nn.init.dirac_(torch.empty(16, 16, 3, 3)) + 1e-3 * torch.randn(16, 16, 3, 3)},
        lambda: {"w": torch.nn.init.sparse_(torch.empty(100, 100), 0.9), "m": torch.triu(torch.ones(32, 32))},
        lambda: {"w": torch.randint(0, 10, (1000,)), "b": torch.bernoulli(torch.full((1000,), 0.5))},
    ):
        mine, theirs = draws(make)
        assert seeds.blind(mine, theirs, ()) is None
    table = torch.sin(torch.arange(7840.0) * 1.37)
    mine, theirs = draws(
        lambda: (
            {f"p{i}": table[i * 49 : (i + 1) * 49] + 0.01 * torch.randn(49) for i in range(160)}
            | {"honest": torch.randn(8000)}
        )
    )
    found = seeds.blind(mine, theirs, ())
    assert found is not None and "with the rest: the same values up to noise" in found[1], found


def test_a_shape_expression_that_makes_sympy_compute_for_hours_is_refused():
    """The trainer parses shape expressions with sympy, which does integer arithmetic as it
    parses; the builder's JSON is the candidate's to write."""
    blob = programs.export(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10)), ("eval",))["graphs"]
    doc = json.loads(blob["eval"])
    values = doc["graph_module"]["graph"]["tensor_values"]
    for bomb in ("9**9**9**9", "*".join(["999999"] * 200), "12345678901234567890*s0"):
        first = next(iter(values.values()))
        first["sizes"][0] = {"as_expr": {"expr_str": bomb, "hint": {"as_int": 2}}}
        with pytest.raises(programs.ProgramError, match="a shape expression is longer, has larger numbers or powers"):
            programs.check_graph(json.dumps(doc).encode(), "eval")


def test_weights_written_as_numbers_into_the_operators_are_refused(tmp_path, sandboxed):
    """A value written into an operator's argument is a weight the budget never counts and the
    seed check never compares: 600 of them, a multiply and an add each, are refused; the
    models here write at most 84."""
    path = attack_file(
        tmp_path,
        """
        TABLE = [((i * 7919) % 1000) / 1000.0 for i in range(300)]

        class Literal(nn.Module):
            def __init__(self):
                super().__init__()
                self.lin = nn.Linear(784, 10)
            def forward(self, x):
                x = x.flatten(1)
                for w in TABLE:
                    x = x * (1 - w / 2) + w
                return self.lin(x)
        """,
        "Literal()",
    )
    reason = stopped_reason(path, sandboxed)
    assert "numbers into its operators' arguments (at most 512)" in reason, reason


def test_a_graph_that_fails_only_when_run_is_the_candidates_failure(tmp_path, sandboxed):
    """A forward that traces a different graph from the one it runs (it can tell a fake tensor
    by its type's name) hands the trainer an allocation of 256 GiB."""
    path = attack_file(
        tmp_path,
        """
        class Huge(nn.Module):
            def __init__(self):
                super().__init__()
                self.lin = nn.Linear(784, 10)
            def forward(self, x):
                out = self.lin(x.flatten(1))
                if type(x).__name__ == "FakeTensor":
                    out = out + x.new_zeros(2**18, 2**18).sum()
                return out
        """,
        "Huge()",
    )
    reason = stopped_reason(path, sandboxed)
    assert reason.startswith("attack: the evaluation program fails on a batch of two zeros"), reason
    assert "can't allocate memory" in reason, reason


def test_a_weight_stored_as_a_seed_draw_that_the_graph_takes_away_again_is_caught_where_it_is_computed(
    tmp_path, sandboxed
):
    """W = TABLE + wave(k) and k are both drawn from the seed, so every stored tensor changes
    with it; the graph recomputes wave(k) and takes it away, and the value it computes, the
    table, does not change. Values computed from the weights alone go through the seed check too."""
    path = attack_file(
        tmp_path,
        f"""
        def wave(k):
            return torch.sin(torch.arange(7840.0) * k).reshape(10, 784) * 3
        class Wave(nn.Module):
            def __init__(self):
                super().__init__()
                self.register_buffer("k", torch.rand(1) * 100 + 1)
                self.w = nn.Parameter({OFFLINE} + wave(self.k))
            def forward(self, x):
                return x.flatten(1) @ (self.w - wave(self.k)).t()
        """,
        "Wave()",
    )
    reason = stopped_reason(path, sandboxed)
    assert "the value 'sub (computed, " in reason and "does not depend on the seed" in reason, reason
    assert "a weight stored as a seed draw that the graph takes away again" in reason, reason


def test_weights_computed_from_weights_pass_when_they_change_with_the_seed(tmp_path, sandboxed):
    """Weight standardisation, a norm, a mask and a fill computed from a weight are computed
    from seed draws, so they change with the seed, or hold a fill: all pass."""
    path = attack_file(
        tmp_path,
        """
        class Standardised(nn.Module):
            def __init__(self):
                super().__init__()
                self.w = nn.Parameter(torch.randn(10, 784) * 0.01)
                self.g = nn.Parameter(torch.ones(10))
            def forward(self, x):
                w = (self.w - self.w.mean(1, keepdim=True)) / self.w.std(1, keepdim=True)
                w = w * (self.w.abs() > 0.001).float() + torch.zeros_like(self.w) + self.w.norm(dim=1, keepdim=True)
                return x.flatten(1) @ (w * self.g.unsqueeze(1)).t()
        """,
        "Standardised()",
    )
    assert built_in_runner(path, sandboxed).budget.total == 7840 + 10


# ---------------------------------------------------------------- the head-start check: function, not tensors


def _templates() -> str:
    """Digit templates on a 7x7 grid learned from 20,000 training images, written as Python
    numbers: a nearest-mean classifier, what an attacker would carry in from a training elsewhere."""
    m = data.load()
    x = torch.nn.functional.avg_pool2d((m.train_images[:20000].float()[:, None] / 255 - 0.1307) / 0.3081, 4)
    x, y = x.flatten(1), m.train_labels[:20000]
    means = torch.stack([x[y == c].mean(0) for c in range(10)])
    bias = -(means**2).sum(1) / 2
    return f"P = {[[round(v, 4) for v in row] for row in means.tolist()]}\nB = {[round(v, 4) for v in bias.tolist()]}"


def test_learned_weights_hidden_as_a_seed_draw_minus_its_twin_are_refused_before_training(tmp_path, sandboxed):
    """W = P + R and Q = R are both fresh draws to any check of the tensors (P is small beside R),
    and the forward takes x @ Q from x @ W, so P never exists as a value either. The seed check
    cannot see P; what P knows shows in the predictions before the first step, and the judge
    refuses to train it."""
    path = attack_file(
        tmp_path,
        _templates()
        + """
        class Hidden(nn.Module):
            def __init__(self):
                super().__init__()
                r, rb = torch.randn(10, 49) * 30, torch.randn(10) * 30
                self.w, self.b = nn.Parameter(torch.tensor(P) + r), nn.Parameter(torch.tensor(B) + rb)
                self.register_buffer("q", r.clone())
                self.register_buffer("qb", rb.clone())
            def forward(self, x):
                f = F.avg_pool2d(x, 4).flatten(1)
                return f @ self.w.t() - f @ self.q.t() + self.b - self.qb
        """.replace("\n        ", "\n"),
        "Hidden()",
    )
    built = built_in_runner(path, sandboxed)  # the tensor checks pass: this is what they cannot see
    assert built.budget.total == 490 + 10 + 490 + 10
    session = judging.Session(Rules(), sandboxed, tmp_path / "out", smoke=judging.Smoke(limit_train=256, epochs=1))
    record = judging.judge(catalog.scan(path.parent)["attack"], 0, session)
    failure = record["verdict"]["failures"][0]
    assert record["result"]["status"] == "not trained" and record["gate"]["outcome"] == "FAIL"
    assert "training images by class before any training" in failure and "learned elsewhere" in failure, failure


def test_the_head_start_check_refuses_a_permuted_head_and_a_layer_that_knows_but_not_a_random_network():
    pixels = 0.87
    honest = {"purity": 0.27, "accuracy": 0.1, "layer": "relu_3", "centroid_accuracy": 0.89}
    assert head_start.problem("m", {"pixels": pixels, "programs": {"eval": honest, "train": honest}}) is None
    permuted = {**honest, "purity": 0.97, "accuracy": 0.0}  # every class predicted as another
    why = head_start.problem("m", {"pixels": pixels, "programs": {"eval": honest, "train": permuted}})
    assert "classifies 97%" in why
    knows = {**honest, "layer": "conv2d_6", "centroid_accuracy": 0.99}  # a head drawn fresh over learned features
    why = head_start.problem("m", {"pixels": pixels, "programs": {"eval": knows, "train": honest}})
    assert "activation 'conv2d_6' (eval program)" in why and "1.0% nearest-centroid error, against 13.0%" in why


def test_purity_credits_each_predicted_class_with_its_most_common_label():
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    assert initial_skill.purity(torch.tensor([5, 5, 7, 7, 9, 9]), labels) == 1.0  # a permutation knows everything
    assert initial_skill.purity(torch.tensor([3, 3, 3, 3, 3, 3]), labels) == pytest.approx(2 / 6)


def _learned_network() -> str:
    """A small network trained here for three passes over 12,800 images (94% of the test set
    right), written out as numbers: weights learned elsewhere, as an attacker would bring them."""
    m = data.load()
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 5, stride=2),
        torch.nn.ReLU(),
        torch.nn.Conv2d(4, 8, 5, stride=2),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(128, 10),
    )
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for i in list(range(0, 12800, 64)) * 3:
        x = (m.train_images[i : i + 64].float()[:, None] / 255 - 0.1307) / 0.3081
        loss = torch.nn.functional.cross_entropy(net(x), m.train_labels[i : i + 64])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return f"LEARNED = {[[round(v, 4) for v in t.flatten().tolist()] for t in net.state_dict().values()]}"


def test_a_learned_network_behind_a_fresh_head_is_refused_however_its_weights_are_hidden(tmp_path, sandboxed):
    """Each learned tensor is stored as itself plus a large wave that the graph computes again
    from one seed-drawn number; each layer runs on both and takes one output from the other, so
    no value computed from weights alone repeats across seeds. A layer drawn fresh from the
    seed scrambles the learned classes, so the predictions are near chance, but the learned
    logits inside group the digits by class far better than pixels do."""
    path = attack_file(
        tmp_path,
        _learned_network()
        + """
        def wave(n, k):
            return torch.sin(torch.arange(n, dtype=torch.float32) * k) * 3
        class Learned(nn.Module):
            def __init__(self):
                super().__init__()
                self.register_buffer("k", torch.rand(1) * 100 + 1)
                self.w = nn.ParameterList(nn.Parameter(torch.tensor(t) + wave(len(t), self.k)) for t in LEARNED)
                self.scramble = nn.Linear(10, 10)
            def forward(self, x):
                a, b, c, d, e, f = self.w
                wa, wb, wc, wd, we, wf = (wave(w.numel(), self.k) for w in self.w)
                x = F.conv2d(x, a.reshape(4, 1, 5, 5), b, stride=2) - F.conv2d(x, wa.reshape(4, 1, 5, 5), wb, stride=2)
                x = F.relu(x)
                x = F.conv2d(x, c.reshape(8, 4, 5, 5), d, stride=2) - F.conv2d(x, wc.reshape(8, 4, 5, 5), wd, stride=2)
                x = F.relu(x).flatten(1)
                return self.scramble(x @ e.reshape(10, 128).t() + f - (x @ we.reshape(10, 128).t() + wf))
        """.replace("\n        ", "\n"),
        "Learned()",
    )
    built_in_runner(path, sandboxed)  # past the seed check
    session = judging.Session(Rules(), sandboxed, tmp_path / "out", smoke=judging.Smoke(limit_train=256, epochs=1))
    failure = judging.judge(catalog.scan(path.parent)["attack"], 0, session)["verdict"]["failures"][0]
    assert "before any training, activation '" in failure, failure
    assert "nearest-centroid error, against" in failure and "learned elsewhere" in failure, failure


def test_measuring_the_initial_weights_leaves_every_weight_and_statistic_as_it_was():
    """The measurement runs training mode, which updates batch-norm statistics in place; the
    run that follows must start from the built weights, bit for bit."""
    torch.manual_seed(0)
    layers = [torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(), torch.nn.Flatten()]
    net = torch.nn.Sequential(*layers, torch.nn.Linear(2704, 10))
    program, _ = programs.load(programs.export(net))
    before = {k: v.clone() for k, v in program.weights().items()}
    images, labels = torch.randn(64, 1, 28, 28), torch.randint(0, 10, (64,))
    initial_skill.measure(program, images, labels)
    after = program.weights()
    assert [k for k in before if not torch.equal(before[k], after[k])] == []
