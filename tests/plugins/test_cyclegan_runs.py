"""The cyclegan plugin end to end: training, samples, translate, resume, the contract."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
import torch
from ganhub_cyclegan import Translator, translate
from PIL import Image

import ganhub
from ganhub.capabilities import Capabilities
from ganhub.config.resolve import resolve
from ganhub.data.images import list_images
from ganhub.engine import checkpoint
from ganhub.engine.loop import fit
from ganhub.errors import UsageError
from ganhub.plugins import get_hub
from ganhub.testing import check_domain, check_metric
from ganhub.wiring import make_run

from ..conftest import TINY_TOY

if TYPE_CHECKING:
    pass

from .test_cyclegan import TINY, TINY_FOLDER, _png, _solid, _unaligned

FOLDER_NO_STEPS = [a for a in TINY_FOLDER if not a.startswith("trainer.steps=")]

pytestmark = pytest.mark.usefixtures("one_thread")


# -- training, samples, translate, resume ------------------------------------------------------------


@pytest.mark.parametrize("task", ["unpaired", "paired"])
def test_each_task_trains_samples_and_scores(workdir: Path, task: str) -> None:
    summary = ganhub.train([*TINY, f"task={task}", "trainer.steps=3"])
    assert summary["steps"] == 3
    grid = Image.open(summary["samples"][0])
    columns = 6 if task == "unpaired" else 3
    assert grid.size == (2 + columns * 18, 2 + 8 * 18)  # 8 rows of 16 px images, 2 px padding
    m = summary["metrics"]
    assert m["n_pairs"] == 16 and 0 < m["ssim_identity_AtoB"] < 1
    assert ("cycle_l1_A" in m) == (task == "unpaired") and ("psnr_BtoA" in m) == (
        task == "unpaired"
    )
    run_dir = Path(summary["run_dir"])
    assert "loss/G" in (run_dir / "metrics.jsonl").read_text()


def test_translate_cli_and_python_api(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    run_dir = Path(ganhub.train([*TINY, "name=t"])["run_dir"])
    _png(workdir / "in" / "x" / "one.png", _solid(20, 20, (200, 30, 30)))
    _png(workdir / "in" / "two.jpg", _solid(10, 30, (30, 30, 200)))
    code, out, _ = cli("cyclegan", "translate", str(run_dir), "--input", str(workdir / "in"),
                       "--direction", "BtoA", "--out", str(workdir / "out"))  # fmt: skip
    assert code == 0 and "wrote 2 translated images" in out
    written = sorted(
        p.relative_to(workdir / "out").as_posix() for p in list_images(workdir / "out")
    )
    assert written == ["two.png", "x/one.png"]
    assert Image.open(workdir / "out" / "two.png").size == (16, 16)
    for size in ("4", "100000"):  # InstanceNorm on 1x1 / a 120 GB allocation: tracebacks
        code, _, err = cli("cyclegan", "translate", str(run_dir), "--input", str(workdir / "in"),
                           "--size", size, "--out", str(workdir / f"s{size}"))  # fmt: skip
        assert code == 2 and f"--size {size}: " in err and "from 8 to 4096" in err
    translator = Translator(run_dir)
    x = torch.full((1, 3, 16, 16), -0.5)
    y = translator(x, "BtoA")
    assert torch.allclose(y, translator.system.G_BA(x), atol=1e-6)
    assert torch.equal(translator(x.numpy(), "BtoA"), y)  # type: ignore[arg-type]
    for bad in (torch.zeros(1, 1, 16, 16), torch.zeros(1, 3, 30, 30), torch.zeros(3, 16, 16)):
        with pytest.raises(UsageError, match=r"give \(N, 3, H, W\) images .* multiples of 4"):
            translator(bad, "BtoA")
    paths = translate(run_dir, workdir / "in" / "two.jpg", "AtoB", workdir / "api", size=24)
    assert [p.name for p in paths] == ["two.png"] and Image.open(paths[0]).size == (24, 24)
    # each image at its own size, each side rounded to the step (4), unsquashed: 10x30 -> 8x32
    # (10 / 4 = 2.5 rounds to even, as Python's round does in the original's __make_power_2)
    code, out, err = cli("cyclegan", "translate", str(run_dir), "--input", str(workdir / "in"),
                         "--keep-size", "--out", str(workdir / "own"))  # fmt: skip
    assert code == 0 and "wrote 2 translated images" in out, err
    assert Image.open(workdir / "own" / "two.png").size == (32, 8)
    assert Image.open(workdir / "own" / "x" / "one.png").size == (20, 20)  # kept as it is
    code, _, err = cli("cyclegan", "translate", str(run_dir), "--input", str(workdir / "in"),
                       "--keep-size", "--size", "16")  # fmt: skip
    assert code == 2 and "--size and --keep-size: give one" in err
    # the originals were replaced without a word (--out = --input), or outputs translated again
    before = (workdir / "in" / "x" / "one.png").read_bytes()
    for out in ("in", "in/x", "in/sub"):
        code, _, err = cli("cyclegan", "translate", str(run_dir), "--input", str(workdir / "in"),
                           "--out", str(workdir / out))  # fmt: skip
        assert code == 2 and "is --input" in err and "or inside it" in err, err
    code, _, err = cli("cyclegan", "translate", str(run_dir), "--input",
                       str(workdir / "in" / "x" / "one.png"), "--out", str(workdir / "in" / "x"))  # fmt: skip
    assert code == 2 and "would replace the input" in err
    assert (workdir / "in" / "x" / "one.png").read_bytes() == before
    code, _, err = cli("cyclegan", "translate", str(run_dir), "--input", str(workdir / "missing"))
    assert code == 2 and "--input" in err and "does not exist" in err
    code, _, err = cli("cyclegan", "translate", str(run_dir), "--input", str(workdir / "in"),
                       "--size", "18")  # fmt: skip
    assert code == 2 and "multiple of 4" in err
    code, _, err = cli("cyclegan", "translate", str(run_dir), "--input", str(workdir / "in"),
                       "--size", "0")  # fmt: skip
    assert code == 2 and "--size 0: " in err and "from 8 to 4096" in err  # not "the run's size"
    _png(workdir / "in" / "two.png", _solid(8, 8, (0, 0, 0)))  # two.jpg and two.png -> two.png
    code, _, err = cli("cyclegan", "translate", str(run_dir), "--input", str(workdir / "in"))
    assert code == 2 and "would both be written to" in err
    code, out, _ = cli("cyclegan", "translate", "--help")
    assert code == 0 and "--direction [AtoB|BtoA]" in out and "RUN_DIR" in out
    code, out, _ = cli("cyclegan", "--help")
    assert code == 0 and "translate" in out


def test_the_old_translate_command_still_works_with_a_notice(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    run_dir = Path(ganhub.train([*TINY, "trainer.steps=1"])["run_dir"])
    _png(workdir / "one.png", _solid(16, 16, (200, 30, 30)))
    code, out, err = cli("translate", str(run_dir), "--input", str(workdir / "one.png"),
                         "--out", str(workdir / "out"))  # fmt: skip
    assert code == 0 and "wrote 1 translated image" in out
    assert err.count("\n") == 1 and "use 'ganhub cyclegan translate'" in err
    assert (workdir / "out" / "one.png").is_file()


def test_translate_refuses_a_run_of_another_domain(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    run_dir = Path(ganhub.train([*TINY_TOY, "trainer.steps=2"])["run_dir"])
    _png(workdir / "one.png", _solid(16, 16, (1, 2, 3)))
    code, _, err = cli("cyclegan", "translate", str(run_dir), "--input", str(workdir / "one.png"))
    assert code == 2 and "is a 'toy2d' run; this command needs a 'cyclegan' run" in err


def test_translate_refuses_the_unlearned_direction_of_a_paired_run(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    run_dir = Path(ganhub.train([*TINY, "task=paired", "trainer.steps=1"])["run_dir"])
    _png(workdir / "one.png", _solid(16, 16, (1, 2, 3)))
    code, _, err = cli(
        "cyclegan", "translate", str(run_dir), "--input", str(workdir / "one.png"),
        "--direction", "BtoA",
    )  # fmt: skip
    assert code == 2 and "task=paired run learns its input -> target direction only" in err
    with pytest.raises(ValueError, match="direction 'BtoA': this paired run translates AtoB"):
        Translator(run_dir).system.translate(torch.zeros(1, 3, 16, 16), "BtoA")


def test_resume_continues_exactly_with_the_pools(workdir: Path) -> None:
    args = [
        *TINY,
        "deterministic=true",
        "tricks=[]",
        "objective.pool_size=3",
        "trainer.checkpoint_every=2",
    ]
    fit(make_run(resolve([*args, "trainer.steps=8", "name=full"])))
    fit(make_run(resolve([*args, "trainer.steps=4", "name=part"])))
    assert (
        checkpoint.load(checkpoint.latest(workdir / "runs/part/checkpoints"))[1]["pool_A.count"]
        == 3
    )  # type: ignore[arg-type]
    fit(
        make_run(resolve(["resume=runs/part", "trainer.steps=8"]))
    )  # the pools were full and swapping
    full_state = checkpoint.load(checkpoint.latest(workdir / "runs/full/checkpoints"))[1]  # type: ignore[arg-type]
    part_state = checkpoint.load(checkpoint.latest(workdir / "runs/part/checkpoints"))[1]  # type: ignore[arg-type]
    assert full_state.keys() == part_state.keys()
    for key in full_state:
        assert torch.equal(full_state[key], part_state[key]), key


# -- the contract: declared capabilities, metrics by declaration, the kit ---------------------


def test_both_systems_declare_translation_not_sampling(workdir: Path) -> None:
    for task, provides in (
        ("unpaired", {"translate", "cycle", "paired_eval", "domain_eval"}),
        ("paired", {"translate", "paired_eval", "domain_eval"}),
    ):
        system = make_run(resolve([*TINY, f"task={task}"])).system
        caps = system.capabilities()
        assert (caps.modality, caps.samples, caps.real_samples, caps.task) == (
            "image",
            False,
            True,
            task,
        )
        assert caps.provides == provides and caps.dataset == "restyled_digits"
        # real samples are target-domain images: what the "AtoB" translation produces
        real = system.real_samples(3, seed=0)
        a, b = system.heldout_pairs()
        assert real.shape == (3, *b.shape[1:]) and system.translate(a[:3]).shape == real.shape
        assert system.directions == (("AtoB", "BtoA") if task == "unpaired" else ("AtoB",))


def test_folder_runs_declare_no_held_out_pairs(workdir: Path) -> None:
    root = _unaligned(workdir / "data")
    system = make_run(resolve([*TINY_FOLDER, f"data.path={root}", "data.load_size=18"])).system
    caps = system.capabilities()
    assert caps.provides == {"translate", "cycle", "domain_eval", "samples_from_data"}
    assert caps.dataset is None
    assert system.default_metrics() == []  # 5 B images: too few for translation_fd's rotnet
    real = system.real_samples(10, seed=0)  # the 5 B images, not 10 with repeats
    assert real.shape == (5, 3, 16, 16) and (real[:, 2] > 0.9).all()
    assert system.data().fingerprint()["files"]


def test_the_metrics_decide_from_the_declaration_alone() -> None:
    hub = get_hub()
    psnr_ssim, cycle = hub.metrics.get("translation_psnr_ssim"), hub.metrics.get("cycle_l1")
    both = frozenset({"translate", "paired_eval", "cycle"})
    assert psnr_ssim.supports(Capabilities("image", samples=False, provides=both))
    assert cycle.supports(Capabilities("image", samples=False, provides=both))
    one_way = frozenset({"translate", "paired_eval"})
    assert psnr_ssim.supports(Capabilities("image", provides=one_way))
    assert not cycle.supports(Capabilities("image", provides=one_way))
    assert not psnr_ssim.supports(Capabilities("image", provides=frozenset({"translate"})))
    assert not psnr_ssim.supports(Capabilities("image"))  # an image generator: nothing to score
    fd = hub.metrics.get("translation_fd")
    assert fd.supports(Capabilities("image", provides=frozenset({"translate", "domain_eval"})))
    assert not fd.supports(Capabilities("image", provides=frozenset({"translate"})))
    assert not fd.supports(Capabilities("volume", provides=frozenset({"translate", "domain_eval"})))


@pytest.mark.parametrize("task", ["unpaired", "paired"])
def test_the_metrics_keep_the_metric_contract(workdir: Path, task: str) -> None:
    system = make_run(resolve([*TINY, f"task={task}"])).system
    for name in system.default_metrics():
        values = check_metric(get_hub().metrics.get(name), system, n_samples=8)
        assert values


@pytest.mark.slow
def test_the_paired_task_keeps_the_domain_contract(workdir: Path) -> None:
    check_domain("cyclegan", ["preset=tiny", "task=paired"], workdir=workdir)


def test_a_saved_config_is_not_derived_again(workdir: Path) -> None:
    """Reopening a run uses its saved config as is: no defaults derived, no folder scanned."""
    root = _unaligned(workdir / "data")
    args = [*FOLDER_NO_STEPS, f"data.path={root}", "data.load_size=18", "trainer.batch_size=1"]
    summary = ganhub.train([*args, "epochs=0.4", "epochs_decay=0.4", "name=e"])
    assert summary["steps"] == 4  # 0.8 passes over the larger domain's 5 images
    run_dir = Path(summary["run_dir"])
    saved = (run_dir / "config.yaml").read_text()
    assert "epochs: 0.4" in saved and "start: 0.5" in saved
    for f in sorted(root.rglob("*.*")):
        f.unlink()  # the training data is gone
    model = ganhub.load(run_dir, plugin="cyclegan")
    assert model.config.trainer.steps == 4 and model.step == 4
    x = torch.zeros(1, 3, 16, 16)
    assert Translator(run_dir)(x, "BtoA").shape == (1, 3, 16, 16)


def test_a_run_counted_in_epochs_takes_keys_on_resume_eval_and_sample(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """Every key=value on a run set in epochs was refused as "trainer.steps=4 and epochs=0.4
    ... both set the run length": the saved config holds both, and deriving defaults from it
    raised. The saved values stand; trainer.steps lengthens it, as documented."""
    root = _unaligned(workdir / "data")
    args = [*FOLDER_NO_STEPS, f"data.path={root}", "data.load_size=18", "trainer.batch_size=1"]
    run = Path(ganhub.train([*args, "epochs=0.4", "epochs_decay=0.4", "name=e"])["run_dir"])
    assert ganhub.train([f"resume={run}", "trainer.steps=6"])["steps"] == 6
    moved = root.rename(workdir / "moved")
    code, _, err = cli("sample", str(run), f"data.path={moved}", "--n", "2")
    assert code == 0, err
    summary = ganhub.train([f"resume={run}", "trainer.steps=7", f"data.path={moved}"])
    assert summary["steps"] == 7


# -- sample(n): exactly n translations, however few test inputs ----------------------------------


def test_sample_n_draws_n_inputs_from_a_one_image_test_folder(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """sample(8) of a run whose testA/ held one image gave 1 translation and a 1-row grid."""
    root = _unaligned(workdir / "data")
    _png(root / "testA" / "0.png", _solid(20, 20, (250, 0, 0)))
    args = [*TINY_FOLDER, f"data.path={root}", "data.load_size=18", "trainer.steps=1"]
    run_dir = Path(ganhub.train(args)["run_dir"])
    model = ganhub.load(run_dir)
    eight = model.sample(8)
    assert eight.shape == (8, 3, 16, 16) and torch.equal(eight, eight[:1].expand_as(eight))
    assert torch.equal(model.sample(8, seed=3), eight)  # one input: every seed translates it
    code, out, err = cli("sample", str(run_dir), "--n", "8", "--out", str(workdir / "out"))
    assert code == 0 and "sample_seed0_n8" in out, err
    assert Image.open(out.strip()).size == (2 + 6 * 18, 2 + 8 * 18)  # 8 rows, not 1
    # three inputs: seed 0 keeps the files' order (cycled), other seeds choose seeded orders
    _png(root / "testA" / "1.png", _solid(20, 20, (0, 250, 0)))
    _png(root / "testA" / "2.png", _solid(20, 20, (0, 0, 250)))
    assert torch.equal(model.sample(8), eight)  # the run samples the inputs it kept
    model.system.before_training()  # as a resume does: kept anew from the folder
    first = model.sample(8, seed=0)
    assert torch.allclose(first[:3], first[3:6]) and not torch.allclose(first[0], first[1])
    assert torch.allclose(model.sample(2, seed=0), first[:2])
    orders = [model.sample(8, seed=s) for s in range(1, 6)]
    assert all(torch.equal(x, model.sample(8, seed=s)) for s, x in enumerate(orders, 1))
    assert any(not torch.allclose(orders[0], x) for x in orders[1:])
    for x in orders:  # a pass uses every input before one repeats
        assert not any(torch.allclose(x[i], x[j]) for i, j in ((0, 1), (0, 2), (1, 2)))


def test_paired_sample_and_grid_draw_n_pairs_from_a_one_pair_test_folder(workdir: Path) -> None:
    image = np.zeros((20, 40, 3))
    image[:, 20:, 1] = 200
    for i in range(2):
        _png(workdir / "pairs" / "train" / f"{i}.png", image)
    _png(workdir / "pairs" / "test" / "0.png", image)
    run = make_run(resolve([*TINY_FOLDER, "task=paired", f"data.path={workdir / 'pairs'}",
                            "data.load_size=20"]))  # fmt: skip
    assert run.system.sample(8, seed=2).shape == (8, 3, 16, 16)
    (grid,) = run.system.write_samples(workdir / "grids", "g", n=8)
    assert Image.open(grid).size == (2 + 3 * 18, 2 + 8 * 18)


def test_preview_indices_keep_the_old_choice_and_cycle_seeded_passes() -> None:
    from ganhub_cyclegan.data import preview_indices

    old = torch.randperm(16, generator=torch.Generator().manual_seed(5))[:8]
    assert torch.equal(preview_indices(16, 8, 5), old)  # enough digits: the same as before
    assert preview_indices(3, 8, 0, listed=True).tolist() == [0, 1, 2, 0, 1, 2, 0, 1]
    idx = preview_indices(3, 8, 1)
    assert sorted(idx[:3].tolist()) == sorted(idx[3:6].tolist()) == [0, 1, 2] and len(idx) == 8
    assert not torch.equal(idx, preview_indices(3, 8, 2))


def test_translate_leaves_no_half_written_out_when_a_later_file_fails(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """A truncated image sorted after the first batch stopped the command after the earlier
    batches were written: the files and folders this call made are removed, what was there
    stays."""
    run_dir = Path(ganhub.train([*TINY, "name=t"])["run_dir"])
    for name in ("a.png", "b.png", "sub/c.png"):
        _png(workdir / "in" / name, _solid(16, 16, (200, 30, 30)))
    good = (workdir / "in" / "a.png").read_bytes()
    (workdir / "in" / "zz.png").write_bytes(good[: len(good) // 2])  # truncated, read last
    (workdir / "out").mkdir()
    (workdir / "out" / "keep.txt").write_text("mine")
    for extra in ([], ["--keep-size"]):
        code, _, err = cli("cyclegan", "translate", str(run_dir), "--input", str(workdir / "in"),
                           "--out", str(workdir / "out"), "--batch-size", "1", *extra)  # fmt: skip
        assert code == 2 and "zz.png" in err, err
        assert sorted(p.name for p in (workdir / "out").iterdir()) == ["keep.txt"]
