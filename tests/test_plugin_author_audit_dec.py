"""A researcher writes a GAN of their own as a plugin (a WGAN-GP critic written out in its
phases) and makes the mistakes newcomers make: a phase group the system lacks, a loss turned
into a Python float, a bare tensor returned, a backward() of its own, a tensor on the wrong
device, a phase that raises. Each is named in one line as the domain's, not as ganhub's
traceback; and the package that is installed where ganhub cannot see it is named too."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from torch import nn

from ganhub.capability_checks import capability_problems, guarded_phases
from ganhub.engine.system import GANSystem, Phase, PhaseOutput
from ganhub.errors import ConfigError, PluginError
from ganhub.plugin_guard import Owners

PROVENANCE = {"domain": {"name": "sig1d", "plugin": "sig1d", "dist": "ganhub-sig1d"}}
LENGTH = 8


class Signals(GANSystem):
    """A WGAN-GP on 1D signals, its phases written out as a researcher would."""

    modality = "vector"

    def __init__(self, mistake: str = "") -> None:
        super().__init__(SimpleNamespace(seed=0))  # type: ignore[arg-type]
        self.G = nn.Linear(4, LENGTH)
        self.D = nn.Linear(LENGTH, 1)
        self.mistake = mistake

    def phases(self) -> list[Phase]:
        group = "disc" if self.mistake == "group" else "D"
        grad = ("D", "gen") if self.mistake == "grad_groups" else ()
        return [Phase("D", group, self.d_step, grad_groups=grad), Phase("G", "G", self.g_step)]

    def d_step(self, batch: torch.Tensor, ctx: Any) -> PhaseOutput:
        if self.mistake == "raises":
            return {}["x"]  # type: ignore[no-any-return]
        if self.mistake == "device":
            raise RuntimeError(
                "Expected all tensors to be on the same device, but found at least two "
                "devices, cuda:0 and cpu!"
            )
        if self.mistake == "refuses":
            raise ConfigError("model.width=0: must be positive")
        fake = self.G(torch.randn(len(batch), 4)).detach()
        eps = torch.rand(len(batch), 1)
        x = (eps * batch + (1 - eps) * fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(self.D(x).sum(), x, create_graph=True)
        gp = ((grad.norm(dim=1) - 1) ** 2).mean()
        loss = self.D(fake).mean() - self.D(batch).mean() + 10 * gp
        return PhaseOutput(loss, {"gp": gp.detach()})

    def g_step(self, batch: torch.Tensor, ctx: Any) -> Any:
        loss = -self.D(self.G(torch.randn(len(batch), 4))).mean()
        if self.mistake == "float":
            return PhaseOutput(loss.item())  # type: ignore[arg-type]
        if self.mistake == "bare":
            return loss
        if self.mistake == "backward":
            loss.backward()
        return PhaseOutput(loss)

    def data(self) -> Any:
        raise NotImplementedError

    def sample(self, n: int, *, seed: int | None = None, use_ema: bool = True, labels: Any = None):  # type: ignore[no-untyped-def]
        gen = torch.Generator().manual_seed(seed or 0)
        return self.G(torch.randn(n, 4, generator=gen)).unsqueeze(1)  # (n, 1, L): not flat

    def write_samples(self, directory: Path, stem: str, *, n: int | None = None, seed: int = 0):  # type: ignore[no-untyped-def]
        return []


def _guarded(mistake: str = "") -> tuple[Signals, list[Phase]]:
    system = Signals(mistake)
    return system, guarded_phases(system, "sig1d", Owners(PROVENANCE))


def _step(system: Signals, phase: Phase) -> PhaseOutput:
    """One phase as ganhub's loop runs it: the phase's weights tracked, its loss called."""
    for name, params in system.param_groups().items():
        for p in params:
            p.requires_grad_(name in phase.grad_groups)
    out: PhaseOutput = phase.loss(torch.randn(6, LENGTH), SimpleNamespace())
    return out


def test_a_correct_phase_trains_through_the_guard() -> None:
    system, phases = _guarded()
    for phase in phases:
        out = _step(system, phase)
        assert isinstance(out, PhaseOutput) and out.loss.ndim == 0 and out.loss.requires_grad
        out.loss.backward()  # what the loop does next
        for p in system.parameters():
            p.grad = None


@pytest.mark.parametrize("mistake", ["group", "grad_groups"])
def test_a_phase_group_the_system_lacks_is_refused_before_training(mistake: str) -> None:
    """Before: KeyError 'disc' from the loop at step 1; a typo in grad_groups trained G
    nowhere, without a word."""
    with pytest.raises(PluginError) as info:
        _guarded(mistake)
    text = str(info.value)
    assert text.startswith("domain 'sig1d': its phase 'D' names the parameter group")
    assert "groups: G, D" in text and "\n" not in text


@pytest.mark.parametrize(
    ("mistake", "phase", "says"),
    [
        ("bare", 1, "returned Tensor, not a PhaseOutput; return PhaseOutput(loss)"),
        ("backward", 1, "called backward() itself"),
        ("raises", 0, "(d_step()) raised KeyError: 'x' (plugin 'sig1d' from ganhub-sig1d"),
        ("device", 0, "make new tensors on the batch's device"),
    ],
)
def test_a_phase_mistake_is_the_domains_in_one_line(mistake: str, phase: int, says: str) -> None:
    """Before: AttributeError 'Tensor' object has no attribute 'loss' (a traceback through
    ganhub's loop), 'reduce it to one number (e.g. .mean())' for a float that was one number,
    'Trying to backward through the graph a second time', a bare KeyError."""
    system, phases = _guarded(mistake)
    with pytest.raises(PluginError) as info:
        _step(system, phases[phase])
    text = str(info.value)
    assert text.startswith(f"domain 'sig1d': its phase '{phases[phase].name}'"), text
    assert says in text and "\n" not in text


def test_a_loss_given_as_a_python_number_is_told_to_give_the_tensor() -> None:
    """The loop's check names the phase or its loss (a loss plugin may be the one that gave
    the float) and says how to fix it, not "reduce it to one number"."""
    from ganhub.engine.loop import check_loss

    system, _ = _guarded("float")
    phases = system.phases()  # unguarded: the guard names a float of the domain's own phases
    out = _step(system, phases[1])
    with pytest.raises(PluginError) as info:
        check_loss(out.loss, phases[1], None, "nonsaturating")
    text = str(info.value)
    assert "gave a float, not a 0-dim tensor; give the tensor itself" in text
    assert "reduce it" not in text and "\n" not in text


def test_an_error_the_domain_raises_on_purpose_passes_as_it_is() -> None:
    system, phases = _guarded("refuses")
    with pytest.raises(ConfigError, match=r"^model\.width=0: must be positive$"):
        _step(system, phases[0])


def test_the_backward_check_leaves_gradients_of_an_earlier_micro_batch_alone() -> None:
    """With trainer.grad_accum the loop's own backward leaves gradients before the next call."""
    system, phases = _guarded()
    _step(system, phases[1]).loss.backward()
    _step(system, phases[1]).loss.backward()  # gradients were there before: not the phase's
    assert all(p.grad is not None for p in system.G.parameters())


