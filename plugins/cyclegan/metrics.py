"""Translation metrics: PSNR, SSIM and cycle L1 against held-out true pairs; the Frechet
distance of translations to the target domain where there are no pairs.

PSNR follows scikit-image's `peak_signal_noise_ratio` on images in [-1, 1] (data range 2, the
same as range 1 on [0, 1]). SSIM is ganhub's (`ganhub.metrics.formulas.ssim`: Wang et al. 2004,
as scikit-image's `structural_similarity` with `gaussian_weights=True, sigma=1.5,
use_sample_covariance=False`) on the images shifted to [0, 1] (data range 1): its luminance term
is defined on non-negative intensities and changes when they are shifted. Both are computed per
image (SSIM averaged over channels) and then averaged over images; tests check them against
scikit-image. The identity baseline scores the
untranslated input against the target: a translation is only useful where it beats it.

Both metrics decide from the declared capabilities alone: a system that provides "translate"
and "paired_eval" (and "cycle", for the cycle L1) is scored, whatever its class (the names are
documented in `ganhub_cyclegan.interfaces`). Imports torch inside functions: registering the
metrics loads no torch.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, ClassVar, cast

from ganhub_cyclegan.interfaces import (
    CYCLE,
    DOMAIN_EVAL,
    PAIRED_EVAL,
    TRANSLATE,
    DomainEval,
    PairedEval,
)

from ganhub.metrics import Directions, Metric

if TYPE_CHECKING:
    from torch import Tensor

    from ganhub.capabilities import Capabilities
    from ganhub.engine.system import GANSystem

DATA_RANGE = 2.0  # images live in [-1, 1]


def psnr(x: Tensor, y: Tensor, data_range: float = DATA_RANGE) -> Tensor:
    """Peak signal-to-noise ratio in dB of each image pair (N, C, H, W) -> (N,)."""
    import torch

    mse = (x.double() - y.double()).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(data_range**2 / mse.clamp_min(1e-20))


def ssim(x: Tensor, y: Tensor, data_range: float = DATA_RANGE) -> Tensor:
    """Wang et al.'s SSIM of each image pair (N, C, H, W) -> (N,), on the images as given with
    their `data_range` (`ganhub.metrics.formulas.ssim`); the metric gives it images in [0, 1]."""
    from ganhub.metrics.formulas import ssim as wang_ssim

    return wang_ssim(x, y, data_range=data_range)


def _unit(x: Tensor) -> Tensor:
    """Images in [-1, 1] shifted to [0, 1], where SSIM is defined."""
    return (x.double() + 1) / 2


def _pairs(system: PairedEval, n_samples: int) -> tuple[Tensor, Tensor]:
    """The first `n_samples` held-out (input, target) pairs, on the system's device."""
    pairs = system.heldout_pairs()
    if pairs is None:  # the system declared "paired_eval" and has no pairs: its bug
        raise RuntimeError("the system declares paired_eval but heldout_pairs() gave None")
    n = min(n_samples, len(pairs[0]))
    return pairs[0][:n].to(system.device), pairs[1][:n].to(system.device)


class TranslationPSNRSSIM(Metric):
    """PSNR/SSIM of translations against the true targets, and of the identity baseline."""

    name = "translation_psnr_ssim"
    description = (
        "PSNR (dB) and SSIM of G(A) vs the true B on held-out pairs, and of A itself (identity)"
    )
    # the identity scores are the do-nothing baseline, not the translator's
    better: ClassVar[Directions] = {
        "psnr_identity_*": None,
        "ssim_identity_*": None,
        "psnr_*": "higher",
        "ssim_*": "higher",
    }

    def supports(self, caps: Capabilities) -> bool:
        """Image translators with held-out true pairs ("translate" and "paired_eval")."""
        return caps.modality == "image" and caps.can(TRANSLATE) and caps.can(PAIRED_EVAL)

    def compute(self, system: GANSystem, *, n_samples: int, seed: int) -> dict[str, float]:
        """Scores on the first `n_samples` held-out pairs, in every direction the system learned."""
        translator = cast(PairedEval, system)
        a, b = _pairs(translator, n_samples)
        out: dict[str, float] = {}
        for name, source, target in (("AtoB", a, b), ("BtoA", b, a)):
            if name not in translator.directions:
                continue
            fake = translator.translate(source, name, seed=seed)
            name = translator.data_direction(name)  # the key says which halves were scored
            out[f"psnr_{name}"] = float(psnr(fake, target).mean())
            out[f"ssim_{name}"] = float(ssim(_unit(fake), _unit(target), 1.0).mean())
            out[f"psnr_identity_{name}"] = float(psnr(source, target).mean())
            out[f"ssim_identity_{name}"] = float(ssim(_unit(source), _unit(target), 1.0).mean())
        out = {k: v if math.isfinite(v) else float("nan") for k, v in out.items()}
        # the pairs scored, also as the count the engine reads: not eval.n_samples when the
        # held-out set is smaller (500 embedded digits, a folder's few test/ pairs)
        return out | {"n_pairs": float(len(a)), "n_samples": float(len(a))}


