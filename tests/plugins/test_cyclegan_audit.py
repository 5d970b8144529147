"""cyclegan fixes from a user audit: `ganhub eval` of a run whose data moved, options that would
do nothing refused by name, model.init beside the init trick, the count the metrics scored, and
the docs of `data clean` and the graph exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import ganhub
from ganhub.config.resolve import resolve
from ganhub.errors import ConfigError
from ganhub.metrics.commands import evaluate_run
from ganhub.wiring import make_run

from .test_cyclegan import TINY, TINY_FOLDER, _png, _unaligned

pytestmark = pytest.mark.usefixtures("one_thread")

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _facades(root: Path, n_test: int = 3) -> Path:
    """A pix2pix folder: 4 training pairs and `n_test` held-out pairs (A|B side by side)."""
    rng = np.random.default_rng(0)
    for folder, n in (("train", 4), ("test", n_test)):
        for i in range(n):
            _png(root / folder / f"{i}.png", rng.integers(0, 255, (16, 32, 3), dtype=np.uint8))
    return root


# -- 1. ganhub eval of a run whose data folder has moved ------------------------------------


def test_eval_takes_data_path_where_the_runs_folder_has_moved(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """`ganhub eval RUN data.path=NEW` was refused ("takes eval.* keys"), and without it the
    error named the missing folder with no way forward; `ganhub sample` took the key."""
    data = _facades(workdir / "facades")
    keys = [*TINY_FOLDER, "task=paired", f"data.path={data}", "trainer.steps=1",
            "model.dropout=false", "eval.n_samples=64"]  # fmt: skip
    run_dir = ganhub.train(keys)["run_dir"]
    data.rename(workdir / "moved")
    code, _, err = cli("eval", run_dir)
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"ganhub: error: data.path='{data}': folder does not exist; if the "
                          "run's data has moved, give data.path=FOLDER where it is now")  # fmt: skip
    assert "ganhub eval RUN data.path=FOLDER" in err
    code, out, err = cli("eval", run_dir, f"data.path={workdir / 'moved'}", "--seeds", "2")
    assert code == 0, err
    assert (
        out.splitlines()[0] == f"ganhub eval {run_dir}: step 1, 2 seeds x 3 samples (64 asked)"
    ), out
    code, _, err = cli("sample", run_dir, "--n", "2", f"data.path={workdir / 'moved'}")
    assert code == 0, err  # the same key for both verbs
    # other keys stay refused, and the refusal names the data key that is taken
    code, _, err = cli("eval", run_dir, "model.ngf=8")
    assert code == 2 and "unknown option 'model.ngf'" in err
    assert err.rstrip().endswith("where the run's data has moved: data.path"), err
    code, _, err = cli("eval", run_dir, "data.n_test=8")  # not where the data is: what it is
    assert code == 2 and "unknown option 'data.n_test'" in err
    # resuming says the same
    with pytest.raises(ConfigError, match=r"folder does not exist; if the run's data has moved"):
        resolve([f"resume={run_dir}"])


# -- 2, 3. options that would do nothing ---------------------------------------------------


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        (["task=paired", "objective.pool_size=10"],
         r"^objective\.pool_size=10 has no effect with task=paired: pix2pix keeps no pool of "
         r"generated images; leave it out$"),
        (["task=paired", "objective.lambda_a=5"],
         r"^objective\.lambda_a=5 has no effect with task=paired: pix2pix has no cycle loss"),
        (["task=paired", "objective.lambda_b=0"], r"^objective\.lambda_b=0 has no effect"),
        (["task=paired", "objective.lambda_identity=0"],
         r"^objective\.lambda_identity=0 has no effect with task=paired: pix2pix has no "
         r"identity loss; leave it out$"),
        (["objective.lambda_l1=50"],
         r"^objective\.lambda_l1=50 has no effect with task=unpaired: CycleGAN has no L1 to a "
         r"target"),
        (["data.load_size=20"],
         r"^data\.load_size=20 has no effect: the embedded digits are rendered at "
         r"model\.image_size, never resized or flipped; leave it out$"),
        (["data.flip=false"], r"^data\.flip=false has no effect: the embedded digits"),
        (["model.unet_downs=3"],
         r"^model\.unet_downs=3 has no effect: the resnet_6blocks generator is no U-Net"),
        (["model.init=kaiming", "tricks=[init]"],
         r"^model\.init=kaiming and tricks=\[init\] both initialise the weights, and the init "
         r"trick runs after model\.init, overriding it \(with trick\.init\.scheme=normal\)"),
        (["model.init_gain=0.1", "tricks=[lr_schedule,init]", "trick.init.scheme=normal"],
         r"^model\.init_gain=0\.1 and tricks=\[lr_schedule,init\] both initialise"),
    ],
)  # fmt: skip
def test_options_the_run_would_not_read_are_refused_by_name(keys: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        resolve([*TINY, *keys])
    assert "\n" not in str(caught.value)


def test_the_same_options_where_they_apply_are_taken(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """Each key where its task, data or generator reads it, the default given by name, and
    the init trick with its own scheme; a refusal comes before any run directory."""
    for keys in (
        ["objective.pool_size=10", "objective.lambda_a=5", "objective.lambda_identity=0"],
        ["task=paired", "objective.lambda_l1=50", "model.unet_downs=3"],
        ["model.generator=unet", "model.unet_downs=3"],
        ["task=paired", "objective.pool_size=50"],  # the default: nothing changes
        ["tricks=[init]", "trick.init.scheme=kaiming"],  # the trick replaces the default init
        ["model.init=kaiming"],
    ):
        resolve([*TINY, *keys])
    code, _, err = cli("run", *TINY, "task=paired", "objective.pool_size=10", "name=refused")
    assert code == 2 and err.count("\n") == 1 and "objective.pool_size=10" in err
    assert not (workdir / "runs").exists()


def test_folder_keys_are_taken_with_a_folder(workdir: Path) -> None:
    data = _facades(workdir / "facades")
    resolve(
        [*TINY_FOLDER, "task=paired", f"data.path={data}", "data.load_size=18", "data.flip=false"]
    )


def test_data_n_test_beside_a_folder_is_refused_naming_the_test_folders(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """`data.path=DIR data.n_test=16` ran as if 16 images were held out: data.n_test counts
    the embedded digits, and a folder holds out its testA/ and testB/ (test/ pairs). Refused in
    one line before any run directory; its default, given or not, and the value a resumed
    run's config.yaml holds (a run made before the refusal) are taken."""
    pairs = _facades(workdir / "facades")
    for task, data, held in (
        ("unpaired", _unaligned(workdir / "h2z"), "testA/ and testB/"),
        ("paired", pairs, "test/ (else val/)"),
    ):
        args = [*TINY_FOLDER, f"task={task}", f"data.path={data}", "data.n_test=16"]
        code, _, err = cli("run", *args)
        assert code == 2 and err.count("\n") == 1, err
        assert err.startswith("ganhub: error: data.n_test=16 has no effect with data.path: ")
        assert held in err and "eval.n_samples" in err and err.endswith("leave it out\n"), err
    assert not (workdir / "runs").exists()
    keys = [*TINY_FOLDER, "preset=tiny", "task=paired", f"data.path={pairs}", "trainer.steps=1"]
    run_dir = Path(ganhub.train([*keys, "data.n_test=500", "eval.metrics=[]"])["run_dir"])
    saved = run_dir / "config.yaml"
    saved.write_text(saved.read_text().replace("n_test: 500", "n_test: 16"))
    assert ganhub.train([f"resume={run_dir}", "trainer.steps=2"])["steps"] == 2
    with pytest.raises(ConfigError, match=r"^data\.n_test=8 has no effect with data\.path"):
        resolve([f"resume={run_dir}", "data.n_test=8"])


