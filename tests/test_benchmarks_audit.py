"""The benchmark scripts as users run them: their --help, and the GPU scripts' commands.

The GPU shell scripts (benchmarks/gpu_*.sh) run only on a lent CUDA machine, so a renamed
config key or script option there would go unnoticed until that machine's time is spent.
These checks read the scripts, resolve every `key=value` set they pass to ganhub, and parse
every benchmark invocation with that script's own argument parser (nothing is trained).
"""

from __future__ import annotations

import argparse
import os
import re
import runpy
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
GPU_SCRIPTS = sorted(BENCH.glob("gpu_*.sh"))
STOP = {"&&", "||", "|", "&", ";", ")", "2>&1"}
# Shell values that the scripts set at run time (paths, labels); any value will do here.
RUNTIME = {"ROOT": ".", "SG": "/tmp/sg", "OUT": "/tmp/out", "SECONDS_BOX": "270", "label": "x"}


def _logical_lines(script: Path) -> list[str]:
    """The script's lines with continuations joined, comments and blank lines dropped."""
    text = script.read_text().replace("\\\n", " ")
    return [
        ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")
    ]


def _split(line: str) -> list[str]:
    """Shell words of `line`; [] for what is not a plain command (a function body, python -c)."""
    try:
        return shlex.split(line)
    except ValueError:
        return []


def _expand(script: Path) -> list[list[str]]:
    """Each command line of the script as tokens, with its arrays and variables expanded."""
    values = dict(RUNTIME)
    commands = []
    fd_prefix: list[str] = []
    for line in _logical_lines(script):
        if m := re.fullmatch(r"(\w+)=\((.*)\)", line):
            values[m[1]] = m[2]
            continue
        if m := re.fullmatch(r'(\w+)="([^"]*)"', line):
            values[m[1]] = m[2]
            continue
        for name, value in values.items():
            line = line.replace(f'"${{{name}[@]}}"', value).replace(f"${{{name}}}", value)
            line = re.sub(rf"\${name}\b", lambda _m, v=value: v, line)
        tokens = [t for tok in _split(line) for t in (_split(tok) if " " in tok else [tok])]
        if "benchmarks/stylegan.py" in line and '"$@"' in line:  # gpu_stylegan.sh's fd()
            start = next(i for i, t in enumerate(tokens) if t.endswith("benchmarks/stylegan.py"))
            fd_prefix = tokens[start - 1 :]
            fd_prefix = [t for t in fd_prefix if not t.startswith(">") and t not in STOP]
            fd_prefix = fd_prefix[: fd_prefix.index("$@")] if "$@" in fd_prefix else fd_prefix
            continue
        if tokens and tokens[0] == "fd" and fd_prefix:
            tokens = [*fd_prefix, *tokens[2:]]
        commands.append(tokens)
    return commands


def _until_stop(tokens: list[str]) -> list[str]:
    out = []
    for t in tokens:
        if t in STOP or t.startswith(">") or t.startswith("2>"):
            break
        out.append(t)
    return out


def _benchmark_calls() -> list[tuple[str, str, list[str]]]:
    """(gpu script, benchmark script, its arguments) for every benchmark the scripts call."""
    calls = []
    for script in GPU_SCRIPTS:
        for tokens in _expand(script):
            for i, tok in enumerate(tokens):
                if re.search(r"benchmarks/\w+\.py$", tok):
                    calls.append((script.name, Path(tok).name, _until_stop(tokens[i + 1 :])))
    return calls


def _ganhub_runs() -> list[tuple[str, list[str]]]:
    """(gpu script, key=value overrides) of every `ganhub run` and gpu_profile.py call."""
    runs = []
    for script in GPU_SCRIPTS:
        for tokens in _expand(script):
            for i, tok in enumerate(tokens):
                is_run = tok == "run" and i > 0 and tokens[i - 1] == "ganhub"
                if is_run or tok.endswith("benchmarks/gpu_profile.py"):
                    keys = [t for t in _until_stop(tokens[i + 1 :]) if re.match(r"\w[\w.]*=", t)]
                    runs.append((script.name, keys))
                if tok.endswith("benchmarks/stylegan.py") and tokens[i + 1 : i + 2] == ["fd"]:
                    args = _until_stop(tokens[i + 1 :])
                    sets = args[args.index("--set") + 1 :] if "--set" in args else []
                    runs.append((script.name, ["plugin=stylegan", *sets]))
    return runs


def test_the_gpu_scripts_are_read() -> None:
    """The extraction finds what the scripts run (so the checks below are not vacuous)."""
    called = {bench for _, bench, _ in _benchmark_calls()}
    assert {"overhead.py", "gpu_speed.py", "gpu_profile.py", "stylegan.py"} <= called
    assert len(_ganhub_runs()) >= 10


