"""Class-conditional generation: mechanisms, labelled data, sampling by label and its metrics."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import ganhub
from ganhub.conditioning import Condition, LabelSpec
from ganhub.config.resolve import resolve
from ganhub.engine.loop import fit
from ganhub.errors import ConfigError, UsageError
from ganhub.plugins import get_hub
from ganhub.wiring import make_run

from .conftest import TINY_DCGAN

COND = [*TINY_DCGAN, "model.conditional=true"]


def _run(args: list[str], out: Path):  # type: ignore[no-untyped-def]
    run = make_run(resolve([*args, f"out_dir={out}"]))
    fit(run)
    return run


def _metrics(run) -> list[dict]:  # type: ignore[no-untyped-def]
    lines = (run.run_dir / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_label_spec_parses_indices_names_and_factors() -> None:
    spec = LabelSpec((3,), (("cat", "dog", "owl"),))
    assert spec.parse("dog") == [1] and spec.parse("2") == [2]
    with pytest.raises(UsageError, match="not one of this run's classes: cat, dog, owl"):
        spec.parse("cow")
    stacked = LabelSpec((10, 10, 10))
    assert stacked.parse("1,2,3") == [1, 2, 3] and stacked.combinations == 1000
    with pytest.raises(UsageError, match="3 label factor"):
        stacked.parse("7")


def test_unconditional_dcgan_has_no_conditioning_modules() -> None:
    run = make_run(resolve([*TINY_DCGAN, "out_dir=/tmp/unused"]))
    names = {type(m).__name__ for m in run.system.modules()}
    assert {"Generator", "Discriminator"} <= names
    assert not names & {"CBNLabels", "ProjectionD", "LabelEmbedding", "LabelledGenerator"}
    assert run.system.capabilities().labels is None
    with pytest.raises(UsageError, match="not conditional"):
        run.system.sample(2, labels=torch.zeros(2, dtype=torch.long))


@pytest.mark.parametrize(
    ("generator", "discriminator", "module"),
    [
        ("cbn", "projection", "ConditionalBatchNorm2d"),
        ("concat", "input_concat", "InputConcatD"),
        ("concat", "none", "ConcatLabels"),
    ],
)
def test_each_mechanism_trains_and_conditions_the_networks(
    generator: str, discriminator: str, module: str, tmp_path: Path
) -> None:
    acgan = ["tricks=[acgan]"] if discriminator == "none" else []  # its class head conditions D
    run = _run([*COND, f"condition.generator={generator}",
                f"condition.discriminator={discriminator}", *acgan], tmp_path)  # fmt: skip
    assert module in {type(m).__name__ for m in run.system.modules()}
    y3, y5 = torch.full((4,), 3), torch.full((4,), 5)
    a, b = run.system.sample(4, seed=1, labels=y3), run.system.sample(4, seed=1, labels=y3)
    assert torch.equal(a, b) and not torch.equal(a, run.system.sample(4, seed=1, labels=y5))


def test_conditional_run_writes_a_class_grid_and_reports_accuracy(tmp_path: Path) -> None:
    args = [*COND, "eval.metrics=[class_accuracy,intra_fid]", "eval.n_samples=200"]
    run = _run(args, tmp_path)
    grid = Image.open(next((run.run_dir / "samples").glob("*.png")))
    assert grid.size[1] == 10 * 34 + 2  # 10 rows of 32 px plus 2 px padding: one per class
    final = {k.removeprefix("eval/"): v for k, v in _metrics(run)[-1].items()}
    for key in ("class_acc", "class_acc_min", "class_coverage", "class_kl", "class_acc_7",
                "intra_fd_digits", "classifier_acc"):  # fmt: skip
        assert key in final and np.isfinite(final[key]), key
    assert final["classifier_acc"] >= 0.97


def test_sample_command_writes_one_class_by_index_and_name(tmp_path: Path, cli) -> None:
    run = _run(COND, tmp_path)
    model = ganhub.load(run.run_dir)
    sevens = model.sample(6, seed=2, labels=7)
    assert torch.equal(sevens, model.sample(6, seed=2, labels=torch.full((6,), 7)))
    assert torch.equal(sevens, model.sample(6, seed=2, labels="7"))
    assert not torch.equal(sevens, model.sample(6, seed=2, labels=3))
    code, out, err = cli("sample", str(run.run_dir), "--label", "7", "--n", "16")  # in-process
    assert code == 0, err
    path = Path(out.strip())
    assert path.name == "sample_label7_seed0_n16.png" and path.is_file()
    code, _, err = cli("sample", str(run.run_dir), "--label", "eleven")
    assert code != 0 and "Traceback" not in err  # an exception would fail the test here
    assert "label 'eleven' is not one of this run's classes" in err


@pytest.mark.slow
def test_a_short_conditional_training_makes_sevens_when_asked(tmp_path: Path) -> None:
    """The default conditional dcgan (cbn + projection) learns the label in 800 CPU steps."""
    from ganhub.metrics.featurenet import classify_digits

    run = _run(["plugin=dcgan", "model.conditional=true", "trainer.steps=800",
                "trainer.progress=false", "loggers=[jsonl]", "eval.metrics=[]"], tmp_path)  # fmt: skip
    sevens = ganhub.load(run.run_dir).sample(64, seed=0, labels=7)
    predicted, _ = classify_digits(sevens)
    counts = torch.bincount(predicted, minlength=10)
    assert counts[7] > len(predicted) / 2 and counts.argmax() == 7  # most are sevens


def test_acgan_trains_a_class_head_whose_loss_falls(tmp_path: Path) -> None:
    args = [*COND, "condition.discriminator=none", "tricks=[acgan]", "trainer.steps=60",
            "trainer.batch_size=32", "trainer.log_every=10"]  # fmt: skip
    run = _run(args, tmp_path)
    heads = next(m for m in run.system.modules() if type(m).__name__ == "PlainD").heads
    assert heads["class"].out_features == 10
    logged = [m for m in _metrics(run) if "acgan_D" in m]
    assert logged, _metrics(run)[-1].keys()
    assert logged[0]["acgan_D"] > 2.0  # about ln 10 at the start: a guess
    assert logged[-1]["acgan_D"] < 0.8 * logged[0]["acgan_D"]
    assert "acgan_G" in logged[-1]


def test_tacgan_adds_a_twin_head_that_d_trains_on_fakes_and_g_works_against(
    tmp_path: Path,
) -> None:
    """trick.acgan.twin=true (TAC-GAN): D has a second class head; the D phase adds its
    cross-entropy on the fakes to the class head's on the reals, the G phase subtracts it from
    the class head's on the fakes; and in a short run the twin learns to classify the fakes."""
    import torch.nn.functional as F

    from ganhub.engine.system import Phase, PhaseOutput

    args = [*COND, "condition.discriminator=none", "tricks=[acgan]", "trick.acgan.twin=true",
            "trainer.steps=80", "trainer.batch_size=32", "trainer.log_every=10"]  # fmt: skip
    run = _run(args, tmp_path)
    heads = next(m for m in run.system.modules() if type(m).__name__ == "PlainD").heads
    assert heads["class"].out_features == heads["twin"].out_features == 10
    twin = [m["acgan_twin_D"] for m in _metrics(run) if "acgan_twin_D" in m]
    assert len(twin) == 8 and sum(twin[-3:]) < 0.95 * sum(twin[:3])  # it learns, as G resists

    trick = next(t for t in run.tricks if t.name == "acgan")
    gen = torch.Generator().manual_seed(0)
    aux = {f"{head}_{side}": torch.randn(6, 10, generator=gen)
           for head in ("class", "twin") for side in ("real", "fake")}  # fmt: skip
    aux["labels"] = labels = torch.tensor([0, 1, 2, 3, 4, 5])

    def extra(group: str) -> float:
        phase = Phase(group, group, lambda batch, ctx: PhaseOutput(torch.zeros(())))
        return float(trick.extra_loss(phase, PhaseOutput(torch.zeros(()), aux=aux), None))  # type: ignore[arg-type]

    ce = {key: F.cross_entropy(logits, labels).item() for key, logits in aux.items()
          if key != "labels"}  # fmt: skip
    assert extra("D") == pytest.approx(ce["class_real"] + ce["twin_fake"], rel=1e-6)
    assert extra("G") == pytest.approx(ce["class_fake"] - ce["twin_fake"], rel=1e-6)


