"""Counts in user-facing text: `counted(1, "images")` is "1 image", `counted(3, "images")`
"3 images", so no message says "1 images" or falls back on "image(s)".

The noun is given in the plural, as most messages (and `DataReport.kind`) already hold it; the
singular drops the plural ending of its last word before any parenthesis: "token rows" ->
"token row", "images (x-flips left out)" -> "image (x-flips left out)", "entries" -> "entry".
"""

from __future__ import annotations

# plurals that add "es" to a word's sibilant ending (classes, matches, boxes); "-ies" -> "-y"
_ES_ENDINGS = ("sses", "shes", "ches", "xes", "zes")


def singular(plural: str) -> str:
    """The singular of a plural noun phrase: the last word before a " (" loses its ending."""
    head, paren, rest = plural.partition(" (")
    if head.endswith("ies") and len(head) > 3:
        head = head[:-3] + "y"
    elif head.endswith(_ES_ENDINGS):
        head = head[:-2]
    elif head.endswith("s") and not head.endswith("ss"):
        head = head[:-1]
    return head + paren + rest


def agreeing(n: int, plural: str) -> str:
    """The noun as a count of `n` takes it: `agreeing(1, "classes")` is "class"."""
    return singular(plural) if n == 1 else plural


def counted(n: int, plural: str, spec: str = "") -> str:
    """`n` and the noun that agrees with it: "1 image", "0 images", "70000 images"; `spec` is
    the format spec of the number (`","`: "70,000 images")."""
    return f"{n:{spec}} {agreeing(n, plural)}"


__all__ = ["agreeing", "counted", "singular"]
