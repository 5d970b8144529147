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