@pytest.mark.parametrize("trick", ["ada", "diffaug", "r1"])
def test_augmentation_and_penalties_work_conditionally(trick: str, tmp_path: Path) -> None:
    extra = ["model.d_norm=none"] if trick == "r1" else []
    run = _run([*COND, *extra, f"tricks=[{trick}]", "trainer.steps=4"], tmp_path)
    assert run.step == 4


def test_refusals_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="trick 'acgan' needs a class-conditional run"):
        resolve([*TINY_DCGAN, "tricks=[acgan]"])
    with pytest.raises(ConfigError, match=r"condition\.generator='projection' is not a generator"):
        resolve([*COND, "condition.generator=projection"])
    with pytest.raises(ConfigError, match=r"model.g_norm=layer; use model.g_norm=batch"):
        resolve([*COND, "condition.generator=cbn", "model.g_norm=layer"])
    # mechanisms that need a part dcgan's networks lack are refused, naming what fits
    with pytest.raises(
        ConfigError,
        match=r"generator=mapping needs a mapping network .*"
        r"plugin=dcgan's generator does not have \(available here: cbn, concat\)",
    ):
        resolve([*COND, "condition.generator=mapping"])
    with pytest.raises(
        ConfigError,
        match=r"plugin=dcgan's discriminator does not have "
        r"\(available here: input_concat, none, projection\)",
    ):
        resolve([*COND, "condition.discriminator=cmap"])
    with pytest.raises(
        ConfigError,
        match=r"generator=cbn needs BatchNorm layers .*"
        r"plugin=stylegan's generator .*\(available here: concat, mapping\)",
    ):
        resolve(["plugin=stylegan", "data=digits", "model.conditional=true",
                 "condition.generator=cbn"])  # fmt: skip
    with pytest.raises(UsageError, match="pacgan"):
        make_run(resolve([*COND, "tricks=[pacgan]", f"out_dir={tmp_path}"]))


