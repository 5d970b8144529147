"""The sample files of a run directory for `ganhub report`: samples/step_<N>.png grids and
step_<N>.txt text samples, confined to the run directory, checked and spread over training.

A file that is not one the run writes (a name that is not step_<N>, a link out of the run
directory, a .png that is not a PNG or is too large) is skipped and described in the caller's
`notes`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from ganhub.metrics.untrusted import (
    MAX_GRIDS,
    MAX_IMAGE_BYTES,
    MAX_SAMPLE_LINES,
    MAX_TEXT,
    PNG_SIGNATURE,
    as_text,
    error_line,
    inside_run,
    shown_path,
)
from ganhub.plural import counted


def sample_grids(
    run_dir: Path, notes: list[str] | None = None, up_to: int | None = None
) -> list[tuple[int, Path]]:
    """Up to MAX_GRIDS sample images (step, path), evenly spread over training, last included;
    with `up_to`, those of later steps are left out with a note (the run's history ends there:
    a resume went back past them).

    Only files named step_<N>.png that are PNG files inside the run directory are used; other
    step_*.png entries are skipped with a note.
    """

    def problem(path: Path) -> str | None:
        with path.open("rb") as fh:
            head = fh.read(len(PNG_SIGNATURE))
        if head != PNG_SIGNATURE:
            return "not a PNG file"
        return (
            f"larger than {MAX_IMAGE_BYTES >> 20} MiB"
            if path.stat().st_size > MAX_IMAGE_BYTES
            else None
        )

    notes = [] if notes is None else notes
    return _spread(_up_to(_step_files(run_dir, ".png", problem, notes), up_to, notes))


def sample_texts(
    run_dir: Path, notes: list[str] | None = None, up_to: int | None = None
) -> list[tuple[int, str, Path]]:
    """Text domains' samples (step_<N>.txt), as for `sample_grids`: up to MAX_GRIDS, each its
    first MAX_SAMPLE_LINES lines as plain text (the page escapes them), and its path."""
    out = []
    notes = [] if notes is None else notes
    for step, path in _spread(_up_to(_step_files(run_dir, ".txt", None, notes), up_to, notes)):
        try:
            with path.open("rb") as fh:  # the first lines only, however large the file
                raw = fh.read(MAX_SAMPLE_LINES * (MAX_TEXT + 1) * 4)
        except OSError as exc:
            notes.append(f"samples/{as_text(shown_path(path.name))}: skipped ({error_line(exc)})")
            continue
        lines = raw.decode("utf-8", "replace").splitlines()[:MAX_SAMPLE_LINES]
        out.append((step, "\n".join(as_text(line) for line in lines), path))
    return out


def _up_to(
    found: list[tuple[int, Path]], up_to: int | None, notes: list[str]
) -> list[tuple[int, Path]]:
    """The samples of steps up to `up_to`; the later ones named in a note."""
    later = [step for step, _ in found if up_to is not None and step > up_to]
    if later:
        shown = ", ".join(str(n) for n in later[:5]) + (
            f" and {len(later) - 5} more" if len(later) > 5 else ""
        )
        notes.append(
            f"samples: {counted(len(later), 'files')} of steps after the last logged step {up_to} "
            "left "
            f"out (step {shown}): a resume went back to an earlier checkpoint and has not "
            "made them again"
        )
    return [(step, path) for step, path in found if up_to is None or step <= up_to]


def _step_files(
    run_dir: Path, suffix: str, problem: Callable[[Path], str | None] | None, notes: list[str]
) -> list[tuple[int, Path]]:
    """The samples/step_<N><suffix> files inside the run directory, by step; others noted."""
    found: list[tuple[int, Path]] = []
    samples = run_dir / "samples"
    if not samples.is_dir():
        return found
    for p in samples.glob(f"step_*{suffix}"):
        match = re.fullmatch(r"step_(\d{1,12})", p.stem)
        reason = None
        if not match:
            reason = f"not named step_<N>{suffix}"
        elif not inside_run(run_dir, p):
            reason = "not a regular file inside the run directory"
        elif problem is not None:
            try:
                reason = problem(p)
            except OSError as exc:
                reason = f"cannot be read ({error_line(exc)})"
        if reason or not match:
            notes.append(f"samples/{as_text(shown_path(p.name))}: skipped ({reason})")
            continue
        found.append((int(match.group(1)), p))
    return sorted(found)


def _spread(found: list[tuple[int, Path]]) -> list[tuple[int, Path]]:
    """At most MAX_GRIDS of `found`, evenly spread, first and last included."""
    if len(found) <= MAX_GRIDS:
        return found
    picks = {round(i * (len(found) - 1) / (MAX_GRIDS - 1)) for i in range(MAX_GRIDS)}
    return [found[i] for i in sorted(picks)]


__all__ = ["sample_grids", "sample_texts"]
