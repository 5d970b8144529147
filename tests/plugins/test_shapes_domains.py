"""data=shapes and biased digits in dcgan and stylegan: config errors, capabilities, reference
sets, conditional shapes, `ganhub data check`, and tiny runs that report fd_shapes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from ganhub.config.resolve import resolve
from ganhub.data.shapes import SHAPES
from ganhub.engine.run import prepare_system
from ganhub.errors import ConfigError
from ganhub.wiring import components

pytestmark = pytest.mark.usefixtures("one_thread")

DCGAN = ["plugin=dcgan", "model.g_channels=8", "model.d_channels=8", "model.latent_dim=8"]
RUN = ["preset=tiny", "trainer.steps=4", "trainer.log_every=2", "trainer.progress=false",
       "loggers=[jsonl]"]  # fmt: skip
EVAL = ["eval.metrics=[fid]", "eval.n_samples=64", "eval.n_real=128"]


@pytest.fixture
def cache(ganhub_cache: Path) -> Path:
    """The session's cache (tests/conftest.py), which every test shares: the classifier
    trains once a session."""
    return ganhub_cache


def build(*overrides: str):  # type: ignore[no-untyped-def]
    config = resolve(list(overrides))
    return prepare_system(config, components(config), torch.device("cpu"))[0]


def metrics_of(run_dir: Path) -> dict[str, float]:
    """Every value logged to the run's metrics.jsonl (the last one of each key)."""
    out: dict[str, float] = {}
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        out.update({k: v for k, v in json.loads(line).items() if isinstance(v, int | float)})
    return out


# -- config ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["plugin=dcgan", "data=shapes", "data.shapes=[circle]"], "data.shapes"),
        (["plugin=dcgan", "data=shapes", "data.shapes=[square,square]"], "data.shapes"),
        (["plugin=dcgan", "data=shapes", "data.proportions=[0.5,0.5]"], "data.proportions"),
        (["plugin=dcgan", "data=shapes", "data.proportions=[0.5,0.6,-0.1]"], "data.proportions"),
        (["plugin=dcgan", "data=shapes", "data.channels=3"], "data.channels"),
        (["plugin=dcgan", "data.colour=true"], "data.colour"),
        (["plugin=dcgan", "data=folder", "data.proportions=[0.5,0.5]"], "data.proportions"),
        (["plugin=dcgan", "data.proportions=[0.5,0.5]", 'data.digit_groups=["01","12"]'],
         "data.digit_groups"),
        (["plugin=dcgan", "data.proportions=[0.5,0.5]", "data.digit_groups=[01234,56789]"],
         "data.digit_groups"),
        (["plugin=dcgan", "data.proportions=[0.2,0.3,0.5]"], "data.proportions"),
        (["plugin=dcgan", "data=shapes", "data.shapes=[square]", "model.conditional=true"],
         "data.shapes"),
        (["plugin=stylegan", "data=shapes", "data.mirror=true"], "data.mirror"),
        (["plugin=stylegan", "data=shapes", "model.conditional=true"], "model.conditional"),
        (["plugin=stylegan", "data=shapes", "data.proportions=[1.0]"], "data.proportions"),
        (["plugin=stylegan", "data=digits", "data.n=500"], "data.n"),
    ],
)  # fmt: skip
def test_bad_shape_options_are_one_line_errors_naming_the_key(
    overrides: list[str], key: str
) -> None:
    with pytest.raises(ConfigError) as err:
        resolve(overrides)
    message = str(err.value)
    assert "\n" not in message and key in message, message


def test_stylegan_shapes_are_not_mirrored_by_default() -> None:
    config = resolve(["plugin=stylegan", "data=shapes"])
    assert config.data.mirror is False  # type: ignore[attr-defined]
    assert resolve(["plugin=stylegan"]).data.mirror is True  # type: ignore[attr-defined]


@pytest.mark.parametrize("conditional", [False, True])
def test_stylegan_digits_train_and_score_without_flipped_copies(conditional: bool) -> None:
    """A flipped 2 is not a digit: data=digits trains on the 5,000 digits as they are (and
    fd_digits compares with them), unless data.mirror=true asks for the flips."""
    extra = ["model.conditional=true"] if conditional else []
    plain = build("plugin=stylegan", "preset=tiny", "data=digits", *extra)
    assert plain.config.data.mirror is False
    assert len(plain.data()) == 5000
    flipped = build("plugin=stylegan", "preset=tiny", "data=digits", "data.mirror=true", *extra)
    assert len(flipped.data()) == 10000


# -- what the systems declare --------------------------------------------------------------


