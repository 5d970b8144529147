"""The CycleGAN system (unpaired) and the pix2pix system (paired) of the cyclegan domain.

CycleGAN, one step (the original `optimize_parameters`):
  G    both generators: adversarial A->B and B->A + lambda * cycle L1 per direction
       + lambda * lambda_identity * identity L1 per direction
  D_A  judges domain A: real A vs a pool-mixed batch of G_BA(B), loss x d_scale
  D_B  judges domain B: real B vs a pool-mixed batch of G_AB(A), loss x d_scale
Both discriminators are in optimizer group "D"; their parameter sets are disjoint, so two Adam
steps over the group equal the original's one step over both. The D phases reuse the fakes the
G phase made (before G's update, as in the original).

Names: G_AB/G_BA/D_A/D_B are the original's netG_A/netG_B/netD_B/netD_A (its netD_A judges B).

The adversarial terms go through `TrainContext`, so every registered loss and D-input trick
works. ganhub's `lsgan` carries Mao et al.'s factor 1/2 on each term while the original uses
plain `MSELoss`; `loss_scale` undoes it in both systems, so lambda_a, lambda_identity, lambda_l1
and d_scale mean what they mean in the original and the default objective equals the
original's value for value.

pix2pix (`task=paired`) is the engine's shared `PairedTranslationGAN` with a U-Net generator and
a PatchGAN on (input, output) pairs; this module only builds the networks and writes grids.
Both systems translate as `model.inference` says (`ganhub.engine.paired.run_generator`): in
eval mode by default, or as the pix2pix paper (dropout on, each image's own batch-norm
statistics), the same for CycleGAN's instance norm without dropout.

Neither system samples from noise: both declare `samples=False` and the named interfaces of
`ganhub_cyclegan.interfaces` ("translate", "cycle" for CycleGAN, "paired_eval" on the embedded
data and on paired folders with test/ or val/ pairs), which the translation metrics and `ganhub cyclegan translate` use. Both have the same
`translate(images, direction)` and a `directions` tuple, so nothing needs to know which one
it holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from ganhub_cyclegan.config import CycleGANConfig, depth_note, dropout_note
from ganhub_cyclegan.data import DomainData
from ganhub_cyclegan.defaults import processes, recount_epochs
from ganhub_cyclegan.grids import wrapped_rows
from ganhub_cyclegan.interfaces import CYCLE, DIRECTIONS, DOMAIN_EVAL, PAIRED_EVAL, TRANSLATE
from ganhub_cyclegan.kept import KeptInputs, kept_count
from ganhub_cyclegan.networks import (
    PatchDiscriminator,
    ResnetGenerator,
    UnetGenerator,
    dropout_on_cpu,
    init_weights,
)
from ganhub_cyclegan.pool import ImagePool
from torch import Tensor, nn

from ganhub.capabilities import Capabilities
from ganhub.data import BatchSource
from ganhub.data.images import save_image_grid
from ganhub.engine.context import TrainContext
from ganhub.engine.paired import EVAL_CHUNK, PairedTranslationGAN, run_generator
from ganhub.engine.system import (
    BuildHints,
    ExportFunction,
    ExportInput,
    ExportSpec,
    GANSystem,
    Phase,
    PhaseOutput,
)
from ganhub.errors import UsageError, one_line
from ganhub.export import SAMPLES_FROM_DATA
from ganhub.exported import NOT_EXPORTED
from ganhub.metrics import ROTNET_MIN_IMAGES

# the embedded data's name in `Capabilities.dataset` (digits and their restyled twins)
EMBEDDED = "restyled_digits"

# Multiplier on a registered loss so it matches the original's form (see the module docstring).
LOSS_SCALE = {"lsgan": 2.0}
PREVIEW = 8  # examples per sample grid


def loss_scale(config: CycleGANConfig) -> float:
    """The multiplier on the configured loss that gives the original's form (`LOSS_SCALE`)."""
    return LOSS_SCALE.get(config.loss, 1.0)


