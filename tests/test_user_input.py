"""What a user types, and the run directories they hand back: one line when it is wrong, and
nothing in a run changed by a command that was refused."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import ganhub
from ganhub.config.overrides import dump_yaml, load_yaml, parse_value
from ganhub.config.resolve import resolve
from ganhub.engine import checkpoint
from ganhub.errors import ConfigError, UsageError
from ganhub.registry import describe

from .conftest import TINY_TOY


@pytest.fixture
def toy_run(workdir: Path) -> Path:
    """A finished 4-step toy2d run with checkpoints at steps 2 and 4."""
    summary = ganhub.train([*TINY_TOY, "trainer.checkpoint_every=2", "name=toy"])
    return Path(summary["run_dir"])


def _one_line_error(code: int, err: str) -> str:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ganhub: error: "), err
    return lines[0]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["sample", "missing_dir"], "'missing_dir': no such run directory"),
        (["list", "bogus"], "'bogus' is not one of"),
        (["nosuch"], "No such command 'nosuch'. (see 'ganhub --help')"),
    ],
)
def test_option_errors_are_one_line(cli, workdir: Path, args: list[str], expected: str) -> None:  # type: ignore[no-untyped-def]
    assert expected in _one_line_error(*cli(*args)[::2])


def test_a_run_dirs_options_are_checked_in_one_line(cli, toy_run: Path) -> None:  # type: ignore[no-untyped-def]
    run = str(toy_run)
    line = _one_line_error(*cli("sample", run, "--device", "bogus")[::2])
    assert "'bogus' is not a device" in line
    assert (
        "--seed -1: seeds the random draws: give a whole number from 0 to 4294967295"
        in _one_line_error(*cli("sample", run, "--seed", "-1")[::2])
    )
    assert (
        "--n 0: counts the samples to write: give a whole number from 1 to 10000"
        in _one_line_error(*cli("sample", run, "--n", "0")[::2])
    )
    # counts that would fill the memory (an allocator traceback before) are refused by range
    assert (
        "--n 100000000: counts the samples scored per seed: give a whole number from 1 to 200000"
        in _one_line_error(*cli("eval", run, "--n", "100000000")[::2])
    )
    line = _one_line_error(*cli("run", "plugin=toy2d", "data.n_samples=1000000000000")[::2])
    assert "data.n_samples=1000000000000: must be at least 1000 and at most 10000000" in line
    # sizes that would take minutes to build before a checkpoint's shapes refuse them
    line = _one_line_error(*cli("run", "plugin=toy2d", "model.g_layers=100000")[::2])
    assert "model.g_layers=100000: must be at least 1 and at most 64" in line
    Path("afile").write_text("a file where a folder should be")
    line = _one_line_error(*cli("sample", run, "--out", "afile/sub")[::2])
    assert line == "ganhub: error: afile/sub: Not a directory"
    line = _one_line_error(*cli("report", run, "--out", "afile/r.html")[::2])
    assert line == "ganhub: error: afile/r.html cannot be written: afile is a file"
    from PIL import Image

    Path("images").mkdir()
    for i in range(2):
        Image.new("L", (32, 32), 40 * i).save(f"images/{i}.png")
    code, _, err = cli("data", "convert", "images", "plugin=dcgan", "--to", "shard",
                       "--out", "afile/x.safetensors")  # fmt: skip
    line = _one_line_error(code, err)  # a mkdir that meets a file, in any verb
    assert line == "ganhub: error: afile/x.safetensors cannot be written: afile is a file"


def test_eval_with_no_metric_that_applies_keeps_the_earlier_scores(cli, toy_run: Path) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("eval", str(toy_run), "--n", "200")
    assert code == 0, err
    before = (toy_run / "eval.json").read_bytes()
    line = _one_line_error(*cli("eval", str(toy_run), "eval.metrics=[digit_modes]")[::2])
    assert "no chosen metric applies to this run (modality vector, task generate, " in line
    # why: what the metric applies to, beside what the run declares
    assert "dataset ring" in line
    assert "They apply to: digit_modes: Image systems that declare MNIST digits" in line
    assert (toy_run / "eval.json").read_bytes() == before


def test_a_resume_with_nothing_to_train_changes_nothing(cli, toy_run: Path) -> None:  # type: ignore[no-untyped-def]
    (toy_run / "failed.json").write_text('{"step": 3, "error": "an earlier failure"}')
    files = {p: p.read_bytes() for p in toy_run.rglob("*") if p.is_file() and p.name != ".lock"}
    line = _one_line_error(*cli("run", f"resume={toy_run}", "trainer.steps=3")[::2])
    assert "the run is at step 4 and trainer.steps=3 asks for no more" in line
    # at its last step, other settings would describe no training either (the same ones
    # finish a run stopped after its final checkpoint: tests/test_fault_injection.py)
    # (which the error names: it blamed trainer.steps, which was not changed)
    line = _one_line_error(*cli("run", f"resume={toy_run}", "loss=hinge")[::2])
    assert "the run has finished its 4 steps; changing loss would only rewrite" in line
    # a resume the model does not fit is refused the same way
    line = _one_line_error(
        *cli("run", f"resume={toy_run}", "trainer.steps=8", "model.g_hidden=8")[::2]
    )
    assert "does not fit the model this resume builds" in line
    assert "it sets model.g_hidden=8 (the run's: 16)" in line  # what differs, and where
    after = {p: p.read_bytes() for p in toy_run.rglob("*") if p.is_file() and p.name != ".lock"}
    assert after == files  # config.yaml, metrics, samples, and the failure marker as they were


def test_a_finished_run_resumed_with_a_display_setting_is_no_change(toy_run: Path) -> None:
    """trainer.progress=false or device=cpu were refused as "trainer.steps=4 asks for no
    more": they change how a run is shown or where it runs, not what it computes."""
    summary = ganhub.train([f"resume={toy_run}", "trainer.progress=false", "device=cpu"])
    assert summary["steps_this_session"] == 0 and summary["steps"] == 4