def test_dcgan_shapes_declare_the_attribute_features_and_reference() -> None:
    system = build(*DCGAN, "data=shapes", "data.n=300", "data.shapes=[triangle,square]",
                   "data.proportions=[0.8,0.2]", "data.colour=true")  # fmt: skip
    caps = system.capabilities()
    assert caps.dataset == "shapes" and caps.features == ("shapes",)
    attribute = caps.attribute
    assert attribute is not None and attribute.name == "shape" and attribute.classifier == "shapes"
    assert attribute.values == ("triangle", "square")
    assert attribute.data_proportions == (0.8, 0.2)
    assert attribute.groups == ((SHAPES.index("triangle"),), (SHAPES.index("square"),))
    assert system.default_metrics() == ["fid"]
    real = system.real_samples(300)
    assert real.shape == (300, 3, 32, 32)
    reference = system.reference_samples()
    assert reference is not None and reference.shape == (30, 3, 32, 32)
    assert not any(torch.equal(r, x) for r in reference for x in real)
    one = build(*DCGAN, "data=shapes", "data.n=100", "data.shapes=[ellipse]").capabilities()
    assert one.attribute is None  # one shape: nothing to be fair between


def test_dcgan_biased_digits_declare_the_digit_group() -> None:
    system = build(*DCGAN, "data.proportions=[0.9,0.1]")
    caps = system.capabilities()
    assert caps.dataset == "digits" and caps.features == ("digits",)
    assert caps.attribute is not None and caps.attribute.name == "digit group"
    assert caps.attribute.values == ("01234", "56789")
    assert caps.attribute.groups == ((0, 1, 2, 3, 4), (5, 6, 7, 8, 9))
    assert caps.attribute.classifier == "digits"
    train = system.real_samples(10_000)
    reference = system.reference_samples()
    assert reference is not None and 2400 < len(train) < 3000
    assert abs(len(reference) / len(train) - 0.1) < 0.02
    plain = build(*DCGAN)
    assert plain.capabilities().attribute is None and plain.reference_samples() is None
    assert len(plain.real_samples(10_000)) == 5000


def test_stylegan_shapes_declare_the_attribute_and_reference() -> None:
    system = build("plugin=stylegan", "preset=tiny", "data=shapes", "data.n=200",
                   "data.colour=true")  # fmt: skip
    caps = system.capabilities()
    assert caps.dataset == "shapes" and caps.features == ("shapes",)
    assert caps.attribute is not None and caps.attribute.values == SHAPES
    assert system.real_samples(500).shape == (200, 3, 16, 16)  # no x-flipped copies
    reference = system.reference_samples()
    assert reference is not None and reference.shape == (20, 3, 16, 16)
    assert build("plugin=stylegan", "preset=tiny").reference_samples() is None


def test_conditional_dcgan_on_shapes_labels_each_shape_by_its_place_in_data_shapes() -> None:
    system = build(*DCGAN, "data=shapes", "data.n=200", "data.shapes=[triangle,ellipse]",
                   "model.conditional=true")  # fmt: skip
    spec = system.capabilities().labels
    assert spec is not None and spec.sizes == (2,) and spec.names == (("triangle", "ellipse"),)
    images, labels = system.real_labelled(200)
    assert set(labels.tolist()) == {0, 1}
    # a triangle covers less than an ellipse of the same scale: the labels follow the pixels
    triangles = images[labels == 0].add(1).mean()
    ellipses = images[labels == 1].add(1).mean()
    assert triangles < ellipses
    samples = system.sample(4, seed=0, labels=torch.tensor([0, 1, 0, 1]))
    assert samples.shape == (4, 1, 32, 32)


# -- the CLI ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_dcgan_and_stylegan_train_on_shapes_and_report_fd_shapes(
    workdir: Path, cli, cache: Path
) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("run", "plugin=dcgan", "data=shapes", *RUN, "data.n=512", *EVAL)
    assert code == 0, err
    run_dir = next((workdir / "runs").glob("dcgan-*"))
    assert metrics_of(run_dir)["eval/fd_shapes"] > 0
    assert (cache / "features" / "shapes.json").is_file()
    code, _, err = cli("run", "plugin=stylegan", "data=shapes", *RUN, "data.n=256",
                         "data.colour=true", *EVAL)  # fmt: skip
    assert code == 0, err
    run_dir = next((workdir / "runs").glob("stylegan-*"))
    assert metrics_of(run_dir)["eval/fd_shapes"] > 0


@pytest.mark.slow
def test_conditional_and_biased_runs_through_the_cli(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("run", "plugin=dcgan", "data=shapes", *RUN, "data.n=256",
                       "model.conditional=true", "eval.metrics=[]")  # fmt: skip
    assert code == 0, err
    code, _, err = cli("run", "plugin=dcgan", *RUN, "data.proportions=[0.9,0.1]",
                       "eval.metrics=[]")  # fmt: skip
    assert code == 0, err


def test_data_check_reports_the_shape_balance(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("data", "check", "plugin=dcgan", "data=shapes", "data.n=400",
                       "data.proportions=[0.8,0.1,0.1]")  # fmt: skip
    assert code == 1  # unbalanced on purpose: a warning
    assert '"square": 320' in out and "unbalanced" in out and "factors" in out
    code, out, _ = cli("data", "check", "plugin=dcgan", "data=shapes", "data.n=300")
    assert code == 0, out