def build_generator(config: CycleGANConfig) -> nn.Module:
    """The configured generator (3 -> 3 channels), initialised as the original."""
    m, c = config.model, config.data.channels
    kind, norm = config.generator_kind(), config.norm_kind()
    G: nn.Module
    if kind == "unet":
        G = UnetGenerator(c, c, config.unet_levels(), m.ngf, norm, config.use_dropout())
    else:
        blocks = 9 if kind == "resnet_9blocks" else 6
        G = ResnetGenerator(c, c, m.ngf, blocks, norm, config.use_dropout())
    init_weights(G, m.init, m.init_gain)
    return G


def build_discriminator(config: CycleGANConfig, in_channels: int) -> nn.Module:
    """A PatchGAN on `in_channels` inputs, initialised as the original."""
    m = config.model
    D = PatchDiscriminator(in_channels, m.ndf, config.d_layers(), config.norm_kind())
    init_weights(D, m.init, m.init_gain)
    return D


def translation_export(
    system: CycleGANSystem | Pix2PixSystem, generators: dict[str, str]
) -> ExportSpec:
    """What `ganhub export` writes for a translator: the (EMA) generator of each direction
    (`generators`: direction -> module name) and one image -> image function per direction.
    Not the sample inputs a folder run keeps (its own images: an export is made for sharing,
    and a folder run declares `samples_from_data`, so its export draws no samples either)."""
    config = system.config
    size = config.model.image_size
    # fully convolutional: other sides than the training size, in the generator's steps
    image = ExportInput("image", (config.data.channels, size, size), kind="image",
                        spatial_step=config.size_step(), spatial_min=config.size_min())  # fmt: skip
    state = {name: system.generator(name) for name in generators.values()}
    return ExportSpec(
        state=state,
        functions=tuple(
            ExportFunction(f"translate_{direction}", system.generator(name), (image,))
            for direction, name in generators.items()
        ),
    )


@dataclass
class _Fakes:
    """One micro-batch's generated images, kept for the D phases of the same step."""

    real_a: Tensor
    fake_a: Tensor
    fake_b: Tensor