@pytest.mark.parametrize(("script", "keys"), _ganhub_runs(), ids=lambda v: str(v)[:40])
def test_every_key_value_in_the_gpu_scripts_resolves(script: str, keys: list[str]) -> None:
    from ganhub.config.resolve import resolve

    assert any(k.startswith("plugin=") for k in keys), keys
    resolve(keys)  # a renamed key raises ConfigError naming it


class _Parsed(Exception):
    """Raised once a script's arguments parsed: nothing past parsing runs."""


@pytest.mark.parametrize(("script", "bench", "args"), _benchmark_calls(), ids=lambda v: str(v)[:40])
def test_every_benchmark_call_in_the_gpu_scripts_parses(
    script: str, bench: str, args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    original = argparse.ArgumentParser.parse_args

    def parse_then_stop(self: argparse.ArgumentParser, *a: object, **kw: object) -> None:
        original(self, *a, **kw)  # type: ignore[arg-type]
        raise _Parsed

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_then_stop)
    monkeypatch.setattr(sys, "argv", [bench, *args])
    monkeypatch.syspath_prepend(str(BENCH))  # as `python benchmarks/X.py` puts its folder first
    with pytest.raises(_Parsed):  # SystemExit(2) here: an option the script no longer has
        runpy.run_path(str(BENCH / bench), run_name="__main__")


SCRIPTS = sorted(p.name for p in BENCH.glob("*.py") if p.name not in {"tables.py", "entry.py"})


