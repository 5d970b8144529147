"""dcgan's plain loop: examples/raw_vs_ganhub/plain_pytorch.py with the run's weights and settings."""

from __future__ import annotations

import torch
from plain_pytorch import PlainDCGAN, discriminator, generator

from ganhub.data.images import digits
from ganhub.engine.run import Run

KEYS: list[str] = []  # dcgan's own defaults: 32 px digits, widths 32, Adam 2e-4 (0.5, 0.999)
BATCH = 64


def plain_loop(run: Run) -> PlainDCGAN:
    """The hand-written trainer with the run's G and D weights, digits, batch and precision."""
    m, device = run.config.model, run.device
    channels = run.system.channels
    G = generator(m.latent_dim, m.g_channels, channels, m.image_size).to(device)
    D = discriminator(m.d_channels, channels, m.image_size).to(device)
    G.load_state_dict(run.system.G.state_dict())
    D.load_state_dict(run.system.D.state_dict())
    data = digits(m.image_size)[0].to(device)
    if run.config.trainer.channels_last:
        G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
        data = data.contiguous(memory_format=torch.channels_last)
    dtype = {"32": None, "bf16": torch.bfloat16, "16": torch.float16}[str(run.config.precision)]
    return PlainDCGAN(G, D, data, run.config.trainer.batch_size, m.latent_dim, autocast_dtype=dtype)
