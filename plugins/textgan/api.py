"""The Python API behind `ganhub textgan generate` and `ganhub textgan transfer`.

from ganhub_textgan import generate, transfer
generate("runs/textgan-...", n=20, temperature=0.8)               # -> list of sentences
score_temperatures("runs/textgan-...", [0.8, 1.0])   # -> text_nll and text_bleu at each T
transfer("runs/textgan-...", ["the food was awful"], to="positive")  # -> rewritten sentences

Both open the run with `ganhub.load(run_dir, plugin="textgan")` and refuse a run of the other
task (read from its config) with one line.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ganhub.closed_output import say
from ganhub.errors import UsageError

if TYPE_CHECKING:
    from ganhub.api import TrainedGAN


def open_run(
    run_dir: str | Path, task: str, device: str = "cpu", verb: str | None = None
) -> TrainedGAN:
    """A textgan run of `task` with its latest weights and its tokenizer; a run of the other
    task is refused naming `ganhub textgan VERB` (default: the task's own verb)."""
    from ganhub_textgan.config import TextGANConfig

    import ganhub

    trained = ganhub.load(run_dir, device=device, plugin="textgan")
    config = trained.config
    assert isinstance(config, TextGANConfig)  # plugin="textgan" validated it with this class
    if config.task != task:
        raise UsageError(
            f"'{run_dir}' is a textgan task={config.task} run; "
            f"`ganhub textgan {verb or task}` needs a task={task} run"
        )
    return trained


def generate(
    run_dir: str | Path,
    n: int = 20,
    seed: int = 0,
    device: str = "cpu",
    temperature: float | None = None,
) -> list[str]:
    """`n` sentences sampled from a trained task=generate run at `temperature` (None: the
    run's sample.temperature, 1 unless set)."""
    from ganhub_textgan.temperature import check_temperature

    from ganhub.api import check_count, check_seed

    n, seed = check_count("n", n), check_seed(seed)
    if temperature is not None:  # before the run is opened, as sample.temperature=T is
        temperature = check_temperature(temperature, "temperature")
    system = open_run(run_dir, "generate", device).system
    return list(system.decode(system.sample(n, seed=seed, temperature=temperature)))


def score_temperatures(
    run_dir: str | Path,
    temperatures: Sequence[float],
    n: int | None = None,
    seed: int = 0,
    device: str = "cpu",
    *,
    option: str = "temperature",
) -> dict[str, Any]:
    """Score a task=generate run at each sampling temperature with its domain's metrics
    (text_nll, text_bleu): the points of its quality-diversity curve (Caccia et al. 2018).
    `n` samples per temperature (None: the run's eval.n_samples); the result as
    `ganhub textgan curve` writes it. Errors about a temperature name it as `option`."""
    from ganhub_textgan.temperature import check_temperature

    import ganhub
    from ganhub.api import check_count, check_seed
    from ganhub.metrics import evaluate
    from ganhub.plugins import get_hub

    temps = [check_temperature(t, option) for t in temperatures]  # all before any scoring
    if not temps:
        raise UsageError(f"give at least one {option}")
    seed = check_seed(seed)
    trained = open_run(run_dir, "generate", device, verb="curve")
    n = check_count("n", n) if n is not None else trained.config.eval.n_samples
    hub = get_hub()
    names = trained.system.default_metrics()
    metrics = [hub.metrics.get(name) for name in names]
    points = []
    for t in temps:  # opened as `sample.temperature=T` would: samples and NLLs are tempered
        model = ganhub.load(
            run_dir, device=device, plugin="textgan", overrides=[f"sample.temperature={t!r}"]
        )
        values = evaluate(model.system, metrics, n_samples=n, seed=seed).values
        points.append({"temperature": t, **values})
    return {
        "run_dir": str(run_dir),
        "checkpoint": str(trained.checkpoint),
        "step": trained.step,
        "metrics": names,
        "seed": seed,
        "n_samples": n,
        "points": points,
    }


def transfer(
    run_dir: str | Path, texts: Sequence[str], to: str | int, device: str = "cpu"
) -> list[str]:
    """Rewrite `texts` (sentences, or one sentence as a str) into style `to` (a style name of
    the run, or 0/1) with a task=transfer run."""
    return transfer_texts(run_dir, texts, to, device=device, option="to=")


def transfer_texts(
    run_dir: str | Path, texts: Sequence[str], to: str | int, *, device: str, option: str
) -> list[str]:
    """`transfer`, whose errors about `to` name it as `option` (`ganhub textgan transfer`'s
    `--to`, Python's `to=`)."""
    import torch
    from ganhub_textgan.corpus import clean_sentence

    texts = [texts] if isinstance(texts, str) else list(texts)
    wrong = next((t for t in texts if not isinstance(t, str)), None)
    if wrong is not None:
        raise UsageError(f"transfer: texts must be sentences (str), got {type(wrong).__name__}")
    blank = next((i for i, t in enumerate(texts) if not clean_sentence(t)), None)
    if blank is not None:  # as the loader skips blank lines: nothing to rewrite
        raise UsageError(f"transfer: text {blank + 1} is empty; give sentences with words")
    system = open_run(run_dir, "transfer", device).system
    style = system.style_index(to, option)
    if not texts:
        return []
    # as the loader reads a line: invisible characters are no part of a word
    cleaned = [clean_sentence(t) for t in texts]
    x = system.encode(cleaned).to(system.device)
    _note_cut(cleaned, system.tokenizer, system.length)
    target = torch.full((len(x),), style, dtype=torch.long, device=system.device)
    return list(system.decode(system.rewrite(x, target)))


def _note_cut(texts: list[str], tokenizer: Any, length: int) -> None:
    """One stderr line when a text holds more tokens than the run rewrites (data.length - 1,
    then <eos>): the rewrite of its first tokens alone would read as the whole sentence's."""
    sizes = [len(enc.ids) for enc in tokenizer.encode_batch(texts)]
    over = [i for i, size in enumerate(sizes) if size > length - 1]
    if over:
        first = over[0]
        others = f" and {len(over) - 1} more" if len(over) > 1 else ""
        say(
            f"ganhub: note: text {first + 1}{others} holds more than the {length - 1} tokens "
            f"this run rewrites (text {first + 1}: {sizes[first]}; data.length={length}): "
            f"each rewrite covers its text's first {length - 1} tokens",
        )
