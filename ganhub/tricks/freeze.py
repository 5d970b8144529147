"""FreezeD (Mo et al. 2020): fine-tune a pretrained GAN on little data with the
discriminator's first layers frozen.

The first layers of a discriminator read the high-resolution input and learn generic edge and
texture filters; keeping them fixed while the later layers and the generator adapt resists
overfitting the few new images better than fine-tuning everything. Frozen parameters have
`requires_grad` off from setup on, so the run leaves them out of its optimizer groups
(`ganhub.engine.start.trainable_groups`): no optimizer ever moves them. A frozen BatchNorm
keeps its running statistics too (momentum 0): it still normalises each batch by the batch's
own statistics in training, as before, but the averages an eval-mode D reads stay as trained.

The layers it freezes must be the source's: a source without D weights (a folder written by
`ganhub export`, which holds G) or with other D layers is refused once `init_from` has loaded
(`ganhub.engine.init_from.initialised_names`), before the run directory exists.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field, field_validator

from ganhub.config.schema import Section
from ganhub.errors import ConfigError, one_line
from ganhub.tricks import Trick

if TYPE_CHECKING:
    from torch import nn

    from ganhub.engine.system import GANSystem


class FreezeDConfig(Section):
    """Options of the `freeze_d` trick."""

    layers: int = Field(
        2,
        description="freeze each discriminator's first K parametrised layers, K at least 1 "
        "(module order: the input, high-resolution ones first); a normalisation layer belongs "
        "to the layer before it",
    )

    @field_validator("layers")
    @classmethod
    def _freezes_something(cls, layers: int) -> int:
        # pydantic's "greater than or equal to 1" said what, not why
        if layers < 1:
            raise ValueError(
                "freezes no layer, so D would train as without the trick: give 1 or more "
                "(default 2), or drop freeze_d from tricks"
            )
        return layers


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
        self.system = system
        names = {id(p): n for n, p in system.named_parameters()}
        self.frozen_params: list[str] = []  # their parameters' names, as `D.0.weight`
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
                    self.frozen_params.append(names[id(p)])
                for m in modules:
                    keep_running_stats(D.get_submodule(m))
                self.frozen += [f"{name}.{m}" if m else name for m in modules]

    def on_optimizers(self, optimizers: dict[str, Any]) -> None:
        """Refuse layers to freeze that init_from did not load (after it, before training):
        frozen, they would stay the random filters they were built with."""
        from ganhub.engine.init_from import initialised_names
        from ganhub.engine.start import owner

        loaded = initialised_names(self.system)
        if loaded is None:  # no init_from here: a resumed run restored every layer
            return
        missing = list(dict.fromkeys(owner(n) for n in self.frozen_params if n not in loaded))
        if not missing:
            return
        shown = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
        roots = ", ".join(sorted({n.partition(".")[0] for n in loaded}))
        source = one_line(self.config.init_from, 200)
        raise ConfigError(
            f"trick 'freeze_d' would freeze {shown}, which init_from={source} did not supply "
            f"(it loaded {roots}), so they would stay random: start from a run directory "
            "whose checkpoint holds D (an exported folder holds G only), or drop freeze_d"
        )


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