class TranslationMixin:
    """What both systems share: data access, held-out pairs, the declaration, real samples."""

    config: CycleGANConfig
    domain_data: DomainData
    sample_inputs: KeptInputs  # a folder run's own sample inputs, kept with it (`kept.py`)
    # the directions `translate` accepts ("translate" interface)
    directions: ClassVar[tuple[str, ...]] = ("AtoB",)
    # interfaces besides "translate" and "paired_eval" this system provides
    interfaces: ClassVar[tuple[str, ...]] = ()
    training_data: BatchSource | None = None  # the source data() gave the run
    epoch_shift = 0  # a run in epochs: its steps against one started at its size (a resume's)
    notes: tuple[str, ...] | list[str] = ()  # said before step one (a resume's recount)

    def data_direction(self, direction: str) -> str:
        """The data's halves `direction` maps, as metrics name it: a task=paired run's input
        -> target direction is data.direction (B -> A for BtoA); a CycleGAN's are its own."""
        return self.config.data.direction if self.config.task == "paired" else direction

    def data(self) -> BatchSource:
        """The training batches (kept: a resume recounts epochs from their position)."""
        self.training_data = self.domain_data.training()
        return self.training_data

    def heldout_pairs(self) -> tuple[Tensor, Tensor] | None:
        """True (input, target) pairs for scoring ("paired_eval"), or None (folder data)."""
        return self.domain_data.heldout()

    def eval_images(self, n: int) -> tuple[Tensor, Tensor]:
        """Up to `n` images of each domain for distribution metrics ("domain_eval")."""
        return self.domain_data.eval_images(n)

    def capabilities(self) -> Capabilities:
        """Image translation, not sampling from noise; true held-out pairs on the embedded data
        and in a paired folder's test/ (else val/); a folder run's samples are of its images."""
        path = self.config.data.path
        embedded = path is None
        pairs = path is None or self.domain_data.heldout_name is not None
        provides = {TRANSLATE, DOMAIN_EVAL, *self.interfaces} | ({PAIRED_EVAL} if pairs else set())
        if not embedded:  # its samples translate the user's own images and show them
            provides.add(SAMPLES_FROM_DATA)
        return Capabilities(
            modality="image",
            samples=False,
            real_samples=True,
            dataset=EMBEDDED if embedded else None,
            task=self.config.task,
            provides=frozenset(provides),
        )

    def real_count(self) -> int:
        """The target domain's training images (what `real_samples` draws from)."""
        return int(self.domain_data.training().n_targets)

    def real_samples(self, n: int, seed: int = 0) -> Tensor:
        """Up to `n` training images of the target domain (what "AtoB" produces), on the CPU."""
        source = self.domain_data.training()
        n = min(n, source.n_targets)
        idx = torch.randperm(source.n_targets, generator=torch.Generator().manual_seed(seed))[:n]
        return source.gather(idx)

    def before_training(self) -> list[str]:
        """Read and keep the inputs the sample grids show (test/ or val/ files, else training
        ones) before step one, so checkpoints and exports carry them (`kept.py`); picked anew
        on resume. A file there that cannot be read stops the run here, not at its first sample
        step after training up to it. A note when model.image_size leaves the U-Net shallow."""
        if self.config.data.path is not None:
            self.keep_sample_inputs()
        note = depth_note(self.config)
        return [*self.notes, *([f"ganhub: note: {note}"] if note else [])]

    def keep_sample_inputs(self) -> None:
        """Keep the first `kept_count` A and B inputs of the folder (the grids' test/ or val/
        files, else training ones, in listed order) with the run."""
        cfg = self.config
        limit = kept_count(cfg.data.channels, cfg.model.image_size)
        self.sample_inputs.keep(*self.domain_data.eval_images(limit))

    def preview(self, n: int, seed: int) -> tuple[Tensor, Tensor]:
        """Exactly `n` A and B inputs for `sample` and the grids, chosen by `seed`: from the
        inputs kept with a folder run whenever it has them (the same with or without its
        folder), else from the data (`DomainData.preview`)."""
        if self.sample_inputs.held:
            return self.sample_inputs.draw(n, seed)
        root = self.config.data.path
        if root is not None and str(root) == NOT_EXPORTED:  # an export leaves them out
            raise UsageError(
                "an export holds no sample inputs (it is made for sharing: none of the run's "
                f"images, and data.path: {NOT_EXPORTED}): give data.path=FOLDER where the run's "
                "data is (ganhub sample EXPORT data.path=FOLDER), or translate images of your "
                "own with `ganhub cyclegan translate EXPORT --input IMAGES/`"
            )
        if root is not None and not root.is_dir():  # a run saved before inputs were kept
            raise UsageError(
                "this run keeps no sample inputs (saved before runs kept them) and its data "
                "folder is gone: translate images with `ganhub cyclegan translate RUN --input "
                f"IMAGES/`, or give data.path=FOLDER where the data is now (not at '{root}')"
            )
        return self.domain_data.preview(n, seed)

    def default_metrics(self) -> list[str]:
        """PSNR/SSIM against true pairs where they exist (the embedded data, a paired folder's
        test/ or val/), cycle L1 too; without pairs, the FD of translations to the target
        domain, when there are target images enough to train its rotation net on."""
        caps = self.capabilities()
        if not caps.can(PAIRED_EVAL):
            enough = self.domain_data.training().n_targets >= ROTNET_MIN_IMAGES
            return ["translation_fd"] if enough else []
        return ["translation_psnr_ssim"] + (["cycle_l1"] if caps.can(CYCLE) else [])

    def resume_state(self) -> dict[str, Any]:
        """The processes and batch size the run trains with (a run given in epochs counts its
        steps in theirs) and the shift of its steps recounted on a resume (`recount_epochs`)."""
        return {
            "processes": processes(),
            "batch_size": self.config.trainer.batch_size,
            "shift": self.epoch_shift,
        }

    def load_resume_state(self, state: dict[str, Any], step: int) -> None:
        """A run given in epochs resumed on other processes or at another batch size trains
        the passes it has left: its trainer.steps and decay start are recounted in the new
        steps, which a note before step one says (`recount_epochs`; refused where they cannot
        be)."""
        source = self.training_data
        if source is None:  # not resumed for training: nothing is counted
            return
        at = source.position
        recount = recount_epochs(
            self.config, state, step, len(source), (at.epoch, at.index, at.start)
        )
        if recount is None:
            shift = state.get("shift", 0)
            if type(shift) is not int:  # a damaged state: one line naming the checkpoint
                raise ValueError(f"shift {one_line(shift, 40)}")
            self.epoch_shift = shift
            return
        self.config.trainer.steps = recount.steps  # config.yaml is written after the restore
        if recount.start is not None:
            getattr(self.config.trick, "lr_schedule").start = recount.start  # noqa: B009
        self.epoch_shift, self.notes = recount.shift, [recount.note]

    def check_direction(self, direction: str) -> None:
        """A ValueError unless this system learned `direction`."""
        if direction not in self.directions:
            raise ValueError(
                f"direction '{direction}': this {self.config.task} run translates "
                f"{' or '.join(self.directions)}"
            )


