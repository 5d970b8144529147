"""Layers below the user's keys. A preset's optimizer-only option (Adam's betas) that the user's
own `optim.G.name=rmsprop` leaves unused was refused as if the user had typed it; it now goes
back to the domain's default, while an option the user types is refused as before. Tune's
search-space checks word a bad value as `ganhub run` does (`must be above 0`), not as pydantic
(`Input should be greater than 0`)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
import yaml

from ganhub.config.resolve import resolve
from ganhub.errors import ConfigError
from ganhub.plugins import Hub

# a reference recipe's optimizers: Adam betas (0.5, 0.9) for G (WGAN-GP's), RMSprop for D
RECIPE = {"optim": {"G": {"lr": 1e-4, "betas": [0.5, 0.9]},
                    "D": {"name": "rmsprop", "momentum": 0.5}}}  # fmt: skip
# a preset that names an optimizer beside an option it ignores: its own mistake, still refused
MIXED = {"optim": {"G": {"name": "sgd", "betas": [0.1, 0.2]}}}


@pytest.fixture(scope="module")
def hub() -> Hub:
    from ganhub_toy2d.domain import Toy2dDomain

    from ganhub.hookspecs import hookimpl

    class Recipes(Toy2dDomain):
        name = "toy2d_recipes"
        presets: ClassVar[dict[str, Any]] = {"recipe": RECIPE, "mixed": MIXED}

        def defaults_for(self, chosen: dict[str, Any]) -> dict[str, Any]:
            return {"optim": {"D": {"eps": 1e-5}}}  # RMSprop's eps, derived

    plugin = SimpleNamespace(
        register_domains=hookimpl(lambda register: register("toy2d_recipes", Recipes()))
    )
    return Hub.discover(extra=(("recipes", plugin),))


BASE = ["plugin=toy2d_recipes", "preset=recipe"]


def test_a_presets_option_the_users_optimizer_ignores_goes_back_to_the_default(hub: Hub) -> None:
    config = resolve([*BASE, "optim.G.name=rmsprop", "optim.D.name=sgd"], hub=hub)
    G, D = config.optim.G, config.optim.D
    assert (G.name, G.betas, G.lr) == ("rmsprop", (0.5, 0.999), 1e-4)  # the preset's lr stays
    # sgd reads the preset's momentum; the derived eps (rmsprop's) goes back to the default
    assert (D.name, D.momentum, D.eps) == ("sgd", 0.5, 1e-8)
    # what `ganhub config` prints and config.yaml holds: the values in effect
    dumped = config.model_dump(mode="json")["optim"]
    assert dumped["G"]["betas"] == [0.5, 0.999] and dumped["D"]["eps"] == 1e-8
    kept = resolve(BASE, hub=hub).optim  # the preset's own optimizers keep its options
    assert (kept.G.betas, kept.D.eps, kept.D.momentum) == ((0.5, 0.9), 1e-5, 0.5)


def test_a_resumed_runs_saved_option_is_kept_and_refused_naming_its_file(hub: Hub) -> None:
    """A saved config cannot tell the options its user typed from its preset's."""
    saved = resolve(BASE, hub=hub).model_dump(mode="json")
    with pytest.raises(ConfigError) as err:
        resolve(["optim.G.name=rmsprop"], hub=hub, saved=saved, training=False)
    assert str(err.value).startswith("the saved config: optim.G.betas=[0.5, 0.9]: rmsprop")
    config = resolve(["optim.G.name=rmsprop", "optim.G.betas=[0.5,0.999]"], hub=hub, saved=saved)
    assert (config.optim.G.name, config.optim.D.eps) == ("rmsprop", 1e-5)


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ([*BASE, "optim.G.name=rmsprop", "optim.G.betas=[0.5,0.9]"], "optim.G.betas=[0.5, 0.9]: rmsprop "
         "does not use betas (it takes lr, eps, momentum, weight_decay); set it back to "
         "[0.5, 0.999], or use optim.G.name=adam or adamw"),
        ([*BASE, "optim.D.name=adam", "optim.D.momentum=0.5"], "optim.D.momentum=0.5: adam does "
         "not use momentum"),
        (["plugin=toy2d_recipes", "preset=mixed"], "optim.G.betas=[0.1, 0.2]: sgd does not use betas"),
    ],
)  # fmt: skip
def test_an_option_typed_beside_an_optimizer_that_ignores_it_is_still_refused(
    hub: Hub, keys: list[str], expected: str
) -> None:
    with pytest.raises(ConfigError) as err:
        resolve(keys, hub=hub)
    assert str(err.value).startswith(expected), str(err.value)


def test_an_option_in_the_users_file_is_the_users_and_named_with_its_file(
    hub: Hub, tmp_path: Path
) -> None:
    mine = tmp_path / "mine.yaml"
    mine.write_text(yaml.safe_dump({"optim": {"G": {"betas": [0.5, 0.9]}}}))
    with pytest.raises(ConfigError) as err:
        resolve([*BASE, "optim.G.name=rmsprop"], files=[mine], hub=hub)
    assert str(err.value).startswith(f"config file '{mine}': optim.G.betas=[0.5, 0.9]: rmsprop")


def test_a_search_space_value_out_of_range_is_refused_in_ganhubs_words(
    tmp_path: Path, cli: Any
) -> None:
    pytest.importorskip("optuna")
    space = tmp_path / "space.yaml"
    bad = {
        "optim.D.lr": {"type": "float", "low": -1, "high": 0.01},
        "optim.D.momentum": [0.0, 1.0],
        "trainer.grad_accum": {"type": "float", "low": 1, "high": 3},
    }
    space.write_text(yaml.safe_dump({"params": bad}))
    args = ["plugin=toy2d", f"search={space}", f"out={tmp_path / 's'}", "objective=reverse_kl"]
    code, out, err = cli("tune", *args)
    assert code == 2 and err.strip().splitlines() == [
        f"ganhub: error: {space}: param 'optim.D.lr': low=-1.0 is not valid: must be above 0"
    ], err
    assert "trial 0" not in out and not (tmp_path / "s").exists()
    for kept, expected in [
        ("optim.D.momentum", "param 'optim.D.momentum': choice 1.0 is not valid: must be at "
         "least 0 and below 1"),
        ("trainer.grad_accum", "a float range sets values such as 1.0000000000000002, which is "
         "not valid: must be a whole number; use type: int"),
    ]:  # fmt: skip
        space.write_text(yaml.safe_dump({"params": {kept: bad[kept]}}))
        code, out, err = cli("tune", *args)
        assert code == 2 and len(err.strip().splitlines()) == 1 and expected in err, err
