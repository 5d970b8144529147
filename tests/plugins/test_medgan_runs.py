"""The medgan plugin end to end: training, resume, the contract kit, lesion simulation."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("monai")
nib = pytest.importorskip("nibabel")

from ganhub_medgan.nets import dilate  # noqa: E402
from ganhub_medgan.outputs import read_mask, write_nifti  # noqa: E402
from ganhub_medgan.simulate import place_lesion  # noqa: E402

from ganhub import testing  # noqa: E402
from ganhub.config.resolve import resolve  # noqa: E402
from ganhub.engine.loop import fit  # noqa: E402
from ganhub.errors import UsageError  # noqa: E402
from ganhub.plugins import get_hub  # noqa: E402
from ganhub.wiring import make_run  # noqa: E402

from .test_medgan import TINY, _train, _volume  # noqa: E402

# -- training through the shared loop --------------------------------------------------------


@pytest.mark.parametrize("task", ["lesion", "translate", "progress", "generate"])
def test_each_task_trains_and_writes_png_and_nifti(task: str, workdir: Path) -> None:
    run = _train([f"task={task}"])
    samples = run.run_dir / "samples"
    png, nii = samples / "step_0000004.png", samples / "step_0000004.nii.gz"
    assert png.stat().st_size > 0 and nib.load(str(nii)).shape[:2] == (32, 32)
    metrics = [
        json.loads(line) for line in (run.run_dir / "metrics.jsonl").read_text().splitlines()
    ]
    final = {k: v for m in metrics for k, v in m.items() if k.startswith("eval/")}
    expected = {"generate": {"eval/mmd", "eval/ms_ssim", "eval/fd_rotnet"},
                "lesion": {"eval/psnr", "eval/ssim", "eval/dice", "eval/texture_ratio", "eval/fd_rotnet"},
                "translate": {"eval/psnr", "eval/ssim", "eval/texture_ratio", "eval/fd_rotnet"},
                "progress": {"eval/psnr", "eval/dice", "eval/new_recall", "eval/dice_unchanged",
                             "eval/volume_error", "eval/volume_error_real"}}[task]  # fmt: skip
    assert expected <= set(final) and all(math.isfinite(v) for v in final.values())


@pytest.mark.slow
def test_3d_lesion_trains_with_ema_and_resumes(workdir: Path) -> None:
    run = _train(
        [
            "spatial_dims=3",
            "model.image_size=16",
            "tricks=[ema]",
            "trainer.steps=2",
            "eval.metrics=[]",
        ]
    )
    nii = nib.load(str(run.run_dir / "samples" / "step_0000002.nii.gz"))
    assert nii.shape == (16, 16, 16, 3)  # the three volumes the PNG shows (it held the first)
    mask = nib.load(str(run.run_dir / "samples" / "step_0000002_mask.nii.gz"))
    assert mask.get_data_dtype() == np.uint8 and mask.shape == (16, 16, 16, 3)
    resumed = make_run(resolve([f"resume={run.run_dir}", "trainer.steps=3"]))
    assert resumed.step == 2 and fit(resumed)["steps"] == 3


# -- the contract kit, capabilities and the feature distance -------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        ["task=translate"],
        ["task=progress"],
        ["task=generate"],
        ["spatial_dims=3", "model.image_size=16"],
        ["spatial_dims=3", "model.image_size=16", "task=progress"],
        ["spatial_dims=3", "model.image_size=16", "task=generate"],
    ],
    ids=["translate", "progress", "generate", "lesion-3d", "progress-3d", "generate-3d"],
)
def test_other_tasks_and_3d_keep_the_contract(overrides: list[str], workdir: Path) -> None:
    """ganhub.testing for what tests/test_contract.py does not run (it runs the tiny lesion)."""
    testing.check_domain(
        "medgan", ["preset=tiny", "model.image_size=32", *overrides], workdir=workdir
    )


@pytest.mark.parametrize(
    ("overrides", "modality", "samples", "provides", "metrics"),
    [
        ([], "image", False, {"held_out", "paired_eval"},
         ["med_fidelity", "med_texture", "fd_rotnet", "med_dice"]),
        (["task=translate", "spatial_dims=3"], "volume", False, {"held_out", "paired_eval"},
         ["med_fidelity", "med_texture", "fd_rotnet"]),
        (["task=progress"], "image", False, {"held_out", "paired_eval"},
         ["med_fidelity", "med_texture", "fd_rotnet", "med_growth"]),
        (["task=generate"], "image", True, {"held_out"}, ["med_diversity", "fid"]),
        (["task=generate", "spatial_dims=3"], "volume", True, {"held_out"},
         ["med_diversity", "fd_rotnet"]),
    ],
)  # fmt: skip
def test_systems_declare_what_the_metrics_need(  # type: ignore[no-untyped-def]
    overrides, modality, samples, provides, metrics, workdir
) -> None:
    system = make_run(resolve([*TINY, *overrides])).system
    caps = system.capabilities()
    assert (caps.modality, caps.samples, caps.real_samples) == (modality, samples, True)
    assert (caps.task, caps.provides, caps.features) == (
        system.config.task,
        frozenset(provides),
        ("rotnet",),
    )
    assert system.default_metrics() == metrics
    hub = get_hub()
    supported = {name for name in hub.metrics.names() if hub.metrics.get(name).supports(caps)}
    medgan = {"med_fidelity", "med_texture", "med_dice", "med_diversity", "fd_rotnet"}
    assert supported & medgan == set(metrics) & medgan | {"fd_rotnet"}
    assert ("fid" in supported) == (samples and modality == "image")  # core: noise-sampled images
    # real samples are the images G must produce (targets), not (condition, target) pairs
    real = system.real_samples(3)
    assert real.shape == (3, 1, *[system.config.model.image_size] * system.config.spatial_dims)


def test_fd_rotnet_is_the_core_fid_on_rotnet_features(workdir: Path) -> None:
    """One mechanism: for a system that samples from noise, medgan's fd_rotnet gives what the
    core `fid` gives on the core rotnet extractor; for volumes that extractor is 3D."""
    from ganhub.metrics.features import rotnet

    hub = get_hub()
    run = _train(["task=generate", "eval.metrics=[]"])
    core = hub.metrics.get("fid").compute(run.system, n_samples=8, seed=0)
    ours = hub.metrics.get("fd_rotnet").compute(run.system, n_samples=8, seed=0)
    assert math.isclose(core["fd_rotnet"], ours["fd_rotnet"], rel_tol=1e-9)
    volumes = make_run(resolve([*TINY, "task=generate", "spatial_dims=3",
                                "model.image_size=16"])).system  # fmt: skip
    extractor = rotnet(volumes)
    assert extractor.spec.spatial_dims == 3  # type: ignore[attr-defined]
    assert extractor(volumes.real_samples(5))["features"].shape == (5, 128)


def test_fd_rotnet_refuses_too_little_data_before_training(workdir: Path) -> None:
    from ganhub.engine.loop import fit as train

    run = make_run(resolve([*TINY, "data.n_samples=40"]))
    with pytest.raises(UsageError, match=r"fd_rotnet .*40 are too few \(it needs 80\)"):
        train(run)
    assert run.step == 0


def test_med_diversity_refuses_a_single_real_volume_before_training(workdir: Path) -> None:
    """MONAI's MMD raised a traceback after training on a one-volume folder."""
    folder = workdir / "one"
    folder.mkdir()
    _volume(folder / "only.nii.gz", (20, 18, 12), np.diag([1.0, 1.0, 1.0, 1.0]), seed=0)
    run = make_run(resolve(["plugin=medgan", "task=generate", "spatial_dims=3",
                            f"data.path={folder}", "trainer.steps=1", "trainer.batch_size=1",
                            "eval.metrics=[med_diversity]", "model.image_size=16"]))  # fmt: skip
    with pytest.raises(UsageError, match=r"med_diversity compares sets .* holds 1 real one"):
        fit(run)
    assert run.step == 0