def test_a_saved_run_with_an_option_refused_now_still_opens(workdir: Path) -> None:
    """The refusals check a run when it starts; one saved before them opens to sample."""
    run_dir = Path(ganhub.train([*TINY, "task=paired", "trainer.steps=1"])["run_dir"])
    config = run_dir / "config.yaml"
    config.write_text(config.read_text().replace("pool_size: 50", "pool_size: 10"))
    model = ganhub.load(run_dir)
    assert model.config.objective.pool_size == 10  # type: ignore[attr-defined]
    assert model.sample(2).shape == (2, 3, 16, 16)


# -- 4. the count the metrics scored ---------------------------------------------------------


def test_the_run_and_eval_count_the_pairs_scored_not_eval_n_samples(workdir: Path) -> None:
    """With 16 held-out digits and eval.n_samples=64 the summary said n_samples 64 and `ganhub
    eval` "2 seeds x 64 samples"."""
    summary = ganhub.train([*TINY, "eval.n_samples=64", "trainer.steps=1"])
    metrics = summary["metrics"]
    assert metrics["n_pairs"] == 16 and metrics["n_samples"] == 16
    result = evaluate_run(Path(summary["run_dir"]), [], seeds=2)
    assert result["n_samples"] == 16 and result["n_asked"] == 64
    assert result["results"]["n_samples"]["values"] == [16.0, 16.0]
    assert any("scored 16 samples per seed, not 64" in note for note in result["notes"])
    saved = json.loads((Path(summary["run_dir"]) / "eval.json").read_text())
    assert saved["n_samples"] == 16
    # cycle_l1 alone reports its count too; fewer asked than held out: the number asked
    system = ganhub.load(summary["run_dir"]).system
    cycle = ganhub.plugins.get_hub().metrics.get("cycle_l1")
    assert cycle.compute(system, n_samples=10, seed=0)["n_samples"] == 10
    assert cycle.compute(system, n_samples=64, seed=0)["n_samples"] == 16


# -- 5. docs ---------------------------------------------------------------------------------


def test_cli_docs_name_the_files_a_translator_exports(workdir: Path) -> None:
    """cli.md named only generator.onnx/.pt; a cyclegan export writes translate_AtoB/BtoA."""
    text = (DOCS / "cli.md").read_text()
    section = text[text.index("## `ganhub export`") :]
    section = section[: section.index("\n## ")]
    for task in ("unpaired", "paired"):
        system = make_run(resolve([*TINY, f"task={task}"])).system
        for function in system.export_spec().functions:
            assert f"`{function.name}`" in section, function.name


def test_cyclegan_docs_say_data_clean_copies(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """cyclegan.md said `data clean` hard-links the kept files; it copies them unless
    --hard-links."""
    data = _facades(workdir / "facades")
    code, out, err = cli("data", "clean", str(data), "plugin=cyclegan", "task=paired",
                         "model.image_size=16", "model.n_layers_d=2", "--out", "cleaned")  # fmt: skip
    assert code == 0, out + err
    kept = [p for p in (workdir / "cleaned").rglob("*.png")]
    assert kept and all(p.stat().st_nlink == 1 for p in kept)  # copies, not links
    text = re.sub(r"\s+", " ", (DOCS / "cyclegan.md").read_text())
    assert "hard-linking the kept files" not in text
    assert "copying the kept files (`--hard-links` links them instead" in text