def test_a_domain_that_declares_no_network_parts_is_offered_every_mechanism() -> None:
    """`ConditionRequest.generator_has=None` (a third-party domain that says nothing): every
    mechanism of the side passes the name check, as before the parts were declared."""
    from ganhub.conditioning import ConditionRequest, LabelSpec, check_request
    from ganhub.plugins import get_hub

    registered = {e.name: e.obj for e in get_hub().conditioners}
    labels = LabelSpec((10,))
    for generator, discriminator in (("mapping", "cmap"), ("cbn", "projection")):
        assert check_request(ConditionRequest(labels, generator, discriminator), registered) == []
    declared = ConditionRequest(labels, "mapping", "cmap", generator_has=frozenset({"mapping"}),
                                discriminator_has=frozenset())  # fmt: skip
    (problem,) = check_request(declared, registered, "plugin=mine")
    assert problem.startswith("condition.discriminator=cmap needs") and "plugin=mine's" in problem


def test_a_discriminator_shown_no_label_needs_acgan(tmp_path: Path) -> None:
    """condition.discriminator=none without a class head: nothing would tell D, so G, the
    class; refused in one line (a rotation head does not carry the class either)."""
    for tricks in ("[]", "[rotation_head]"):
        with pytest.raises(ConfigError, match=r"condition\.discriminator=none shows D no label.*"
                           r"tricks=\[acgan\].*projection or input_concat") as info:  # fmt: skip
            make_run(resolve([*COND, "condition.discriminator=none", f"tricks={tricks}",
                              f"out_dir={tmp_path}"]))  # fmt: skip
        assert "\n" not in str(info.value)
    run = make_run(resolve([*COND, "condition.discriminator=none", "tricks=[acgan]",
                            f"out_dir={tmp_path}"]))  # fmt: skip
    assert "class" in run.system.D.heads
    # checked=False builds it anyway: to reopen a run trained before the refusal
    none = get_hub().conditioners.get("none")
    unchecked = Condition(LabelSpec((10,)), none, none, checked=False)
    assert type(unchecked.wrap_discriminator(run.system.D.net)).__name__ == "PlainD"
    from ganhub.wiring import components

    refused = resolve([*COND, "condition.discriminator=none", "tricks=[]"])
    reopened = components(refused, training=False).condition  # what ganhub.load builds
    assert reopened is not None and not reopened.checked
    trained = components(refused, training=True).condition
    assert trained is not None and trained.checked


