"""What a run records for its resume: an adapted run's keys, a fixed path typed again.

`ganhub adapt` wrote no record of the keys its user gave (given.json): a value RUN's domain
derived was refused as the user's, by adapt itself (naming RUN's config.yaml) and at the
adapted run's resume. A key no resume may change that holds a path was compared as typed with
the absolute path config.yaml keeps: the same file typed relative to the current folder was
refused as another value.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from ganhub.adapt import adapt_config
from ganhub.config.given import complete_keys, given_of
from ganhub.config.resolve import resolve
from ganhub.config.saved import GIVEN_FILE, read_given
from ganhub.config.schema import with_absolute_paths
from ganhub.engine.rundir import record_user_keys
from ganhub.errors import ConfigError
from ganhub.hookspecs import hookimpl
from ganhub.plugins import Hub

PL = "objective.pl_interval=8 is only read with path length on"


def _hub(name: str, domain: Any) -> Hub:
    plugin = SimpleNamespace(register_domains=hookimpl(lambda register: register(name, domain)))
    return Hub.discover(extra=((name, plugin),))


def _written(run: Path, config: Any) -> Path:
    """`run` as a run of `config` leaves it as it starts: config.yaml and the record of the
    keys its user gave (`Run.write_config`)."""
    run.mkdir()
    data = with_absolute_paths(config, config.model_dump(mode="json"))
    (run / "config.yaml").write_text(yaml.safe_dump(data))
    record_user_keys(run, config)
    return run


def test_an_adapted_run_records_the_keys_given_and_resumes(tmp_path: Path) -> None:
    """A stylegan run whose domain derives a key it does not read (pl_interval without path
    length, as tests/test_given_saved.py's): adapt refused it as RUN's choice, and the adapted
    run kept no record, so its resume, with a typed change or without, refused it as the
    user's. Recorded: RUN's user's keys, adapt's and the typed ones."""
    from ganhub_stylegan.domain import StyleGANDomain

    class StyleGANDerived(StyleGANDomain):
        name = "stylegan_derived"

        def defaults_for(self, chosen: dict[str, Any]) -> dict[str, Any]:
            return {**super().defaults_for(chosen), "objective": {"pl_interval": 8}}

    hub = _hub("stylegan_derived", StyleGANDerived())
    source = resolve(["plugin=stylegan_derived", "preset=tiny", "seed=3"], hub=hub)
    run = _written(tmp_path / "src", source)
    adapted = adapt_config(run, ["eval.metrics=[]", "trainer.steps=5"], hub=hub)
    assert adapted.objective.pl_interval == 8 and complete_keys(adapted)
    new = _written(tmp_path / "adapted", adapted)
    recorded = read_given(new)
    assert recorded is not None
    assert {"plugin", "preset", "seed", "eval.metrics", "trainer.steps"} <= recorded  # given
    assert {"init_from", "name", "out_dir", "trainer.eval_every"} <= recorded  # adapt's
    assert "objective.pl_interval" not in recorded and "resume" not in recorded
    for typed in ([], ["trainer.steps=30"]):
        resumed = resolve([f"resume={new}", *typed], hub=hub)
        assert resumed.objective.pl_interval == 8 and complete_keys(resumed.objective)
    assert "trainer.steps" in (given_of(resumed) or ())
    (new / GIVEN_FILE).unlink()  # as the adapted run was left: the derived value is blamed
    with pytest.raises(ConfigError, match=PL):
        resolve([f"resume={new}", "trainer.steps=30"], hub=hub)


def test_a_source_without_a_record_leaves_the_adapted_run_without_one(tmp_path: Path) -> None:
    """RUN from an earlier ganhub (no given.json): which of its values its user chose is
    unknown, so the adapted run records none, and a value tells, as before."""
    from ganhub.plugins import get_hub

    hub = get_hub()
    keys = ["plugin=toy2d", "tricks=[]", "trainer.steps=4", "eval.metrics=[]"]
    run = _written(tmp_path / "src", resolve(keys, hub=hub))
    (run / GIVEN_FILE).unlink()
    adapted = adapt_config(run, ["trainer.steps=2"], hub=hub)
    assert given_of(adapted) == {"trainer.steps"} and not complete_keys(adapted)
    assert read_given(_written(tmp_path / "adapted", adapted)) is None
    recorded = read_given(_written(tmp_path / "again", adapt_config(tmp_path / "adapted", [])))
    assert recorded is None


@pytest.fixture(scope="module")
def fixed_path_hub() -> Hub:
    """toy2d whose resume may not change a path key (a file its networks are shaped by)."""
    from ganhub_toy2d.domain import Toy2dDomain

    class FixedPath(Toy2dDomain):
        name = "toy2d_fixed_path"
        resume_fixed_keys = ("eval.inception_weights",)

    return _hub("toy2d_fixed_path", FixedPath())


def test_a_fixed_path_typed_relative_at_resume_is_the_same_file(
    fixed_path_hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """config.yaml keeps the path absolute; typed again relative to the current folder, as
    `./`, or from `~`, it names the same file and resumes; another file is refused in one
    line naming the trained path."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    Path("w.pt").write_bytes(b"weights")
    keys = ["plugin=toy2d_fixed_path", "tricks=[]", "trainer.steps=4", "eval.metrics=[]"]
    config = resolve([*keys, "eval.inception_weights=w.pt"], hub=fixed_path_hub)
    run = _written(tmp_path / "run", config)
    saved = yaml.safe_load((run / "config.yaml").read_text())["eval"]["inception_weights"]
    assert saved == str(tmp_path / "w.pt")
    for typed in ("w.pt", "./w.pt", "~/w.pt", "run/../w.pt", saved):
        resumed = resolve([f"resume={run}", f"eval.inception_weights={typed}"], hub=fixed_path_hub)
        assert Path(resumed.eval.inception_weights or "").resolve() == tmp_path / "w.pt"
    with pytest.raises(ConfigError) as err:
        resolve([f"resume={run}", "eval.inception_weights=other.pt"], hub=fixed_path_hub)
    said = str(err.value)
    assert "\n" not in said and said.startswith(
        f"eval.inception_weights=other.pt: {run} trained with eval.inception_weights="
    ), said
    assert "a resumed run's eval.inception_weights cannot change" in said, said
    assert json.loads((run / GIVEN_FILE).read_text())["given"][0] == "eval.inception_weights"


def test_a_model_key_edited_in_config_yaml_is_named_when_the_checkpoint_does_not_fit(
    tmp_path: Path, cli: Any
) -> None:
    """A toy2d run's config.yaml edited to another width (a key no resume refuses as such):
    the refusal said only that the file no longer holds the trained settings; the checkpoint
    records them (state.json's `shaping`), so it names the key, the file's value and the
    trained one."""
    from ganhub.engine.loop import fit
    from ganhub.plugins import get_hub
    from ganhub.wiring import make_run

    from .conftest import TINY_TOY

    keys = [f"out_dir={tmp_path}", "name=r", "trainer.checkpoint_every=2", "eval.metrics=[]"]
    fit(make_run(resolve([*TINY_TOY, *keys], hub=get_hub())))
    run = tmp_path / "r"
    state = json.loads((run / "checkpoints/step_0000004/state.json").read_text())["state"]
    assert state["shaping"]["model.g_hidden"] == 16 and "trainer.steps" not in state["shaping"]
    config = run / "config.yaml"
    config.write_text(config.read_text().replace("g_hidden: 16", "g_hidden: 24", 1))
    code, _, err = cli("run", f"resume={run}", "trainer.steps=6")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert (
        f"{config} describes (7 differ in shape (G.0.weight is (16, 2) in the checkpoint, "
        "(24, 2) in the model)), and this resume changes none of its keys: the file no longer "
        "holds the settings the run was trained with (edited since step_0000004 was written): "
        "it gives model.g_hidden=24 (trained: 16); put the trained values back in it"
    ) in err, err