# -- lesion simulation ----------------------------------------------------------------------------


def test_place_lesion_draws_a_disc_and_checks_its_arguments() -> None:
    mask = place_lesion((32, 32), (10, 20), 3)
    assert mask.shape == (1, 32, 32) and mask[0, 10, 20] == 1 and mask[0, 10, 24] == 0
    assert mask.sum() == pytest.approx(math.pi * 9, rel=0.25)
    with pytest.raises(UsageError, match="outside"):
        place_lesion((32, 32), (40, 2), 3)
    with pytest.raises(UsageError, match="3 coordinates"):
        place_lesion((8, 8, 8), (1, 2), 1)


@pytest.fixture
def lesion_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-step task=lesion run (shared by the simulate tests)."""
    out = tmp_path_factory.mktemp("sim")
    run = make_run(resolve([*TINY, "trainer.steps=2", "eval.metrics=[]", f"out_dir={out}"]))
    fit(run)
    return run.run_dir


def test_simulate_api_and_command(lesion_run: Path, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from ganhub_medgan.simulate import load_simulator

    sim = load_simulator(lesion_run)
    assert sim.shape == (32, 32)
    mask = place_lesion(sim.shape, (16, 14), 3)
    image = sim(mask)
    assert image.shape == (1, 1, 32, 32) and image.abs().max() <= 1
    outside = dilate(mask.unsqueeze(0), 1)[0] == 0  # G paints inside the dilated mask only
    assert torch.equal(image[0][outside], sim.base[outside])
    assert not torch.equal(image[0][~outside], sim.base[~outside])
    code, _out, err = cli(
        "medgan",
        "simulate",
        str(lesion_run),
        "--at",
        "16,14",
        "--radius",
        "3",
        "--out",
        str(tmp_path / "a"),
    )
    assert code == 0, err
    written = nib.load(str(tmp_path / "a" / "simulated.nii.gz"))
    assert written.shape == (32, 32, 1)
    mask_file = tmp_path / "a" / "simulated_mask.nii.gz"
    code, _, err = cli(
        "medgan",
        "simulate",
        str(lesion_run),
        "--mask",
        str(mask_file),
        "--out",
        str(tmp_path / "b"),
    )
    assert code == 0, err
    np.testing.assert_allclose(
        nib.load(str(tmp_path / "b" / "simulated.nii.gz")).get_fdata(),
        written.get_fdata(),
        atol=1e-6,
    )
    assert (
        read_mask(tmp_path / "b" / "simulated_mask.nii.gz", 2)[0].sum()
        == read_mask(mask_file, 2)[0].sum()
    )
    small = write_nifti(
        np.ones((8, 8), np.float32), np.eye(4), tmp_path / "small.nii.gz", label=True
    )
    code, _, err = cli("medgan", "simulate", str(lesion_run), "--mask", str(small))
    assert code == 2 and "does not match the run's image grid [32, 32]" in err


def test_simulate_places_at_on_an_own_image_and_refuses_mask_with_at(  # type: ignore[no-untyped-def]
    lesion_run: Path, cli, tmp_path: Path
) -> None:
    base = write_nifti(
        np.linspace(0, 1, 32 * 32, dtype=np.float32).reshape(32, 32), np.eye(4),
        tmp_path / "base.nii.gz",
    )  # fmt: skip
    out = tmp_path / "own"
    code, _, err = cli("medgan", "simulate", str(lesion_run), "--at", "16,14", "--radius", "3",
                       "--image", str(base), "--out", str(out))  # fmt: skip
    assert code == 0, err
    mask = read_mask(out / "simulated_mask.nii.gz", 2)[0]
    assert torch.equal(mask, place_lesion((32, 32), (16, 14), 3))
    code, _, err = cli("medgan", "simulate", str(lesion_run), "--mask",
                       str(out / "simulated_mask.nii.gz"), "--at", "3,3")  # fmt: skip
    assert code == 2 and "--mask and --at both say where the lesion goes" in err
    png = tmp_path / "photo.png"
    from PIL import Image

    Image.new("RGB", (32, 32)).save(png)
    code, _, err = cli("medgan", "simulate", str(lesion_run), "--at", "3,3", "--image", str(png))
    assert code == 2 and "expected a NIfTI file (.nii, .nii.gz) or a DICOM series" in err


def test_simulate_refuses_a_lesion_that_marks_nothing(
    lesion_run: Path, cli, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """An all-zero, below-threshold or NaN mask, or a NaN radius, wrote an image without a
    lesion (the input itself) with exit 0."""
    grid = (32, 32)
    files = {
        "zero": np.zeros(grid, np.float32),
        "faint": np.full(grid, 0.4, np.float32),  # below data.mask_threshold 0.5
        "nan": np.where(np.eye(32, dtype=bool), np.nan, 1.0).astype(np.float32),
    }
    for name, values in files.items():
        path = write_nifti(values, np.eye(4), tmp_path / f"{name}.nii.gz")
        code, _, err = cli("medgan", "simulate", str(lesion_run), "--mask", str(path),
                           "--out", str(tmp_path / name))  # fmt: skip
        message = "holds NaN or infinite voxels" if name == "nan" else "marks no lesion voxel"
        assert code == 2 and message in err, err
        assert not (tmp_path / name).exists()
    code, _, err = cli("medgan", "simulate", str(lesion_run), "--at", "16,14", "--radius", "nan")
    assert code == 2 and "--radius nan: " in err and "give a number above 0" in err, err


def test_simulate_help_and_wrong_task(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("medgan", "simulate", "--help")
    assert code == 0 and "--mask" in out and "--at" in out
    run = make_run(
        resolve(
            [*TINY, "task=translate", "trainer.steps=1", "eval.metrics=[]", f"out_dir={tmp_path}"]
        )
    )
    fit(run)
    code, _, err = cli("medgan", "simulate", str(run.run_dir), "--at", "3,3")
    assert code == 2 and "task=translate" in err
    other = tmp_path / "other"  # a run of another domain: refused by ganhub.load(plugin="medgan")
    other.mkdir()
    (other / "config.yaml").write_text("plugin: toy2d\n")
    code, _, err = cli("medgan", "simulate", str(other), "--at", "3,3")
    assert code == 2 and "is a 'toy2d' run; this command needs a 'medgan' run" in err


def test_predict_api_and_command_on_a_progress_run(lesion_run: Path, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`ganhub medgan predict`: the held-out scan by default (truth beside it in the PNG), a
    user's NIfTI scan through the run's preprocessing onto its grid, one line for a lesion run."""
    from ganhub_medgan.outputs import to_intensity
    from ganhub_medgan.phantoms import make_progression
    from ganhub_medgan.predict import load_predictor

    run = make_run(resolve([*TINY, "task=progress", "trainer.steps=2", "eval.metrics=[]",
                            f"out_dir={tmp_path}"]))  # fmt: skip
    fit(run)
    code, out, err = cli("medgan", "predict", str(run.run_dir), "--out", str(tmp_path / "a"))
    assert code == 0, err
    assert out.split() == [str(tmp_path / "a" / n) for n in ("predicted.nii.gz", "predicted.png")]
    assert nib.load(str(tmp_path / "a" / "predicted.nii.gz")).shape == (32, 32, 1)
    # a scan of another size (48 x 48, 1 mm): read onto the run's 32 x 32 grid, then predicted
    scan = make_progression(1, 48, 2, seed=5).baseline[0, 0].numpy()
    write_nifti((scan + 1) / 2, np.eye(4), tmp_path / "scan.nii.gz")
    code, _, err = cli("medgan", "predict", str(run.run_dir), "--image",
                       str(tmp_path / "scan.nii.gz"), "--out", str(tmp_path / "b"))  # fmt: skip
    assert code == 0, err
    written = nib.load(str(tmp_path / "b" / "predicted.nii.gz")).get_fdata()
    predictor = load_predictor(run.run_dir)
    scans, _ = predictor.read(tmp_path / "scan.nii.gz")
    assert scans.shape == (1, 1, 32, 32)
    np.testing.assert_allclose(written[..., 0], to_intensity(predictor(scans))[0, 0], atol=1e-6)
    code, _, err = cli("medgan", "predict", str(lesion_run))
    assert code == 2 and "task=lesion; predict needs a task=progress or task=translate run" in err


