"""Feature networks as a user meets them: `ganhub features list` showed a rotation network at
chance level (25 % on four rotations: its features are an untrained network's) like any other,
and an evaluation on it said nothing; a damaged `.json` or `.safetensors` in the cache was a
traceback (a negative width, a truncated file whose recorded sha256 matched); a damaged
built-in cache entry could not be retrained (every command that needed it failed); a name
that eval.features reads as another network (`rotnet`, `inception`) was saved and never used;
and class_accuracy read and hashed its classifier from disk at every evaluation of a run."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image

import ganhub.metrics as metrics_module
from ganhub.errors import UsageError
from ganhub.metrics import featurenet, store
from ganhub.metrics.featurenet import (
    FeatureNet,
    FeatureNetSpec,
    feature_net_path,
    load_feature_net,
    save_feature_net,
)

pytestmark = pytest.mark.usefixtures("one_thread")
TRAIN = ["size=16", "epochs=1", "width=4"]  # a network in a second


@pytest.fixture
def cache(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache of this test's own (damaged files stay out of the session's), no warning yet
    printed, and no network kept in memory from another test."""
    monkeypatch.setenv(store.CACHE_ENV, str(workdir / "cache"))
    monkeypatch.setattr(metrics_module, "_WARNED", set())
    monkeypatch.setattr(featurenet, "_LOADED", {})
    return workdir / "cache" / "features"


def _pngs(folder: Path, n: int, colour: Any = None, seed: int = 0) -> Path:
    """n 16 px images: noise (nothing upright about them), or one flat colour."""
    folder.mkdir(parents=True)
    gen = torch.Generator().manual_seed(seed)
    for i in range(n):
        arr = (torch.rand(16, 16, 3, generator=gen) * 255).to(torch.uint8).numpy()
        if colour is not None:
            arr[:] = colour
        Image.fromarray(arr).save(folder / f"{i}.png")
    return folder


def _good(cache: Path, name: str = "good") -> Path:
    """An 8-class network whose file records 0.99 held-out accuracy: well above chance."""
    spec = FeatureNetSpec(name, "classifier", 3, 16, 8, width=4, feat_dim=8)
    spec.accuracy, spec.held_out = 0.99, 100
    torch.manual_seed(0)
    return save_feature_net(FeatureNet(spec), spec, cache)


def test_list_and_train_say_when_a_network_is_at_chance(cli: Any, workdir: Path, cache: Path) -> None:  # fmt: skip
    _pngs(workdir / "noise", 80)
    code, out, err = cli("features", "train", "data=folder", "data.path=noise", *TRAIN)
    assert code == 0, err
    spec = load_feature_net(feature_net_path("noise"))[1]
    chance = 1 / spec.classes
    assert f"{spec.accuracy:.1%} held-out accuracy, chance {chance:.1%}, 1 step)" in out
    warned = [line for line in err.splitlines() if line.startswith("ganhub: warning:")]
    assert len(warned) == 1 and "'noise'" in warned[0] and "is near chance" in warned[0]
    assert "fd_noise and kd_noise on its features measure nothing" in warned[0]
    _good(cache)
    code, out, _ = cli("features", "list")
    rows = {line.split()[0]: line for line in out.splitlines()}
    assert "NEAR CHANCE" in rows["noise"] and f"(chance {chance:.1%})" in rows["noise"]
    assert "NEAR CHANCE" not in rows["good"] and f"(chance {1 / 8:.1%})" in rows["good"]
    assert rows["NEAR"].startswith("NEAR CHANCE: ")  # the mark explained, once


