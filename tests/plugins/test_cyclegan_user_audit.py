"""cyclegan fixes from a user audit: translate writes all or none and replaces nothing unasked,
the U-Net's depth at sizes that are no power of two, and smaller points (eval seeds, the
epochs advice, the Python API's argument name)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from ganhub_cyclegan import translate
from PIL import Image

import ganhub
from ganhub.config.resolve import resolve
from ganhub.errors import ConfigError, UsageError
from ganhub.plugins import get_hub
from ganhub.wiring import make_run

from .test_cyclegan import TINY, _png, _solid

pytestmark = pytest.mark.usefixtures("one_thread")


# -- translate: all or none, nothing replaced unasked ----------------------------------------


def test_translate_writes_all_or_none_and_replaces_only_with_force(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """A second translate into the same --out replaced its PNGs without a word, and an
    unreadable input part-way left the first batches' new PNGs beside the old ones."""
    run_dir = Path(ganhub.train([*TINY, "trainer.steps=1"])["run_dir"])
    inputs, out = workdir / "in", workdir / "out"
    for i in range(3):
        _png(inputs / f"{i}.png", _solid(20, 20, (60 * i, 30, 30)))
    base = ("cyclegan", "translate", str(run_dir), "--input", str(inputs), "--out", str(out))
    code, stdout, err = cli(*base)
    assert code == 0 and "wrote 3 translated images" in stdout, err
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert sorted(before) == ["0.png", "1.png", "2.png"]
    code, _, err = cli(*base)
    assert code == 2 and err.count("\n") == 1, err
    assert f"already holds '{out / '0.png'}' (and 2 more)" in err and "--force" in err
    # an unreadable image last: the first ones were translated (and written) before it failed
    good = (inputs / "0.png").read_bytes()
    (inputs / "zbroken.png").write_bytes(good[: len(good) // 2])
    for how in (["--size", "24", "--batch-size", "1"], ["--keep-size"]):  # 24 / 20 px, not 16
        code, _, err = cli(*base, "--force", *how)
        assert code == 2 and "cannot read image" in err and "zbroken.png" in err, err
        assert {p.name: p.read_bytes() for p in out.iterdir()} == before
        code, _, err = cli(*base[:-1], str(workdir / "new" / "out"), *how)
        assert code == 2 and "zbroken.png" in err
        assert sorted(p.name for p in workdir.iterdir()) == ["in", "out", "runs"]  # no leftovers
    (inputs / "zbroken.png").unlink()
    code, stdout, err = cli(*base, "--force", "--size", "24")
    assert code == 0 and "wrote 3 translated images" in stdout, err
    assert {Image.open(p).size for p in out.iterdir()} == {(24, 24)}
    assert sorted(p.name for p in workdir.iterdir()) == ["in", "out", "runs"]
    with pytest.raises(UsageError, match="already holds"):
        translate(run_dir, inputs, "AtoB", out)
    paths = translate(run_dir, inputs, "AtoB", out, force=True)
    assert {Image.open(p).size for p in paths} == {(16, 16)}
    code, stdout, _ = cli("cyclegan", "translate", "--help")
    assert code == 0 and "--force" in stdout and "All or none" in stdout


# -- the U-Net's depth at sizes that are no power of two -------------------------------------


def _notes(*keys: str) -> list[str]:
    return make_run(resolve([*TINY, "task=paired", "model.n_layers_d=1", *keys])).preflight()


def test_a_size_that_halves_evenly_few_times_is_said_with_sizes_that_give_depth(
    workdir: Path,
) -> None:
    """100 px gave a 2-level U-Net without a word, and the dropout note asked for 'image_size
    >= 64' (100 is): the depth is how often the size halves evenly."""
    notes = _notes("model.image_size=100")
    depth = [n for n in notes if "2-level U-Net" in n and "dropout" not in n]
    assert len(depth) == 1 and "\n" not in depth[0], notes
    assert "100 = 25 x 2^2" in depth[0] and "64 or 128 px give 6 or 7 levels" in depth[0]
    assert "model.unet_downs=2" in depth[0]  # the way to keep it
    dropout = [n for n in notes if "no dropout layer" in n]
    assert len(dropout) == 1 and ">= 64" not in dropout[0] and "a multiple of 64" in dropout[0]
    for keys in (["model.image_size=64"], ["model.image_size=100", "model.unet_downs=2"]):
        assert not [n for n in _notes(*keys) if "-level U-Net (" in n and "gives" in n]
    assert any(
        "200 = 25 x 2^3" in n and "128 or 256 px" in n for n in _notes("model.image_size=200")
    )


# -- the seed drives pix2pix's dropout in the metrics ------------------------------------------


def test_paper_inference_scores_differ_by_seed(workdir: Path) -> None:
    """`ganhub eval --seeds 3` gave one score three times: the metric translated with seed 0."""
    keys = ["task=paired", "model.image_size=64", "model.n_layers_d=1", "model.inference=paper"]
    system = make_run(resolve([*TINY, *keys])).system
    metric = get_hub().metrics.get("translation_psnr_ssim")
    scores = [metric.compute(system, n_samples=4, seed=s)["psnr_AtoB"] for s in (0, 1, 0)]
    assert scores[0] != scores[1] and scores[0] == scores[2]


# -- smaller points --------------------------------------------------------------------------


def test_epochs_beside_a_presets_steps_give_advice_that_works(workdir: Path) -> None:
    """The advice was "e.g. epochs=null"; the user's way, trainer.steps=null, then failed with
    "trainer.steps is empty": the line now says what unsets the preset's steps."""
    keys = ["plugin=cyclegan", "preset=tiny", "epochs=1", "epochs_decay=1"]
    with pytest.raises(ConfigError, match=r"preset=tiny.*trainer\.steps=null does not unset"):
        resolve(keys)
    assert resolve([*keys, "epochs=null", "epochs_decay=null"]).epochs is None


def test_the_python_api_names_its_direction_argument(workdir: Path) -> None:
    """Translator(...)(x, "CtoD") said "--direction CtoD", a flag the Python call has not."""
    from ganhub_cyclegan import Translator

    translator = Translator(Path(ganhub.train([*TINY, "trainer.steps=1"])["run_dir"]))
    with pytest.raises(UsageError, match=r"^direction 'CtoD': choose AtoB or BtoA$"):
        translator(torch.zeros(1, 3, 16, 16), "CtoD")


def test_a_resume_with_another_pool_size_is_refused_naming_the_key(workdir: Path) -> None:
    """It failed as "pool_A.images is (50, 3, 16, 16) in the checkpoint ..."."""
    ganhub.train([*TINY, "name=p"])
    with pytest.raises(ConfigError, match=r"^objective\.pool_size=10: .* trained with objective"):
        resolve(["resume=runs/p", "trainer.steps=4", "objective.pool_size=10"])
