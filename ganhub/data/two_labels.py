"""One image with two labels: an exact copy in two classes of a conditional folder (two class
sub-folders, or two `data.labels` rows with different labels), named so in `ganhub data check`
(docs/data.md) instead of as a plain duplicate."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from ganhub.data.inspect import EXACT, DataReport


def file_labels(root: Path, files: list[Path], labels: list[str]) -> dict[str, str]:
    """Each file's label by its name in the report ('cat/1.png', relative to `root`)."""
    out: dict[str, str] = {}
    base = root.resolve()
    for path, label in zip(files, labels, strict=True):
        try:
            name = path.relative_to(root).as_posix()
        except ValueError:  # CSV rows are resolved paths
            try:
                name = path.resolve().relative_to(base).as_posix()
            except ValueError:
                continue
        out[name] = label
    return out


def name_two_labels(report: DataReport, labels: Mapping[str, str]) -> None:
    """Reword each exact duplicate whose first copy has another label: one image, two labels
    (the later copy is still dropped, as any duplicate is)."""
    for i, finding in enumerate(report.findings):
        if not finding.problem.startswith(EXACT):
            continue
        first = finding.problem[len(EXACT) :]
        here, there = labels.get(finding.item), labels.get(first)
        if here is None or there is None or here == there:
            continue
        problem = (
            f"duplicate of {first}, labelled '{there}' there and '{here}' here: one image with "
            "two labels; keep it in one class"
        )
        report.findings[i] = replace(finding, problem=problem)


__all__ = ["file_labels", "name_two_labels"]