def _guard_toy2d(monkeypatch: pytest.MonkeyPatch) -> None:
    """The guard where the run takes the domain's phases (before tricks add theirs), as
    `Run` does with `guarded_phases(self.system, config.plugin, self.owners)`."""
    from ganhub.engine.unconditional import UnconditionalGAN

    phases = UnconditionalGAN.phases

    def guarded(self: Any) -> list[Phase]:
        if self.training_phases_taken:  # guarded_phases asking for the system's own
            return phases(self)
        self.training_phases_taken = True
        return guarded_phases(self, self.config.plugin, Owners({}))

    monkeypatch.setattr(UnconditionalGAN, "training_phases_taken", False, raising=False)

    monkeypatch.setattr(UnconditionalGAN, "phases", guarded)


QUICK = ["plugin=toy2d", "trainer.steps=2", "trainer.progress=false", "loggers=[]"]


def test_a_phase_mistake_stops_a_real_run_naming_the_domain(
    monkeypatch: pytest.MonkeyPatch, workdir: Path
) -> None:
    """Through ganhub.train: toy2d's G phase calling backward itself."""
    import ganhub
    from ganhub.engine.unconditional import UnconditionalGAN

    _guard_toy2d(monkeypatch)
    g_step = UnconditionalGAN.g_step

    def own_backward(self: Any, batch: Any, ctx: Any) -> PhaseOutput:
        out = g_step(self, batch, ctx)
        out.loss.backward(retain_graph=True)
        return out

    monkeypatch.setattr(UnconditionalGAN, "g_step", own_backward)
    with pytest.raises(PluginError, match=r"^domain 'toy2d': its phase 'G' \(.*backward\(\)"):
        ganhub.train(QUICK)


