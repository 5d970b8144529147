"""`ganhub run plugin=NAME --help`: the domain's keys first, the enabled tricks' options, the
other tricks by name only, and nothing a run of the same command line would refuse."""

from __future__ import annotations

import shlex
from typing import Any

from ganhub.config.resolve import default_text, resolve

Cli = Any


def _rows(out: str) -> dict[str, str]:
    """key -> default of each `  key  type = default` row of the help."""
    rows = {}
    for line in out.splitlines():
        parts = line.split()
        if line.startswith("  ") and len(parts) >= 4 and parts[2] == "=":
            rows[parts[0]] = " ".join(parts[3:])
    return rows


def _flat(value: Any, prefix: str = "") -> dict[str, str]:
    if not isinstance(value, dict):
        return {prefix.rstrip("."): default_text(value)}
    return {k: v for key, sub in value.items() for k, v in _flat(sub, f"{prefix}{key}.").items()}


def test_the_domains_own_keys_come_first(cli: Cli) -> None:
    """toy2d's data.* and model.* sat after 400 lines of every installed trick's options."""
    code, out, _ = cli("run", "plugin=toy2d", "--help")
    lines = out.splitlines()
    assert code == 0 and len(lines) < 300, len(lines)
    top = "\n".join(lines[:40])
    assert "  data.dataset " in top and "  model.latent_dim " in top
    first_trick = next(i for i, line in enumerate(lines) if line.startswith("  trick."))
    last_model = max(i for i, line in enumerate(lines) if line.startswith("  model."))
    assert last_model < first_trick


def test_enabled_tricks_show_options_and_the_others_only_their_names(cli: Cli) -> None:
    code, out, _ = cli("run", "plugin=toy2d", "--help")  # toy2d enables r1, ema, lr_schedule
    rows = _rows(out)
    assert code == 0 and rows["trick.r1.gamma"] == "0.1" and "trick.ema.decay" in rows
    assert not [k for k in rows if k.startswith(("trick.gp.", "trick.init.", "logger."))]
    listed = {line.split()[0] for line in out.split("\nother tricks")[1].splitlines()[2:]}
    assert {"gp", "init", "spectral_norm"} <= listed and "r1" not in listed
    assert "refused as this run stands: trick 'gp' with trick.gp.variant=wgan" in out
    assert "other data than vector (ganhub list tricks): diffaug, ada" in out


def test_every_key_shown_is_one_the_run_takes_with_the_value_shown(cli: Cli) -> None:
    """The help listed every trick's and logger's options, which a run refuses unless that
    trick or logger is enabled; now the rows are exactly the resolved config's keys."""
    args = ["plugin=dcgan", "preset=tiny", "tricks=[ema,r1]", "loggers=[jsonl,mlflow]"]
    code, out, _ = cli("run", *args, "--help")
    shown = _rows(out)
    resolved = _flat(resolve(args, training=False).model_dump())
    del resolved["plugin"]
    assert code == 0 and shown == resolved
    assert "options of wandb: shown once enabled (loggers=[jsonl,mlflow,NAME])" in out


def test_the_command_shown_for_another_trick_shows_its_options(cli: Cli) -> None:
    code, out, _ = cli("run", "plugin=toy2d", "preset=tiny", "--help")
    command = out.split("enable one to see its options:\n", 1)[1].splitlines()[0].strip()
    assert command == "ganhub run plugin=toy2d preset=tiny tricks=[r1,ema,lr_schedule,NAME] --help"
    code, out, _ = cli(*shlex.split(command.replace("NAME", "pacgan"))[1:])
    rows = _rows(out)
    assert code == 0 and "trick.pacgan.pack" in rows and rows["trainer.steps"] == "20"


def test_a_disabled_tricks_options_once_enabled(cli: Cli) -> None:
    code, out, _ = cli("run", "plugin=toy2d", "loss=wasserstein", "tricks=[gp]", "--help")
    rows = _rows(out)
    assert code == 0 and "trick.gp.weight" in rows and "trick.r1.gamma" not in rows
    # gp as toy2d's nonsaturating loss stands: the refusal a run gives, with the fix
    code, out, err = cli("run", "plugin=toy2d", "tricks=[gp]", "--help")
    assert code == 2 and out == "" and "use trick.gp.variant=dragan or another loss" in err
