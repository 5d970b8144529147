"""textgan after a second user audit: the embedded corpus's keys refused next to files,
`transfer(to=0/1)` in Python, an export's left-out data path, a YAML-glued lm_config, ganhub
meta's first message, adapt's note on a run whose data takes no shots, no special tokens from
G on the oracle corpus, and a refused data.vocab_size reported alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from ganhub_textgan.system import TextGenSystem

import ganhub
from ganhub.config.resolve import resolve
from ganhub.errors import ConfigError, UsageError

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = ["plugin=textgan", "preset=tiny", "trainer.progress=false", "loggers=[jsonl]"]


def _sentences(path: Path, n: int = 300) -> Path:
    path.write_text("".join(f"the cat sees word{i} today .\n" for i in range(n)))
    return path


# -- 2. keys only the embedded corpora read are refused next to files --------------------------


@pytest.mark.parametrize(
    ("key", "what"),
    [
        ("data.n_train=100", "its training sentences"),
        ("data.oracle_seed=3", "the oracle LSTM's weights"),
        ("data.vocab_size=30", "the oracle corpus's vocabulary"),
    ],
)
def test_a_key_of_the_embedded_corpus_is_refused_with_a_text_file(
    workdir: Path, key: str, what: str
) -> None:
    """data.path=FILE data.n_train=100 trained on all of the file's 270 training lines."""
    _sentences(workdir / "s.txt")
    name = key.split("=")[0].replace(".", r"\.")
    message = rf"{name}=\d+ is for the embedded corpus \({what}.*\); data\.path=\S*s\.txt does "
    with pytest.raises(ConfigError, match=message + "not read it: leave it out"):
        resolve([*TINY, "data.path=s.txt", key])


def test_the_defaults_and_the_presets_values_are_no_refusal(workdir: Path) -> None:
    """A saved config.yaml holds every default: an older file run resumes (and a preset's own
    value, preset=tiny's data.n_train=128, is no choice of the user's)."""
    _sentences(workdir / "s.txt")
    resolve(["plugin=textgan", "data.path=s.txt", "data.n_train=5000", "data.vocab_size=500",
             "data.oracle_seed=1234"])  # fmt: skip
    assert resolve([*TINY, "data.path=s.txt"]).data.n_train == 128


def test_the_style_files_refuse_the_template_corpus_keys(workdir: Path) -> None:
    neg, pos = _sentences(workdir / "neg.txt", 40), _sentences(workdir / "pos.txt", 40)
    keys = [*TINY, "task=transfer", f"data.style_paths=[{neg},{pos}]", "data.n_train=100"]
    message = r"data\.n_train=100 is for the embedded corpus .*data\.style_paths=\[\S*neg\.txt,"
    with pytest.raises(ConfigError, match=message + r"\S*pos\.txt\] does not read it"):
        resolve(keys)


# -- 3. transfer(to=0/1) in Python -------------------------------------------------------------


@pytest.fixture(scope="module")
def transfer_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    summary = ganhub.train([*TINY, "task=transfer", "eval.metrics=[]", f"out_dir={out}", "name=t"])
    return Path(summary["run_dir"])


def test_transfer_takes_the_style_numbers_its_docstring_names(transfer_run: Path) -> None:
    from ganhub_textgan import transfer

    for to in (0, 1, "0", "negative"):
        assert len(transfer(transfer_run, "the food was awful", to=to)) == 1


@pytest.mark.parametrize(
    ("to", "shown"), [(2, "to=2"), ("bad", "to='bad'"), (True, "to=True")]
)  # fmt: skip
def test_a_python_call_is_told_about_to_not_a_flag(transfer_run: Path, to: Any, shown: str) -> None:
    from ganhub_textgan import transfer

    with pytest.raises(UsageError, match=rf"^{shown}: choose negative or positive \(or 0 or 1\)"):
        transfer(transfer_run, "the food was awful", to=to)


def test_the_command_line_is_told_about_its_flag(transfer_run: Path, cli: Any) -> None:
    code, _, err = cli("textgan", "transfer", str(transfer_run), "--to", "2", "some words")
    assert code == 2 and "error: --to 2: choose negative or positive (or 0 or 1)" in err


# -- 4. an export holds no data path -----------------------------------------------------------