def test_guarded_phases_train_with_tricks_that_add_phases_and_pack_inputs(
    monkeypatch: pytest.MonkeyPatch, workdir: Path
) -> None:
    """No false alarm: a lazy R1 phase, PacGAN's packed D, accumulated micro-batches."""
    import ganhub

    _guard_toy2d(monkeypatch)
    tricks = ["tricks=[pacgan,r1]", "trick.r1.interval=2", "trainer.grad_accum=2"]
    summary = ganhub.train([*QUICK, *tricks])
    assert summary["steps"] == 2, summary


def test_a_signal_left_unflattened_is_told_the_layout_of_vector_samples() -> None:
    """Before: 'sample(3) of vector data gave (3, 1, 8), not 2-d with 3 rows', and for the
    real samples not even the shape."""

    class Unflat(Signals):
        def real_samples(self, n: int, seed: int = 0) -> torch.Tensor:
            return torch.zeros(n, 1, LENGTH)

    hub = SimpleNamespace(metrics={})
    problems = capability_problems(Unflat(), hub)  # type: ignore[arg-type]
    assert len(problems) == 2
    for problem in problems:
        assert "vector samples are (n, features) floats" in problem
        assert "flattened to (n, channels * length)" in problem
    assert "real_samples(3) of vector data gave (3, 1, 8)" in problems[1]


def _installed(site: Path, group: str) -> None:
    info = site / "ganhub_wrong-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ganhub-wrong\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{group}]\nwrong = ganhub_wrong\n")


def test_an_entry_point_in_another_group_is_named_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: `ganhub plugins` left such a package out without a word."""
    from ganhub.plugin_fixes import misplaced_entry_points

    _installed(tmp_path / "site", "ganhub.plugins")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    found = [line for line in misplaced_entry_points() if "ganhub-wrong" in line]
    assert found == [
        "wrong  ganhub-wrong  [not loaded]: its entry point is in the group 'ganhub.plugins', "
        "which ganhub does not read; move it to [project.entry-points.ganhub] in its "
        "pyproject.toml and reinstall it"
    ]


def test_new_plugin_run_from_outside_the_active_virtualenv_says_how_to_run_it(
    cli: Any, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `--system-site-packages` virtualenv has no `ganhub` command: the shell's is the base
    Python's, and `pip install -e` in the venv is invisible to it. Before: `ganhub plugins`
    left the new plugin out and `ganhub run plugin=NAME` told the author to pip install -e .,
    which they had just done."""
    from ganhub.plugin_fixes import other_environment

    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    assert other_environment() is None
    monkeypatch.setenv("VIRTUAL_ENV", sys.prefix)
    assert other_environment() is None
    monkeypatch.setenv("VIRTUAL_ENV", str(workdir / "venv"))
    code, out, err = cli("new-plugin", "sig1d")
    assert code == 0, err
    assert "  python -m ganhub run plugin=sig1d\n" in out
    note = out.splitlines()[-1]
    assert note.startswith(f"note: ganhub runs from {sys.prefix}, not from the active")
    assert "run `python -m ganhub ...` there" in note
