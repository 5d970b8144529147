"""No `--out` of a command on a run lands in the run's checkpoints/ folder.

`ganhub sample RUN --out RUN/checkpoints/step_0000009` wrote its samples there, and the next
resume read the folder as a checkpoint, found it unreadable and renamed it `.damaged`;
`ganhub report RUN --out RUN/checkpoints/report.html` wrote a page that pruning a checkpoint
would delete. `ganhub export` and `ganhub interpret` refused such paths; every other command
that writes a path the user names for a run (`sample`, `eval`, `report`, the stylegan,
cyclegan, medgan and textgan verbs) now keeps the same rule
(`ganhub.runfiles.check_run_destination`): one line, nothing written, before the run is read.

DATA: the domains' embedded data; one tiny run per plugin, shared by the module.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import ganhub
from ganhub.errors import UsageError

from .conftest import TINY_TOY

pytestmark = pytest.mark.usefixtures("one_thread")

Cli = Callable[..., tuple[int, str, str]]  # the `cli` fixture: (exit code, stdout, stderr)
STYLEGAN = [
    "plugin=stylegan", "model.image_size=16", "model.z_dim=16", "model.w_dim=16",
    "model.channel_base=128", "model.channel_max=16", "trainer.batch_size=4", "trainer.steps=1",
    "trainer.sample_every=0", "trainer.progress=false", "loggers=[jsonl]", "sample.grid=4",
    "sample.frames=4", "eval.metrics=[]",
]  # fmt: skip
CYCLEGAN = [
    "plugin=cyclegan", "model.image_size=16", "model.ngf=4", "model.ndf=4", "model.n_layers_d=2",
    "trainer.batch_size=2", "trainer.steps=1", "trainer.sample_every=0",
    "trainer.progress=false", "loggers=[jsonl]", "data.n_test=16", "eval.metrics=[]",
]  # fmt: skip
MEDGAN = [
    "plugin=medgan", "preset=tiny", "trainer.steps=1", "trainer.batch_size=2",
    "trainer.progress=false", "loggers=[jsonl]", "model.image_size=16", "eval.metrics=[]",
]  # fmt: skip
TEXTGAN = ["plugin=textgan", "preset=tiny", "trainer.progress=false", "loggers=[]",
           "eval.metrics=[]"]  # fmt: skip
RUNS = {
    "toy2d": TINY_TOY,
    "stylegan": STYLEGAN,
    "cyclegan": CYCLEGAN,
    "lesion": [*MEDGAN, "task=lesion"],
    "progress": [*MEDGAN, "task=progress"],
    "textgan": TEXTGAN,
}
NEEDS = {"lesion": "monai", "progress": "monai", "textgan": "transformers"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """The run directory of a tiny run of each kind, trained the first time it is asked for."""
    made: dict[str, Path] = {}
    root = tmp_path_factory.mktemp("runs")

    def get(kind: str) -> Path:
        if kind in NEEDS:
            pytest.importorskip(NEEDS[kind])
        if kind not in made:
            summary = ganhub.train([*RUNS[kind], f"out_dir={root}", f"name={kind}", "seed=0"])
            made[kind] = Path(summary["run_dir"])
        return made[kind]

    return get


def _image(folder: Path) -> Path:
    """A 16 x 16 RGB PNG for `ganhub cyclegan translate --input`."""
    from PIL import Image

    folder.mkdir(exist_ok=True)
    path = folder / "in.png"
    Image.new("RGB", (16, 16), (200, 40, 90)).save(path)
    return path


# (run kind, the command before --out, what --out is inside checkpoints/, its name elsewhere)
FOLDER = "step_0000009"  # a folder named like a checkpoint: a resume reads it as one
CASES = {
    "sample": ("toy2d", lambda run, tmp: ["sample", str(run)], FOLDER, "out"),
    "eval": ("toy2d", lambda run, tmp: ["eval", str(run)], "eval.json", "eval.json"),
    "report": ("toy2d", lambda run, tmp: ["report", str(run)], "report.html", "page.html"),
    "stylegan explore": (
        "stylegan", lambda run, tmp: ["stylegan", "explore", str(run)], FOLDER, "out",
    ),
    "stylegan mix": (
        "stylegan", lambda run, tmp: ["stylegan", "mix", str(run), "--rows", "1", "--cols", "1"],
        FOLDER, "out",
    ),
    "stylegan truncation": (
        "stylegan", lambda run, tmp: ["stylegan", "truncation", str(run), "--n", "1"], FOLDER, "out",
    ),
    "stylegan interpolate": (
        "stylegan", lambda run, tmp: ["stylegan", "interpolate", str(run), "--frames", "2",
                                      "--keys", "2"], FOLDER, "out",
    ),
    "cyclegan translate": (
        "cyclegan",
        lambda run, tmp: ["cyclegan", "translate", str(run), "--input", str(_image(tmp / "in"))],
        FOLDER, "out",
    ),
    "medgan simulate": (
        "lesion",
        lambda run, tmp: ["medgan", "simulate", str(run), "--at", "8,8", "--radius", "2"],
        FOLDER, "out",
    ),
    "medgan predict": ("progress", lambda run, tmp: ["medgan", "predict", str(run)], FOLDER, "out"),
    "textgan curve": (
        "textgan",
        lambda run, tmp: ["textgan", "curve", str(run), "--temperature", "1", "--n", "8"],
        "temperatures.json", "curve.json",
    ),
}  # fmt: skip


def _files(folder: Path) -> dict[str, int]:
    """Every entry under `folder` with its size (0 for a folder)."""
    return {
        str(p.relative_to(folder)): p.stat().st_size if p.is_file() else 0
        for p in folder.rglob("*")
    }


@pytest.mark.parametrize("name", list(CASES))
def test_out_inside_checkpoints_is_refused_and_elsewhere_written(
    name: str, runs: Callable[[str], Path], tmp_path: Path, cli: Cli
) -> None:
    kind, command, inside, outside = CASES[name]
    run = runs(kind)
    args = command(run, tmp_path)
    before = _files(run)
    for dest in (run / "checkpoints" / inside, run / "checkpoints"):
        code, out, err = cli(*args, "--out", str(dest))
        lines = err.strip().splitlines()
        assert code == 2 and out == "" and len(lines) == 1, (code, out, err)
        assert lines[0].startswith("ganhub: error: --out ") and "checkpoints/" in lines[0]
        assert _files(run) == before, "nothing written into the run"
    elsewhere = tmp_path / outside
    code, out, err = cli(*args, "--out", str(elsewhere))
    assert code == 0, err
    assert elsewhere.is_file() or any(elsewhere.iterdir()), "written outside checkpoints/"
    assert sorted(_files(run / "checkpoints")) == sorted(
        k.removeprefix("checkpoints/") for k in before if k.startswith("checkpoints/")
    )


def test_a_resume_after_a_refused_sample_reads_every_checkpoint(
    runs: Callable[[str], Path], cli: Cli
) -> None:
    """The reported case end to end: nothing `.damaged` after a resume."""
    run = runs("toy2d")
    code, _, _ = cli("sample", str(run), "--out", str(run / "checkpoints" / FOLDER))
    assert code == 2
    ganhub.train([f"resume={run}", "trainer.steps=5"])
    assert not [p for p in (run / "checkpoints").iterdir() if p.name.endswith(".damaged")]


def test_the_rule_lives_in_runfiles_and_export_keeps_it(tmp_path: Path) -> None:
    from ganhub.export import check_run_destination as exported
    from ganhub.runfiles import check_run_destination

    assert exported is check_run_destination
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    with pytest.raises(UsageError, match="checkpoints/ folder"):
        check_run_destination(run / "checkpoints" / "x", run, into=True)
    with pytest.raises(UsageError, match="a folder above it"):
        check_run_destination(tmp_path, run)
    # a folder a command adds its files to may be the run's or one above it (`--out .`)
    check_run_destination(tmp_path, run, into=True)
    check_run_destination(run, run, into=True)
    check_run_destination(run / "samples", run)
