"""translation_fd: the Frechet distance of translations to the target domain on rotnet
features, the metric of cyclegan runs without true pairs (unpaired folders)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from ganhub_cyclegan.data import restyle

import ganhub
from ganhub.config.resolve import resolve
from ganhub.errors import GanhubError
from ganhub.metrics import ROTNET_MIN_IMAGES
from ganhub.plugins import get_hub
from ganhub.wiring import make_run

from .test_cyclegan import TINY, TINY_FOLDER, _png

pytestmark = pytest.mark.usefixtures("one_thread")


def test_the_true_translation_scores_zero_and_the_inputs_do_not(workdir: Path) -> None:
    """On the embedded digits B is a known restyling of A: translating the held-out A images
    with it gives the held-out B images, at FD 0; an untrained generator and the untranslated
    inputs (the identity baseline) are far from B."""
    metric = get_hub().metrics.get("translation_fd")
    system = make_run(resolve([*TINY, "task=paired"])).system
    untrained = metric.compute(system, n_samples=64, seed=0)
    system.translate = lambda x, direction="AtoB", use_ema=True, seed=0: restyle(x[:, :1])  # type: ignore[method-assign]
    true = metric.compute(system, n_samples=64, seed=0)
    assert set(true) == {"fd_rotnet_AtoB", "fd_rotnet_identity", "n_A", "n_B", "n_samples"}
    assert true["fd_rotnet_identity"] == untrained["fd_rotnet_identity"] > 1
    assert abs(true["fd_rotnet_AtoB"]) < 1e-6 * true["fd_rotnet_identity"]
    assert untrained["fd_rotnet_AtoB"] > 100 * abs(true["fd_rotnet_AtoB"])
    assert (true["n_A"], true["n_B"], true["n_samples"]) == (16, 16, 16)  # data.n_test=16
    assert metric.direction("fd_rotnet_AtoB") == "lower"
    assert metric.direction("fd_rotnet_identity") is None


def _colour(rng: np.random.Generator, base: tuple[int, int, int]) -> np.ndarray:
    noise = rng.integers(-40, 40, (20, 20, 3))
    return np.clip(np.array(base) + noise, 0, 255)


def _folders(root: Path, n_b: int, n_test_a: int = 4) -> Path:
    rng = np.random.default_rng(0)
    for i in range(6):
        _png(root / "trainA" / f"a{i}.png", _colour(rng, (200, 40, 40)))
    for i in range(n_b):
        _png(root / "trainB" / f"b{i:03d}.png", _colour(rng, (40, 40, 200)))
    for i in range(n_test_a):
        _png(root / "testA" / f"a{i}.png", _colour(rng, (200, 40, 40)))
    for i in range(4):
        _png(root / "testB" / f"b{i}.png", _colour(rng, (40, 40, 200)))
    return root


def test_unpaired_folder_runs_are_scored_by_translation_fd(workdir: Path) -> None:
    """An unpaired folder run (no true pairs) ends with the FD of both directions against the
    other domain's test images, and of the untranslated ones; before, it had no metric."""
    root = _folders(workdir / "data", ROTNET_MIN_IMAGES)
    system = make_run(resolve([*TINY_FOLDER, f"data.path={root}"])).system
    assert system.default_metrics() == ["translation_fd"]
    a, b = system.eval_images(16)
    assert a.shape == b.shape == (4, 3, 16, 16)  # testA/ and testB/, not the training images
    assert (a[:, 0] > a[:, 2]).all() and (b[:, 2] > b[:, 0]).all()
    summary = ganhub.train([*TINY_FOLDER, f"data.path={root}", "name=fd"])
    m = summary["metrics"]
    for key in ("fd_rotnet_AtoB", "fd_rotnet_BtoA", "fd_rotnet_identity"):
        assert np.isfinite(m[key]) and m[key] >= 0, key
    assert (m["n_A"], m["n_B"], m["n_samples"]) == (4, 4, 4)  # per direction, not eval.n_samples
    lines = (Path(summary["run_dir"]) / "metrics.jsonl").read_text().splitlines()
    assert any("eval/fd_rotnet_AtoB" in json.loads(line) for line in lines)


