"""Trick settings that had no effect, or less than they said, and now say so (or act)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ganhub.config.resolve import resolve
from ganhub.errors import ConfigError
from ganhub.wiring import make_run

from .conftest import TINY_DCGAN, TINY_TOY

pytestmark = pytest.mark.usefixtures("one_thread")

STYLEGAN = ["plugin=stylegan", "model.image_size=16", "model.z_dim=16", "model.w_dim=16",
            "model.channel_base=128", "model.channel_max=16", "trainer.batch_size=4",
            "trainer.steps=1", "trainer.progress=false", "loggers=[jsonl]",
            "eval.metrics=[]"]  # fmt: skip
TEXTGAN = ["plugin=textgan", "preset=tiny", "trainer.steps=4", "trainer.progress=false",
           "loggers=[jsonl]"]  # fmt: skip


@pytest.mark.parametrize(
    ("keys", "match"),
    [
        (["tricks=[spectral_norm]"], r"trick spectral_norm: D of this 'stylegan' run has no "),
        (["tricks=[init]", "trick.init.groups=[D]"], r"trick init: D .*\(EqualConv2d x"),
        (["tricks=[init]"], r"trick init: G .*\(EqualLinear x.*; drop the trick"),
    ],
)
def test_weight_tricks_refuse_a_side_without_a_layer_they_know(
    workdir: Path, keys: list[str], match: str
) -> None:
    """On stylegan's equalised-learning-rate layers they wrapped or re-initialised nothing."""
    with pytest.raises(ConfigError, match=match):
        make_run(resolve([*STYLEGAN, *keys]))
    assert not Path("runs").exists()  # refused before the run directory is written


def test_a_run_saved_with_such_a_trick_still_opens(workdir: Path) -> None:
    """A stylegan run trained with spectral_norm (when it wrapped nothing) samples as before:
    the refusal is for new runs only."""
    import yaml

    import ganhub

    run_dir = Path(ganhub.train([*STYLEGAN, "name=old"])["run_dir"])
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    saved["tricks"] = [*saved["tricks"], "spectral_norm"]  # as an earlier version saved it
    (run_dir / "config.yaml").write_text(yaml.safe_dump(saved))
    assert ganhub.load(run_dir).sample(2).shape[0] == 2
    with pytest.raises(ConfigError, match=r"trick spectral_norm: D of this 'stylegan' run"):
        make_run(resolve([f"resume={run_dir}", "trainer.steps=2"]))  # training it is refused


def test_textgan_spectral_norm_covers_the_token_embedding_and_refuses_g(workdir: Path) -> None:
    run = make_run(resolve([*TEXTGAN, "tricks=[spectral_norm]", "name=sn"]))
    from torch.nn.utils import parametrize

    assert parametrize.is_parametrized(run.system.D.embed, "weight")  # D's first linear map
    soft = torch.softmax(torch.randn(2, 5, run.system.D.embed.weight.shape[0]), -1)
    assert run.system.D(soft).shape == (2,)
    run.close()
    for key in ("init", "spectral_norm"):
        with pytest.raises(ConfigError, match=rf"trick {key}: G .*\(Conv1D x\d+.*groups=\[D\]"):
            make_run(resolve([*TEXTGAN, f"tricks=[{key}]", f"trick.{key}.groups=[G,D]"]))


def test_a_textgan_checkpoint_with_a_plain_token_embedding_still_loads(workdir: Path) -> None:
    """A run saved before spectral_norm covered D's token embedding holds its plain weight."""
    config = resolve([*TEXTGAN, "tricks=[spectral_norm]", "name=old"])
    run = make_run(config)
    state = run.system.state_dict()
    plain = run.system.D.embed.weight.detach().clone()
    for key in [k for k in state if k.startswith("D.embed.parametrizations")]:
        del state[key]
    state["D.embed.weight"] = plain
    run.system.load_state_dict(state)
    assert torch.equal(run.system.D.embed.weight, plain)
    run.close()