def test_an_evaluation_on_a_network_at_chance_warns_and_keeps_the_line(
    cli: Any, workdir: Path, cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ganhub.metrics.featurenet_trust import checked
    from ganhub.metrics.features import LocalExtractor

    _pngs(workdir / "noise", 80)
    assert cli("features", "train", "data=folder", "data.path=noise", *TRAIN)[0] == 0
    capsys.readouterr()
    path, good = feature_net_path("noise"), _good(cache)
    kept: list[str] = []  # what an evaluation keeps (eval.json's warnings)
    token = metrics_module._COLLECTED.set(kept)
    try:
        for _ in range(2):  # each evaluation keeps it; stderr shows it once
            checked(LocalExtractor(*load_feature_net(path)), path)
        checked(LocalExtractor(*load_feature_net(good)), good)
    finally:
        metrics_module._COLLECTED.reset(token)
    printed = capsys.readouterr().err.splitlines()
    assert len(printed) == 1 and printed == kept
    assert str(path) in printed[0] and "fd_noise" in printed[0]


def _damage(cache: Path, how: str) -> Path:
    """A network in the cache, damaged `how`; the sha256 rewritten to match where the damage
    is in the weights (as a careless copy or a hand edit leaves it)."""
    meta = _good(cache, how)
    data = json.loads(meta.read_text())
    weights = meta.with_suffix(".safetensors")
    if how == "negative_width":
        data["width"] = -3
    elif how == "unknown_field":
        data["colour"] = "red"
    elif how == "a_list":
        data = [data]
    elif how == "truncated":
        weights.write_bytes(weights.read_bytes()[:100])
    elif how == "other_shapes":
        other = FeatureNetSpec("x", "classifier", 3, 16, 8, width=6, feat_dim=8)
        store.save_tensors(weights, FeatureNet(other).state_dict())
    if isinstance(data, dict):
        data["sha256"] = store.sha256_file(weights)
    meta.write_text(json.dumps(data))
    return meta


DAMAGES = {
    "negative_width": "width=-3: must be >= 1",
    "unknown_field": "unknown field 'colour'",
    "a_list": "holds a JSON list, not an object",
    "truncated": "does not hold the weights truncated.json describes (SafetensorError",
    "other_shapes": "tensor 'body.0.weight': [6, 3, 3, 3], the network needs [4, 3, 3, 3]",
}


@pytest.mark.parametrize("how", list(DAMAGES))
def test_a_damaged_network_is_one_line_naming_the_file(cli: Any, cache: Path, how: str) -> None:
    meta = _damage(cache, how)
    with pytest.raises(UsageError) as exc:
        load_feature_net(meta)
    message = str(exc.value)
    assert "\n" not in message and DAMAGES[how] in message and str(meta.stem) in message
    _, out, _ = cli("features", "list")
    row = next(line for line in out.splitlines() if str(meta) in line)
    in_json = how not in ("truncated", "other_shapes")  # the weights are not read to list
    assert ("(unreadable)" in row and DAMAGES[how] in row) if in_json else "(unreadable)" not in row


def test_a_damaged_built_in_entry_is_trained_again(cache: Path, capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    recipe = {"version": 1}
    trained = []

    def train() -> tuple[FeatureNet, FeatureNetSpec]:
        spec = FeatureNetSpec("tiny", "classifier", 1, 8, 2, width=4, feat_dim=4, recipe=recipe)
        trained.append(spec)
        return FeatureNet(spec), spec

    featurenet.cached_classifier("tiny", recipe, train)
    feature_net_path("tiny").write_text("{")
    _, spec = featurenet.cached_classifier("tiny", recipe, train)
    assert len(trained) == 2 and spec is trained[1]
    assert store.sha256_file(feature_net_path("tiny").with_suffix(".safetensors")) == spec.sha256
    err = capsys.readouterr().err
    assert "tiny.json' is not a ganhub feature network" in err and "training it again" in err


def test_names_eval_features_reads_as_another_network_are_refused(cli: Any, workdir: Path, cache: Path) -> None:  # fmt: skip
    _pngs(workdir / "my-imgs", 80)
    for name in ("rotnet", "inception", "shapes"):
        code, _, err = cli("features", "train", "data=folder", "data.path=my-imgs",
                           f"name={name}", *TRAIN)  # fmt: skip
        assert code == 2 and f"name={name} in the cache is the built-in" in err, err
        assert not feature_net_path(name).exists()
    code, out, err = cli("features", "train", "data=folder", "data.path=my-imgs", "name=rotnet",
                         *TRAIN, f"out={workdir / 'own'}")  # fmt: skip
    assert code == 0 and f"eval.features=[{workdir / 'own' / 'rotnet'}]" in out, err
    code, _, err = cli("features", "train", "data=folder", "data.path=my-imgs", *TRAIN)
    assert code == 2 and err.startswith("ganhub: error: the folder's name 'my-imgs'"), err
    code, _, err = cli("features", "train", "data=folder", "data.path=my-imgs", "epoch=2")
    assert code == 2 and "unknown option 'epoch' (did you mean 'epochs'?)" in err, err


def _conditional(workdir: Path, classes: dict[str, Any], seed: int) -> Any:
    from ganhub.config.resolve import resolve
    from ganhub.wiring import make_run

    root = workdir / f"classes{seed}"
    for name, colour in classes.items():
        _pngs(root / name, 45, colour, seed)
    return make_run(resolve(["plugin=dcgan", "preset=tiny", "model.conditional=true",
                             f"data.path={root}", f"out_dir={workdir / 'runs'}"]))  # fmt: skip


def test_class_accuracy_keeps_its_classifier_and_warns_when_it_guesses(
    workdir: Path, cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ganhub.metrics.conditional import label_classifier
    from ganhub.metrics.featurenet_trust import near_chance

    run = _conditional(workdir, {"a": None, "b": None}, seed=1)  # noise: nothing to tell apart
    try:
        net, _ = label_classifier(run.system)
        meta = next(cache.glob("labels-*.json"))
        assert near_chance(load_feature_net(meta)[1])
        assert label_classifier(run.system)[0] is net  # not read (nor hashed) again
        stat = meta.stat()
        os.utime(meta, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # written since
        assert label_classifier(run.system)[0] is not net
    finally:
        run.close()
    warned = [line for line in capsys.readouterr().err.splitlines() if "near chance" in line]
    assert len(warned) == 1 and "the class accuracies judged by it measure nothing" in warned[0]
    run = _conditional(workdir, {"red": (255, 0, 0), "blue": (0, 0, 255)}, seed=2)
    try:
        label_classifier(run.system)
    finally:
        run.close()
    assert "near chance" not in capsys.readouterr().err
