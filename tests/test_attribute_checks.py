"""Attribute refuses what would break the fairness metric later (an empty group, duplicated
values, overlapping groups, class labels given as strings): a plugin author's declaration is
checked where it is made, in one line naming the value."""

from __future__ import annotations

import re

import pytest

from ganhub.capabilities import Attribute


@pytest.mark.parametrize(
    ("values", "groups", "says"),
    [
        (("a", "b"), ((0, 1), ()), "value 'b' has classes []"),
        (("a", "a"), ((0,), (1,)), "give distinct, non-empty names"),
        (("a", "b"), ((0, 1), (1, 2)), "class 1 is in both 'a' and 'b'"),
        (("a", "b"), (("0",), (1,)), "value 'a' has classes ['0']"),
    ],
)
def test_attribute_refuses_bad_groups(values, groups, says) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=re.escape(says)):
        Attribute("t", values, (0.5, 0.5), "digits", groups)
