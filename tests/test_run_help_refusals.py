"""`ganhub run ... --help` marks another trick "refused as this run stands" for every reason a
run with it enabled is refused: the trick's own check, the engine's (task_relations without a
task, a trick that packs samples in a class-conditional run) and the domain's. Each trick it
marks is refused by `ganhub run` with it enabled, in the words the help showed."""

from __future__ import annotations

from typing import Any

from tests.conftest import TINY_DCGAN, TINY_TOY

Cli = Any


def _refused(out: str) -> dict[str, str]:
    """trick name -> the reason the help gives against it, from its 'other tricks' list."""
    found: dict[str, str] = {}
    name = ""
    for line in out.split("\nother tricks")[1].splitlines()[2:]:
        if line.startswith("  ") and not line.startswith("   "):
            name = line.split()[0]
        elif "refused as this run stands: " in line:
            found[name] = line.split("refused as this run stands: ", 1)[1]
        elif name in found:
            found[name] += " " + line.strip()
    return found


def _enabled(args: list[str], trick: str) -> list[str]:
    kept = [a for a in args if not a.startswith("tricks=")]
    return [*kept, f"tricks=[{trick}]"]


def test_every_trick_marked_refused_is_refused_by_the_run(cli: Cli) -> None:
    """task_relations was listed as if a run could take it; the run refused it (no task)."""
    code, out, _ = cli("run", *TINY_TOY, "--help")
    refused = _refused(out)
    assert code == 0 and {"gp", "freeze_d", "ewc", "task_relations"} <= set(refused), refused
    assert refused["task_relations"].startswith("trick 'task_relations' relates auxiliary")
    for trick, reason in refused.items():
        code, _, err = cli("run", *_enabled(TINY_TOY, trick))
        assert code == 2 and reason[:60] in " ".join(err.split()), (trick, err)


def test_a_packing_trick_in_a_conditional_run_is_shown_and_is_the_runs(cli: Cli) -> None:
    """A class-conditional dcgan refuses pacgan (each packed D input would mix classes) when
    the config resolves (`Trick.packs_inputs`), so the help shows it as it shows every other
    refusal, in the words `ganhub config` and `ganhub run` give."""
    args = [*TINY_DCGAN, "model.conditional=true", "tricks=[]"]
    code, out, _ = cli("run", *args, "--help")
    refused = _refused(out)
    assert code == 0 and "pacgan" in refused, refused
    assert refused["pacgan"].startswith("trick 'pacgan' packs several samples into one D input")
    assert "acgan" not in refused  # the tricks a conditional run takes are not marked
    for command in ("config", "run"):
        code, _, err = cli(command, *_enabled(args, "pacgan"))
        assert code == 2 and refused["pacgan"][:80] in " ".join(err.split()), (command, err)
