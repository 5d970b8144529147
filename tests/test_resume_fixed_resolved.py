"""A resume compares the keys no resume may change as what they resolve to for the model.

They were compared as typed: an unpaired cyclegan run trained with the default model.norm
(`auto`: instance norm) was refused at `resume=RUN model.norm=instance`, the same model; a
medgan progress run trained with the default data.growth (model.image_size // 32) was refused
at data.growth=1; and a medgan translate run told that data.contrast, which it never reads,
"trained with data.contrast=flair" instead of that the key does not apply. The checkpoint's
own check (`fixed_drift`) compared the same way. No training here: a run's config.yaml is
written as a run starts, and a checkpoint's record is what `fixed_settings` gives.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from ganhub.config.resolve import resolve
from ganhub.config.saved import fixed_drift
from ganhub.config.schema import with_absolute_paths
from ganhub.engine import start
from ganhub.engine.rundir import record_user_keys
from ganhub.errors import ConfigError
from ganhub.plugins import Hub

TINY_CYCLEGAN = ["plugin=cyclegan", "preset=tiny", "model.image_size=32"]
TINY_MEDGAN = ["plugin=medgan", "preset=tiny", "model.image_size=32"]


def _run(workdir: Path, name: str, *keys: str) -> str:
    """runs/NAME as a run of `keys` leaves it as it starts (config.yaml, the keys given)."""
    config = resolve([*keys, f"name={name}"])
    run = workdir / "runs" / name
    run.mkdir(parents=True)
    data = with_absolute_paths(config, config.model_dump(mode="json"))
    (run / "config.yaml").write_text(yaml.safe_dump(data))
    record_user_keys(run, config)
    return f"runs/{name}"


def test_cyclegan_norm_typed_as_it_resolves_resumes(workdir: Path) -> None:
    run = _run(workdir, "cg", *TINY_CYCLEGAN)
    for same in ("model.norm=instance", "model.norm=auto", "model.dropout=false"):
        config: Any = resolve([f"resume={run}", same, "trainer.steps=3"])
        assert config.norm_kind() == "instance" and not config.use_dropout()
    with pytest.raises(ConfigError) as caught:
        resolve([f"resume={run}", "model.norm=none"])
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(
        "model.norm=none: runs/cg trained with model.norm=auto, and a resumed run's "
        "model.norm cannot change (auto resolved to instance for its model); make a new run"
    ), message
    # pix2pix: auto is batch norm
    paired = _run(workdir, "p2p", *TINY_CYCLEGAN, "task=paired")
    resumed: Any = resolve([f"resume={paired}", "model.norm=batch"])
    assert resumed.model.norm == "batch"
    with pytest.raises(ConfigError, match=r"^model.norm=instance: runs/p2p trained with "
                       r"model.norm=auto, .* \(auto resolved to batch for its "):  # fmt: skip
        resolve([f"resume={paired}", "model.norm=instance"])


def test_medgan_growth_typed_as_its_default_resumes(workdir: Path) -> None:
    run = _run(workdir, "mp", *TINY_MEDGAN, "task=progress")
    # model.image_size=32: the phantoms' lesions grew by 32 // 32 = 1 voxel
    resumed: Any = resolve([f"resume={run}", "data.growth=1"])
    assert resumed.data.growth == 1
    with pytest.raises(ConfigError, match=r"^data.growth=2: runs/mp trained with data.growth="
                       r"null, .* \(null resolved to 1 for its model\)"):  # fmt: skip
        resolve([f"resume={run}", "data.growth=2"])


def test_medgan_translate_is_told_data_contrast_does_not_apply(workdir: Path) -> None:
    run = _run(workdir, "mt", *TINY_MEDGAN, "task=translate")
    with pytest.raises(ConfigError) as caught:
        resolve([f"resume={run}", "data.contrast=t1"])
    assert "data.contrast=t1 does not apply to task=translate" in str(caught.value)
    assert "trained with" not in str(caught.value)
    # the contrasts it does read are still fixed
    with pytest.raises(ConfigError, match=r"^data.source_contrast=t2: runs/mt trained with "
                       "data.source_contrast=t1, and a resumed"):  # fmt: skip
        resolve([f"resume={run}", "data.source_contrast=t2"])


def test_a_checkpoint_record_agrees_with_a_value_that_resolves_the_same(workdir: Path) -> None:
    """The check against the checkpoint the resume loads (`fixed_drift`, given the resumed
    config's `fixed_resolver`): its record of `auto` is the same model as `instance`."""
    domain = Hub.discover().require_domain("cyclegan")
    trained = resolve(TINY_CYCLEGAN)
    record = start.fixed_settings(trained, domain)
    assert record["model.norm"] == "auto"
    same = resolve([*TINY_CYCLEGAN, "model.norm=instance"])
    now = start.fixed_settings(same, domain)
    assert fixed_drift(record, now, None) is not None  # as typed: another value
    assert fixed_drift(record, now, None, start.fixed_resolver(same, domain)) is None
    other = resolve([*TINY_CYCLEGAN, "model.norm=none"])
    drift = fixed_drift(
        record, start.fixed_settings(other, domain), None, start.fixed_resolver(other, domain)
    )
    assert drift == ("model.norm", "none", "auto", False)


def test_a_trained_cyclegan_run_resumes_with_its_norm_typed(workdir: Path) -> None:
    """End to end: the checkpoint's own check compared as typed, so the config passed and the
    resume was refused at loading ("checkpoint step_0000002 was trained with model.norm=auto")."""
    import ganhub

    keys = [*TINY_CYCLEGAN, "model.ngf=4", "model.ndf=4", "eval.metrics=[]", "name=cgt"]
    ganhub.train([*keys, "trainer.steps=2"])
    result = ganhub.train(["resume=runs/cgt", "model.norm=instance", "trainer.steps=3"])
    assert result["steps"] == 3
