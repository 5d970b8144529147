"""How many processes share a run: torchrun's `WORLD_SIZE`, read without importing torch.

A plugin that sizes its work by the number of processes (an epoch's steps, each process's share
of a task's images) or refuses a launcher reads it here at config time, by the rule
`ganhub run` itself applies when it joins the processes (`ganhub.engine.distributed`): unset or
empty is one process, a whole number of 1 or more is that many (spaces around it allowed), and
anything else (blank, 0, `two`) is no number of processes, which `ganhub run` refuses in one
line naming `WORLD_SIZE`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

__all__ = ["world_size"]


def world_size(environ: Mapping[str, str] | None = None) -> int | None:
    """The processes torchrun started (`WORLD_SIZE` of `environ`, default `os.environ`): 1 when
    unset or empty, None when it is not a whole number of 1 or more (the run refuses it)."""
    text = (os.environ if environ is None else environ).get("WORLD_SIZE", "")
    if text == "":
        return 1
    try:
        value = int(text)
    except ValueError:
        return None
    return value if value >= 1 else None
