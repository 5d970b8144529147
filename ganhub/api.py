"""The Python API: `ganhub.train(...)`, `ganhub.load(run_dir)`, `model.sample(n, seed=...)`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganhub.config.resolve import resolve
from ganhub.config.schema import RunConfig
from ganhub.engine import checkpoint
from ganhub.errors import UsageError
from ganhub.plugins import Hub, get_hub


def train(
    config: RunConfig | Mapping[str, Any] | Iterable[str] | None = None,
    hub: Hub | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """Train a GAN and return the run summary (run_dir, steps, seconds, metrics, samples).

    `config` is a validated RunConfig, a nested dict, or `key=value` strings; keyword arguments
    are dotted overrides with `__` for dots: `ganhub.train(plugin="toy2d", trainer__steps=500)`.
    """
    from ganhub.engine.loop import fit
    from ganhub.engine.run import Run

    hub = hub or get_hub()
    if not isinstance(config, RunConfig):
        items = [] if config is None else config
        extra = [f"{k.replace('__', '.')}={_yaml_value(v)}" for k, v in overrides.items()]
        if isinstance(items, Mapping):
            config = resolve({**items, **_nest(overrides)}, hub=hub)
        else:
            config = resolve([*items, *extra], hub=hub)
    elif overrides:
        raise UsageError("pass overrides inside the config, not next to a validated RunConfig")
    return fit(Run(config, hub))


class TrainedGAN:
    """A trained system restored from a run directory, ready to sample."""

    def __init__(self, system: Any, config: RunConfig, checkpoint_path: Path) -> None:
        self.system = system
        self.config = config
        self.checkpoint = checkpoint_path

    @property
    def generator(self) -> nn.Module:
        """The generator (its EMA weights when the run used the ema trick)."""
        return self.system.generator()

    def sample(self, n: int, seed: int | None = 0) -> Any:
        """`n` samples (images in [-1, 1], points, token ids...) from the generator."""
        self.system.eval()
        with torch.no_grad():
            return self.system.sample(n, seed=seed)

    def write_samples(
        self, directory: str | Path, stem: str = "samples", n: int | None = None, seed: int = 0
    ) -> list[Path]:
        """Write the domain's sample artifact (grid, text, NIfTI) into `directory`."""
        self.system.eval()
        with torch.no_grad():
            return self.system.write_samples(Path(directory), stem, n=n, seed=seed)


def load(run_dir: str | Path, device: str = "cpu", hub: Hub | None = None) -> TrainedGAN:
    """Restore the latest checkpoint of a run directory (weights only; nothing is unpickled)."""
    from ganhub.engine.environment import select_device
    from ganhub.engine.run import prepare_system

    hub = hub or get_hub()
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise UsageError(f"'{run_dir}' is not a ganhub run directory (no config.yaml)")
    # the run was validated when it trained; its data folder need not exist any more
    config = resolve([f"config={run_dir / 'config.yaml'}"], hub=hub, check_domain=False)
    path = checkpoint.latest(run_dir / "checkpoints")
    if path is None:
        raise UsageError(f"'{run_dir}' has no checkpoint yet")
    torch_device = select_device(device)
    system, _ = prepare_system(config, hub, torch_device)
    _, model_state, _ = checkpoint.load(path)
    system.load_state_dict({k: v.to(torch_device) for k, v in model_state.items()})
    system.eval()
    return TrainedGAN(system, config, path)


def _yaml_value(value: Any) -> str:
    import yaml

    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in flat.items():
        node = out
        parts = key.split("__")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out