def test_too_few_images_for_translation_fd_are_refused_before_training(workdir: Path) -> None:
    """With fewer target images than the rotation net trains on, translation_fd is not a
    default (the run trains, unscored, as before) and asking for it is refused in one line
    before step one; so is a domain with a single test image (no covariance)."""
    small = _folders(workdir / "small", ROTNET_MIN_IMAGES - 1)
    assert make_run(resolve([*TINY_FOLDER, f"data.path={small}"])).system.default_metrics() == []
    with pytest.raises(GanhubError, match=r"rotnet.*too few"):
        ganhub.train([*TINY_FOLDER, f"data.path={small}", "eval.metrics=[translation_fd]"])
    one = _folders(workdir / "one", ROTNET_MIN_IMAGES, n_test_a=1)
    with pytest.raises(GanhubError, match=r"at least 2 images of domain A.*gives 1"):
        ganhub.train([*TINY_FOLDER, f"data.path={one}", "name=one"])
    assert not (workdir / "runs" / "one").exists()


def test_translation_fd_translates_in_chunks(workdir: Path) -> None:
    """More images than one translate call takes are translated chunk by chunk: the same FD
    as one call (the chunk bounds memory at 256 px, it must not change the score)."""
    import ganhub_cyclegan.metrics as metrics

    metric = get_hub().metrics.get("translation_fd")
    system = make_run(resolve([*TINY, "task=paired", "data.n_test=40"])).system
    whole = metric.compute(system, n_samples=40, seed=0)
    calls = []
    translate = system.translate

    def counted(x, d="AtoB", u=True, seed=0):  # type: ignore[no-untyped-def]
        return calls.append(len(x)) or translate(x, d, u, seed=seed)

    system.translate = counted  # type: ignore[method-assign]
    chunked = metric.compute(system, n_samples=40, seed=0)
    assert calls == [metrics.TRANSLATE_CHUNK] * 2 + [40 - 2 * metrics.TRANSLATE_CHUNK]
    assert chunked == pytest.approx(whole, rel=1e-6)


def test_eval_images_stop_at_500_per_side(workdir: Path) -> None:
    """A side without a test folder falls back to its training folder, which may hold
    thousands of images: at most 500 are read (as held-out pairs), whatever eval.n_samples,
    and once."""
    from ganhub_cyclegan.folder import HELDOUT_PAIRS

    root = _folders(workdir / "data", 3, n_test_a=0)  # no testA/: trainA's images
    tile = np.full((16, 16, 3), 90, dtype=np.uint8)
    for i in range(6, HELDOUT_PAIRS + 6):
        _png(root / "trainA" / f"a{i:04d}.png", tile)
    system = make_run(resolve([*TINY_FOLDER, f"data.path={root}"])).system
    a, b = system.eval_images(10_000)
    assert (len(a), len(b)) == (HELDOUT_PAIRS, 4) == (500, 4)
    assert system.eval_images(10_000)[0] is a  # read once
    assert len(system.eval_images(2)[0]) == 2


def test_the_rotnet_count_is_of_the_target_side(workdir: Path) -> None:
    """The rotation net trains on the B images: 90 A and 10 B passed the check (it counted
    the larger side) and the run failed after training, leaving failed.json."""
    rng = np.random.default_rng(0)
    root = workdir / "imbalanced"
    for i in range(ROTNET_MIN_IMAGES + 10):
        _png(root / "trainA" / f"a{i:03d}.png", _colour(rng, (200, 40, 40)))
    for i in range(10):
        _png(root / "trainB" / f"b{i}.png", _colour(rng, (40, 40, 200)))
    keys = [*TINY_FOLDER, f"data.path={root}", "eval.metrics=[translation_fd]", "name=imb"]
    assert make_run(resolve([*TINY_FOLDER, f"data.path={root}"])).system.real_count() == 10
    with pytest.raises(GanhubError, match=r"rotnet feature network .*: 10 are too few"):
        ganhub.train(keys)
    assert not (workdir / "runs" / "imb").exists()
