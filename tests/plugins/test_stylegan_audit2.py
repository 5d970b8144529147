"""stylegan against StyleGAN2-ADA (training/networks.py, train.py): which blocks run in float16
and which layers clamp, the range of model.fp16_res, minibatch stddev's groups against the
batch, and the keys a resume cannot change."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
from ganhub_stylegan.layers import EqualConv2d, ModulatedConv, ToRGB, minibatch_stddev
from ganhub_stylegan.networks import CONV_CLAMP, Discriminator, Generator
from torch import nn

from ganhub.config.resolve import resolve
from ganhub.engine.loop import fit
from ganhub.errors import ConfigError
from ganhub.wiring import make_run

from .test_stylegan import TINY

pytestmark = pytest.mark.usefixtures("one_thread")
Cli = Callable[..., tuple[int, str, str]]  # the `cli` fixture: (exit code, stdout, stderr)


def _networks(size: int, fp16_res: int) -> tuple[Generator, Discriminator]:
    """A tiny G and D (4 to 8 feature maps)."""
    G = Generator(8, 8, 1, size, 3, 64, 8, fp16_res=fp16_res)
    return G, Discriminator(size, 3, 64, 8, fp16_res=fp16_res)


def _clamps(module: nn.Module) -> set[float | None]:
    return {m.clamp for m in module.modules() if isinstance(m, EqualConv2d | ModulatedConv | ToRGB)}


# -- mixed precision -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "fp16_res", "g_fp16", "d_fp16"),
    [
        # G's blocks from 4 px up, D's from the image size down to 8 px: StyleGAN2-ADA's
        # fp16_resolution = max(2 ** (log2(r) + 1 - num_fp16_res), 8), so 4x4 is never fp16
        (32, 4, [4, 8, 16, 32], [32, 16, 8]),  # 4x4 in float16 before
        (32, 2, [16, 32], [32, 16]),
        (16, 3, [8, 16], [16, 8]),  # 4x4 in float16 before
        (64, 1, [64], [64]),
        (8, 2, [8], [8]),  # 4x4 in float16 before
        (16, 0, [], []),
    ],
)
def test_float16_blocks_are_stylegan2_adas(
    size: int, fp16_res: int, g_fp16: list[int], d_fp16: list[int]
) -> None:
    G, D = _networks(size, fp16_res)
    resolutions = [4 * 2**i for i in range(len(G.synthesis.blocks))]
    assert [b.fp16 for b in G.synthesis.blocks] == [r in g_fp16 and r > 4 for r in resolutions]
    d_res = [size // 2**i for i in range(len(D.blocks))]
    assert [b.fp16 for b in D.blocks] == [r in d_fp16 for r in d_res]


@pytest.mark.parametrize(("size", "fp16_res"), [(32, 4), (32, 1), (64, 2), (8, 1)])
def test_mixed_precision_clamps_every_convolution_of_every_block(size: int, fp16_res: int) -> None:
    """train.py sets conv_clamp=256 with num_fp16_res > 0 for all of G's and D's blocks, float16
    or float32: G's convs and toRGBs, D's fromRGB, convs and epilogue conv; the resnet skips
    (no conv_clamp in NVIDIA's DiscriminatorBlock) and D's FC layers are never clamped. Only
    the float16 blocks' layers clamped before."""
    G, D = _networks(size, fp16_res)
    assert all(_clamps(block) == {CONV_CLAMP} for block in G.synthesis.blocks)
    assert D.from_rgb.clamp == D.conv.clamp == CONV_CLAMP
    for d_block in D.blocks:
        assert d_block.conv0.clamp == d_block.conv1.clamp == CONV_CLAMP
        assert d_block.skip.clamp is None
    assert not any(hasattr(m, "clamp") for m in [D.fc, D.out])


@pytest.mark.parametrize("size", [8, 32])
def test_float32_networks_neither_clamp_nor_run_in_float16(size: int) -> None:
    """model.fp16_res=0 (NVIDIA's --fp32: conv_clamp None): the networks compute what they did."""
    G, D = _networks(size, 0)
    assert _clamps(G) == _clamps(D) == {None}
    assert not any(b.fp16 for b in [*G.synthesis.blocks, *D.blocks])


@pytest.mark.parametrize(("precision", "clamp"), [("16", CONV_CLAMP), ("32", None)])
def test_the_engines_float16_autocast_clamps_every_convolution(
    precision: str, clamp: float | None
) -> None:
    """precision=16 runs every layer, the 4x4 blocks too, under float16 autocast; with
    model.fp16_res=0 nothing was clamped, so activations could pass float16's 65,504."""
    from ganhub.config.resolve import resolve
    from ganhub.engine.prepare import prepare_system
    from ganhub.wiring import components

    config = resolve(["plugin=stylegan", "preset=tiny", f"precision={precision}"])
    assert config.model.fp16_res == 0  # type: ignore[attr-defined]
    system = prepare_system(config, components(config), torch.device("cpu"))[0]
    G, D = system.G, system.D
    assert _clamps(G) == {clamp}
    convs = [D.from_rgb, D.conv, *(c for b in D.blocks for c in (b.conv0, b.conv1))]
    assert {c.clamp for c in convs} == {clamp}


def test_d_from_rgb_runs_in_its_first_blocks_precision(monkeypatch: pytest.MonkeyPatch) -> None:
    """NVIDIA's fromRGB belongs to D's first block and runs in its dtype; it ran in float32
    ahead of the float16 blocks. The autocast context is recorded (CPU has none)."""
    import ganhub_stylegan.networks as nets

    inside = [False]

    @contextlib.contextmanager
    def recording(enabled: bool, x: torch.Tensor) -> Iterator[None]:
        before, inside[0] = inside[0], enabled
        try:
            yield
        finally:
            inside[0] = before

    monkeypatch.setattr(nets, "_fp16", recording)
    seen: list[bool] = []
    for fp16_res in (1, 0):
        D = Discriminator(16, 3, 64, 8, fp16_res=fp16_res)
        D.from_rgb.register_forward_pre_hook(lambda m, i: seen.append(inside[0]))
        D(torch.randn(4, 3, 16, 16))
    assert seen == [True, False]


# -- model.fp16_res's range ------------------------------------------------------------------


@pytest.mark.parametrize(("size", "fp16_res"), [(32, 99), (32, 5), (8, 3)])
def test_more_float16_resolutions_than_the_model_has_are_refused(size: int, fp16_res: int) -> None:
    n = {32: 4, 8: 2}[size]
    message = (
        f"model.fp16_res={fp16_res}: model.image_size={size} has {n} resolutions "
        f"(4 to {size} px); choose 0..{n} (0: float32)"
    )
    with pytest.raises(ConfigError) as err:
        resolve(["plugin=stylegan", f"model.image_size={size}", f"model.fp16_res={fp16_res}"])
    assert str(err.value) == message
    ok = resolve(["plugin=stylegan", f"model.image_size={size}", f"model.fp16_res={n}"])
    assert ok.model.fp16_res == n  # type: ignore[attr-defined]
    # a run saved with it (preset=auto at 16 px held 4) still opens to sample, score, export
    keys = ["plugin=stylegan", f"model.image_size={size}", f"model.fp16_res={fp16_res}"]
    assert resolve(keys, training=False).model.fp16_res == fp16_res  # type: ignore[attr-defined]


def test_fp16_res_out_of_range_is_a_usage_error_on_the_command_line(cli: Cli) -> None:
    code, _, err = cli("run", *TINY, "trainer.steps=1", "model.fp16_res=99")  # 16 px
    assert code == 2 and "model.fp16_res=99" in err and "choose 0..3" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (["preset=auto"], 4),
        (["preset=paper256"], 4),
        (["preset=auto", "model.image_size=16"], 3),  # 4 before, now out of range
        (["preset=auto", "model.image_size=8"], 2),
        (["preset=auto", "model.image_size=8", "model.fp16_res=1"], 1),  # the user's wins
        (["preset=tiny"], 0),
        ([], 0),
    ],
)
def test_gpu_presets_use_four_float16_resolutions_or_all_there_are(
    keys: list[str], expected: int
) -> None:
    config = resolve(["plugin=stylegan", *keys])
    assert config.model.fp16_res == expected  # type: ignore[attr-defined]