def test_pruning_keeps_the_good_checkpoint_a_damaged_newer_one_would_push_out(
    toy_run: Path,
) -> None:
    directory = toy_run / "checkpoints"
    (directory / "step_0000005").mkdir()  # empty: nothing in it
    truncated = directory / "step_0000006"
    truncated.mkdir()
    for name in checkpoint.FILES:
        data = (directory / "step_0000004" / name).read_bytes()
        (truncated / name).write_bytes(data[: len(data) // 2] if name.endswith("tensors") else data)
    summary = ganhub.train([*TINY_TOY, f"resume={toy_run}", "trainer.steps=6",
                            "trainer.checkpoint_every=2"])  # fmt: skip
    assert summary["steps"] == 6
    kept = sorted(p.name for p in checkpoint.step_dirs(directory))
    assert kept == ["step_0000004", "step_0000006"]  # keep_checkpoints=2, both whole
    assert checkpoint.load(directory / "step_0000006")[0] == 6


@pytest.mark.parametrize(
    "header", [b"\xff" * 8, (1 << 40).to_bytes(8, "little")], ids=["overflow", "huge"]
)
def test_an_older_checkpoint_with_a_huge_header_size_is_pruned_not_fatal(
    toy_run: Path, header: bytes
) -> None:
    """A damaged older checkpoint made every resume die at its first save (OverflowError or
    MemoryError from reading the header size it claims)."""
    directory = toy_run / "checkpoints"
    with (directory / "step_0000002" / "model.safetensors").open("r+b") as fh:
        fh.write(header)
    summary = ganhub.train([*TINY_TOY, f"resume={toy_run}", "trainer.steps=6",
                            "trainer.checkpoint_every=2"])  # fmt: skip
    assert summary["steps"] == 6
    assert [p.name for p in checkpoint.step_dirs(directory)] == ["step_0000006", "step_0000004"]


def test_a_huge_state_json_is_refused_unread_and_leftover_saves_are_removed(
    toy_run: Path,
) -> None:
    """A 2 GB state.json was read whole (4.7 GB of memory, even by ganhub sample); the
    temporary folder of a save cut short at an off-cadence step stayed forever."""
    directory = toy_run / "checkpoints"
    with (directory / "step_0000004" / "state.json").open("r+b") as fh:
        fh.truncate(checkpoint.MAX_STATE_JSON + 1)  # sparse: no disk space used
    with pytest.raises(UsageError, match=r"more than a state\.json holds"):
        checkpoint.load(directory / "step_0000004")
    (directory / ".step_0000003.tmp").mkdir()
    (directory / ".step_0000003.tmp" / "model.safetensors").write_bytes(b"half")
    summary = ganhub.train([*TINY_TOY, f"resume={toy_run}", "trainer.steps=6"])
    assert summary["steps"] == 6  # resumed from step 2, the last whole one
    assert not [p for p in directory.iterdir() if p.name.startswith(".step_")]


def test_checkpoints_are_readable_as_the_umask_says(workdir: Path) -> None:
    old = os.umask(0o022)
    try:
        summary = ganhub.train([*TINY_TOY, "name=shared"])
    finally:
        os.umask(old)
    for file in (Path(summary["run_dir"]) / "checkpoints").glob("step_*/*"):
        assert file.stat().st_mode & 0o777 == 0o644, file


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("010", "010"),  # not octal 8: a number key reads it as 10, a text key keeps it
        ("007", "007"),
        ("12:30", "12:30"),  # not sexagesimal 750
        ("yes", "yes"),
        ("off", "off"),
        ("2024-01-01", "2024-01-01"),
        ("1e-4", 1e-4),
        ("-3", -3),
        ("0", 0),
        ("1.5", 1.5),
        ("true", True),
        ("null", None),
        ("[a, 2]", ["a", 2]),
    ],
)
def test_override_values_read_as_yaml_1_2(text: str, value: object) -> None:
    got = parse_value(text)
    assert got == value and isinstance(got, type(value))
    assert isinstance(got, bool) == isinstance(value, bool)
    assert getattr(got, "text", text) == text  # numbers remember how they were typed