class CycleL1(Metric):
    """Mean |G_BA(G_AB(A)) - A| and |G_AB(G_BA(B)) - B| on held-out images (0 = perfect cycle)."""

    name = "cycle_l1"
    description = "cycle-consistency L1 of both round trips on held-out images (images in [-1, 1])"
    better: ClassVar[Directions] = {"cycle_l1_*": "lower"}

    def supports(self, caps: Capabilities) -> bool:
        """Image translators with both directions ("cycle") and held-out images."""
        return (
            caps.modality == "image"
            and caps.can(TRANSLATE)
            and caps.can(CYCLE)
            and caps.can(PAIRED_EVAL)
        )

    def compute(self, system: GANSystem, *, n_samples: int, seed: int) -> dict[str, float]:
        """Both round trips on the first `n_samples` held-out images."""
        translator = cast(PairedEval, system)
        a, b = _pairs(translator, n_samples)
        rec_a = translator.translate(translator.translate(a, "AtoB", seed=seed), "BtoA", seed=seed)
        rec_b = translator.translate(translator.translate(b, "BtoA", seed=seed), "AtoB", seed=seed)
        return {
            "cycle_l1_A": float((rec_a - a).abs().mean()),
            "cycle_l1_B": float((rec_b - b).abs().mean()),
            "n_samples": float(len(a)),  # the held-out pairs scored, not eval.n_samples
        }


# images translated per call: a 256 px ResNet generator's activations stay in memory
TRANSLATE_CHUNK = 16


class TranslationFD(Metric):
    """Frechet distance of translations to the target domain's images on rotnet features.

    G_AB(A) against B (and G_BA(B) against A for a CycleGAN), with the A images against the
    B images as the do-nothing baseline (`fd_rotnet_identity`); the images are the system's `eval_images`
    (held-out where the data has them). The features are the core `rotnet`'s, a rotation net
    trained once on the run's target-domain training images (downsampled to 64 px above that):
    distances compare runs on the same data only, as with any FD on a local network.
    """

    name = "translation_fd"
    description = (
        "FD of G(A) to B images (and G_BA(B) to A) on the run's rotnet features, and of the "
        "untranslated images (identity baseline)"
    )
    # the identity baseline is the FD between the A and B images (the same both ways); n_A
    # and n_B count the images of each side, n_samples the translations of each direction
    # (the fewer where the sides differ), as the paired metrics count their pairs per direction
    better: ClassVar[Directions] = {
        "fd_rotnet_identity": None,
        "fd_rotnet_*": "lower",
        "n_A": None,
        "n_B": None,
    }
    min_samples = 2  # a covariance

    def supports(self, caps: Capabilities) -> bool:
        """Image translators with images of both domains ("translate" and "domain_eval")."""
        return caps.modality == "image" and caps.can(TRANSLATE) and caps.can(DOMAIN_EVAL)

    def check(self, system: GANSystem) -> None:
        """Refused now: too few target images to train the rotation net on, or fewer than 2
        images of a domain to score (reading them also finds an unreadable file now)."""
        from ganhub.metrics.features import check_available

        check_available("rotnet", system.config.eval, system)
        _enough(cast(DomainEval, system).eval_images(system.config.eval.n_samples))

    def compute(self, system: GANSystem, *, n_samples: int, seed: int) -> dict[str, float]:
        """FD of each learned direction's translations, and of its inputs, to the target."""
        import torch

        from ganhub.metrics.features import rotnet
        from ganhub.metrics.formulas import frechet_distance, gaussian_stats

        translator = cast(DomainEval, system)
        images = _enough(translator.eval_images(n_samples))
        extractor = rotnet(system)
        stats = {side: gaussian_stats(extractor(x)["features"]) for side, x in images.items()}
        out = {"fd_rotnet_identity": frechet_distance(stats["A"], stats["B"])}
        translated = []  # per direction: n_samples is per direction, never their sum
        for name, source, target in (("AtoB", "A", "B"), ("BtoA", "B", "A")):
            if name not in translator.directions:
                continue
            chunks = images[source].split(TRANSLATE_CHUNK)
            fake = torch.cat(
                [translator.translate(x, name, seed=seed).float().cpu() for x in chunks]
            )
            fd = frechet_distance(gaussian_stats(extractor(fake)["features"]), stats[target])
            out[f"fd_rotnet_{translator.data_direction(name)}"] = fd
            translated.append(len(fake))
        out = {k: v if math.isfinite(v) else float("nan") for k, v in out.items()}
        counts = (len(images["A"]), len(images["B"]), min(translated, default=0))
        return out | dict(zip(("n_A", "n_B", "n_samples"), map(float, counts), strict=True))


def _enough(images: tuple[Tensor, Tensor]) -> dict[str, Tensor]:
    """The A and B images by side; a one-line error when a side has fewer than 2 (an FD
    needs a covariance)."""
    from ganhub.errors import UsageError

    by_side = dict(zip("AB", images, strict=True))
    for side, x in by_side.items():
        if len(x) < 2:
            raise UsageError(
                f"eval.metrics: translation_fd needs at least 2 images of domain {side} to "
                f"estimate a covariance; the data gives {len(x)} (test{side}/, else "
                f"train{side}/); add images or leave translation_fd out of eval.metrics"
            )
    return by_side
