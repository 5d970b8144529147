"""The fairness tricks' reference shard: a .safetensors file without the manifest that
`ganhub data convert` writes beside it is refused in one line naming the option, not as a
missing '<name>.json' the user never named."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from ganhub_fairness.ratio import MIN_REFERENCE, load_reference
from safetensors.torch import save_file

from ganhub.errors import UsageError

KEY = "trick.reweight.reference"


def test_a_shard_without_its_manifest_names_the_option_and_what_a_shard_is(
    tmp_path: Path,
) -> None:
    """Was: "shard 'x.safetensors' is unreadable: [Errno 2] No such file or directory:
    'x.json'", with no option named."""
    shard = tmp_path / "faces.safetensors"
    save_file({"images": torch.zeros(MIN_REFERENCE, 1, 8, 8)}, str(shard))
    with pytest.raises(UsageError) as info:
        load_reference(shard, (1, 8, 8), KEY)
    message = str(info.value)
    assert message.startswith(f"{KEY}={shard}: ")
    assert "faces.json" in message and "ganhub data convert" in message
    assert "\n" not in message and "Errno" not in message


def test_a_shard_with_a_foreign_manifest_names_the_option(tmp_path: Path) -> None:
    """A manifest that is no ganhub shard's: the error names the option too."""
    shard = tmp_path / "x.safetensors"
    save_file({"samples": torch.zeros(MIN_REFERENCE, 1, 8, 8)}, str(shard))
    shard.with_suffix(".json").write_text('{"format": "other"}')
    with pytest.raises(UsageError) as info:
        load_reference(shard, (1, 8, 8), KEY)
    assert str(info.value).startswith(f"{KEY}={shard}: ")


def test_a_shard_from_data_convert_still_loads(tmp_path: Path) -> None:
    """The fix refuses nothing that loaded before: a shard with its manifest reads."""
    from ganhub.data.shards import write_shard

    shard = tmp_path / "ref.safetensors"
    write_shard(shard, torch.rand(MIN_REFERENCE, 1, 8, 8) * 2 - 1, source={"kind": "test"})
    assert load_reference(shard, (1, 8, 8), KEY).shape == (MIN_REFERENCE, 1, 8, 8)