# -- minibatch stddev groups ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        (
            ["trainer.batch_size=31"],
            "trainer.batch_size=31: minibatch stddev splits D's batch into groups of "
            "model.mbstd_group=4, which must divide it (as in StyleGAN2-ADA); choose "
            "trainer.batch_size=28 or 32, or model.mbstd_group=1 (which makes the feature a "
            "constant) or 31 or more",
        ),
        (
            ["trainer.batch_size=7"],
            "trainer.batch_size=7: minibatch stddev splits D's batch into groups of "
            "model.mbstd_group=4, which must divide it (as in StyleGAN2-ADA); choose "
            "trainer.batch_size=4 or 8, or model.mbstd_group=1 (which makes the feature a "
            "constant) or 7 or more",
        ),
        (
            ["trainer.batch_size=30", "trainer.grad_accum=5"],
            "trainer.batch_size=30 with trainer.grad_accum=5 (6 per micro-batch): minibatch "
            "stddev splits D's batch into groups of model.mbstd_group=4, which must divide it "
            "(as in StyleGAN2-ADA); choose trainer.batch_size=20 or 40, or model.mbstd_group=1, "
            "2 "
            "or 3 (divisors of 6; 1 makes the feature a constant) or 6 or more",
        ),
        (
            ["preset=paper256", "trainer.batch_size=36"],
            "trainer.batch_size=36: minibatch stddev splits D's batch into groups of "
            "model.mbstd_group=8, which must divide it (as in StyleGAN2-ADA); choose "
            "trainer.batch_size=32 or 40, or model.mbstd_group=1, 2, 3, 4 or 6 (divisors of 36; "
            "1 makes the feature a constant) or 36 or more",
        ),
    ],
    ids=["prime", "below-two-groups", "micro-batches", "paper256"],
)
def test_a_batch_the_mbstd_group_does_not_divide_is_refused(keys: list[str], message: str) -> None:
    """The group silently shrank to the largest divisor of the batch: 1 for a prime batch,
    which makes the stddev feature a constant."""
    with pytest.raises(ConfigError) as err:
        resolve(["plugin=stylegan", *keys])
    assert str(err.value) == message
    resolve(["plugin=stylegan", *keys], training=False)  # a saved run still opens to sample


