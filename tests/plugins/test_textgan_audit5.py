"""textgan audit: invisible-only lines are blank; the system's temperature range is the API's.

A corpus line holding only a zero-width space (U+200B), a byte-order mark (U+FEFF), a joiner
(U+200C/D) or a word joiner (U+2060) looks empty in an editor, but `str.strip()` keeps those
characters: `ganhub data check lines.txt plugin=textgan` reported the file clean and the loader
trained on the invisible "sentence". And `system.sample(n, temperature=1e-45)` /
`system.nll(ids, temperature=1e-45)` ran (greedy samples, an NLL of 3.5e44 nats per token)
where `generate(run, temperature=1e-45)`, `--temperature 1e-45` and `sample.temperature=1e-45`
are refused in one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from ganhub_textgan.corpus import read_lines, sentence_text
from ganhub_textgan.system import TextGenSystem
from ganhub_textgan.temperature import check_temperature

from ganhub.config.resolve import resolve
from ganhub.errors import UsageError
from ganhub.plugins import get_hub

pytestmark = pytest.mark.usefixtures("one_thread")

INVISIBLE = ["\u200b", "\ufeff", "\u200c\u200d", "\u2060", " \u200b\t\u2060 ", "\u3164"]
WORDS = ["the cat sat", "a dog ran far", "the mat is red", "we sat on a mat"]


def _corpus(tmp_path: Path, n: int = 24) -> Path:
    """A file of `n` sentences with an invisible-only line after each of the first few."""
    lines: list[str] = []
    for i in range(n):
        lines.append(f"{WORDS[i % len(WORDS)]} {i}")
        if i < len(INVISIBLE):
            lines.append(INVISIBLE[i])
    path = tmp_path / "zw.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_invisible_only_lines_are_blank_for_the_loader(tmp_path: Path) -> None:
    """The loader keeps the 24 sentences, none of the 6 invisible-only lines."""
    path = _corpus(tmp_path)
    lines = read_lines(path, "data.path")
    assert len(lines) == 24
    assert lines == [f"{WORDS[i % len(WORDS)]} {i}" for i in range(24)]


def test_a_file_of_one_sentence_and_invisible_lines_is_refused(tmp_path: Path) -> None:
    """Two lines are needed: a zero-width space does not make the second."""
    path = tmp_path / "one.txt"
    path.write_text("the cat sat\n\u200b\n\ufeff\n", encoding="utf-8")
    with pytest.raises(UsageError, match="needs at least 2 non-empty lines, found 1"):
        read_lines(path, "data.path")


def test_sentence_text_strips_invisible_ends_and_keeps_the_rest() -> None:
    """Ends lose whitespace and format characters; inner ones and drawn marks stay."""
    assert sentence_text("\u200b\ufeff the cat \u2060\u200d") == "the cat"
    assert sentence_text("the\u200bcat") == "the\u200bcat"
    assert sentence_text("\u0600123") == "\u0600123"  # the Arabic number sign is drawn
    assert sentence_text("\u200e\u200f\u00ad") == ""  # direction marks, soft hyphen
    assert sentence_text("  ") == ""


def test_data_check_reports_invisible_only_lines_as_empty(tmp_path: Path, cli: Any) -> None:
    """`ganhub data check` said `clean`; now each invisible-only line is an `empty` error."""
    path = _corpus(tmp_path)
    code, out, err = cli("data", "check", str(path), "plugin=textgan", "data.length=8")
    assert "NOT clean (6 errors" in out, (code, out, err)
    empty = [line.split()[1] for line in out.splitlines() if "empty -> drop" in line]
    # line numbers of the invisible lines: each follows its sentence
    assert empty == [f"zw.txt:{2 * i + 2}" for i in range(len(INVISIBLE))], out
    assert "training / held out: 22 / 2" in out, out


@pytest.mark.parametrize("blank", ["\u200b", "\ufeff ", "\u2060\u200c"])
def test_transfer_refuses_an_invisible_only_sentence_before_opening_the_run(
    tmp_path: Path, blank: str
) -> None:
    """`transfer(run, ["\u200b"])` went on to rewrite an empty sentence (here: to open a
    folder that holds no run); it is refused as an empty text is."""
    from ganhub_textgan import transfer

    with pytest.raises(UsageError, match="transfer: text 2 is empty; give sentences with words"):
        transfer(tmp_path, ["the food was awful", blank], to=1)


def _system(tmp_path: Path) -> TextGenSystem:
    config = resolve(
        ["plugin=textgan", "preset=tiny", "trainer.progress=false", "loggers=[]",
         "eval.metrics=[]", f"data.path={_corpus(tmp_path)}"],
        hub=get_hub(),
    )  # fmt: skip
    torch.manual_seed(0)
    return TextGenSystem(config)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [1e-45, 1e-40, 0.0, -1.0, 101.0, float("nan")])
def test_the_system_refuses_temperatures_the_api_refuses(tmp_path: Path, bad: float) -> None:
    """`sample` and `nll` refuse, with `generate()`'s one line, what the API refuses."""
    system = _system(tmp_path)
    with pytest.raises(UsageError) as api:
        check_temperature(bad, "temperature")
    with pytest.raises(UsageError) as sampled:
        system.sample(2, seed=0, temperature=bad)
    with pytest.raises(UsageError) as scored:
        system.nll(system.held_out_ids(2), temperature=bad)
    assert str(sampled.value) == str(scored.value) == str(api.value)
    assert "\n" not in str(sampled.value)
    assert str(sampled.value).startswith(f"temperature={bad}: must be above 0 and at most 100")


def test_the_system_takes_the_range_ends(tmp_path: Path) -> None:
    """1.2e-38 (greedy) and 100 sample and score finitely, as `generate()` allows them."""
    system = _system(tmp_path)
    ids = system.held_out_ids(2)
    for t in (1.2e-38, 100.0):
        assert system.sample(2, seed=0, temperature=t).shape == (2, system.length)
        assert bool(system.nll(ids, temperature=t).isfinite().all())
    assert torch.equal(system.sample(3, seed=0, temperature=1.2e-38),
                       system.sample(3, seed=1, temperature=1.2e-38))  # fmt: skip


def test_gumbel_beta_follows_relgans_fixed_horizon_of_5000_steps() -> None:
    """RelGAN's code computes beta = max ** (i / 5000), N fixed at 5000 whatever the run's
    length (its 3000-step oracle run ends at 15.8); the default annealed over 3000 steps,
    reaching 1.26 after 150 steps where RelGAN is at 1.15."""
    config = resolve(
        ["plugin=textgan", "preset=tiny", "trainer.steps=300", "adversarial.pretrain_steps=150",
         "loggers=[]", "eval.metrics=[]"],
        hub=get_hub(),
    )  # fmt: skip
    system = TextGenSystem(config)  # type: ignore[arg-type]
    assert system.beta(150) == 1.0
    assert system.beta(300) == pytest.approx(100 ** (150 / 5000))  # 1.148
    assert system.beta(150 + 3000) == pytest.approx(100**0.6)  # RelGAN's oracle run's end
    assert system.beta(150 + 5000) == pytest.approx(100.0)
