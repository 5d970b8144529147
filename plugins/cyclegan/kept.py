"""The sample inputs a folder run keeps with itself, so it samples where its data folder is not.

A translator's `sample(n)` and sample grids translate real inputs, not noise. A run on
`data.path` picks a few of them once before step one (`DomainData.eval_images`: the first
test files, else training files, in listed order, at the model's size) and holds them as two
uint8 buffers of the system, `sample_inputs.A` and `sample_inputs.B`: every checkpoint
carries them. `ganhub export` does not: they are the user's own images and an export is made
for sharing (its `export_spec` names the generators only; a folder run declares
`samples_from_data`). `sample`, `ganhub sample` and `write_samples` always draw from them
when they are there, so a run and a copy of it on another machine give the same samples,
with or without the data folder. Metrics never read them: they read the data.

The embedded digits need no folder and keep nothing; nor did runs saved before this (their
sampling reads the folder, as it did). A loaded buffer is untrusted: it must be uint8
(N, channels, size, size) with 1 <= N <= `MAX_KEPT`, or the load stops with one line.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ganhub.closed_output import say
from ganhub.errors import UsageError

MAX_KEPT = 64  # inputs per side at most
MAX_KEPT_BYTES = 8 << 20  # per side: 42 inputs at 256 px RGB, 10 at 512
SIDES = ("A", "B")


def kept_count(channels: int, size: int) -> int:
    """How many inputs of each side a run keeps: `MAX_KEPT`, fewer where they would pass
    `MAX_KEPT_BYTES` (always at least one)."""
    return max(1, min(MAX_KEPT, MAX_KEPT_BYTES // (channels * size * size)))


def quantize(images: Tensor) -> Tensor:
    """Images in [-1, 1] as uint8 0..255 on the CPU (what an 8-bit file of them holds)."""
    x = (images.detach().float().cpu().clamp(-1, 1) + 1) * 127.5
    return x.round().to(torch.uint8).contiguous()


def dequantize(images: Tensor) -> Tensor:
    """uint8 images back in [-1, 1], float32."""
    return images.float() / 127.5 - 1


class KeptInputs(nn.Module):
    """A and B sample inputs (uint8 buffers, absent until `keep` or a load gives them);
    `paired`: the two sides are aligned pairs (input, target) and are drawn together."""

    def __init__(self, channels: int, size: int, *, paired: bool) -> None:
        super().__init__()
        self.channels, self.size, self.paired = channels, size, paired
        for side in SIDES:  # None: not in the state dict, so older checkpoints load as before
            self.register_buffer(side, None)
        self.loaded = False  # whether they came from a checkpoint or an export
        self.restored = False  # whether weights were loaded into the system (kept ones or none)
        self.noted = False  # whether the one-line note was shown

    def side(self, name: str) -> Tensor | None:
        """The kept uint8 images of side A or B, or None."""
        return self._buffers.get(name)

    @property
    def held(self) -> bool:
        """Whether inputs are kept."""
        return self.side("A") is not None

    def keep(self, a: Tensor, b: Tensor) -> None:
        """Keep these images (in [-1, 1]) as the run's sample inputs."""
        for name, images in zip(SIDES, (a, b)):
            self._buffers[name] = quantize(images)
        self.loaded = False

    def draw(self, n: int, seed: int) -> tuple[Tensor, Tensor]:
        """Exactly `n` A and B inputs in [-1, 1]: seed 0 takes them in kept order, other
        seeds in seeded orders, each one used before any repeats (`preview_indices`); pairs
        stay aligned. Says once, on stderr, that they are the inputs kept with the run."""
        from ganhub_cyclegan.data import preview_indices

        a, b = self.side("A"), self.side("B")
        assert a is not None and b is not None
        if self.loaded and not self.noted:
            self.noted = True
            say(
                f"ganhub: note: sampling from the {len(a)} A and {len(b)} B inputs kept with the "
                "run (its data folder is not read); `ganhub cyclegan translate RUN --input "
                "IMAGES/` translates others",
            )
        idx_a = preview_indices(len(a), n, seed, listed=True)
        idx_b = idx_a if self.paired else preview_indices(len(b), n, seed, listed=True)
        return dequantize(a[idx_a.to(a.device)]), dequantize(b[idx_b.to(b.device)])

    def _load_from_state_dict(
        self,
        state_dict: dict[str, Any],
        prefix: str,
        local_metadata: Any,
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        """Take kept inputs when the state holds them (checked: untrusted), none otherwise (a
        run saved before inputs were kept, or one on the embedded data)."""
        self.restored = True
        found = {side: state_dict.get(prefix + side) for side in SIDES}
        if strict:
            unexpected_keys.extend(
                k for k in state_dict if k.startswith(prefix) and k[len(prefix) :] not in SIDES
            )
        if all(v is None for v in found.values()):
            return
        a, b = (self._checked(side, found[side]) for side in SIDES)
        if self.paired and len(a) != len(b):
            raise UsageError(
                f"the sample inputs kept with this run are damaged: {len(a)} inputs and "
                f"{len(b)} targets for aligned pairs"
            )
        device = next((t.device for t in self._buffers.values() if t is not None), a.device)
        self._buffers["A"], self._buffers["B"] = a.to(device), b.to(device)
        self.loaded, self.noted = True, False

    def _checked(self, side: str, value: Any) -> Tensor:
        """A loaded side: uint8 (N, channels, size, size), 1 <= N <= MAX_KEPT; else one line."""
        want = f"uint8 (N<={MAX_KEPT}, {self.channels}, {self.size}, {self.size})"
        if value is None:
            raise UsageError(
                f"the sample inputs kept with this run are damaged: side {side} is missing"
            )
        shape = tuple(value.shape) if isinstance(value, Tensor) else None
        if (
            shape is None
            or value.dtype != torch.uint8
            or len(shape) != 4
            or shape[1:] != (self.channels, self.size, self.size)
            or not 1 <= shape[0] <= MAX_KEPT
        ):
            got = f"{str(value.dtype).removeprefix('torch.')} {shape}" if shape else "no tensor"
            raise UsageError(
                f"the sample inputs kept with this run are damaged: side {side} is {got}, "
                f"expected {want}"
            )
        return value.detach().clone()
