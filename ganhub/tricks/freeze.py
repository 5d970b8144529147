"""FreezeD (Mo et al. 2020): fine-tune a pretrained GAN on little data with the
discriminator's first layers frozen.

The first layers of a discriminator read the high-resolution input and learn generic edge and
texture filters; keeping them fixed while the later layers and the generator adapt resists
overfitting the few new images better than fine-tuning everything. Frozen parameters have
`requires_grad` off from setup on, so the run leaves them out of its optimizer groups
(`ganhub.engine.start.trainable_groups`): no optimizer ever moves them. A frozen BatchNorm
keeps its running statistics too (momentum 0): it still normalises each batch by the batch's
own statistics in training, as before, but the averages an eval-mode D reads stay as trained.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from ganhub.config.schema import Section
from ganhub.errors import ConfigError
from ganhub.tricks import Trick

if TYPE_CHECKING:
    from torch import nn

    from ganhub.engine.system import GANSystem


class FreezeDConfig(Section):
    """Options of the `freeze_d` trick."""

    layers: int = Field(
        2,
        ge=1,
        description="freeze each discriminator's first K parametrised layers (module order: "
        "the input, high-resolution ones first); a normalisation layer belongs to the layer "
        "before it",
    )


class FreezeD(Trick):
    """FreezeD: the discriminator's first K layers stay as trained (fine-tuning on few images)."""

    name = "freeze_d"
    description = "freeze D's first trick.freeze_d.layers=K layers while fine-tuning (FreezeD)"
    Config = FreezeDConfig
    setup_order = 20  # after spectral norm (10) has wrapped the weights it freezes
    needs_trained_weights = (
        "keeps a pretrained discriminator's first layers, which are random filters without "
        "init_from"
    )

    def setup(self, system: GANSystem) -> None:
        """Turn requires_grad off on the first K layers of every discriminator."""
        k = self.options.layers
        self.frozen: list[str] = []  # module names, as `D.0`
        for name in system.discriminator_names:
            layers = parametrised_layers(getattr(system, name))
            if k >= len(layers):
                raise ConfigError(
                    f"trick.freeze_d.layers={k}: discriminator '{name}' has {len(layers)} "
                    f"parametrised layers, so at most {len(layers) - 1} can be frozen"
                )
            D = getattr(system, name)
            for modules, params in layers[:k]:
                for p in params:
                    p.requires_grad_(False)
                for m in modules:
                    keep_running_stats(D.get_submodule(m))
                self.frozen += [f"{name}.{m}" if m else name for m in modules]


def keep_running_stats(module: nn.Module) -> None:
    """A BatchNorm's running mean and variance stop moving (momentum 0); other modules as is."""
    from torch import nn

    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        module.momentum = 0.0


def parametrised_layers(module: nn.Module) -> list[tuple[list[str], list[nn.Parameter]]]:
    """The layers of `module` that own parameters, in module order: (the names of the modules
    that make the layer, its parameters).

    A layer is a module owning parameters (a convolution with its spectral-norm
    parametrisation counts once); a normalisation layer joins the layer before it, as the
    BatchNorm after a DCGAN convolution belongs to that convolution's block.
    """
    from torch import nn

    from ganhub.engine.start import owner

    norms = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)
    layers: list[tuple[list[str], list[nn.Parameter]]] = []
    for pname, param in module.named_parameters():
        name = owner(pname)
        if layers and layers[-1][0][-1] == name:
            layers[-1][1].append(param)
        elif layers and isinstance(module.get_submodule(name), norms):
            # BatchNorm's scale and shift: part of the layer of the conv before it
            layers[-1][0].append(name)
            layers[-1][1].append(param)
        else:
            layers.append(([name], [param]))
    return layers
