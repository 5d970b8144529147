"""Optimizer keys: an option the chosen optimizer does not use is refused when set (adam took
`optim.D.momentum=0.9` and ignored it; sgd took betas and eps), momentum is in [0, 1) (1.5 was
accepted), and every error names the full key (`impl=fused: torch has no fused rmsprop` named
no group). `ganhub config resume=RUN` prints the config.yaml the resumed run writes (it printed
`resume: RUN`, the file holds `resume: null`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ganhub.config.resolve import resolve
from ganhub.errors import ConfigError
from ganhub.plugins import get_hub

from .conftest import TINY_TOY


def _one_line(code: int, err: str) -> str:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ganhub: error: "), err
    return lines[0].removeprefix("ganhub: error: ")


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (["optim.D.momentum=0.9"], "optim.D.momentum=0.9: adam does not use momentum (it "
         "takes lr, betas, eps, weight_decay); set it back to 0.0, or use optim.D.name=rmsprop "
         "or sgd"),
        (["optim.G.name=adamw", "optim.G.momentum=0.5"], "optim.G.momentum=0.5: adamw does not"),
        (["optim.D.name=sgd", "optim.D.betas=[0.1,0.2]"], "optim.D.betas=[0.1, 0.2]: sgd does "
         "not use betas (it takes lr, momentum, weight_decay); set it back to [0.5, 0.999], or "
         "use optim.D.name=adam or adamw"),
        (["optim.D.name=sgd", "optim.D.eps=1e-3"], "optim.D.eps=0.001: sgd does not use eps"),
        (["optim.G.name=rmsprop", "optim.G.betas=[0.0,0.9]"], "optim.G.betas=[0.0, 0.9]: "
         "rmsprop does not use betas"),
        (["optim.D.momentum=1.5", "optim.D.name=sgd"], "optim.D.momentum=1.5: must be at "
         "least 0 and below 1"),
        (["optim.D.name=rmsprop", "optim.D.impl=fused"], "optim.D.impl=fused: torch has no "
         "fused rmsprop; use optim.D.impl=foreach or auto"),
    ],
)  # fmt: skip
def test_an_option_the_optimizer_does_not_use_is_one_line_naming_the_key(
    cli: Any, keys: list[str], expected: str
) -> None:
    line = _one_line(*cli("config", "plugin=toy2d", *keys)[::2])
    assert line.startswith(expected), line


@pytest.mark.parametrize(
    "keys",
    [
        ["optim.D.name=sgd", "optim.D.momentum=0.9"],
        ["optim.D.name=rmsprop", "optim.D.momentum=0.5", "optim.D.eps=1e-5"],
        ["optim.G.name=adamw", "optim.G.betas=[0.0,0.99]", "optim.G.eps=1e-6"],
        ["optim.D.name=sgd", "optim.D.betas=[0.5,0.999]"],  # left at the default: not in use
        ["optim.D.momentum=0.0"],
    ],
)
def test_options_an_optimizer_uses_or_left_at_their_default_are_accepted(keys: list[str]) -> None:
    resolve([*TINY_TOY, *keys])


def test_no_domain_default_or_preset_trips_the_check() -> None:
    """stylegan's betas (0, 0.99) and textgan's (0.9, 0.999) are the domain's, not the user's:
    another optimizer without them is accepted."""
    hub = get_hub()
    for plugin in hub.domains.names():
        for preset in [None, *hub.domains.get(plugin).presets]:
            chosen = [f"plugin={plugin}"] + ([f"preset={preset}"] if preset else [])
            for name in ("adam", "adamw", "rmsprop", "sgd"):
                resolve([*chosen, f"optim.G.name={name}", f"optim.D.name={name}"], training=False)
    with pytest.raises(ConfigError, match=r"set it back to \[0.0, 0.99\]"):
        resolve(["plugin=stylegan", "optim.D.name=sgd", "optim.D.betas=[0.5,0.999]"])


def test_a_resume_names_the_saved_config_that_holds_an_unused_option(
    workdir: Path, cli: Any
) -> None:
    code, _, err = cli("run", *TINY_TOY, "name=r", "optim.D.name=sgd", "optim.D.momentum=0.9")
    assert code == 0, err
    line = _one_line(*cli("run", "resume=runs/r", "trainer.steps=6", "optim.D.name=adam")[::2])
    assert "runs/r/config.yaml': optim.D.momentum=0.9: adam does not use momentum" in line


def test_config_of_a_resume_prints_the_file_the_run_writes(workdir: Path, cli: Any) -> None:
    code, _, err = cli("run", *TINY_TOY, "name=r")
    assert code == 0, err
    code, out, err = cli("config", "resume=runs/r")
    assert code == 0, err
    assert out.strip() == Path("runs/r/config.yaml").read_text().strip()
    code, out, err = cli("config", "resume=runs/r", "trainer.steps=8")
    assert code == 0 and "resume: null" in out and "steps: 8" in out, err
