"""The shared paired-translation system (pix2pix objective) through the real loop."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from pydantic import Field
from torch import nn

from ganhub.config.resolve import resolve
from ganhub.config.schema import RunConfig, TrainerConfig
from ganhub.data import TensorBatches
from ganhub.domain import Domain
from ganhub.engine.loop import fit
from ganhub.engine.paired import PairedTranslationGAN
from ganhub.hookspecs import hookimpl
from ganhub.plugins import Hub
from ganhub.wiring import make_run


class PatchD(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.ModuleList([nn.Conv2d(channels, 8, 3, 2, 1), nn.Conv2d(8, 1, 3, 1, 1)])

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        f = torch.relu(self.body[0](x))
        return [f]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body[1](self.features(x)[0])


class ShiftConfig(RunConfig):
    plugin: str = "shift"
    fm: float = Field(0.0, ge=0)
    trainer: TrainerConfig = Field(
        default_factory=lambda: TrainerConfig(steps=60, batch_size=16, log_every=20, progress=False)
    )


class ShiftSystem(PairedTranslationGAN):
    """Learn target = -condition on 8x8 images: a task L1 alone solves, so progress is checkable."""

    def __init__(self, config: ShiftConfig, hints) -> None:  # type: ignore[no-untyped-def]
        D = PatchD(2)
        super().__init__(
            config,
            hints,
            nn.Conv2d(1, 1, 3, 1, 1),
            D,
            l1_weight=100.0,
            feature_matching_weight=config.fm,
            d_features=D.features,
        )
        x = torch.rand(256, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
        self.pairs = (x, -x)

    def data(self) -> TensorBatches:
        return TensorBatches(*self.pairs)

    def sample(self, n, *, seed=None, use_ema=True, labels=None):  # type: ignore[no-untyped-def]
        return self.translate(self.pairs[0][:n], use_ema)

    def write_samples(self, directory: Path, stem: str, *, n=None, seed=0) -> list[Path]:  # type: ignore[no-untyped-def]
        return []


class ShiftDomain(Domain):
    name = "shift"
    description = "test domain: learn x -> -x"

    @property
    def config_class(self):  # type: ignore[no-untyped-def]
        return ShiftConfig

    def build(self, config, hints):  # type: ignore[no-untyped-def]
        return ShiftSystem(config, hints)


PLUGIN = SimpleNamespace(
    register_domains=hookimpl(lambda register: register("shift", ShiftDomain()))
)


@pytest.mark.parametrize("fm", [0.0, 1.0])
def test_paired_translation_learns_the_mapping(workdir, fm: float) -> None:  # type: ignore[no-untyped-def]
    hub = Hub.discover(extra=(("shift-plugin", PLUGIN),))
    run = make_run(
        resolve(["plugin=shift", f"fm={fm}", "loggers=[jsonl]", "optim.G.lr=0.01"], hub=hub), hub
    )
    x, y = run.system.pairs
    before = (run.system.translate(x) - y).abs().mean().item()
    fit(run)
    after = (run.system.translate(x) - y).abs().mean().item()
    assert after < 0.5 * before
    log = (run.run_dir / "metrics.jsonl").read_text()
    assert "G_l1" in log and ("G_feature_matching" in log) == (fm > 0)


def test_feature_matching_needs_d_features() -> None:
    class NoFeatures(ShiftSystem):
        def __init__(self) -> None:
            PairedTranslationGAN.__init__(
                self,
                ShiftConfig(),
                None,
                nn.Identity(),
                nn.Conv2d(2, 1, 1),
                feature_matching_weight=1.0,
            )  # type: ignore[arg-type]

    with pytest.raises(TypeError, match="features"):
        NoFeatures()
