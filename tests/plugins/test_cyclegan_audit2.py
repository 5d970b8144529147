"""cyclegan fixes from a second audit: the count each metric reports is per direction and the
same for every metric of a run, the default eval.n_samples asks for what can be scored, and the
smallest image a ResNet generator translates is refused by name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import ganhub
from ganhub.config.resolve import resolve
from ganhub.errors import UsageError
from ganhub.metrics import ROTNET_MIN_IMAGES, evaluate
from ganhub.metrics.commands import evaluate_run
from ganhub.plugins import get_hub
from ganhub.wiring import make_run

from .test_cyclegan import TINY, TINY_FOLDER
from .test_cyclegan_fd import _folders

pytestmark = pytest.mark.usefixtures("one_thread")

# TINY without its eval.n_samples: the domain's default decides
DEFAULT_N = [key for key in TINY if not key.startswith("eval.n_samples")]
DEFAULT_N_FOLDER = [key for key in TINY_FOLDER if not key.startswith("eval.n_samples")]


# -- n_samples: per direction, the same for every metric -------------------------------------


def test_translation_fd_counts_the_translations_of_one_direction(workdir: Path) -> None:
    """A CycleGAN's translation_fd reported both directions' translations added up (20 for
    10 pairs), and in a run scoring it beside PSNR/SSIM (10) the last metric's count won."""
    hub = get_hub()
    system = make_run(resolve(TINY)).system
    names = ["translation_psnr_ssim", "cycle_l1", "translation_fd"]
    own = {n: hub.metrics.get(n).compute(system, n_samples=10, seed=0)["n_samples"] for n in names}
    assert own == dict.fromkeys(names, 10.0)
    for order in (names, names[::-1]):  # whichever comes last
        values = evaluate(system, [hub.metrics.get(n) for n in order], n_samples=10, seed=0).values
        assert values["n_samples"] == values["n_pairs"] == 10.0
        assert (values["n_A"], values["n_B"]) == (10.0, 10.0)


def test_unequal_sides_count_the_fewer_translations(workdir: Path) -> None:
    """3 testA and 4 testB images: AtoB scores 3 translations, BtoA 4; n_samples was 7."""
    root = _folders(workdir / "data", ROTNET_MIN_IMAGES, n_test_a=3)
    system = make_run(resolve([*TINY_FOLDER, f"data.path={root}"])).system
    values = get_hub().metrics.get("translation_fd").compute(system, n_samples=64, seed=0)
    assert (values["n_A"], values["n_B"], values["n_samples"]) == (3.0, 4.0, 3.0)


# -- the default eval.n_samples --------------------------------------------------------------


@pytest.mark.parametrize(
    ("keys", "n"),
    [
        ([], 16),  # TINY's data.n_test=16 digits held out
        (["data.n_test=8"], 8),
        (["data.n_test=1000"], 1000),
        (["task=paired"], 16),
        (["preset=tiny"], 64),  # a preset's choice wins
        (["eval.n_samples=32"], 32),  # so does the user's
    ],
)
def test_the_default_eval_n_samples_is_what_can_be_scored(keys: list[str], n: int) -> None:
    """It was ganhub's 2,500 whatever the data: 500 held-out digits were scored."""
    assert resolve([*DEFAULT_N, *keys]).eval.n_samples == n


def test_a_folder_runs_default_is_the_most_a_folder_gives(workdir: Path) -> None:
    from ganhub_cyclegan.folder import HELDOUT_PAIRS

    root = _folders(workdir / "data", 3)
    assert resolve([*DEFAULT_N_FOLDER, f"data.path={root}"]).eval.n_samples == HELDOUT_PAIRS == 500


def test_the_embedded_default_asks_for_no_more_than_it_scores(workdir: Path) -> None:
    """`ganhub eval` of a run with the defaults noted "eval.n_samples=2500: scored 500 samples
    per seed, not 2,500" (here 16): the run asked for more than its data holds."""
    summary = ganhub.train([*DEFAULT_N, "trainer.steps=1"])
    run_dir = Path(summary["run_dir"])
    assert summary["metrics"]["n_samples"] == 16
    result = evaluate_run(run_dir, [], seeds=1)
    assert result["n_samples"] == 16 and "n_asked" not in result
    assert not any("scored" in note for note in result["notes"])
    assert json.loads((run_dir / "eval.json").read_text())["n_samples"] == 16


# -- the smallest image a generator translates ------------------------------------------------


def test_the_resnet_translator_refuses_a_side_below_8(workdir: Path) -> None:
    """4 x 4 passed the check (a multiple of 4) and failed in the instance norm of the 1 x 1
    bottleneck ("Expected more than 1 spatial element"); an own-size image of 3 px too."""
    from ganhub_cyclegan import Translator
    from ganhub_cyclegan.translation import own_size

    run_dir = ganhub.train([*TINY, "trainer.steps=1", "eval.metrics=[]"])["run_dir"]
    translator = Translator(run_dir)
    with pytest.raises(UsageError, match=r"H and W multiples of 4 from 8; got .* \(1, 3, 4, 4\)"):
        translator(torch.zeros(1, 3, 4, 4), "AtoB")
    with pytest.raises(UsageError, match=r"--size 4: this run's generator needs a multiple of 4"):
        translator.check_size(4)
    assert translator(torch.zeros(1, 3, 8, 12), "AtoB").shape == (1, 3, 8, 12)
    assert own_size(torch.zeros(3, 3, 3), 4, 8).shape == (3, 8, 8)
    assert own_size(torch.zeros(3, 3, 3), 4).shape == (3, 4, 4)  # the step alone, as before