def test_keys_take_what_was_typed_as_their_type() -> None:
    config = resolve(["plugin=toy2d", "trainer.steps=010", "name=007", "eval.n_samples=2_000"])
    assert (config.trainer.steps, config.name, config.eval.n_samples) == (10, "007", 2000)
    assert resolve(["plugin=toy2d", "name=1.0"]).name == "1.0"
    assert resolve(["plugin=toy2d", "trainer.progress=yes"]).trainer.progress is True
    with pytest.raises(ConfigError, match=r"^trainer.steps=True: a number is needed, not true$"):
        resolve(["plugin=toy2d", "trainer.steps=true"])
    with pytest.raises(
        ConfigError, match=r"^seed=4294967296: must be at least 0 and at most 4294967295$"
    ):
        resolve(["plugin=toy2d", f"seed={2**32}"])
    # an empty value is an unset shell variable, not null: `data.path=$DATA` with DATA unset
    # trained on the embedded digits without a word
    for key in ("out_dir", "data.path"):
        with pytest.raises(ConfigError, match=rf"^{key}= has no value \(an empty shell "):
            resolve(["plugin=dcgan", f"{key}="])
    assert resolve(["plugin=dcgan", "data.path=null"]).data.path is None  # type: ignore[attr-defined]


def test_a_check_across_a_section_names_its_keys_not_the_whole_config() -> None:
    with pytest.raises(ConfigError) as info:
        resolve(["plugin=toy2d", "trainer.grad_accum=3"])
    assert str(info.value) == "trainer.grad_accum=3 must divide trainer.batch_size=256"


