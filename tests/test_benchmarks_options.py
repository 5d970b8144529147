"""Benchmark scripts' options and refusals, as users run them (nothing is trained or timed).

gpu_speed.py --quick replaced a --batch/--rounds/--steps/--warmup given with it; stylegan.py fd
--device cuda on a machine without CUDA trained its feature network before refusing; the tune
scripts printed a bad key as two lines (the ganhub command, then ganhub's error)."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

import pytest
import torch

from .test_benchmarks_audit import BENCH, _run  # `python benchmarks/<bench> <args>` in-process


class _Parsed(Exception):
    """Raised with the options main() settled on, before any work."""


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ([], ([128, 1024], 7, 50, 20)),
        (["--quick"], ([8], 2, 2, 1)),
        (["--quick", "--batch", "64", "--rounds", "3"], ([64], 3, 2, 1)),
        (["--quick", "--steps", "5", "--warmup", "0"], ([8], 2, 5, 0)),
    ],
)
def test_gpu_speed_options_given_with_quick_win_over_its_values(
    given: list[str], expected: tuple[list[int], int, int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(BENCH))  # as `python benchmarks/gpu_speed.py` does
    gpu_speed = importlib.import_module("gpu_speed")

    def stop(args: argparse.Namespace) -> None:  # the table's header: the first output
        raise _Parsed(args)

    monkeypatch.setattr(gpu_speed, "header", stop)
    monkeypatch.setattr(sys, "argv", ["gpu_speed.py", "--device", "cpu", *given])
    with pytest.raises(_Parsed) as parsed:
        gpu_speed.main()
    args = parsed.value.args[0]
    assert (args.batch, args.rounds, args.steps, args.warmup) == expected


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a CPU-only machine")
def test_stylegan_fd_on_cuda_without_cuda_refuses_before_any_work(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """One line, exit 2, and not a line of output before it (the feature net trained first)."""
    assert (
        _run("stylegan.py", ["fd", "--device", "cuda", "--feature-epochs", "1"], monkeypatch) == 2
    )
    captured = capsys.readouterr()
    assert captured.out == "", captured.out
    err = captured.err.strip().splitlines()
    assert err == [
        "stylegan.py: error: --device cuda: CUDA is not available here; use --device cpu or auto"
    ], err


TUNE = [
    ("tune_strategies.py", ["--trials", "2", "--seeds", "0", "--samplers", "random"]),
    ("tune_repeats.py", ["--trials", "2", "--repeats", "2", "--seeds", "0"]),
]


@pytest.mark.parametrize(("bench", "args"), TUNE, ids=[b for b, _ in TUNE])
def test_a_tune_benchmark_says_a_bad_key_in_one_line(
    bench: str,
    args: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """ganhub's own line as the script's, exit 2 as ganhub's (a `ganhub tune` subprocess)."""
    argv = [*args, "--keep", str(tmp_path), "--", "trainer.nope=1"]
    assert _run(bench, argv, monkeypatch) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"{bench}: error: unknown key 'trainer.nope'"), err


@pytest.mark.parametrize(
    ("bench", "args"),
    [("tune_repeats.py", ["--repeats", "0"]), ("tune_strategies.py", ["--trials", "0"])],
)
def test_a_tune_benchmark_count_of_0_is_one_line(
    bench: str, args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--repeats 0 ended in a ZeroDivisionError traceback; a count is a whole number >= 1."""
    assert _run(bench, args, monkeypatch) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and args[0] in err[0] and "at least 1" in err[0], err


def test_tune_strategies_refuses_an_unknown_sampler_before_any_study(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--samplers random trainer.nope=1` ran a whole random study before refusing the key
    swallowed as a sampler; a sampler is one of ganhub tune's, checked before any study."""
    assert _run("tune_strategies.py", ["--samplers", "random", "trainer.nope=1"], monkeypatch) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert captured.out == "" and len(err) == 1, captured
    assert "invalid choice: 'trainer.nope=1'" in err[0] and "'reinforce'" in err[0], err
