"""The few-shot audit: init_from across a head trick's wrapping, FreezeD without D weights, a
typed patience, a batch that fits the data per process, and what adapting onto a folder says
(an inherited key, a shape mismatch, a feature network too few images can train)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import ganhub
from ganhub.adapt import adapt_config
from ganhub.config.resolve import resolve
from ganhub.engine import checkpoint
from ganhub.errors import ConfigError, UsageError
from ganhub.wiring import make_run

from .conftest import TINY_DCGAN

pytestmark = pytest.mark.usefixtures("one_thread")


def _trained(name: str, *extra: str) -> Path:
    """A tiny dcgan run of 2 steps on the digits 0-6; its directory."""
    summary = ganhub.train([*TINY_DCGAN, f"name={name}", "data.classes=[0,1,2,3,4,5,6]", *extra])
    return Path(summary["run_dir"])


def _weights(source: Path) -> dict[str, torch.Tensor]:
    found = checkpoint.load_newest(source / "checkpoints")
    assert found is not None
    return found[2]


def _folder(where: Path, n: int, mode: str = "L") -> Path:
    from PIL import Image

    where.mkdir(parents=True)
    for i in range(n):
        Image.new(mode, (32, 32), 20 * i if mode == "L" else (20 * i, 0, 0)).save(
            where / f"{i}.png"
        )
    return where


# -- 1. init_from across the heads' wrapping ----------------------------------------------------


def test_init_from_loads_the_d_trunk_whether_or_not_a_head_trick_wraps_it(workdir: Path) -> None:
    """A head trick added (or dropped) renamed D.k to D.net.k, and D loaded nothing."""
    plain, headed = _trained("plain"), _trained("headed", "tricks=[rotation_head]")
    saved = _weights(plain)
    run = make_run(resolve([*TINY_DCGAN, f"init_from={plain}", "tricks=[rotation_head,freeze_d]"]))
    try:
        state = run.system.state_dict()
        trunk = {k: v for k, v in saved.items() if k.startswith("D.")}
        assert trunk and all(torch.equal(state["D.net." + k[2:]], v) for k, v in trunk.items())
        (freeze,) = [t for t in run.tricks if t.name == "freeze_d"]
        assert freeze.frozen == ["D.net.0", "D.net.2", "D.net.3"]  # the trained filters
    finally:
        run.close()
    saved = _weights(headed)
    run = make_run(resolve([*TINY_DCGAN, f"init_from={headed}", "tricks=[diffaug]"]))
    try:
        state = run.system.state_dict()
        trunk = {k: v for k, v in saved.items() if k.startswith("D.net.")}
        assert trunk and all(torch.equal(state["D." + k[6:]], v) for k, v in trunk.items())
    finally:
        run.close()
    # with spectral norm added on top: the renamed weight is converted as before
    run = make_run(
        resolve([*TINY_DCGAN, f"init_from={plain}", "tricks=[rotation_head,spectral_norm]"])
    )
    try:
        converted = run.system.state_dict()["D.net.0.parametrizations.weight.original"]
        assert torch.equal(converted, _weights(plain)["D.0.weight"])
    finally:
        run.close()


def test_init_from_says_it_read_the_trunk_across_the_wrapping(workdir: Path) -> None:
    from ganhub.engine.start import initialise_from  # where Run calls it

    plain = _trained("plain")
    config = resolve([*TINY_DCGAN, f"init_from={plain}", "tricks=[rotation_head]"])
    run = make_run(config)
    try:
        line = initialise_from(run.system, plain, print)
    finally:
        run.close()
    assert "tensors (G, D) from" in line and "\n" not in line
    assert "trunk read across the auxiliary heads' wrapping (D.0.weight as D.net.0.weight" in line
    assert "2 keep their own init (D.heads.rotation.weight, D.heads.rotation.bias)" in line


# -- 2. FreezeD needs the source's D ----------------------------------------------------------


def test_freeze_d_is_refused_when_init_from_supplies_no_d(workdir: Path) -> None:
    from ganhub.export import export_run

    folder = export_run(_trained("source"), "safetensors", out=workdir / "exported")
    config = resolve([*TINY_DCGAN, "name=frozen", f"init_from={folder}", "tricks=[freeze_d]"])
    with pytest.raises(ConfigError) as e:
        make_run(config)
    assert str(e.value).startswith(
        f"trick 'freeze_d' would freeze D.0, D.2, D.3, which init_from={folder} did not "
        "supply (it loaded G), so they would stay random"
    )
    assert "\n" not in str(e.value)
    assert not (workdir / "runs" / "frozen").exists()  # refused before a directory was claimed


# -- 3. a typed patience ------------------------------------------------------------------------


@pytest.mark.parametrize("patience", [4, 2])
def test_adapt_takes_a_typed_patience(workdir: Path, patience: int) -> None:
    """The first pass resolved the typed patience before adapt's keep_best existed."""
    source = _trained("digits7")
    config = adapt_config(source, ["data.classes=[8]", f"trainer.patience={patience}"])
    assert config.trainer.keep_best == "fd_digits" and config.trainer.patience == patience
    with pytest.raises(ConfigError, match=r"trainer\.patience=4 counts evaluations"):
        adapt_config(source, ["data.classes=[8]", "trainer.patience=4", "eval.metrics=[]"])


