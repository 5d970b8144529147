"""A resume that changes the keys a domain derives defaults from derives them again, as a
fresh run would; derived values the run's user chose are kept, and a plain resume changes
nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ganhub.config.resolve import resolve


def _saved_run(root: Path, *overrides: str) -> Path:
    """A run folder holding only what resume reads first: the config.yaml a run writes."""
    data: dict[str, Any] = resolve(["plugin=stylegan", *overrides]).model_dump(mode="json")
    data["resume"] = None
    run = root / "run"
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return run


def test_a_changed_key_derives_its_dependent_defaults_again(tmp_path: Path) -> None:
    run = _saved_run(tmp_path)
    fresh = resolve(["plugin=stylegan", "data=digits", "trainer.batch_size=8"])
    resumed = resolve([f"resume={run}", "data=digits", "trainer.batch_size=8"])
    assert resolve([f"resume={run}"]).data.mirror is True  # faces are x-flipped
    assert resumed.data.mirror is fresh.data.mirror is False  # digits are not
    assert resumed.trick.r1.gamma == fresh.trick.r1.gamma == 4 * resolve([f"resume={run}"]).trick.r1.gamma  # type: ignore[attr-defined]  # fmt: skip


def test_a_value_the_user_chose_is_kept_and_a_plain_resume_changes_nothing(
    tmp_path: Path,
) -> None:
    run = _saved_run(tmp_path, "trick.r1.gamma=5", "data.mirror=false")
    saved = resolve([f"resume={run}"])
    assert saved.trick.r1.gamma == 5 and saved.data.mirror is False  # type: ignore[attr-defined]
    resumed = resolve([f"resume={run}", "trainer.batch_size=8", "data=faces"])
    assert resumed.trick.r1.gamma == 5 and resumed.data.mirror is False  # type: ignore[attr-defined]
    plain = yaml.safe_load((run / "config.yaml").read_text())
    assert {**resolve([f"resume={run}"]).model_dump(mode="json"), "resume": None} == plain


def _class_folders(root: Path, *names: str) -> Path:
    from PIL import Image

    for k, name in enumerate(names):
        (root / name).mkdir(parents=True)
        for i in range(4):
            Image.new("RGB", (32, 32), (60 * k, 10 * i, 0)).save(root / name / f"{i}.png")
    return root


def test_a_conditional_run_keeps_its_class_names_on_resume(tmp_path: Path) -> None:
    """Resumed on other class folders, its class names were derived again: index 0, trained
    as 'blue', became 'green', and a new class was taken in with no word."""
    import pytest

    from ganhub.data.labels import labelled_files
    from ganhub.errors import ConfigError

    data = _class_folders(tmp_path / "colours", "blue", "green", "red")
    saved: dict[str, Any] = resolve(["plugin=dcgan", "model.conditional=true", f"data.path={data}"]).model_dump(mode="json")  # fmt: skip
    assert saved["condition"]["classes"] == ["blue", "green", "red"]
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump({**saved, "resume": None}, sort_keys=False))
    swapped = _class_folders(tmp_path / "swapped", "green", "purple", "red")
    resumed = resolve([f"resume={run}", f"data.path={swapped}"])
    assert resumed.condition.classes == ["blue", "green", "red"]  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="class folder 'purple' is not one of the run's classes: blue, green, red"):  # fmt: skip
        labelled_files(swapped, classes=resumed.condition.classes)  # type: ignore[attr-defined]  # what the run loads with
    fewer = _class_folders(tmp_path / "fewer", "green", "red")  # a subset keeps every index
    resumed = resolve([f"resume={run}", f"data.path={fewer}"])
    _, labels, _ = labelled_files(fewer, classes=resumed.condition.classes)  # type: ignore[attr-defined]
    assert sorted(set(labels)) == [1, 2]