def test_acgan_is_refused_on_features_computed_from_the_label(tmp_path: Path) -> None:
    """With input_concat D's features are computed from the label maps on its input: a class
    head on them learns to echo the given label. The mechanisms AC-GAN takes give it
    label-free features."""
    with pytest.raises(ConfigError, match=r"tricks=\[acgan\] with condition\.discriminator="
                       r"input_concat.*echo.*projection or none") as info:  # fmt: skip
        make_run(resolve([*COND, "condition.discriminator=input_concat", "tricks=[acgan]",
                          f"out_dir={tmp_path}"]))  # fmt: skip
    assert "\n" not in str(info.value)
    x = torch.randn(4, 1, 32, 32)
    for mechanism in ("projection", "none"):
        D = make_run(resolve([*COND, f"condition.discriminator={mechanism}", "tricks=[acgan]",
                              f"out_dir={tmp_path}"])).system.D  # fmt: skip
        D.eval()
        y0, y7 = torch.zeros(4, dtype=torch.long), torch.full((4,), 7)
        with torch.no_grad():
            assert torch.equal(D.features(x, y0), D.features(x, y7)), mechanism


@pytest.mark.parametrize("n", [5, 13, 64])
def test_sample_writes_n_samples_in_the_class_grid(n: int, tmp_path: Path) -> None:
    """`ganhub sample --n N` without --label: N samples, one row per class (the first 10, or
    the first N), the last column's cells past N left black."""
    run = _run(COND, tmp_path)
    (path,) = ganhub.load(run.run_dir).write_samples(tmp_path / "out", f"s_n{n}", n=n)
    _assert_class_grid(path, n, px=34)


@pytest.mark.parametrize("n", [7, 64])
def test_stylegan_class_grid_holds_n_samples_too(n: int, tmp_path: Path) -> None:
    from tests.plugins.test_stylegan import COND as STYLEGAN_COND

    system = make_run(resolve([*STYLEGAN_COND, f"out_dir={tmp_path}"])).system
    (path,) = system.write_samples(tmp_path / "out", f"s_n{n}", n=n)
    _assert_class_grid(path, n, px=18)