# -- 4. the default batch fits the data ---------------------------------------------------------


def test_adapts_default_batch_fits_each_process_and_a_folder(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _trained("digits7")  # batch 8
    folder = _folder(workdir / "six", 6)
    args = ["data=folder", f"data.path={folder}", "data.classes=null", "data.channels=1"]
    config = adapt_config(source, [*args, "eval.metrics=[]", "trainer.steps=2"])
    assert config.trainer.batch_size == 6  # the folder's 6 images, not the source's 8
    assert ganhub.train(config)["steps"] == 2  # it trains (8 was refused)
    for key, value in {"WORLD_SIZE": "2", "RANK": "0", "MASTER_ADDR": "localhost",
                       "MASTER_PORT": "29500"}.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    assert adapt_config(source, ["data.classes=[8]"]).trainer.batch_size == 5  # 10 shots / 2
    typed = adapt_config(source, ["data.classes=[8]", "trainer.batch_size=8"])
    assert typed.trainer.batch_size == 8  # the user's own, refused by the run as before


# -- 5. adapting onto a folder ------------------------------------------------------------------


def test_adapt_names_the_source_config_for_an_inherited_key(workdir: Path) -> None:
    source = _trained("digits7")
    folder = _folder(workdir / "rgb", 4, "RGB")
    with pytest.raises(ConfigError) as e:
        adapt_config(source, ["data=folder", f"data.path={folder}"])
    assert str(e.value) == (
        f"config file '{source / 'config.yaml'}': data.classes=[0, 1, 2, 3, 4, 5, 6] is read "
        "with data=digits only (a few-shot subset of its labelled digits), not with "
        f"data=folder; ganhub adapt keeps it from {source}: give data.classes=null (the default)"
    )


def test_init_from_names_the_keys_that_differ_from_the_source(workdir: Path) -> None:
    source = _trained("digits7")
    folder = _folder(workdir / "rgb", 4, "RGB")
    args = ["data=folder", f"data.path={folder}", "data.classes=null", "eval.metrics=[]"]
    config = adapt_config(source, [*args, "trainer.steps=1"])
    with pytest.raises(ConfigError) as e:
        make_run(config)
    message = str(e.value)
    assert "differ in shape (G." in message and "\n" not in message
    assert f"keys of this run that differ from {source / 'config.yaml'}: " in message
    assert "data.source=folder (digits there)" in message
    assert "give this run the source run's model settings" not in message


def test_adapt_leaves_feature_metrics_out_when_rotnet_cannot_train(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """A source that evaluated on rotnet: adapting to 8 images failed (rotnet needs 80)."""
    source = _trained("faces", "eval.features=[rotnet]")
    folder = _folder(workdir / "eight", 8)
    args = ["data=folder", f"data.path={folder}", "data.classes=null", "data.channels=1"]
    config = adapt_config(source, args)
    assert config.eval.metrics is not None and "fid" not in config.eval.metrics
    assert config.trainer.keep_best is None and config.trainer.patience is None
    notes: list[str] = []
    adapt_config(source, args, notes=notes)
    assert len(notes) == 1 and "rotnet" in notes[0] and "8 are too few" in notes[0]
    code, _, err = cli("adapt", str(source), *args, "trainer.steps=1", "trainer.progress=false")
    assert code == 0, err
    assert "ganhub adapt: no feature distance to keep the best of: " in err and "rotnet" in err
    # asked for by name, it is the user's: refused as before
    run = make_run(adapt_config(source, [*args, "eval.features=[rotnet]", "eval.metrics=[fid]"]))
    try:
        with pytest.raises(UsageError, match=r"rotnet.* 8 are too few"):
            run.preflight()  # before the start banner, as before
    finally:
        run.close()


def test_init_from_names_the_class_names_that_size_the_label_embedding(workdir: Path) -> None:
    """A conditional source of 3 classes adapted with 4 class names: the hint named only
    data.path, not condition.classes, the key that sized the embedding."""
    for root, classes in (("three", "abc"), ("four", "abcd")):
        for name in classes:
            _folder(workdir / root / name, 4, "RGB")
    keys = [*TINY_DCGAN, "data=folder", "model.conditional=true", "trainer.batch_size=4"]
    source = Path(ganhub.train([*keys, "data.path=three", "eval.metrics=[]", "name=c3"])["run_dir"])
    config = adapt_config(source, ["data.path=four", "condition.classes=[a,b,c,d]"])
    with pytest.raises(ConfigError) as e:
        make_run(config)
    assert "condition.classes=[a, b, c, d] ([a, b, c] there)" in str(e.value)


def test_adapt_leaves_out_the_source_metrics_that_cannot_score_the_new_run(
    workdir: Path,
) -> None:
    """A digits run with eval.metrics=[digit_modes, fid] adapted to a folder carried
    digit_modes along, which the new run refuses (it cannot score a folder)."""
    source = _trained("dm", "eval.metrics=[digit_modes,fid]")
    folder = _folder(workdir / "gray", 12)
    notes: list[str] = []
    keys = ["data=folder", f"data.path={folder}", "data.classes=null", "data.channels=1"]
    config = adapt_config(source, keys, notes=notes)
    assert config.eval.metrics == ["kid"]  # against 12 images: kid, not fid (adapt_eval)
    assert f"{source}'s eval.metrics digit_modes cannot score this run: left out" in notes
