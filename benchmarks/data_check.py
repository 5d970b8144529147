"""Speed of `ganhub data check` on a folder of small images, before and after a change to the
duplicate search's fingerprints (`ganhub.data.fingerprints`), side by side.

Writes a folder of `--files` PNGs (16-64 px a side, grey and colour, with exact and near
duplicates) to a temporary folder, then times each stage of the check for every file
(decoding, the exact digest, the thumbnails, the difference hashes and the duplicate search)
and the whole `ganhub data check DIR plugin=dcgan`, with the fingerprints of `--before` (a git
revision: its `ganhub/data/fingerprints.py`) and those installed now. Wall time and CPU time
(`time.process_time`, what a shared machine's other work does not inflate) are both printed,
and the two checks' findings compared: they must be the same.

    python benchmarks/data_check.py                   # 4,000 files, before = HEAD
    python benchmarks/data_check.py --files 20000 --before 1da10e3
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from entry import Parser, run_main

REPO = Path(__file__).resolve().parent.parent


def write_folder(root: Path, files: int, seed: int) -> None:
    """`files` PNGs of mixed sizes: a third grey, every tenth an exact copy of an earlier one,
    every tenth a near copy (a few levels of noise) of another."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(files):
        path = root / f"img{i:06d}.png"
        if i > 10 and i % 10 == 3:
            Image.open(root / f"img{i - 3:06d}.png").save(path)
            continue
        if i > 10 and i % 10 == 7:
            base = np.asarray(Image.open(root / f"img{i - 2:06d}.png")).astype(np.int16)
            noisy = base + rng.integers(-3, 4, base.shape)
            Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(path)
            continue
        width, height = (int(v) for v in rng.integers(16, 65, 2))
        coarse = rng.integers(0, 256, (height // 4 + 1, width // 4 + 1, 3)).astype(np.uint8)
        image = Image.fromarray(coarse).resize((width, height), Image.Resampling.BILINEAR)
        (image.convert("L") if i % 3 == 0 else image).save(path)


def fingerprints_at(revision: str) -> ModuleType:
    """`ganhub/data/fingerprints.py` as it was at a git revision, as a module of its own."""
    text = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{revision}:ganhub/data/fingerprints.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    folder = Path(tempfile.mkdtemp(prefix="fingerprints_"))
    path = folder / "fingerprints_before.py"
    path.write_text(text, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("fingerprints_before", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def timed(work: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, wall seconds, CPU seconds of this process)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def stages(folder: Path, module: ModuleType) -> dict[str, tuple[float, float]]:
    """Each stage's (wall, CPU) seconds over every file of the folder, with `module`'s
    fingerprints."""
    from ganhub.data.decode import read_native
    from ganhub.data.inspect import DataReport, find_duplicates

    paths = sorted(folder.glob("*.png"))
    pixels, wall, cpu = timed(lambda: [read_native(p, 3, p.name)[0] for p in paths])
    out = {"decode (read_native)": (wall, cpu)}
    _, wall, cpu = timed(lambda: [module.pixel_key(p) for p in pixels])
    out["exact digest (pixel_key)"] = (wall, cpu)
    thumbs, wall, cpu = timed(lambda: [module.native_thumbnail(p) for p in pixels])
    out["thumbnails (native_thumbnail)"] = (wall, cpu)
    _, wall, cpu = timed(lambda: compared_by(module)(thumbs))
    out["levels, stretch, hash (compared)"] = (wall, cpu)
    named = {p.name: t for p, t in zip(paths, thumbs, strict=True)}
    keys = {p.name: module.pixel_key(x) for p, x in zip(paths, pixels, strict=True)}
    report = DataReport(str(folder), "images")
    with patched(module):
        _, wall, cpu = timed(lambda: find_duplicates(report, named, keys))
    out["duplicate search (find_duplicates)"] = (wall, cpu)
    return out


def compared_by(module: ModuleType) -> Callable[[list[np.ndarray]], Any]:
    """`module`'s batched `compared`, or (older code) its per-thumbnail steps in turn."""
    batched = vars(module).get("compared")
    if batched is not None:
        return batched  # type: ignore[no-any-return]

    def one_by_one(thumbs: list[np.ndarray]) -> Any:
        stretched = [module.stretch(t) for t in thumbs]
        hashes = [module.dhash(t) for t in stretched]
        return [module.levels(t) for t in thumbs], stretched, hashes

    return one_by_one


def cold(module: ModuleType) -> None:
    """Forget what `module` learnt of sizes seen (as a fresh `ganhub data check` would)."""
    for cache in ("_pass_order", "_box_weights"):
        if cache in vars(module):
            vars(module)[cache].cache_clear()


class patched:
    """`ganhub.data.inspect` using `module`'s thumbnails and `compared` while inside."""

    def __init__(self, module: ModuleType) -> None:
        self.module = module

    def __enter__(self) -> None:
        import ganhub.data.inspect as inspect

        self.saved = (inspect.native_thumbnail, inspect.compared)
        inspect.native_thumbnail = self.module.native_thumbnail
        inspect.compared = compared_by(self.module)

    def __exit__(self, *exc: object) -> None:
        import ganhub.data.inspect as inspect

        inspect.native_thumbnail, inspect.compared = self.saved


def whole_check(folder: Path, module: ModuleType) -> tuple[list[Any], float, float]:
    """`ganhub data check FOLDER plugin=dcgan`'s findings and (wall, CPU) seconds."""
    from ganhub.data_commands import inspect

    with patched(module):
        report, wall, cpu = timed(lambda: inspect(folder, ("plugin=dcgan",)))
    return sorted(report.findings, key=lambda f: (f.item, f.problem)), wall, cpu


def main() -> None:
    """Write the folder, time both versions, print the table."""
    parser = Parser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=4000, help="images in the folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--before", default="HEAD", help="git revision of the 'before' code")
    parser.add_argument("--folder", type=Path, help="write (or reuse) the images here")
    args = parser.parse_args()

    import ganhub.data.fingerprints as after

    before = fingerprints_at(args.before)
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.folder or Path(scratch) / "images"
        if not folder.is_dir() or not any(folder.glob("*.png")):
            write_folder(folder, args.files, args.seed)
        files = len(list(folder.glob("*.png")))
        whole_check(folder, after)  # imports and Pillow's plugins loaded before timing
        rows: dict[str, list[tuple[float, float]]] = {}
        found = {}
        for module in (before, after):
            cold(module)
            for stage, times in stages(folder, module).items():
                rows.setdefault(stage, []).append(times)
            cold(module)
            found[module], wall, cpu = whole_check(folder, module)
            rows.setdefault("ganhub data check (whole)", []).append((wall, cpu))

    print(f"{files} files; before = {args.before}, after = the working tree")
    head = f"{'stage':<36} {'before files/s':>15} {'after files/s':>14} {'speed-up':>9}"
    print(f"{head}   (wall, then CPU: process_time)")
    for stage, ((wall0, cpu0), (wall1, cpu1)) in rows.items():
        for what, t0, t1 in (("wall", wall0, wall1), ("cpu", cpu0, cpu1)):
            label = stage if what == "wall" else ""
            print(
                f"{label:<36} {files / t0:>11.0f} {what:<3} {files / t1:>10.0f} {what:<3} "
                f"{t0 / t1:>8.2f}x"
            )
    same = found[before] == found[after]
    print(f"findings: {len(found[after])}, identical before and after: {'yes' if same else 'NO'}")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    run_main(main)