def test_an_exported_lesion_model_says_how_its_input_is_built(
    lesion_run: Path, tmp_path: Path
) -> None:
    """The card said only "an image in [-1, 1]": a {0, 1} mask doubled the error in lesions."""
    from ganhub.export import export_run

    folder = export_run(lesion_run, out=tmp_path / "export")
    (condition,) = json.loads((folder / "export.json").read_text())["functions"][0]["inputs"]
    meaning = ("channel 0: the lesion mask, -1 outside the lesion and 1 inside; channel 1: the "
               "image in [-1, 1] with the lesion region (the mask dilated by one voxel) set to -1")  # fmt: skip
    card = (folder / "README.md").read_text()  # Markdown: its brackets escaped
    assert condition["meaning"] == meaning and meaning.replace("[-1, 1]", r"\[-1, 1\]") in card


def test_rotnet_trains_and_scores_images_above_64_px_at_64_px(workdir: Path) -> None:
    """The core rotnet downsamples images larger than its recipe's `max_side` (64 px) to train
    (a 256 px network took many minutes on a CPU) and scores at that size: features of a
    128 px image equal those of the same image downsampled first."""
    from ganhub.metrics import ROTNET_RECIPE
    from ganhub.metrics.featurenet import resized
    from ganhub.metrics.features import rotnet

    system = make_run(resolve([*TINY, "task=generate", "model.image_size=128"])).system
    extractor = rotnet(system)
    assert extractor.spec.size == ROTNET_RECIPE["max_side"] == 64  # type: ignore[attr-defined]
    real = system.real_samples(4)
    assert real.shape[-1] == 128
    assert torch.allclose(extractor(real)["features"], extractor(resized(real, 64))["features"])


def test_med_diversity_reports_the_images_it_scored(workdir: Path) -> None:
    """It scores every held-out image and as many samples; it was reported as eval.n_samples
    (50 where 8 were scored)."""
    from ganhub.metrics import evaluate

    run = make_run(resolve([*TINY, "task=generate", "eval.metrics=[med_diversity]"]))
    held_out = len(run.system.eval_batch(10_000).images)  # type: ignore[attr-defined]
    asked = held_out + 5
    result = evaluate(run.system, run.metrics(), n_samples=asked, seed=0)
    assert result.values["n_samples"] == held_out < asked
