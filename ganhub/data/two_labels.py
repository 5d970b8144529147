"""One image with two labels: an exact copy in two classes of a conditional folder (two class
sub-folders, two `data.labels` rows with different labels, or two members of a StyleGAN2-ADA
zip that its `dataset.json` labels differently), named so in `ganhub data check` (docs/data.md)
instead of as a plain duplicate; and one file that a labels list names twice, with two labels,
is refused in the same words (`listed_twice`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from ganhub.data.inspect import EXACT, DataReport, quoted_name

TWO_LABELS = "one image with two labels; keep it in one class"


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
    named = {quoted_name(name): name for name in labels}  # as the finding names the first copy
    for i, finding in enumerate(report.findings):
        if not finding.problem.startswith(EXACT):
            continue
        first = finding.problem[len(EXACT) :]
        here, there = labels.get(finding.item), labels.get(named.get(first, first))
        if here is None or there is None or here == there:
            continue
        problem = f"duplicate of {first}, labelled '{there}' there and '{here}' here: {TWO_LABELS}"
        report.findings[i] = replace(finding, problem=problem)


def listed_twice(name: str, first: str, second: str) -> str:
    """What a labels list (a zip's `dataset.json`) naming one file twice, with two labels, is:
    one image with two labels, said as the data check says it of copies in two classes."""
    return f"'{name}' is listed twice, labelled '{first}' and '{second}': {TWO_LABELS}"


__all__ = ["TWO_LABELS", "file_labels", "listed_twice", "name_two_labels"]
