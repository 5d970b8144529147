"""The medgan plugin: packaging, config, losses, NIfTI I/O and folders (the phantoms and image
statistics: test_medgan_phantoms.py; runs, the contract kit, simulate and predict:
test_medgan_runs.py)."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("monai")
nib = pytest.importorskip("nibabel")

from ganhub_medgan.config import MedData  # noqa: E402
from ganhub_medgan.folder import load_folder  # noqa: E402
from ganhub_medgan.losses import MONAI_LOSSES  # noqa: E402
from ganhub_medgan.outputs import write_nifti  # noqa: E402

from ganhub.config.resolve import resolve  # noqa: E402
from ganhub.engine.loop import fit  # noqa: E402
from ganhub.engine.run import Run  # noqa: E402
from ganhub.errors import ConfigError, UsageError  # noqa: E402
from ganhub.losses import Targets  # noqa: E402
from ganhub.plugins import Hub, get_hub  # noqa: E402
from ganhub.wiring import make_run  # noqa: E402

TINY = [
    "plugin=medgan",
    "preset=tiny",
    "trainer.progress=false",
    "loggers=[jsonl]",
    "model.image_size=32",
]


def _train(args: list[str]) -> Run:
    run = make_run(resolve([*TINY, *args]))
    before = [p.detach().clone() for p in run.system.parameters()]
    summary = fit(run)
    assert summary["steps"] == run.config.trainer.steps
    assert any(not torch.equal(b, a) for b, a in zip(before, run.system.parameters()))
    for line in (run.run_dir / "metrics.jsonl").read_text().splitlines():
        assert "nan" not in line.lower(), line
    return run


# -- plugin packaging -------------------------------------------------------------------------


def test_plugin_registers_domain_losses_metrics_and_command() -> None:
    hub = get_hub()
    hub.domains.names()  # registration is lazy: the first registry lookup runs the hooks
    info = hub.plugins["medgan"]
    assert info.status == "ok", info.error
    assert info.registered["domains"] == ["medgan"]
    assert set(info.registered["losses"]) == {
        "monai_patch_lsgan",
        "monai_patch_bce",
        "monai_patch_hinge",
    }
    assert {"med_fidelity", "med_dice", "med_diversity", "fd_rotnet"} <= set(
        info.registered["metrics"]
    )


def test_missing_monai_reports_the_install_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import ganhub.plugins as plugins

    real = plugins._importable
    monkeypatch.setattr(plugins, "_importable", lambda m: m != "monai" and real(m))
    hub = Hub.discover()
    info = hub.plugins["medgan"]
    assert info.status == "unavailable"
    assert info.fix == "pip install 'ganhub[medgan]'"
    with pytest.raises(UsageError, match=r"ganhub\[medgan\]"):
        hub.require_domain("medgan")
    assert hub.plugins["dcgan"].status == "ok"  # the others still load


def test_registration_imports_no_torch_or_monai() -> None:
    """Every register_* hook (domain, losses, metrics, commands) runs without importing torch,
    monai or nibabel, and the commands land under `ganhub medgan`."""
    code = (
        "import sys, click, ganhub_medgan\nfrom ganhub.plugins import Hub\n"
        "hub = Hub(); hub.add('medgan', ganhub_medgan)\n"  # medgan alone: its imports only
        "hub.domains.get('medgan'); hub.losses.get('monai_patch_lsgan')\n"
        "hub.metrics.get('fd_rotnet')\n"
        "assert hub.plugins['medgan'].status == 'ok', hub.plugins['medgan'].error\n"
        "cli = click.Group('ganhub'); hub.add_commands(cli)\n"
        "assert 'simulate' in cli.commands['medgan'].commands\n"
        "print(sorted(m for m in ('torch', 'monai', 'nibabel') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_medgan_help_lists_simulate(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("medgan", "--help")
    assert code == 0 and "simulate" in out


# -- config -------------------------------------------------------------------------------------


def test_3d_with_a_2d_only_trick_is_a_config_error() -> None:
    """The resolver checks tricks against `modality_for`: volume with spatial_dims=3."""
    with pytest.raises(
        ConfigError,
        match=r"^trick 'diffaug' applies to image data, and this 'medgan' run trains on volume data$",
    ):
        resolve(["plugin=medgan", "spatial_dims=3", "tricks=[diffaug]"])
    assert resolve(["plugin=medgan", "tricks=[diffaug]"]).tricks == ["diffaug"]
    domain = get_hub().domains.get("medgan")
    assert domain.modality_for(resolve(["plugin=medgan", "spatial_dims=3"])) == "volume"
    assert domain.modality_for(resolve(["plugin=medgan"])) == "image"
    assert resolve(["plugin=medgan", "spatial_dims=3", "tricks=[ema]"]).tricks == ["ema"]


def test_defaults_follow_spatial_dims_and_survive_partial_trainer_overrides() -> None:
    cfg = resolve(["plugin=medgan", "trainer.steps=7"])
    assert (cfg.trainer.steps, cfg.trainer.batch_size, cfg.model.image_size) == (7, 8, 64)
    assert cfg.data.n_samples == 512
    cfg3 = resolve(["plugin=medgan", "spatial_dims=3"])
    assert (cfg3.trainer.steps, cfg3.trainer.batch_size, cfg3.model.image_size) == (150, 4, 32)
    assert (cfg3.data.n_samples, cfg3.loss) == (128, "monai_patch_lsgan")
    cfg3 = resolve(["plugin=medgan", "spatial_dims=3", "trainer.steps=7", "model.image_size=16"])
    assert (cfg3.trainer.steps, cfg3.trainer.batch_size, cfg3.model.image_size) == (7, 4, 16)


def test_a_value_the_user_gave_is_never_replaced() -> None:
    """3D defaults come from defaults_for, below the preset and the user's keys: a batch of 8
    given in 3D stays 8 (the old validator took the 2D default value for 'not set')."""
    cfg = resolve(["plugin=medgan", "spatial_dims=3", "trainer.batch_size=8", "data.n_samples=512"])
    assert (cfg.trainer.batch_size, cfg.trainer.steps, cfg.data.n_samples) == (8, 150, 512)
    tiny3 = resolve(["plugin=medgan", "preset=tiny", "spatial_dims=3"])
    assert (tiny3.trainer.steps, tiny3.model.image_size, tiny3.data.n_samples) == (4, 32, 80)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("model.l1_weight", "objective.lambda_l1"),
        ("model.d_scale", "objective.d_scale"),
        ("model.feature_matching", "objective.feature_matching"),
    ],
)
def test_loss_weights_moved_to_objective(old: str, new: str) -> None:
    with pytest.raises(ConfigError, match=rf"^{old} was renamed {new}; write {new}=1$"):
        resolve(["plugin=medgan", f"{old}=1"])
    assert resolve(["plugin=medgan", f"{new}=2"]).objective.model_dump()[new.split(".")[1]] == 2


def test_objective_weights_reach_the_paired_system(workdir: Path) -> None:
    cfg = resolve(["plugin=medgan", "preset=tiny", "objective.lambda_l1=7",
                   "objective.d_scale=0.25", "objective.feature_matching=3"])  # fmt: skip
    system = make_run(cfg).system
    assert (system.l1_weight, system.d_scale, system.feature_matching_weight) == (7, 0.25, 3)
    with pytest.raises(ConfigError, match=r"objective\.feature_matching applies to the paired"):
        resolve(["plugin=medgan", "task=generate", "objective.feature_matching=1"])


def test_sizes_the_unet_cannot_take_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"model.image_size=36.*multiple of 8"):
        resolve(["plugin=medgan", "model.image_size=36"])


def test_lesion_growth_is_a_progress_key_and_defaults_with_the_image_size(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"data\.growth=3 applies to task=progress \(this run: task=lesion\)"
    ):
        resolve(["plugin=medgan", "data.growth=3"])
    for sub in ("baseline", "followup"):
        write_nifti(np.zeros((8, 8, 8), np.float32), np.eye(4), tmp_path / sub / "a.nii.gz")
    with pytest.raises(ConfigError, match=r"data\.growth=3 grows the embedded phantoms' lesions"):
        resolve(["plugin=medgan", "task=progress", f"data.path={tmp_path}", "data.growth=3"])
    from ganhub_medgan.system import build_split

    for size, growth in ((32, 1), (64, 2)):
        keys = ["plugin=medgan", "task=progress", f"model.image_size={size}", "data.n_eval=4"]
        split = build_split(resolve(keys), "eval")
        explicit = build_split(resolve([*keys, f"data.growth={growth}"]), "eval")
        assert split.masks is not None and explicit.masks is not None
        assert torch.equal(split.masks, explicit.masks) and split.prior_masks is not None


# -- losses -----------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", MONAI_LOSSES, ids=lambda c: c.name)
def test_monai_loss_wrappers_match_hand_formulas(cls) -> None:  # type: ignore[no-untyped-def]
    gen = torch.Generator().manual_seed(0)
    real, fake = (
        torch.randn(4, 1, 6, 6, generator=gen) * 2,
        torch.randn(4, 1, 6, 6, generator=gen) * 2,
    )
    loss = get_hub().losses.get(cls.name)
    if cls.name == "monai_patch_lsgan":  # raw logits: MONAI's LeakyReLU is switched off
        d = ((real - 1) ** 2).mean() + (fake**2).mean()
        g = ((fake - 1) ** 2).mean()
    elif cls.name == "monai_patch_bce":  # logits in, sigmoid inside
        d = -torch.log(torch.sigmoid(real)).mean() - torch.log(1 - torch.sigmoid(fake)).mean()
        g = -torch.log(torch.sigmoid(fake)).mean()
    else:  # hinge on tanh
        d = torch.relu(1 - torch.tanh(real)).mean() + torch.relu(1 + torch.tanh(fake)).mean()
        g = torch.relu(1 - torch.tanh(fake)).mean()
    torch.testing.assert_close(loss.d_loss(real, fake), d)
    torch.testing.assert_close(loss.g_loss(fake), g)
    x = fake.clone().requires_grad_(True)  # gradients reach the logits
    loss.g_loss(x).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize("cls", MONAI_LOSSES, ids=lambda c: c.name)
def test_monai_losses_make_their_targets_on_the_device(cls, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """MONAI fills its targets in a host tensor and copies it to the logits' device on every
    call, which a CUDA graph cannot capture; the wrapper fills them where the logits are, and
    its values are MONAI's own."""
    from monai.losses import PatchAdversarialLoss

    gen = torch.Generator().manual_seed(1)
    real, fake = torch.randn(3, 1, 5, 5, generator=gen), torch.randn(3, 1, 5, 5, generator=gen)
    ours = get_hub().losses.get(cls.name)
    theirs = PatchAdversarialLoss(reduction="mean", criterion=cls.criterion,
                                  no_activation_leastsq=True)  # fmt: skip
    expected_d = theirs(real, target_is_real=True, for_discriminator=True) + theirs(
        fake, target_is_real=False, for_discriminator=True
    )
    expected_g = theirs(fake, target_is_real=True, for_discriminator=False)
    made_on_host: list[object] = []
    host_tensor = torch.tensor
    monkeypatch.setattr(
        torch, "tensor", lambda *a, **k: made_on_host.append(a) or host_tensor(*a, **k)
    )
    d, g = ours.d_loss(real, fake), ours.g_loss(fake)
    assert made_on_host == []
    torch.testing.assert_close(d, expected_d)
    torch.testing.assert_close(g, expected_g)