class CycleGANSystem(TranslationMixin, GANSystem[CycleGANConfig]):
    """Two generators, two PatchGANs, two image pools; phases G, D_A, D_B."""

    generator_names = ("G_AB", "G_BA")
    discriminator_names = ("D_A", "D_B")
    modality = "image"
    directions = DIRECTIONS
    graph_safe = True  # with trainer.cuda_graphs its image pools draw on the device
    interfaces = (CYCLE,)
    # each side's adversarial loss: loss/G is mostly the cycle loss, falling while one
    # generator's adversarial loss climbs
    g_loss_stats: ClassVar[dict[str, str]] = {"_A": "G_adv_A", "_B": "G_adv_B"}
    # the gradient each D gives its G's images (logging steps): grad_norm/G is mostly cycle
    g_grad_stats: ClassVar[dict[str, str]] = {"_A": "G_adv_grad_A", "_B": "G_adv_grad_B"}

    def __init__(self, config: CycleGANConfig, hints: BuildHints) -> None:
        super().__init__(config, hints)
        c, size, obj = config.data.channels, config.model.image_size, config.objective
        self.G_AB, self.G_BA = build_generator(config), build_generator(config)
        self.D_A = build_discriminator(config, c * hints.pack)
        self.D_B = build_discriminator(config, c * hints.pack)
        # a captured step cannot replay decisions drawn on the host: the pools draw on the device
        draws: Literal["host", "device"] = "device" if config.trainer.cuda_graphs else "host"
        self.pool_A = ImagePool(obj.pool_size, (c, size, size), draws)  # generated A, for D_A
        self.pool_B = ImagePool(obj.pool_size, (c, size, size), draws)  # generated B, for D_B
        self.adv_scale = loss_scale(config)
        self.d_scale = obj.d_scale * self.adv_scale
        self.inference = config.model.inference
        self.lambda_a, self.lambda_b = obj.lambda_a, obj.lambda_b
        self.lambda_identity = obj.lambda_identity
        self.domain_data = DomainData(config)
        self.sample_inputs = KeptInputs(c, size, paired=False)

    def phases(self) -> list[Phase]:
        """G first (both generators), then each discriminator."""
        return [
            Phase("G", "G", self.g_step),
            Phase("D_A", "D", self.d_a_step),
            Phase("D_B", "D", self.d_b_step),
        ]

    def g_step(self, batch: Any, ctx: TrainContext) -> PhaseOutput:
        """Adversarial x2 + cycle x2 + identity x2 (the original `backward_G`)."""
        real_a, real_b = batch
        fake_b = self.G_AB(real_a)
        rec_a = self.G_BA(fake_b)
        fake_a = self.G_BA(real_b)
        rec_b = self.G_AB(fake_a)
        ctx.cache.setdefault("cyclegan", []).append(
            _Fakes(real_a, fake_a.detach(), fake_b.detach())
        )
        stats: dict[str, Tensor] = {}  # the gradient each D gives G: filled in backward
        if ctx.diagnose:  # (logging steps) through a view of the fakes that D alone sees
            fake_a = ctx.log_gradient_norm(stats, "G_adv_grad_A", fake_a)
            fake_b = ctx.log_gradient_norm(stats, "G_adv_grad_B", fake_b)
        adv_b = ctx.g_loss(self.D_B, fake_b, real=real_b, tag="_B")
        adv_a = ctx.g_loss(self.D_A, fake_a, real=real_a, tag="_A")
        cycle_a = (rec_a - real_a).abs().mean()
        cycle_b = (rec_b - real_b).abs().mean()
        loss = (
            self.adv_scale * (adv_b.loss + adv_a.loss)
            + self.lambda_a * cycle_a
            + self.lambda_b * cycle_b
        )
        stats.update({**adv_a.stats, **adv_b.stats, "G_adv_A": adv_a.loss.detach(),
                      "G_adv_B": adv_b.loss.detach(), "G_cycle_A": cycle_a.detach(),
                      "G_cycle_B": cycle_b.detach()})  # fmt: skip
        if self.lambda_identity > 0:
            idt_a = (self.G_BA(real_a) - real_a).abs().mean()  # G_BA should leave A images alone
            idt_b = (self.G_AB(real_b) - real_b).abs().mean()
            loss = loss + self.lambda_identity * (self.lambda_a * idt_a + self.lambda_b * idt_b)
            stats["G_identity_A"], stats["G_identity_B"] = idt_a.detach(), idt_b.detach()
        return PhaseOutput(loss, stats)

    def _fakes(self, batch: Any, ctx: TrainContext) -> _Fakes:
        """This micro-batch's fakes from the G phase, or new ones (a repeated D phase's batch)."""
        real_a, real_b = batch
        for fakes in ctx.cache.get("cyclegan", ()):
            if fakes.real_a.data_ptr() == real_a.data_ptr() and fakes.real_a.shape == real_a.shape:
                return fakes
        with torch.no_grad():
            return _Fakes(real_a, self.G_BA(real_b), self.G_AB(real_a))

    def d_a_step(self, batch: Any, ctx: TrainContext) -> PhaseOutput:
        """D_A on real A vs generated A from its pool."""
        fake_a = self.pool_A.query(self._fakes(batch, ctx).fake_a)
        out = ctx.d_loss(self.D_A, batch[0], fake_a, tag="_A")
        out.loss = out.loss * self.d_scale
        return out

    def d_b_step(self, batch: Any, ctx: TrainContext) -> PhaseOutput:
        """D_B on real B vs generated B from its pool."""
        fake_b = self.pool_B.query(self._fakes(batch, ctx).fake_b)
        out = ctx.d_loss(self.D_B, batch[1], fake_b, tag="_B")
        out.loss = out.loss * self.d_scale
        return out

    def export_spec(self) -> ExportSpec:
        """Both generators' weights; image -> image functions translate_AtoB and translate_BtoA."""
        return translation_export(self, {"AtoB": "G_AB", "BtoA": "G_BA"})

    def translate(
        self, images: Tensor, direction: str = "AtoB", use_ema: bool = True, *, seed: int = 0
    ) -> Tensor:
        """G_AB(images) for AtoB, G_BA(images) for BtoA, without gradients, as model.inference
        says (`seed`: the dropout draws of inference=paper, on the CPU: `dropout_on_cpu`)."""
        self.check_direction(direction)
        G = self.generator("G_AB" if direction == "AtoB" else "G_BA", use_ema=use_ema)
        x = images.to(self.device)
        with dropout_on_cpu(G):
            return run_generator(G, x, inference=self.inference, seed=seed, chunk=EVAL_CHUNK)

    @torch.no_grad()
    def sample(
        self, n: int, *, seed: int | None = None, use_ema: bool = True, labels: Tensor | None = None
    ) -> Tensor:
        """G_AB applied to `n` A inputs (held-out digits or test/train files) that `seed`
        picks (`preview`: repeated when there are fewer than `n`); not drawn from
        noise (`samples=False`), so `n` inputs give exactly `n` translations."""
        self.refuse_labels(labels)
        a, _ = self.preview(n, seed or 0)
        return self.translate(a, "AtoB", use_ema, seed=seed or 0)

    def write_samples(
        self, directory: Path, stem: str, *, n: int | None = None, seed: int = 0
    ) -> list[Path]:
        """A grid whose rows are A | G_AB(A) | G_BA(G_AB(A)) | B | G_BA(B) | G_AB(G_BA(B)),
        blocks of them side by side for a large `n` (`wrapped_rows`)."""
        a, b = self.preview(n or PREVIEW, seed)  # n rows, however few files
        a, b = a.to(self.device), b.to(self.device)
        fake_b = self.translate(a, "AtoB", seed=seed)
        fake_a = self.translate(b, "BtoA", seed=seed)
        columns = [
            a,
            fake_b,
            self.translate(fake_b, "BtoA", seed=seed),
            b,
            fake_a,
            self.translate(fake_a, "AtoB", seed=seed),
        ]
        grid, per_line = wrapped_rows(columns)  # a large n: blocks of rows side by side
        return [save_image_grid(grid, directory / f"{stem}.png", nrow=per_line)]


