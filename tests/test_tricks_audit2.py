"""Tricks that did less, or other, than they said: a second audit against their references."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from ganhub.config.resolve import resolve
from ganhub.errors import ConfigError
from ganhub.tricks.augment import augment_color, augment_contrast, augment_saturation

from .conftest import TINY_DCGAN

pytestmark = pytest.mark.usefixtures("one_thread")

Op = Callable[[torch.Tensor], torch.Tensor]
COLOUR_OPS = [augment_saturation, augment_contrast, augment_color]


def _seeded(op: Op, x: torch.Tensor) -> torch.Tensor:
    torch.manual_seed(0)
    return op(x)


@pytest.mark.parametrize("op", COLOUR_OPS, ids=lambda op: op.__name__)
@pytest.mark.parametrize("channels", [1, 3])
def test_diffaug_colour_augments_each_image_of_a_stacked_pair(op: Op, channels: int) -> None:
    """pix2pix's D reads the condition and the image stacked on channels (2 or 6). DiffAugment's
    saturation took the grey of all of them, blending the condition into the image (at factor 0
    a grey pair became two copies of its mean), and contrast the mean of both images: the pair
    must be augmented as its two images, with one draw, as ADA's colour ops do."""
    torch.manual_seed(1)
    a, b = torch.rand(6, channels, 8, 8) * 2 - 1, torch.rand(6, channels, 8, 8) * 2 - 1
    pair = _seeded(op, torch.cat([a, b], dim=1))
    alone = torch.cat([_seeded(op, a), _seeded(op, b)], dim=1)
    assert torch.allclose(pair, alone, atol=1e-6)


def test_diffaug_colour_keeps_a_single_image_as_the_reference_does() -> None:
    """One RGB or grey image: DiffAugment's own formulas (Zhao et al. 2020), unchanged."""
    x = torch.rand(5, 3, 8, 8) * 2 - 1
    torch.manual_seed(0)
    r = torch.rand(5, 1, 1, 1)
    mean = x.mean(dim=1, keepdim=True)
    assert torch.allclose(_seeded(augment_saturation, x), (x - mean) * (r * 2) + mean)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    assert torch.allclose(_seeded(augment_contrast, x), (x - mean) * (r + 0.5) + mean)
    grey = x[:, :1]
    assert torch.equal(_seeded(augment_saturation, grey), grey)  # no colour to scale


def test_a_pix2pix_run_with_diffaug_trains(workdir: Path) -> None:
    """The paired D's stacked inputs go through the policy in a real run."""
    import ganhub

    keys = ["plugin=cyclegan", "preset=tiny", "task=paired", "trainer.steps=1",
            "trainer.progress=false", "loggers=[jsonl]", "tricks=[diffaug]"]  # fmt: skip
    result = ganhub.train(keys)
    assert Path(result["run_dir"], "config.yaml").is_file()


def test_rotation_head_with_both_weights_zero_is_refused(cli, workdir: Path) -> None:  # type: ignore[no-untyped-def]
    """weight_d=0 and weight_g=0 built a rotation head that nothing trained, without a word
    (acgan refused the same setting)."""
    keys = [*TINY_DCGAN, "tricks=[rotation_head]", "trick.rotation_head.weight_d=0"]
    with pytest.raises(ConfigError, match=r"weigh both rotation losses at 0") as err:
        resolve([*keys, "trick.rotation_head.weight_g=0"])
    assert "\n" not in str(err.value)
    code, _, stderr = cli("run", *keys, "trick.rotation_head.weight_g=0")
    assert code == 2 and "trick.rotation_head.weight_g=0" in stderr
    assert not Path("runs").exists()
    assert resolve(keys).trick.rotation_head.weight_g == 0.2  # one weight at 0 is a choice