@pytest.mark.parametrize("name", ["monai_patch_lsgan", "monai_patch_bce"])
def test_monai_losses_take_label_targets_and_real_sample_weights(name: str) -> None:
    """Label smoothing's targets reach MONAI's labels (G keeps its own target), and per-sample
    weights of the real term behave as the built-in losses' do."""
    gen = torch.Generator().manual_seed(2)
    real, fake = torch.randn(4, 1, 5, 5, generator=gen), torch.randn(4, 1, 5, 5, generator=gen)
    loss = get_hub().losses.get(name)

    def term(logits: torch.Tensor, label: float) -> torch.Tensor:  # per sample
        if name == "monai_patch_lsgan":
            return ((logits - label) ** 2).flatten(1).mean(1)
        p = torch.sigmoid(logits)
        return -(label * torch.log(p) + (1 - label) * torch.log(1 - p)).flatten(1).mean(1)

    smoothed = Targets(real=0.9, fake=0.1, gen=1.0)
    expected = term(real, 0.9).mean() + term(fake, 0.1).mean()
    torch.testing.assert_close(loss.d_loss(real, fake, smoothed), expected)
    torch.testing.assert_close(loss.g_loss(fake, targets=smoothed), term(fake, 1.0).mean())
    assert not torch.allclose(loss.d_loss(real, fake, smoothed), loss.d_loss(real, fake))

    uniform = loss.d_loss(real, fake, real_weight=torch.full((4,), 3.0))
    torch.testing.assert_close(uniform, loss.d_loss(real, fake))
    dropped = loss.d_loss(real, fake, real_weight=torch.tensor([1.0, 1.0, 1.0, 0.0]))
    torch.testing.assert_close(dropped, term(real[:3], 1.0).mean() + term(fake, 0.0).mean())


