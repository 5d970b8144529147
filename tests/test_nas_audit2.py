"""ganhub.nas as a domain author meets it: a key searched in two networks must be searched over
the same values, or the product of their distributions pairs unrelated values."""

from __future__ import annotations

import pytest
import torch

from ganhub.nas import ArchChoice, architecture


def test_a_key_searched_over_other_values_in_another_network_is_refused() -> None:
    g = ArchChoice("model.residual", [False, True])
    d = ArchChoice("model.residual", [True, False])  # the same values, another order
    with torch.no_grad():  # both networks prefer False
        g.logits.copy_(torch.tensor([3.0, 0.0]))
        d.logits.copy_(torch.tensor([0.0, 3.0]))
    with pytest.raises(ValueError, match=r"'model\.residual'.*same values in the same order"):
        architecture([g, d])
    other = ArchChoice("model.residual", [False, None])
    with pytest.raises(ValueError, match=r"model\.residual"):
        architecture([g, other])


def test_the_same_values_in_two_networks_still_multiply() -> None:
    g, d = (
        ArchChoice("model.attention", [False, True]),
        ArchChoice("model.attention", [False, True]),
    )
    with torch.no_grad():
        g.logits.copy_(torch.tensor([3.0, 0.0]))
        d.logits.copy_(torch.tensor([3.0, 0.0]))
    probs = architecture([g, d])["model.attention"]
    assert probs[False] == pytest.approx(float(torch.softmax(torch.tensor([6.0, 0.0]), 0)[0]))
