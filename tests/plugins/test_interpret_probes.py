"""`ganhub interpret probes`: linear probes find a factor planted in a layer and not in noise,
and the command probes a real tiny dcgan's layers end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from ganhub_interpret.probes import probe_scores

from ganhub.data.shapes import FactorInfo

from ..conftest import TINY_DCGAN, TINY_TOY

pytestmark = pytest.mark.usefixtures("one_thread")

INFO = {
    "kind": FactorInfo("kind", "categorical", ("a", "b", "c")),
    "size": FactorInfo("size", "continuous"),
    "angle": FactorInfo("angle", "circular"),
}


def test_a_probe_reads_a_planted_factor_and_not_noise() -> None:
    gen = torch.Generator().manual_seed(0)
    n = 600
    kind = torch.randint(0, 3, (n,), generator=gen)
    size = torch.rand(n, generator=gen)
    angle = torch.rand(n, generator=gen) * 2 * math.pi
    noise = torch.randn(n, 12, generator=gen)
    planted = torch.cat(  # each factor linearly present, mixed into noise channels
        [torch.nn.functional.one_hot(kind, 3).float(), 3 * size[:, None] - 1,
         torch.stack([angle.cos(), angle.sin()], 1), 0.05 * noise[:, :6]], 1,
    )  # fmt: skip
    table = probe_scores({"planted": planted, "noise": noise},
                         {"kind": kind, "size": size, "angle": angle}, INFO)  # fmt: skip
    assert table.layers == ["planted", "noise"] and table.widths == {"planted": 12, "noise": 12}
    assert (table.n_train, table.n_test) == (450, 150)
    assert table.scores["planted"]["kind"] == 1.0
    assert table.scores["planted"]["size"] > 0.99 and table.scores["planted"]["angle"] > 0.99
    assert abs(table.scores["noise"]["kind"] - table.chance["kind"]) < 0.12  # chance ~ 1/3
    assert table.scores["noise"]["size"] < 0.1 and table.scores["noise"]["angle"] < 0.1
    text = table.text()
    assert "kind accuracy (chance" in text and "angle R^2 of (cos, sin)" in text


def test_the_command_probes_every_layer_and_writes_json(cli, workdir: Path) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("run", *TINY_DCGAN, "data=shapes", "name=s")
    assert code == 0, err
    run = workdir / "runs" / "s"
    code, out, err = cli("interpret", "probes", str(run), "--samples", "80")
    assert code == 0, err
    saved = json.loads((run / "interpret" / "probes.json").read_text())
    names = [row["name"] for row in saved["layers"]]
    assert names[0] == "code" and len(names) >= 3  # the codes, then G's feature layers
    assert set(saved["factors"]) >= {"shape", "scale", "rotation", "x", "y"}
    assert (saved["n_train"], saved["n_test"]) == (60, 20)
    for row in saved["layers"]:
        assert all(v is None or v <= 1.0 for v in row["scores"].values())
    assert out.splitlines()[0].split()[:2] == ["layer", "features"]
    assert str(run / "interpret" / "probes.json") in out
    # --device: where the run is loaded (auto is the CPU here: the same probes)
    code, again, err = cli("interpret", "probes", str(run), "--samples", "80", "--device", "auto")
    assert code == 0 and again == out, err
    code, _, err = cli("interpret", "probes", str(run), "--device", "nosuch")
    assert code == 2 and "'nosuch' is not a device" in err


def test_probes_without_factors_or_a_latent_space_are_refused_in_one_line(  # type: ignore[no-untyped-def]
    cli, workdir: Path
) -> None:
    code, _, err = cli("run", *TINY_TOY, "name=toy")
    assert code == 0, err
    code, _, err = cli("interpret", "probes", str(workdir / "runs" / "toy"))
    assert code == 2 and "no latent space" in err and len(err.strip().splitlines()) == 1
    code, out, _ = cli("interpret", "probes", "--help")
    assert code == 0 and "linear probe" in out


def test_interpret_commands_show_first_time_work_on_stderr() -> None:
    """The digits classifier trains silently for about a minute the first time a walk or probe
    is scored unless a console session is open: every interpret command opens one on stderr
    (the group's callback), so `activity()` lines reach the user and stdout keeps results."""
    import click
    from click.testing import CliRunner
    from ganhub_interpret.cli import interpret

    from ganhub.console import activity

    group = click.Group("interpret", callback=interpret.callback)

    @group.command()
    def slow() -> None:
        with activity("training feature network 'digits'", total=2) as work:
            work.advance(2)
        click.echo("result")

    result = CliRunner().invoke(group, ["slow"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "result\n"
    assert "training feature network 'digits'" in result.stderr