def test_paths_of_the_wrong_kind_say_so(workdir: Path) -> None:
    Path("afile").write_text("x")
    with pytest.raises(ConfigError, match="'afile' is a file; give the folder"):
        resolve(["plugin=dcgan", "data=folder", "data.path=afile"])
    with pytest.raises(ConfigError, match=f"config file '{workdir}' is a folder"):
        resolve(["plugin=toy2d"], files=[workdir])


def test_a_description_is_the_docstrings_whole_first_sentence() -> None:
    class Wrapped:
        """Each side's loss gains a cost, relative to the costliest one (Cai et al.
        2019). More detail that is not part of the listing."""

    assert describe(Wrapped) == (
        "Each side's loss gains a cost, relative to the costliest one (Cai et al. 2019)."
    )
    assert json.dumps(describe(Wrapped))  # one plain line


def test_data_check_of_a_file_says_what_a_domain_reads(cli, workdir: Path) -> None:  # type: ignore[no-untyped-def]
    Path("images.zip").write_bytes(b"PK not really")
    line = _one_line_error(*cli("data", "check", "images.zip", "plugin=dcgan")[::2])
    assert "data.path='images.zip' is a file; give the folder that holds the images" in line


def test_outputs_that_cannot_be_written_are_refused_before_any_work(cli, toy_run: Path) -> None:  # type: ignore[no-untyped-def]
    Path("afile").write_text("x")
    line = _one_line_error(*cli("features", "train", "data=digits", "out=afile", "epochs=1")[::2])
    assert line == "ganhub: error: out=afile is a file; give a folder for the feature network"
    (toy_run / "report.html").mkdir()  # a folder where the page goes: no plots are drawn either
    line = _one_line_error(*cli("report", str(toy_run))[::2])
    assert "report.html is a folder; give the path of a file to write" in line
    assert not (toy_run / "report").exists()


def test_text_that_yaml_12_reads_as_a_number_survives_config_yaml(workdir: Path) -> None:
    """A run named `1e5` (quoted in the user's file) keeps its name through config.yaml and a
    resume: PyYAML's writer left `1e5` plain, which ganhub's YAML 1.2 reader takes as 1e5."""
    Path("named.yaml").write_text("name: '1e5'\n")
    summary = ganhub.train([*TINY_TOY, "trainer.checkpoint_every=2", "config=named.yaml"])
    run_dir = Path(summary["run_dir"])
    assert run_dir.name == "1e5"
    assert "name: '1e5'" in (run_dir / "config.yaml").read_text()
    resumed = ganhub.train([f"resume={run_dir}", "trainer.steps=6"])
    assert Path(resumed["run_dir"]) == run_dir
    assert load_yaml(run_dir / "config.yaml")["name"] == "1e5"


def test_a_python_tag_in_a_config_file_is_named_not_run(workdir: Path) -> None:
    Path("evil.yaml").write_text(
        'plugin: toy2d\nname: !!python/object/apply:os.system ["touch x"]\n'
    )
    with pytest.raises(
        ConfigError, match=r"uses the YAML tag !!python/object/apply:os.system at line 2"
    ):
        resolve([], files=["evil.yaml"])
    assert not Path("x").exists()


def test_a_runs_plugin_cannot_change_on_resume_or_load(toy_run: Path) -> None:
    for call in (
        lambda: resolve([f"resume={toy_run}", "plugin=dcgan"]),
        lambda: ganhub.load(toy_run, overrides=["plugin=dcgan"]),
    ):
        with pytest.raises(ConfigError, match=r"plugin=dcgan: .*config.yaml is a 'toy2d' run, and"):
            call()
    assert resolve([f"resume={toy_run}", "plugin=toy2d"]).plugin == "toy2d"