class Pix2PixSystem(TranslationMixin, PairedTranslationGAN[CycleGANConfig]):
    """pix2pix: U-Net G (skips at every level), PatchGAN D on (input, output) pairs, L1 x 100."""

    modality = "image"
    directions = ("AtoB",)  # input -> target only

    def __init__(self, config: CycleGANConfig, hints: BuildHints) -> None:
        c = config.data.channels
        super().__init__(
            config,
            hints,
            build_generator(config),
            build_discriminator(config, 2 * c * hints.pack),
            l1_weight=config.objective.lambda_l1,
            d_scale=config.objective.d_scale,
            adv_scale=loss_scale(config),
            inference=config.model.inference,
        )
        self.domain_data = DomainData(config)
        self.sample_inputs = KeptInputs(c, config.model.image_size, paired=True)

    def before_training(self) -> list[str]:
        """The grids' images read before step one; a note when the task's default dropout
        finds no U-Net level to hold it (asked for by name, it is refused: `config.check`)."""
        notes = super().before_training()
        note = dropout_note(self.config)
        if note and self.config.model.dropout is None:
            notes.append(f"ganhub: note: model.dropout (on for task=paired): {note}")
        return notes

    def export_spec(self) -> ExportSpec:
        """The generator's weights; the image -> image function translate_AtoB."""
        return translation_export(self, {"AtoB": "G"})

    def translate(  # type: ignore[override]  # the "translate" interface: a direction first
        self, images: Tensor, direction: str = "AtoB", use_ema: bool = True, *, seed: int = 0
    ) -> Tensor:
        """G(images) for "AtoB" (input -> target), without gradients, as model.inference says
        (`seed`: the dropout draws of inference=paper, on the CPU: `dropout_on_cpu`)."""
        self.check_direction(direction)
        with dropout_on_cpu(self.generator(use_ema=use_ema)):
            return super().translate(images, use_ema=use_ema, seed=seed)

    def sample(
        self, n: int, *, seed: int | None = None, use_ema: bool = True, labels: Tensor | None = None
    ) -> Tensor:
        """G applied to `n` inputs that `seed` picks (`preview`: repeated when
        there are fewer than `n`), in chunks; not drawn from noise (`samples=False`)."""
        self.refuse_labels(labels)
        a, _ = self.preview(n, seed or 0)
        return self.translate(a, "AtoB", use_ema, seed=seed or 0)

    def write_samples(
        self, directory: Path, stem: str, *, n: int | None = None, seed: int = 0
    ) -> list[Path]:
        """A grid whose rows are input | G(input) | target, blocks of them side by side for a
        large `n` (`wrapped_rows`)."""
        a, b = self.preview(n or PREVIEW, seed)  # n rows, however few files
        fake = self.translate(a, "AtoB", seed=seed)
        columns = [a.float().to(fake.device), fake, b.float().to(fake.device)]
        grid, per_line = wrapped_rows(columns)
        return [save_image_grid(grid, directory / f"{stem}.png", nrow=per_line)]