def test_weight_tricks_cover_attention_of_textgan_transformer_d(workdir: Path) -> None:
    """nn.MultiheadAttention keeps q, k, v in `in_proj_weight`: spectral_norm and init left it
    as it was without a word, while they covered the layers around it."""
    from torch.nn.utils import parametrize

    keys = [*TEXTGAN, "model.discriminator=transformer"]
    run = make_run(resolve([*keys, "tricks=[spectral_norm]", "name=sn"]))
    attention = [m for m in run.system.D.modules() if isinstance(m, torch.nn.MultiheadAttention)]
    assert attention and all(parametrize.is_parametrized(m, "in_proj_weight") for m in attention)
    run.system.D.train()
    for _ in range(20):  # the power iteration converges over forward passes
        run.system.D(torch.softmax(torch.randn(2, 5, run.system.D.embed.weight.shape[0]), -1))
    sigma = torch.linalg.matrix_norm(attention[0].in_proj_weight.detach(), 2)
    assert abs(sigma.item() - 1) < 0.05
    state = run.system.state_dict()  # a checkpoint saved when attention was left plain loads
    plain = attention[0].in_proj_weight.detach().clone() * 3
    prefix = next(k for k in state if "self_attn.parametrizations.in_proj_weight" in k)
    prefix = prefix.split("parametrizations")[0]
    for key in [k for k in state if k.startswith(prefix + "parametrizations.in_proj_weight")]:
        del state[key]
    run.system.load_state_dict({**state, prefix + "in_proj_weight": plain})
    assert torch.equal(attention[0].in_proj_weight, plain)
    run.close()
    run = make_run(resolve([*keys, "tricks=[init]", "trick.init.groups=[D]", "name=init"]))
    weight = next(m for m in run.system.D.modules() if isinstance(m, torch.nn.MultiheadAttention))
    assert abs(weight.in_proj_weight.std().item() - 0.02) < 0.004  # N(0, 0.02), not Xavier's
    assert torch.count_nonzero(weight.in_proj_bias) == 0
    run.close()


@pytest.mark.parametrize(
    ("keys", "match"),
    [
        ([*TINY_TOY, "tricks=[clip_grad]", "trick.clip_grad.groups=[]"], "clip_grad.groups=.*"),
        ([*TINY_TOY, "tricks=[spectral_norm]", "trick.spectral_norm.groups=[]"], "names no side"),
        ([*TINY_TOY, "tricks=[weight_penalty]", "trick.weight_penalty.groups=[]"], "no side"),
        ([*TINY_TOY, "tricks=[init]", "trick.init.groups=[]"], r"init.groups=\[\]: names no"),
        ([*TINY_DCGAN, "tricks=[diffaug]", "trick.diffaug.policy=[]"], "augments nothing"),
        ([*TINY_DCGAN, "tricks=[ada]", "trick.ada.ops=[]"], "augments nothing"),
        (
            [
                *TINY_DCGAN,
                "tricks=[diffaug]",
                "trick.diffaug.policy=[translation]",
                "trick.diffaug.translation=0",
            ],
            "translation=0 shifts by nothing",
        ),
        (
            [*TINY_DCGAN, "tricks=[ada]", "trick.ada.ops=[xint]", "trick.ada.translation=0"],
            "op xint does nothing",
        ),
        (
            [
                *TINY_DCGAN,
                "model.conditional=true",
                "tricks=[acgan]",
                "trick.acgan.weight_d=0",
                "trick.acgan.weight_g=0",
            ],
            "weigh both class losses at 0",
        ),
    ],
)
def test_settings_that_do_nothing_are_refused(keys: list[str], match: str) -> None:
    with pytest.raises(ConfigError, match=match) as err:
        resolve(keys)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("keys", "warned"),
    [
        (["tricks=[]"], True),
        (["tricks=[spectral_norm]", "trick.spectral_norm.groups=[G]"], True),
        (["tricks=[spectral_norm]"], False),
        (["tricks=[gp]"], False),
    ],
)
def test_a_wasserstein_critic_without_a_constraint_is_warned_of(
    workdir: Path, keys: list[str], warned: bool
) -> None:
    """loss=wasserstein trained an unconstrained critic without a word."""
    run = make_run(resolve([*TINY_TOY, "loss=wasserstein", *keys]))
    try:
        said = [w for w in run.preflight() if "needs a Lipschitz constraint on D" in w]
    finally:
        run.close()
    assert bool(said) == warned