def test_label_smoothing_runs_on_medgan_and_is_refused_for_the_monai_hinge() -> None:
    assert resolve(["plugin=medgan", "tricks=[label_smoothing]"]).loss == "monai_patch_lsgan"
    with pytest.raises(ConfigError, match="does not suit loss 'monai_patch_hinge': it moves"):
        resolve(["plugin=medgan", "loss=monai_patch_hinge", "tricks=[label_smoothing]"])


# -- NIfTI I/O and folders -------------------------------------------------------------------------


def test_nifti_writer_round_trips_the_affine(tmp_path: Path) -> None:
    theta = 0.3
    affine = np.array([
        [0.9 * math.cos(theta), -0.9 * math.sin(theta), 0, -20.0],
        [0.9 * math.sin(theta), 0.9 * math.cos(theta), 0, 15.5],
        [0, 0, 2.5, -40.0],
        [0, 0, 0, 1],
    ])  # fmt: skip
    data = np.random.default_rng(0).random((5, 6, 7), dtype=np.float32)
    path = write_nifti(data, affine, tmp_path / "out.nii.gz")
    img = nib.load(str(path))
    np.testing.assert_allclose(img.affine, affine, atol=1e-5)
    np.testing.assert_allclose(img.get_fdata(), data, atol=1e-6)
    assert img.header.get_qform(coded=True)[1] == 1 and img.header.get_sform(coded=True)[1] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.nii.gz"]  # no temp file left
    mask = write_nifti(data > 0.5, affine, tmp_path / "mask.nii", label=True)
    assert nib.load(str(mask)).get_data_dtype() == np.uint8