def test_an_export_of_a_file_run_asks_for_the_file_back(workdir: Path, cli: Any) -> None:
    from ganhub_textgan.corpus import EXPORT_MARKER

    from ganhub.exported import NOT_EXPORTED

    assert EXPORT_MARKER == NOT_EXPORTED  # the value docs/export.md documents
    _sentences(workdir / "s.txt")
    ganhub.train([*TINY, "data.path=s.txt", "name=f"])
    code, _, err = cli("export", "runs/f", "--out", "exp")
    assert code == 0, err
    code, _, err = cli("eval", "exp")
    assert code == 2
    said = "data.path=<not exported>: an export holds no data path (ganhub export leaves the "
    assert said + "run's local paths out); give data.path=FILE, the file it trained on" in err
    code, _, err = cli("eval", "exp", "data.path=s.txt")
    assert code == 0, err


# -- 5. a YAML flow mapping without spaces -----------------------------------------------------


def test_a_glued_lm_config_shows_the_keys_read_and_the_fix() -> None:
    with pytest.raises(ConfigError, match=r"model\.lm_config: it names no model_type \(got keys "
                       r"\['model_type:gpt2'\]\); write \{model_type: gpt2\}"):  # fmt: skip
        resolve([*TINY, "model.lm_config={model_type:gpt2}"])
    with pytest.raises(ConfigError, match=r"names no model_type \(got keys \['n_layer'\]\)$"):
        resolve([*TINY, "model.lm_config={n_layer: 2}"])


# -- 6. ganhub meta names a domain without classes first ---------------------------------------


def test_meta_names_a_domain_without_classes_before_its_options(cli: Any) -> None:
    code, _, err = cli("meta", "plugin=textgan")
    assert code == 2 and "Field required" not in err
    assert "draws tasks from data.classes, which the 'textgan' domain's data does not take" in err


# -- 7. adapt says what a run whose data takes no shots trains on ------------------------------


def test_adapt_says_a_text_run_fine_tunes_on_all_of_its_data(workdir: Path, cli: Any) -> None:
    ganhub.train([*TINY, "eval.metrics=[]", "name=src"])
    code, _, err = cli("adapt", "runs/src", "trainer.steps=2", "eval.n_samples=16",
                       "trainer.progress=false", "eval.metrics=[]")  # fmt: skip
    assert code == 0, err
    said = "ganhub adapt: this textgan run's data takes no data.n_shots, so the adapted run "
    assert said + "fine-tunes on all of the data " in err
    assert "runs/src trained on for 2 steps; give data keys" in err
    _sentences(workdir / "few.txt", 20)
    few = ["data.path=few.txt", "data.tokenizer_vocab=26"]  # the run's tokenizer: its weights
    code, _, err = cli("adapt", "runs/src", "trainer.steps=2", *few, "trainer.progress=false")
    assert code == 0, err
    assert "takes no data.n_shots" not in err  # the user gave the data to adapt to
    code, out, _ = cli("adapt", "--help")
    assert "whose data takes no data.n_shots (a 2D or text run, an image folder)" in out


# -- 8. nll_oracle scores the sequences the oracle can emit -----------------------------------


def test_the_oracle_g_writes_the_oracle_words_only_and_every_sample_is_scored() -> None:
    """preset=tiny's samples held a special token in 0.81 of the rows, each scored as oracle
    token 0 in nll_oracle's mean; SeqGAN's and Texygen's G writes the oracle's tokens only."""
    from ganhub_textgan.metrics import TextNLL

    torch.manual_seed(0)
    system = TextGenSystem(resolve(TINY))  # type: ignore[arg-type]
    scores = TextNLL().compute(system, n_samples=64, seed=0)
    nll, invalid = system.oracle_nll(system.sample(64, seed=0))
    assert not invalid.any() and scores["oracle_invalid_rate"] == 0.0  # an untrained G too
    assert scores["nll_oracle"] == pytest.approx(float(nll.mean()))
    # a row holding a special token (from elsewhere than G) is still left out of the mean
    ids = system.held_out_ids(4)
    ids[0, 0] = int((system.to_oracle < 0).nonzero()[0])
    assert system.oracle_nll(ids)[1].tolist() == [True, False, False, False]


# -- 9. a refused data.vocab_size is the one problem named -------------------------------------


def test_a_refused_vocab_size_is_reported_alone() -> None:
    """data.tokenizer_vocab=7, derived from data.vocab_size=1, was refused too."""
    with pytest.raises(ConfigError) as exc:
        resolve([*TINY, "data.vocab_size=1"])
    assert str(exc.value) == "data.vocab_size=1: must be at least 8 and at most 50000"
