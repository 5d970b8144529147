"""stylegan audit: `preset=auto` derives what StyleGAN2-ADA's `--cfg=auto` derives from the
resolution (train.py, one GPU), and runs saved before keep what they trained with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

import ganhub
from ganhub.config.resolve import resolve
from ganhub.errors import ConfigError

pytestmark = pytest.mark.usefixtures("one_thread")


def _reference_auto(res: int) -> dict[str, float]:
    """StyleGAN2-ADA train.py's cfg_specs['auto'] with gpus=1, written out."""
    mb = max(min(min(4096 // res, 32), 64), 1)
    return {
        "batch": mb,
        "cbase": int((1 if res >= 512 else 0.5) * 32768),
        "lr": 0.002 if res >= 1024 else 0.0025,
        "gamma": 0.0002 * res**2 / mb,
        "ema": mb * 10 / 32,
    }


@pytest.mark.parametrize("size", [8, 32, 64, 128, 256, 512, 1024])
def test_auto_preset_follows_the_resolution_as_stylegan2_ada(size: int) -> None:
    """`preset=auto model.image_size=64` trained at batch 16 (R1 gamma 0.0512, EMA 5 kimg)
    where NVIDIA's `auto` trains at 32 (0.0256, 10 kimg); at 1024 px batch 16, cbase 16384 and
    lr 0.0025 where it takes 4, 32768 and 0.002."""
    config = resolve(["plugin=stylegan", "preset=auto", f"model.image_size={size}"])
    ref = _reference_auto(size)
    assert config.trainer.batch_size == ref["batch"]
    assert config.model.channel_base == ref["cbase"]  # type: ignore[attr-defined]
    assert config.optim.G.lr == config.optim.D.lr == ref["lr"]
    trick: Any = config.trick
    assert trick.r1.gamma == pytest.approx(ref["gamma"])
    assert trick.ema.half_life_kimg == pytest.approx(ref["ema"])
    assert config.model.mbstd_group == min(ref["batch"], 4)  # type: ignore[attr-defined]


def test_typed_keys_win_over_what_auto_derives() -> None:
    keys = ["trainer.batch_size=8", "model.channel_base=16384", "optim.G.lr=0.001"]
    config = resolve(["plugin=stylegan", "preset=auto", "model.image_size=1024", *keys])
    assert config.trainer.batch_size == 8
    assert config.model.channel_base == 16384  # type: ignore[attr-defined]
    assert (config.optim.G.lr, config.optim.D.lr) == (0.001, 0.002)
    gamma = config.trick.r1.gamma  # type: ignore[attr-defined]
    assert gamma == pytest.approx(0.0002 * 1024**2 / 8)


def test_other_presets_keep_their_own_batch() -> None:
    for keys, batch, cbase in (([], 32, 1024), (["preset=paper256"], 64, 16384),
                               (["preset=tiny"], 8, 256)):  # fmt: skip
        config = resolve(["plugin=stylegan", *keys, "model.image_size=64"])
        assert config.trainer.batch_size == batch
        assert config.model.channel_base == cbase  # type: ignore[attr-defined]


def _auto_run(root: Path) -> Path:
    ganhub.train(["plugin=stylegan", "preset=auto", "model.image_size=8", "model.z_dim=8",
                  "model.w_dim=8", "model.channel_max=8", "trainer.steps=1", "eval.metrics=[]",
                  "trainer.progress=false", "loggers=[jsonl]", "name=auto",
                  f"out_dir={root}"])  # fmt: skip
    return root / "auto"


def test_auto_runs_resume_with_their_batch(workdir: Path) -> None:
    """A run's batch stays on resume, derived or (an earlier release's preset) not; a typed
    new batch derives R1 gamma and the EMA half-life again."""
    run = _auto_run(workdir)
    again = resolve([f"resume={run}", "trainer.steps=2"])
    assert again.trainer.batch_size == 32
    assert again.model.channel_base == 16384  # type: ignore[attr-defined]
    path = run / "config.yaml"
    saved = yaml.safe_load(path.read_text())
    saved["trainer"]["batch_size"] = 16  # what preset=auto held at every size before
    saved["trick"]["r1"]["gamma"] = 0.0002 * 8**2 / 16
    saved["trick"]["ema"]["half_life_kimg"] = 5.0
    path.write_text(yaml.safe_dump(saved))
    old = resolve([f"resume={run}", "trainer.steps=2"])
    assert old.trainer.batch_size == 16
    assert old.trick.r1.gamma == pytest.approx(0.0008)  # type: ignore[attr-defined]
    assert old.trick.ema.half_life_kimg == 5.0  # type: ignore[attr-defined]
    new = resolve([f"resume={run}", "trainer.steps=2", "trainer.batch_size=8"])
    assert new.trick.r1.gamma == pytest.approx(0.0016)  # type: ignore[attr-defined]
    assert new.trick.ema.half_life_kimg == pytest.approx(2.5)  # type: ignore[attr-defined]


def test_a_resume_cannot_change_the_preset(workdir: Path) -> None:
    """`resume=RUN preset=auto` of a tiny run was accepted: it applied none of auto's keys (a
    resume continues the saved ones), re-derived only mixed precision (model.fp16_res=3) and
    saved a config naming preset auto beside tiny's widths, batch and objective."""
    ganhub.train(["plugin=stylegan", "preset=tiny", "trainer.steps=1", "trainer.progress=false",
                  "loggers=[jsonl]", "name=t"])  # fmt: skip
    with pytest.raises(ConfigError) as err:
        resolve(["resume=runs/t", "preset=auto", "trainer.steps=2"])
    assert str(err.value).startswith(
        "preset=auto: runs/t trained with preset=tiny, and a resumed run's preset cannot change"
    )
    same = resolve(["resume=runs/t", "preset=tiny", "trainer.steps=2"])
    assert same.preset == "tiny" and same.model.fp16_res == 0  # type: ignore[attr-defined]