def _assert_class_grid(path: Path, n: int, px: int) -> None:
    """A grid image of `px`-px cells (2 px padding) that draws exactly n samples."""
    grid = np.asarray(Image.open(path).convert("L"), dtype=np.float64)
    rows, columns = min(n, 10), -(-n // min(n, 10))
    assert grid.shape == (rows * px + 2, columns * px + 2)
    cells = [grid[2 + r * px : (r + 1) * px, 2 + c * px : (c + 1) * px]
             for r in range(rows) for c in range(columns)]  # fmt: skip
    drawn = [bool(cell.max() > 0) for cell in cells]  # an untrained G's samples are grey
    assert sum(drawn) == n and all(drawn[:columns])  # every column has the first class


def _write_classes(root: Path, classes: dict[str, int]) -> None:
    rng = np.random.default_rng(0)
    for name, count in classes.items():
        (root / name).mkdir(parents=True)
        for i in range(count):
            pixels = rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")


def test_folder_per_class_data_trains_and_reloads_without_the_folder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _write_classes(data, {"cat": 10, "dog": 6})
    run = _run([*COND, f"data.path={data}", "data.channels=3"], tmp_path / "runs")
    saved = (run.run_dir / "config.yaml").read_text()
    assert "- cat" in saved and "- dog" in saved
    x, y = run.system.real_labelled(16)
    assert x.shape[1:] == (3, 32, 32) and sorted(y.tolist()) == [0] * 10 + [1] * 6
    shutil.rmtree(data)
    dogs = ganhub.load(run.run_dir).sample(3, seed=0, labels="dog")
    assert dogs.shape == (3, 3, 32, 32)


def test_csv_labels_train_and_unknown_rows_are_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _write_classes(data, {"all": 8})
    rows = "file,label\n" + "".join(
        f"all/{i}.png,{'big' if i % 2 else 'small'}\n" for i in range(8)
    )
    (tmp_path / "labels.csv").write_text(rows)
    args = [*COND, f"data.path={data}", "data.channels=3", f"data.labels={tmp_path / 'labels.csv'}"]
    run = _run(args, tmp_path / "runs")
    assert run.system.capabilities().labels == LabelSpec((2,), (("big", "small"),))
    (tmp_path / "labels.csv").write_text(rows + "all/9.png,big\n")
    with pytest.raises(ConfigError, match=r"row 10: 'all/9.png' is not a file"):
        resolve([*args, f"out_dir={tmp_path}"])


def test_stacked_digits_condition_on_each_channel(tmp_path: Path) -> None:
    run = _run([*COND, "data=stacked_digits", "eval.metrics=[class_accuracy]",
                "eval.n_samples=100"], tmp_path)  # fmt: skip
    assert run.system.capabilities().labels == LabelSpec((10, 10, 10), (tuple("0123456789"),) * 3)
    _, y = run.system.real_labelled(5)
    assert y.shape == (5, 3)
    assert "eval/class_acc_factor" in _metrics(run)[-1]


class _RealDigits:
    """A 'generator' that returns real digits of the asked class: the metric's upper bound."""

    def __init__(self, system) -> None:  # type: ignore[no-untyped-def]
        images, labels = system.real_labelled(5000)
        self.by_class = [images[labels == k] for k in range(10)]

    def __call__(self, n: int, *, seed=None, use_ema=True, labels=None):  # type: ignore[no-untyped-def]
        return torch.stack([self.by_class[int(k)][i % 50] for i, k in enumerate(labels)])


def test_class_accuracy_of_real_digits_is_the_classifier_accuracy(tmp_path: Path) -> None:
    from ganhub.metrics.conditional import ClassAccuracy

    run = make_run(resolve([*COND, f"out_dir={tmp_path}"]))
    object.__setattr__(run.system, "sample", _RealDigits(run.system))
    out = ClassAccuracy().compute(run.system, n_samples=500, seed=0)
    assert out["class_acc"] >= 0.95 and out["class_kl"] < 0.02 and out["class_coverage"] == 1.0


def test_class_accuracy_on_too_few_labelled_images_is_refused_before_training(
    tmp_path: Path,
) -> None:
    """27 labelled images trained the whole run, then failed at its evaluation: its classifier
    needs 80 (64 to train on, a fifth held out)."""
    data = tmp_path / "data"
    _write_classes(data, {"cat": 9, "dog": 9, "bird": 9})
    args = [*COND, f"data.path={data}", "data.channels=3", f"out_dir={tmp_path / 'runs'}"]
    with pytest.raises(ConfigError, match=r"'class_accuracy' .* 27 are too few \(it needs 80\)"):
        ganhub.train([*args, "eval.metrics=[class_accuracy]"])
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
    assert ganhub.train([*args, "eval.metrics=[]"])["steps"] == 2


@pytest.mark.parametrize("plugin", ["dcgan", "stylegan"])
def test_labels_given_to_an_unconditional_run_are_refused(plugin: str, tmp_path: Path) -> None:
    """An unconditional run trained on the images and never read data.labels, even a missing
    file (exit 0, no word)."""
    _write_classes(tmp_path / "data", {"cat": 2, "dog": 2})
    args = [f"plugin={plugin}", f"data.path={tmp_path / 'data'}", "data.labels=/no/such.csv"]
    with pytest.raises(ConfigError, match=r"labels a class-conditional run; add model.conditional"):
        ganhub.train([*args, f"out_dir={tmp_path / 'runs'}"])


@pytest.mark.parametrize("plugin", ["dcgan", "stylegan"])
@pytest.mark.parametrize(
    "key",
    ["condition.generator=concat", "condition.discriminator=input_concat", "condition.embed_dim=8"],
)
def test_condition_keys_on_an_unconditional_run_are_refused(plugin: str, key: str) -> None:
    """They were ignored without a word (as data.labels and tricks=[acgan] are not)."""
    with pytest.raises(ConfigError, match=rf"^{key} configures a class-conditional run; add model.conditional=true"):  # fmt: skip
        resolve([f"plugin={plugin}", "preset=tiny", key])
    resolve([f"plugin={plugin}", "preset=tiny", "model.conditional=true", "data=digits", key])


def test_an_unknown_feature_network_of_intra_fid_is_refused_before_training(workdir: Path) -> None:
    """It trained, then failed at the end evaluation (fid's own check ran before training)."""
    run = make_run(
        resolve([*COND, "eval.metrics=[intra_fid]", "eval.features=[nosuch]", "name=nf"])
    )
    with pytest.raises(UsageError, match=r"eval\.features: no feature network 'nosuch'"):
        fit(run)
    assert run.step == 0 and not (workdir / "runs" / "nf").exists()


def test_a_conditional_dcgan_on_a_shard_is_told_shards_hold_no_labels(tmp_path: Path) -> None:
    """It was told to make one sub-folder per class (stylegan said the right thing)."""
    shard = tmp_path / "images.safetensors"
    shard.write_bytes(b"")  # the name decides: a shard is refused before it is read
    with pytest.raises(ConfigError, match="a shard holds no labels"):
        resolve([*COND, f"data.path={shard}"])


def test_converting_a_conditional_run_to_a_shard_is_refused(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """The shard was written without its labels and without a word."""
    convert = ("data", "convert", "plugin=dcgan", "data=shapes", "--to", "shard", "--out")
    code, _, err = cli(*convert, "c.safetensors", "model.conditional=true")
    assert code == 2 and "the shard holds the samples without their labels" in err
    assert not (workdir / "c.safetensors").exists()
    code, out, err = cli(*convert, "u.safetensors")
    assert code == 0 and "u.safetensors" in out, err


@pytest.mark.parametrize("plugin", ["dcgan", "stylegan"])
def test_a_missing_folder_is_named_before_its_classes(plugin: str, tmp_path: Path) -> None:
    """A conditional run on a data.path that does not exist said it needs two classes (one
    sub-folder per class): the missing folder is the line, as for an unconditional run."""
    missing = tmp_path / "nodir"
    args = [f"plugin={plugin}", "data=folder", f"data.path={missing}", "model.conditional=true"]
    with pytest.raises(ConfigError, match=r"^data\.path='.*nodir': folder does not exist$"):
        resolve(args)