@pytest.mark.parametrize(
    "keys",
    [
        [],  # small: batch 32, group 4
        ["preset=tiny"],  # batch 8
        ["preset=auto"],  # batch 16
        ["preset=paper256"],  # batch 64, group 8
        ["trainer.batch_size=3"],  # min(4, 3) = 3: one group of the whole batch
        ["trainer.batch_size=6", "model.mbstd_group=8"],
        ["trainer.batch_size=31", "model.mbstd_group=1"],
        ["trainer.batch_size=12", "trainer.grad_accum=3"],
    ],
)
def test_batches_the_group_divides_are_taken(keys: list[str]) -> None:
    resolve(["plugin=stylegan", *keys])


def test_minibatch_stddev_groups_as_stylegan2_ada_and_odd_batches_still_work() -> None:
    """Groups of min(group, N) strided over the batch (sample i in group i mod N/G), as
    NVIDIA's reshape(G, -1, ...); a call with a batch the group does not divide (an evaluation
    outside training) takes the largest group that divides it, and D scores it."""
    x = torch.randn(8, 6, 4, 4, generator=torch.Generator().manual_seed(0))
    got = minibatch_stddev(x, 4)[:, -1, 0, 0]
    y = x.reshape(4, 2, 6, 4, 4)
    ref = y.var(0, correction=0).add(1e-8).sqrt().mean(dim=(1, 2, 3)).repeat(4)
    assert torch.allclose(got, ref, atol=1e-6)
    odd = minibatch_stddev(x[:6], 4)[:, -1, 0, 0]  # groups of 3
    groups_of_3 = x[:6].reshape(3, 2, -1).var(0, correction=0).add(1e-8).sqrt().mean(1)
    assert torch.allclose(odd, groups_of_3.repeat(3), atol=1e-6)
    _, D = _networks(16, 0)
    assert D(torch.randn(7, 3, 16, 16)).shape == (7,)


# -- resume ----------------------------------------------------------------------------------


def test_a_resume_cannot_change_the_networks(workdir: Path, cli: Cli) -> None:
    """`resume=RUN model.image_size=32` of a 16 px run was refused only when the checkpoint
    was loaded, listing the tensors that did not fit instead of the key."""
    fit(make_run(resolve([*TINY, "trainer.steps=1", "name=r"])))
    code, _, err = cli("run", "resume=runs/r", "model.image_size=32", "trainer.steps=2")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert (
        "model.image_size=32: runs/r trained with model.image_size=16, and a resumed run's "
        "model.image_size cannot change" in err
    )
    for key, value, shown, was in [("model.channel_max", 8, 8, 16), ("model.z_dim", 8, 8, 16),
                                   ("model.map_layers", 1, 1, 2),
                                   ("model.map_lr_mul", 0.1, 0.1, 0.01),
                                   ("model.conditional", "true", "true", "false")]:  # fmt: skip
        with pytest.raises(ConfigError, match=rf"^{key}={shown}: runs/r trained with {key}={was}"):
            resolve(["resume=runs/r", f"{key}={value}", "trainer.steps=2"])
    # the same networks, trained on with other training, precision and mbstd settings
    same = ["model.image_size=16", "model.channel_max=16", "trainer.steps=2", "optim.G.lr=1e-3",
            "model.fp16_res=1", "model.mbstd_group=2", "trick.r1.gamma=0.5"]  # fmt: skip
    run = make_run(resolve(["resume=runs/r", *same]))
    assert run.config.model.fp16_res == 1  # type: ignore[attr-defined]
    fit(run)