def _volume(
    path: Path, shape: tuple[int, ...], affine: np.ndarray, seed: int, mask: bool = False
) -> None:
    rng = np.random.default_rng(seed)
    data = (
        (rng.random(shape) > 0.8).astype(np.float32)
        if mask
        else rng.normal(100, 20, shape).astype(np.float32)
    )
    nib.save(nib.Nifti1Image(data, affine), str(path))


def _lesion_folder(root: Path, n: int = 3, shape: tuple[int, ...] = (20, 18, 12)) -> np.ndarray:
    affine = np.diag([2.0, 2.0, 3.0, 1.0])
    affine[:3, 3] = [-10.0, 5.0, 7.0]
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        _volume(root / "images" / f"case{i}.nii.gz", shape, affine, i)
        _volume(
            root / "masks" / f"case{i}.nii", shape, affine, i, mask=True
        )  # .nii pairs with .nii.gz
    return affine


def test_folder_loader_pairs_resizes_and_tracks_the_affine(tmp_path: Path) -> None:
    affine = _lesion_folder(tmp_path)
    cfg = MedData(source="folder", path=tmp_path)
    (images, masks), affines = load_folder("lesion", cfg, 3, 16)
    assert images.shape == masks.shape == (3, 1, 16, 16, 16)
    assert images.min() >= -1 and images.max() <= 1 and set(masks.unique().tolist()) <= {0.0, 1.0}
    # resizing keeps the field of view: voxel size grows by old/new, the centre stays put
    np.testing.assert_allclose(
        np.diag(affines[0])[:3], [2.0 * 20 / 16, 2.0 * 18 / 16, 3.0 * 12 / 16]
    )
    centre = lambda a, shape: a[:3, :3] @ ((np.array(shape) - 1) / 2) + a[:3, 3]  # noqa: E731
    np.testing.assert_allclose(
        centre(affines[0], (16, 16, 16)), centre(affine, (20, 18, 12)), atol=1e-6
    )
    # 2D: central axial slices of each volume, each with its own slice affine
    cfg2 = MedData(source="folder", path=tmp_path, slices_per_volume=2)
    (images2, _), affines2 = load_folder("lesion", cfg2, 2, 16)
    assert images2.shape == (6, 1, 16, 16)
    assert affines2[1][2, 3] - affines2[0][2, 3] == pytest.approx(3.0)


def test_bad_files_stop_with_their_name_unless_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _lesion_folder(tmp_path)
    bad = tmp_path / "images" / "case9.nii.gz"
    bad.write_bytes(b"not a nifti file")
    (tmp_path / "masks" / "case9.nii.gz").write_bytes(b"\x00" * 10)
    cfg = MedData(source="folder", path=tmp_path)
    with pytest.raises(
        UsageError, match=r"cannot read medical image '.*case9\.nii\.gz'.*data\.skip_bad=true"
    ):
        load_folder("lesion", cfg, 3, 16)
    capsys.readouterr()
    (images, _), _ = load_folder(
        "lesion", MedData(source="folder", path=tmp_path, skip_bad=True), 3, 16
    )
    assert len(images) == 3
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("medgan: warning: skipping: ") and "case9" in err[0]
    (tmp_path / "images" / "lonely.nii.gz").write_bytes(bad.read_bytes())
    with pytest.raises(UsageError, match=r"'.*lonely\.nii\.gz' has no partner named 'lonely'"):
        load_folder("lesion", cfg, 3, 16)


def test_folder_config_errors_name_the_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"data.path is required"):
        resolve(["plugin=medgan", "data=folder"])
    (tmp_path / "images").mkdir()
    with pytest.raises(ConfigError, match=r"'masks/' is missing"):
        resolve(["plugin=medgan", "data=folder", f"data.path={tmp_path}"])
