"""The StyleGAN2 system: phases Dmain, Gmain, Greg (lazy path length); R1 and ADA are tricks.

As in StyleGAN2-ADA's `training/loss.py`, each phase is its own optimizer step:
  Dmain  every step        logistic loss on reals and fakes (fakes without graph)
  Dr1    every 16 steps    added by the core `r1` trick (trick.r1.interval): R1 on the reals
                           Dmain saw, times the interval, with the D optimizer's lazy correction
  Gmain  every step        non-saturating loss on fresh fakes with style mixing
  Greg   every pl_interval path-length penalty on a smaller batch, times the interval
Every D input goes through `ctx.discriminate`, so the core `ada` trick (or `diffaug`) augments
it; Dmain hands ADA its real logits in `Pair.real_logits`. The lazy path-length phase's k/(k+1)
correction of G's optimizer is in `configure_optimizers`. All state a resume needs (w_avg,
path-length mean, EMA weights) lives in buffers or modules; ADA's p is the trick's state.

Conditional runs (`model.conditional`, `hints.condition`) train on (image, label) batches:
every phase draws its fakes for the batch's labels (style mixing mixes two latents of the same
labels), binds D to them (`given`) and hands the tricks D's head outputs (`PhaseOutput.aux`:
AC-GAN). An unconditional run builds the same modules and draws the same numbers as before.
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from ganhub_stylegan.bounds import cutoff_problem, psi_refusal
from ganhub_stylegan.config import StyleGANConfig
from ganhub_stylegan.data import ImageFiles, embedded, mirrored, refuse_unusable
from ganhub_stylegan.labels import labelled_digits, labelled_image_files
from ganhub_stylegan.networks import (
    Discriminator,
    Generator,
    mix_styles,
    use_fp16_channels_last,
)
from torch import Tensor, nn

from ganhub.capabilities import Capabilities
from ganhub.conditioning.nets import (
    blank_past,
    class_grid_layout,
    given,
    grid_labels,
    random_labels,
    split_batch_labels,
)
from ganhub.data import BatchSource, LoaderBatches, TensorBatches
from ganhub.data.images import save_image_grid
from ganhub.data.shapes import reference_set, reference_size, shape_attribute
from ganhub.data.shards import is_shard, load_image_shard
from ganhub.engine.context import TrainContext
from ganhub.engine.environment import forked_stream
from ganhub.engine.heads import with_heads
from ganhub.engine.system import (
    BuildHints,
    ExportFunction,
    ExportInput,
    ExportSpec,
    GANSystem,
    Phase,
    PhaseOutput,
)
from ganhub.errors import UsageError
from ganhub.latent import seeded_generator, seeded_normal

if TYPE_CHECKING:
    from ganhub.latent import LatentSpace

NOISE_MODES = ("random", "const", "none")  # the noise inputs: drawn, the stored ones, none
# what None gives for `psi=` and `cutoff=` (as `sample.psi` and `--psi` word their bounds)
_RUNS_PSI = "None: the run's sample.psi"
_RUNS_CUTOFF = "None: the run's sample.cutoff, all when unset"


class StyleGANSystem(GANSystem[StyleGANConfig]):
    """StyleGAN2 G (mapping + skip synthesis), residual D, lazy path length."""

    modality = "image"
    graph_safe = True  # style mixing, noise and pl_mean live on the device (updated in place)
    pl_mean: Tensor  # a buffer (register_buffer): the running mean of path lengths

    def __init__(self, config: StyleGANConfig, hints: BuildHints) -> None:
        super().__init__(config, hints)
        m, data = config.model, config.data
        condition = hints.condition
        self.label_spec = condition.labels if condition is not None else None
        self.channels = data.resolved_channels()
        # precision=16 runs every layer under float16 autocast: clamp as the float16 blocks do
        clamp = config.precision == "16"
        self.G = Generator(m.z_dim, m.w_dim, m.map_layers, m.image_size, self.channels,
                           m.channel_base, m.channel_max, m.fp16_res, m.map_lr_mul,
                           m.noise, condition, clamp=clamp)  # fmt: skip
        d_in = self.channels + (condition.discriminator_inputs() if condition else 0)
        D = Discriminator(m.image_size, d_in, m.channel_base, m.channel_max,
                          m.fp16_res, m.mbstd_group, clamp=clamp)  # fmt: skip
        if condition is None:
            self.D = with_heads(D, hints.heads)  # auxiliary heads tricks asked for (SSGAN)
        else:
            self.D = condition.wrap_discriminator(D)  # it builds condition.heads (AC-GAN)
        use_fp16_channels_last(self.G, m.fp16_channels_last)
        use_fp16_channels_last(self.D, m.fp16_channels_last)
        self.register_buffer("pl_mean", torch.zeros(()))
        self.obj = config.objective
        self._files_checked = False

    # -- training ---------------------------------------------------------------------

    def phases(self) -> list[Phase]:
        """Dmain, Gmain, Greg (lazy path length; absent when pl_weight=0). The `r1` trick
        inserts its lazy Dr1 phase after Dmain."""
        obj = self.obj
        phases = [Phase("Dmain", "D", self.d_main), Phase("Gmain", "G", self.g_main)]
        if obj.pl_weight > 0:
            phases.append(Phase("Greg", "G", self.g_reg, interval=obj.pl_interval))
        return phases

    def before_training(self) -> list[str]:
        """A warning when `model.fp16_res` asks for float16 blocks on a device other than CUDA,
        where they run as the rest of the network (float32, or the engine's `precision`
        autocast; their convolutions still clamp to +-256)."""
        fp16_res, precision = self.config.model.fp16_res, self.config.precision
        if fp16_res == 0 or self.device.type == "cuda":
            return []
        autocast = {"bf16": "bfloat16", "16": "float16"}.get(precision)
        trains = "float32" if autocast is None else f"{autocast}, as precision={precision} asks"
        return [
            f"stylegan: warning: model.fp16_res={fp16_res}: float16 blocks run on CUDA only, so "
            f"this run on {self.device.type} trains in {trains} (the convolutions still clamp "
            "to +-256); model.fp16_res=0 trains without the clamp"
        ]

    def configure_optimizers(self, optimizers: dict[str, torch.optim.Optimizer]) -> None:
        """Lazy path length: G's lr * k/(k+1), betas ** (k/(k+1)) (StyleGAN2 App. B).

        Greg is a phase of its own even at k=1 (two G steps per step: ratio 1/2, as in
        StyleGAN2-ADA). D's correction for lazy R1 is the `r1` trick's
        (trick.r1.lazy_correction)."""
        k = self.obj.pl_interval
        if not self.obj.lazy_correction or self.obj.pl_weight <= 0:
            return
        ratio = k / (k + 1)
        for pg in optimizers["G"].param_groups:
            pg["lr"] = pg["lr"] * ratio
            if "betas" in pg:
                pg["betas"] = tuple(b**ratio for b in pg["betas"])

    def latent(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n latent vectors z ~ N(0, I) on the system's device: training's are drawn there; a
        seeded draw on its `generator`'s device (`seeded_normal`: the CPU for a seed's images,
        one copy per call) and moved there."""
        if generator is None:  # the training step's draws: on the device, no host copy
            return torch.randn(n, self.G.z_dim, device=self.device)
        return seeded_normal(n, (self.G.z_dim,), generator, self.device)

    def split(self, batch: Any) -> tuple[Tensor, Tensor | None]:
        """(images, labels) of a batch; labels are None for an unconditional run."""
        return split_batch_labels(batch, self.label_spec is not None)

    def mixed_ws(self, n: int, update_w_avg: bool = True, labels: Tensor | None = None) -> Tensor:
        """Style vectors of n fresh latents (of `labels` when conditional), with style mixing
        at the configured probability (both latents of the same labels). The first latents
        move w_avg, in every phase, as StyleGAN2-ADA's run_G does (the second ones do not)."""
        ws = self.G.ws(self.latent(n), update_w_avg=update_w_avg, labels=labels)
        if self.obj.style_mixing > 0:
            ws2 = self.G.ws(self.latent(n), labels=labels)
            ws = mix_styles(ws, ws2, self.obj.style_mixing)
        return ws

    def d_main(self, batch: Any, ctx: TrainContext) -> PhaseOutput:
        """Logistic D loss on reals and fakes through the engine's shared D loss: the D-input
        tricks (ADA), the real-batch tricks (fairness), every-step R1 on this very forward,
        ADA's real logits and AC-GAN D's head outputs."""
        real, labels = self.split(batch)
        with torch.no_grad():
            fake = self.G.synthesis(self.mixed_ws(len(real), labels=labels))
        return ctx.d_loss(given(self.D, labels), real, fake)

    def g_main(self, batch: Any, ctx: TrainContext) -> PhaseOutput:
        """Non-saturating G loss on fresh style-mixed fakes (through the D-input tricks)."""
        real, labels = self.split(batch)
        fake = self.G.synthesis(self.mixed_ws(len(real), labels=labels))
        # real only read by relativistic losses; g_loss puts D's head outputs in aux
        return ctx.g_loss(given(self.D, labels), fake, real=real)

    def g_reg(self, batch: Any, ctx: TrainContext) -> PhaseOutput:
        """Path length: (|J_w^T y| - a)^2 with y ~ N(0, I)/sqrt(HW) and a its running mean."""
        real, labels = self.split(batch)
        n = max(1, len(real) // self.obj.pl_batch_shrink)
        with ctx.twice_differentiable():
            ws = self.mixed_ws(n, labels=None if labels is None else labels[:n])
            img = self.G.synthesis(ws)
        noise = torch.randn_like(img) / math.sqrt(img.shape[2] * img.shape[3])
        grad = ctx.input_gradient(img * noise, ws)
        lengths = grad.float().square().sum(2).mean(1).sqrt()
        pl_mean = self.pl_mean.lerp(lengths.mean(), self.obj.pl_decay)
        with torch.no_grad():
            self.pl_mean.copy_(pl_mean.detach())
        penalty = (lengths - pl_mean).square()
        loss = penalty.mean() * self.obj.pl_weight * self.obj.pl_interval
        return PhaseOutput(
            loss, {"pl_penalty": penalty.detach().mean(), "pl_mean": pl_mean.detach()}
        )

    def data(self) -> BatchSource:
        """Embedded faces/digits or a shard in memory, or a folder/zip decoded by loader
        workers after a header pass that refuses files training could not use; (image, label)
        batches for a conditional run (digits, or class folders / data.labels)."""
        cfg, size = self.config.data, self.config.model.image_size
        if cfg.source == "folder" and is_shard(cfg.path):
            assert cfg.path is not None
            images = load_image_shard(cfg.path, size, cfg.channels, resize=cfg.resize)
            return TensorBatches(mirrored(images, cfg.mirror))  # decoded once: no per-file work
        if cfg.source == "folder":
            assert cfg.path is not None
            if not self._files_checked:  # metrics ask for data() again: one header pass
                refuse_unusable(cfg.path, size, cfg.resize, cfg.center_crop)
                self._files_checked = True
            workers = self.config.trainer.num_workers
            if self.label_spec is not None:
                labelled = labelled_image_files(self.config)
                return LoaderBatches(
                    labelled, num_workers=workers, files=labelled.files, labels=labelled.labels
                )
            files = ImageFiles(
                cfg.path, size, cfg.channels, cfg.mirror, cfg.resize, crop=cfg.center_crop
            )
            return LoaderBatches(files, num_workers=workers, files=files.files)
        if self.label_spec is not None:  # digits: the only labelled embedded data
            return TensorBatches(*labelled_digits(size, cfg.mirror))
        return TensorBatches(embedded(cfg.source, size, cfg.mirror, cfg))

    # -- sampling ---------------------------------------------------------------------

    def generator(self, name: str | None = None, use_ema: bool = True) -> Generator:
        """The StyleGAN generator to sample from: its EMA copy when one exists and `use_ema`."""
        G = super().generator(name, use_ema)
        assert isinstance(G, Generator)  # G, or the EMA trick's deep copy of it
        return G

    def _eval(self, use_ema: bool) -> Generator:
        return self.generator(use_ema=use_ema)

    def check_truncation(self, psi: Any, cutoff: Any, call: str = "ws_for") -> None:
        """Refuse a `psi` or `cutoff` that `ws_for` cannot truncate with (None: the run's
        sample.psi, sample.cutoff) in one line naming the function `call` the caller typed it
        to, in the words of `sample.psi`, `sample.cutoff`, `--psi` and `--cutoff`:
        `truncation_grid(cutoff=9): a 16 px generator has 6 style vectors to truncate; ...`."""
        if psi is not None and (
            isinstance(psi, bool) or not isinstance(psi, int | float) or not 0 <= psi < math.inf
        ):
            raise UsageError(f"{call}(psi={psi!r}): {psi_refusal(_RUNS_PSI)}")
        if cutoff is None:
            return
        whole = isinstance(cutoff, int) and not isinstance(cutoff, bool)
        # a text or a float is refused with the range -1 is, as no whole number
        size, n_ws = self.config.model.image_size, self.G.num_ws
        problem = cutoff_problem(cutoff if whole else -1, size, n_ws)
        if problem:
            give = problem if whole else problem.replace("; give ", "; give a whole number ", 1)
            raise UsageError(f"{call}(cutoff={cutoff!r}): {give} ({_RUNS_CUTOFF})")

    @torch.no_grad()
    def ws_for(self, z: Tensor, *, psi: float | None = None, cutoff: int | None = None,
               use_ema: bool = True, labels: Tensor | None = None) -> Tensor:  # fmt: skip
        """Style vectors of latents `z`, truncated (default: the config's sample.psi/cutoff).

        psi moves the first `cutoff` style vectors toward w_avg (None: all of them; 0: none,
        as StyleGAN2-ADA's truncation_cutoff=0). A conditional run's are for `labels`; without
        them, for its first class (so the mixing grid, truncation grid and interpolation GIF
        show class 0)."""
        self.check_truncation(psi, cutoff, "ws_for")
        s = self.config.sample
        psi = s.psi if psi is None else psi
        cutoff = s.cutoff if cutoff is None else cutoff
        if self.label_spec is not None:
            if labels is None:
                labels = grid_labels(self.label_spec, 1).repeat_interleave(len(z), 0)
            labels = labels.to(self.device)
        else:
            self.refuse_labels(labels)
        return self._eval(use_ema).ws(z.to(self.device), psi, cutoff, labels=labels)

    @torch.no_grad()
    def synthesize(self, ws: Tensor, use_ema: bool = True, noise_mode: str = "const",
                   seed: int | None = None) -> Tensor:  # fmt: skip
        """Images from style vectors, in chunks of 64, float32 in [-1, 1] (clamped). With
        noise_mode="random" and a seed, the noise inputs are drawn after seeding a forked
        random stream: repeatable, and the run's own stream is left where it was."""
        if noise_mode not in NOISE_MODES:  # NVIDIA's assert: a typo would drop the noise
            raise UsageError(f"noise_mode={noise_mode!r}: choose {', '.join(NOISE_MODES)}")
        G = self._eval(use_ema)
        seeded = noise_mode == "random" and seed is not None
        with forked_stream(self.device) if seeded else nullcontext() as reseed:
            if reseed is not None and seed is not None:
                reseed(seed)
            out = [G.synthesis(chunk, noise_mode).float() for chunk in ws.split(64)]
        return torch.cat(out).clamp(-1, 1)

    @torch.no_grad()
    def sample(self, n: int, *, seed: int | None = None, use_ema: bool = True,
               labels: Tensor | None = None, psi: float | None = 1.0,
               cutoff: int | None = None, noise_mode: str = "random") -> Tensor:  # fmt: skip
        """n images from the (EMA) generator, untruncated unless `psi` < 1 (None: sample.psi).

        Metrics call this without psi, so they score the full distribution; sample grids pass
        the configured truncation. With `model.noise` the noise inputs are random, drawn from
        the seed, as StyleGAN2-ADA's metrics draw them (grids and walks pass "const").
        A conditional run's images are of `labels` (default: drawn uniformly over the classes,
        from the seeded generator after the latents; the metrics pass the data's frequencies).
        """
        self.check_truncation(psi, cutoff, "sample")
        self.refuse_labels(labels)
        # a seed's latents, then its labels, are drawn on a CPU generator (`ganhub.latent`):
        # the same on every device
        gen = None if seed is None else seeded_generator(seed)
        z = self.latent(n, gen)
        if self.label_spec is not None and labels is None:
            where = self.device if gen is None else gen.device
            labels = random_labels(self.label_spec, n, where, gen).to(self.device)
        ws = self.ws_for(z, psi=psi, cutoff=cutoff, use_ema=use_ema, labels=labels)
        return self.synthesize(ws, use_ema, noise_mode, seed)

    def display_samples(self, n: int, *, seed: int | None = None, use_ema: bool = True,
                        labels: Tensor | None = None) -> Tensor:  # fmt: skip
        """n images as the sample grids draw them: truncated at the run's sample.psi (on its
        first sample.cutoff style vectors), with the constant noise inputs (`ganhub sample
        --label`'s grid; `sample` is the metrics' untruncated, random-noise draw)."""
        return self.sample(n, seed=seed, use_ema=use_ema, labels=labels, psi=None,
                           noise_mode="const")  # fmt: skip

    @torch.no_grad()
    def class_grid(self, columns: int = 8, rows: int = 10, seed: int = 0,
                   psi: float | None = None, cutoff: int | None = None) -> Tensor:  # fmt: skip
        """A conditional run's samples by class: one row per class (`grid_labels`), one column
        per latent shared by every row, truncated by `psi` (None: sample.psi) up to `cutoff`."""
        assert self.label_spec is not None
        self.check_truncation(psi, cutoff, "class_grid")
        row_labels = grid_labels(self.label_spec, rows).to(self.device)
        z = self.latent(columns, seeded_generator(seed)).repeat(len(row_labels), 1)
        labels = row_labels.repeat_interleave(columns, dim=0)
        return self.synthesize(self.ws_for(z, psi=psi, cutoff=cutoff, labels=labels))

    def sample_grid(self, n: int | None, seed: int = 0, psi: float | None = None,
                    cutoff: int | None = None) -> tuple[Tensor, int | None]:  # fmt: skip
        """n samples (None: sample.grid) as a sample grid shows them, with its row width: a
        conditional run's one row per class (the first 10) and one shared latent per column,
        exactly n images when n is given; an unconditional run's a square grid (width None)."""
        self.check_truncation(psi, cutoff, "sample_grid")
        if self.label_spec is None:
            images = self.sample(
                n or self.config.sample.grid, seed=seed, psi=psi, cutoff=cutoff, noise_mode="const"
            )
            return images, None
        rows, columns = class_grid_layout(self.label_spec, n or self.config.sample.grid, 1)
        grid = self.class_grid(columns=columns, rows=rows, seed=seed, psi=psi, cutoff=cutoff)
        return (grid if n is None else blank_past(grid, n, columns)), columns

    def export_spec(self) -> ExportSpec:
        """noise (and labels) -> images: untruncated (psi 1), clamped to [-1, 1], with the
        constant noise inputs (it takes no seed): `synthesize(ws_for(z, psi=1))`. `sample`
        gives the same images without `model.noise`; with it, `sample` draws random noise
        inputs from its seed, and the card says so."""
        inputs = [ExportInput("noise", (self.G.z_dim,), meaning=self._export_meaning())]
        if self.label_spec is not None:
            sizes = self.label_spec.sizes
            shape = () if len(sizes) == 1 else (len(sizes),)
            inputs.append(ExportInput("labels", shape, "int64", "labels", sizes))
        sampler = _Sampler(self.generator(), self.config.sample.cutoff)
        return ExportSpec(
            state={"G": self.generator()},
            functions=(ExportFunction("generator", sampler, tuple(inputs)),),
        )

    def _export_meaning(self) -> str:
        """What the exported graph computes from its noise input and how to get it from Python."""
        labels = ", labels=labels" if self.label_spec is not None else ""
        how = (
            f"standard normal z; the image: s.synthesize(s.ws_for(z, psi=1{labels})) with "
            "s = ganhub.load(FOLDER).system, untruncated (psi 1)"
        )
        if not self.config.model.noise:
            return how
        return (
            f"{how}, with the constant noise inputs (model.sample(n, seed=...) draws random "
            "ones from its seed instead)"
        )

    def capabilities(self) -> Capabilities:
        """Images from noise and real images; the dataset's name for the embedded sets; the
        digit classifier's features on digits (fd_digits), the shapes classifier's on shapes
        (fd_shapes), else the core rotation net trained on this run's real images (fd_rotnet:
        faces and folders, nothing downloaded); a conditional run's labels (`sample(n,
        labels=)`); an unconditional run's latent space (`latent_space`); on shapes, the shape
        as the data's attribute (fairness tools)."""
        cfg = self.config.data
        source = cfg.source
        features = {"digits": ("digits",), "shapes": ("shapes",)}.get(source, ("rotnet",))
        attribute = shape_attribute(cfg.shapes, cfg.proportions) if source == "shapes" else None
        return Capabilities(
            modality="image",
            dataset=None if source == "folder" else source,
            features=features,
            labels=self.label_spec,
            attribute=attribute,
            provides=frozenset() if self.label_spec is not None else frozenset({"latent_space"}),
        )

    def latent_space(self) -> LatentSpace | None:
        """w, the style affines and the synthesis layers (unconditional runs; None for
        conditional, whose w depends on the label)."""
        if self.label_spec is not None:
            return None
        from ganhub_stylegan.latents import stylegan_latent_space

        return stylegan_latent_space(self)

    def reference_samples(self) -> Tensor | None:
        """data=shapes: a balanced reference set (a tenth of data.n, drawn apart from the
        training images); None for other data."""
        cfg = self.config.data
        if cfg.source != "shapes":
            return None
        n = reference_size(cfg.n, cfg.shapes)
        size = self.config.model.image_size
        return reference_set(size, n=n, shapes=cfg.shapes, colour=cfg.colour)[0]

    def default_metrics(self) -> list[str]:
        """The Frechet distance on the declared features (fd_rotnet; fd_digits on digits,
        fd_shapes on shapes); conditional runs add their samples' class accuracy and the intra-class FD."""
        if self.label_spec is None:
            return ["fid"]
        return ["fid", "class_accuracy", "intra_fid"]

    def write_samples(
        self, directory: Path, stem: str, *, n: int | None = None, seed: int = 0
    ) -> list[Path]:
        """A sample grid (a conditional run's: one row per class, the first 10, and one shared
        latent per column); from a trained model (not training) also a style-mixing grid and
        an interpolation GIF (a conditional run's of its first class)."""
        from ganhub_stylegan.sampling import interpolation_gif, style_mixing_grid

        images, columns = self.sample_grid(n, seed=seed)  # exactly n when asked (ganhub sample)
        paths = [save_image_grid(images, directory / f"{stem}.png", nrow=columns)]
        if not self.training:
            paths.append(style_mixing_grid(self, directory / f"{stem}_mixing.png", seed=seed))
            paths.append(
                interpolation_gif(
                    self,
                    directory / f"{stem}_interp.gif",
                    seed=seed,
                    frames=self.config.sample.frames,
                )
            )
        return paths


class _Sampler(nn.Module):
    """One call of `StyleGANSystem.sample` after its seeded draws: what `ganhub export` traces."""

    def __init__(self, G: Generator, cutoff: int | None) -> None:
        super().__init__()
        self.G = G
        self.cutoff = cutoff

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        """Images in [-1, 1] from latents z (B, z_dim), of `labels` when conditional."""
        ws = self.G.ws(z, 1.0, self.cutoff, labels=labels)
        images: Tensor = self.G.synthesis(ws, "const").float().clamp(-1, 1)
        return images