def test_text_keys_keep_numbers_as_typed() -> None:
    """`name=1.10` and a folder named `2024.10` were read as numbers first: 1.1 and 2024.1."""
    config = resolve(["plugin=toy2d", "name=1.10", "out_dir=2024.10", "optim.G.lr=2.50e-4"])
    assert config.name == "1.10" and str(config.out_dir) == "2024.10"
    assert type(config.optim.G.lr) is float and config.optim.G.lr == 2.5e-4
    assert "name: '1.10'" in dump_yaml(config.model_dump(mode="json"))


def test_a_resume_refused_by_a_logger_leaves_the_run_as_it_was(toy_run: Path) -> None:
    """A logger that refuses its options (a tracking URI it cannot use) once left config.yaml
    rewritten with them and a failed.json, so the plain resume failed the same way; and
    requires.json naming the plugins of the refused settings (the logger it could not use)."""
    pytest.importorskip("mlflow")
    from ganhub.errors import UsageError

    before = sorted(p.name for p in toy_run.iterdir())
    saved = (toy_run / "config.yaml").read_text()
    requires = (toy_run / "requires.json").read_text()
    with pytest.raises(UsageError, match="logger 'mlflow'"):
        ganhub.train([f"resume={toy_run}", "trainer.steps=8", "loggers=[jsonl,mlflow]",
                      "logger.mlflow.tracking_uri=http://127.0.0.1:9"])  # fmt: skip
    assert (toy_run / "config.yaml").read_text() == saved
    assert (toy_run / "requires.json").read_text() == requires
    assert sorted(p.name for p in toy_run.iterdir()) == before  # no failed.json
    assert ganhub.train([f"resume={toy_run}", "trainer.steps=6"])["steps"] == 6


def test_a_log_folder_that_refuses_writes_stops_a_resume_in_one_line(toy_run: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """tb/ replaced by a file (or made read-only): one line naming it, the run left as it was
    (TensorBoard's writer thread printed a traceback, and config.yaml kept the new steps)."""
    import shutil

    shutil.rmtree(toy_run / "tb", ignore_errors=True)
    (toy_run / "tb").write_text("not a folder")
    before = sorted(p.name for p in toy_run.iterdir())
    saved = (toy_run / "config.yaml").read_text()
    code, _, err = cli("run", f"resume={toy_run}", "trainer.steps=8", "loggers=[jsonl,tensorboard]")
    line = _one_line_error(code, err)
    assert line == f"ganhub: error: {toy_run / 'tb'}: a file is there where a folder is needed"
    assert (toy_run / "config.yaml").read_text() == saved
    assert sorted(p.name for p in toy_run.iterdir()) == before  # no failed.json


def test_an_output_path_that_is_no_regular_file_is_refused(toy_run: Path, cli) -> None:  # type: ignore[no-untyped-def]
    os.mkfifo("fifo")
    line = _one_line_error(*cli("report", str(toy_run), "--out", "fifo")[::2])
    assert line == "ganhub: error: fifo: not a regular file; give the path of a file to write"
    assert Path("fifo").is_fifo()  # the rename would have replaced it


def test_a_batch_larger_than_the_data_is_refused_before_the_banner(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """`data.n_shots=10` with the default batch 64 printed the start banner naming a run
    directory (then removed), then the refusal: the sources check the size only when they
    start yielding. It is refused before the banner (its one line is all that is printed)."""
    from ganhub.wiring import make_run

    run = make_run(
        resolve(["plugin=dcgan", "preset=tiny", "data.n_shots=10", "trainer.batch_size=64"])
    )
    with pytest.raises(ConfigError, match=r"^trainer.batch_size=64: the dataset has only 10"):
        run.preflight()
    run.close()
    code, out, err = cli("run", "plugin=dcgan", "preset=tiny", "data.n_shots=10",
                         "trainer.batch_size=64", "trainer.progress=true")  # fmt: skip
    assert code == 2 and err.count("\n") == 1 and "ganhub: training" not in out + err, (out, err)