@pytest.mark.parametrize("bench", SCRIPTS)
def test_every_benchmark_answers_help(
    bench: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`python benchmarks/X.py --help` prints a usage line and exits 0, running nothing."""
    monkeypatch.setattr(sys, "argv", [bench, "--help"])
    monkeypatch.syspath_prepend(str(BENCH))  # as `python benchmarks/X.py` puts its folder first
    with pytest.raises(SystemExit) as exit_:
        runpy.run_path(str(BENCH / bench), run_name="__main__")
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith("usage:")


def test_cli_startup_rejects_a_bad_run_count_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`cli_startup.py --help` used to crash with int('--help'); a bad RUNS is a usage error."""
    for bad in (["x"], ["0"]):
        monkeypatch.setattr(sys, "argv", ["cli_startup.py", *bad])
        monkeypatch.syspath_prepend(str(BENCH))
        with pytest.raises(SystemExit) as exit_:
            runpy.run_path(str(BENCH / "cli_startup.py"), run_name="__main__")
        assert exit_.value.code == 2
        assert "Traceback" not in capsys.readouterr().err


DOCS = [BENCH.parent / "docs" / "results.md", BENCH.parent / "docs" / "performance.md"]


def _doc_calls() -> list[tuple[str, str, list[str]]]:
    """(doc, benchmark script, arguments) of every benchmark command the results pages quote."""
    calls = []
    pattern = re.compile(
        r"(?:^|`|\$ )(?:OMP_NUM_THREADS=\d+ )?python3? (benchmarks/\w+\.py)([^`\n]*)", re.M
    )
    inline = re.compile(r"(?<!`)`(?!`)[^`]+?(?<!`)`(?!`)")  # an inline span may wrap a line
    for doc in DOCS:
        text = inline.sub(lambda m: " ".join(m[0].split()), doc.read_text())
        for m in pattern.finditer(text):
            args = _until_stop(_split(m[2].split("#")[0]))
            calls.append((doc.name, Path(m[1]).name, args))
    return calls


@pytest.mark.parametrize(("doc", "bench", "args"), _doc_calls(), ids=lambda v: str(v)[:50])
def test_every_benchmark_command_in_the_results_docs_parses(
    doc: str, bench: str, args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A number's command must still run as quoted: its options exist, its keys resolve."""
    test_every_benchmark_call_in_the_gpu_scripts_parses(doc, bench, args, monkeypatch)
    keys = [a for a in args if re.match(r"\w[\w.]*=", a)]
    if bench == "gpu_profile.py":
        from ganhub.config.resolve import resolve

        resolve(keys)


def _run(bench: str, args: list[str], monkeypatch: pytest.MonkeyPatch) -> int | str | None:
    """`python benchmarks/<bench> <args>` in this process; its exit code."""
    monkeypatch.setattr(sys, "argv", [bench, *args])
    monkeypatch.syspath_prepend(str(BENCH))
    with pytest.raises(SystemExit) as exit_:
        runpy.run_path(str(BENCH / bench), run_name="__main__")
    return exit_.value.code


BAD_KEY = [
    ("overhead.py", ["--rounds", "1", "--steps", "1", "trainer.nope=1"]),
    ("cyclegan.py", ["quality", "--minutes", "0.01", "trainer.nope=1"]),
    ("medgan.py", ["--part", "quality", "--steps", "1", "--gan", "trainer.nope=1"]),
    ("arch_retrain.py", ["--arch", "a=trainer.nope=1", "--seeds", "0"]),
]


@pytest.mark.parametrize(("bench", "args"), BAD_KEY, ids=[b for b, _ in BAD_KEY])
def test_a_bad_config_key_is_one_line_not_a_traceback(
    bench: str, args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A key ganhub does not know is named in one line, exit 2, as `ganhub run` says it."""
    assert _run(bench, args, monkeypatch) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"{bench}: error: unknown key 'trainer.nope'"), err


NEEDS_CUDA = [
    ("gpu_speed.py", ["--device", "cuda"]),
    ("gpu_profile.py", ["plugin=dcgan"]),
    ("stylegan.py", ["speed", "--only", "cuda", "--steps", "1"]),
    ("overhead.py", ["--device", "cuda", "--rounds", "1", "--steps", "1"]),
]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a CPU-only machine")
@pytest.mark.parametrize(("bench", "args"), NEEDS_CUDA, ids=[b for b, _ in NEEDS_CUDA])
def test_a_gpu_benchmark_on_a_cpu_machine_refuses_in_one_line(
    bench: str, args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No usage block, no traceback, no empty table with exit 0: one line saying CUDA is not here."""
    assert _run(bench, args, monkeypatch) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"{bench}: error: "), err
    assert "cuda" in err[0].lower(), err


def test_the_textgan_plot_and_its_json_are_written_atomically(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rendered, then renamed into place: a link planted at either name is replaced, never
    written through (savefig and write_text followed it), and no temporary file is left."""
    monkeypatch.syspath_prepend(str(BENCH))
    plot = runpy.run_path(str(BENCH / "textgan.py"), run_name="textgan")["plot"]
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    path = tmp_path / "sweep.png"
    for name in (path, path.with_suffix(".json")):
        name.symlink_to(victim)
    point = {"nll_gen": 2.0, "nll_oracle": 3.0}
    plot(path, [1.0], {"mle": [[point]]}, {"mle": [(3.0, 2.0)]}, 1.0, title="t")
    assert victim.read_text() == "keep"
    assert not path.is_symlink() and path.read_bytes().startswith(b"\x89PNG")
    assert '"temperatures": [' in path.with_suffix(".json").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep.json", "sweep.png", "victim.txt"]


BAD_OPTION = [
    ("overhead.py", ["--rounds", "0"], "--rounds"),
    ("cyclegan.py", ["speed", "--iters", "x"], "--iters"),
    ("gpu_speed.py", ["--device", "cpu", "--peak-tflops", "1", "2", "3"], "--peak-tflops"),
    ("stylegan.py", ["speed", "--steps", "0", "--only", "cpu"], "--steps"),
    ("data_loading.py", ["--nope"], "--nope"),
]


@pytest.mark.parametrize(("bench", "args", "named"), BAD_OPTION, ids=[b for b, *_ in BAD_OPTION])
def test_a_bad_option_is_one_line_before_any_work(
    bench: str,
    args: list[str],
    named: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """As ganhub's CLI says it: one line naming the option, no usage block; a count of 0 is
    refused up front (it ended in a traceback from an empty median after the warm-up)."""
    assert _run(bench, args, monkeypatch) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and named in err[0] and f"'{bench}" in err[0], err


SOURCING = [p.name for p in GPU_SCRIPTS if "source benchmarks/gpu_env.sh" in p.read_text()]


@pytest.mark.skipif(
    shutil.which("nvidia-smi") is not None or Path("/dev/nvidiactl").exists(),
    reason="checks a machine without a GPU",
)
@pytest.mark.parametrize("script", [*SOURCING, "gpu_env.sh"])
def test_a_gpu_check_script_without_a_gpu_stops_in_one_line(script: str, tmp_path: Path) -> None:
    """Before installing anything or writing logs: one line, exit 2 (it pip-installed into
    /tmp, then ran every step to its own CUDA error)."""
    env = {**os.environ, "ROOT": str(tmp_path), "OUT": str(tmp_path / "out")}
    done = subprocess.run(["bash", f"benchmarks/{script}"], cwd=BENCH.parent, env=env,
                          capture_output=True, text=True, timeout=30)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stdout == "" and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "no NVIDIA GPU here" in done.stderr and not any(tmp_path.iterdir())
