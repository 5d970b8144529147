"""The toy2d domain: MLP GANs on 2D Gaussian mixtures, seconds on a CPU."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from ganhub_toy2d.config import (
    ARCH_SPACE,
    DEFAULT_TRICKS,
    TRICK_DEFAULTS,
    WGAN_GP_PRESET,
    Toy2dConfig,
)

from ganhub.domain import Domain

if TYPE_CHECKING:
    from pathlib import Path

    from ganhub.config.schema import RunConfig
    from ganhub.engine.system import BuildHints, GANSystem


class Toy2dDomain(Domain):
    """MLP GAN on a ring of 8 or a grid of 25 Gaussians; reports mode coverage; seconds on CPU."""

    name = "toy2d"
    description = (
        "MLP GAN on a 2D ring of 8 or grid of 25 Gaussians; reports modes, %HQ, reverse KL"
    )
    modality = "vector"
    supports_pack = True
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "tiny": {  # a seconds-long smoke configuration, as every built-in domain has
            "model": {"g_hidden": 16, "d_hidden": 16},
            "data": {"n_samples": 1000},
            "trainer": {"steps": 20, "batch_size": 32, "log_every": 10},
            "eval": {"n_samples": 500},
        },
        "ring": {"data": {"dataset": "ring"}},
        "grid": {"data": {"dataset": "grid"}},
        "wgan_gp": WGAN_GP_PRESET,  # the WGAN-GP paper's toy settings (docs/toy2d.md)
    }
    # NAS (ganhub tune space=arch): depth, width, norm, activation, skips; the supernet holds
    # them all with shared weights (ganhub tune sampler=oneshot)
    arch_space: ClassVar[dict[str, Any]] = ARCH_SPACE
    supernet: ClassVar[dict[str, Any]] = {"model.supernet": True}

    @property
    def config_class(self) -> type[RunConfig]:
        """Toy2dConfig."""
        return Toy2dConfig

    def defaults_for(self, chosen: dict[str, Any]) -> dict[str, Any]:
        """toy2d's options for the tricks of its default set (R1 gamma 0.1, EMA decay 0.99, LR
        decay to a tenth over the last 30 %) and WGAN-GP's lambda 0.1, for each of them the run
        enables; keys the user sets win, an EMA half-life the user gives replaces the decay,
        and gp's DRAGAN variant keeps the trick's weight."""
        tricks = chosen.get("tricks", DEFAULT_TRICKS)
        enabled = tricks if isinstance(tricks, list) else []  # else validation refuses it
        given = chosen.get("trick")
        given = given if isinstance(given, dict) else {}
        options = {}
        for name, values in TRICK_DEFAULTS.items():
            mine = given.get(name)
            mine = mine if isinstance(mine, dict) else {}
            if name not in enabled or (name == "ema" and "half_life_kimg" in mine):
                continue  # decay and half-life both set the averaging rate: the user's wins
            if name == "gp" and mine.get("variant", "wgan") != "wgan":
                continue  # 0.1 is WGAN-GP's toy lambda, not DRAGAN's
            options[name] = dict(values)
        return {"trick": options} if options else {}

    def data_formats(self, config: RunConfig) -> tuple[str, ...]:
        """`ganhub data convert --to` formats: none: the points are drawn from the mixture by seed."""
        return ()

    def convert_data(self, config: RunConfig, fmt: str, out: Path) -> list[Path]:
        """Refused with one line: toy2d draws its points from the mixture by seed (a shard of
        them would be a file it cannot read back, and is never faster than drawing them)."""
        from ganhub.errors import UsageError

        raise UsageError(
            f"--to {fmt}: toy2d has no converted format; its points are drawn from the mixture "
            "by seed (data.dataset, data.n_samples, seed), the same on every machine"
        )

    def build(self, config: RunConfig, hints: BuildHints) -> GANSystem:
        """Build the MLPs (the data is drawn when the loop asks for it)."""
        from ganhub_toy2d.system import Toy2dSystem

        assert isinstance(config, Toy2dConfig)
        return Toy2dSystem(config, hints)
