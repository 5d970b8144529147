"""The Python API behind `ganhub generate` and `ganhub transfer`.

from ganhub_textgan import generate, transfer
generate("runs/textgan-...", n=20)                                # -> list of sentences
transfer("runs/textgan-...", ["the food was awful"], to="positive")  # -> rewritten sentences
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from ganhub.errors import UsageError


def load_text_run(run_dir: str | Path, task: str, device: str = "cpu") -> object:
    """The textgan system of a run directory with its latest weights and its tokenizer."""
    from ganhub_textgan.system import TextGenSystem
    from ganhub_textgan.transfer import TransferSystem

    import ganhub

    trained = ganhub.load(run_dir, device=device)
    want = TextGenSystem if task == "generate" else TransferSystem
    if not isinstance(trained.system, want):
        plugin = trained.config.plugin
        kind = getattr(trained.config, "task", None)
        raise UsageError(
            f"'{run_dir}' is a {plugin}{f' task={kind}' if kind else ''} run; "
            f"`ganhub {task}` needs a textgan task={task} run"
        )
    return trained.system


def generate(run_dir: str | Path, n: int = 20, seed: int = 0, device: str = "cpu") -> list[str]:
    """`n` sentences sampled from a trained task=generate run."""
    from ganhub_textgan.system import TextGenSystem

    if n < 1:
        raise UsageError(f"n={n}: must be at least 1")
    system = load_text_run(run_dir, "generate", device)
    assert isinstance(system, TextGenSystem)
    return system.decode(system.sample(n, seed=seed))


def transfer(run_dir: str | Path, texts: Sequence[str], to: str, device: str = "cpu") -> list[str]:
    """Rewrite `texts` into style `to` (a style name of the run, or 0/1) with a task=transfer run."""
    from ganhub_textgan.transfer import TransferSystem

    system = load_text_run(run_dir, "transfer", device)
    assert isinstance(system, TransferSystem)
    style = system.style_index(to)
    if not texts:
        return []
    x = system.encode(list(texts)).to(system.device)
    target = torch.full((len(x),), style, dtype=torch.long, device=system.device)
    return system.decode(system.rewrite(x, target))
