"""What task=generate and task=transfer share: `TextSystemBase` (tokenizer store, text samples,
the files a resumed run reads)."""

from __future__ import annotations

import hashlib
import os
from abc import abstractmethod
from pathlib import Path
from typing import Any, Literal

import torch
from ganhub_textgan.config import TextGANConfig
from ganhub_textgan.networks import Known
from ganhub_textgan.textfile import sample_line
from ganhub_textgan.vocab import (
    PAD,
    UNK,
    TokenizerStore,
    decode,
    encode,
    tokenizer_kind,
    train_tokenizer,
)
from torch import Tensor

from ganhub.engine.system import BuildHints, ExportSpec, GANSystem
from ganhub.errors import ConfigError

# a vocabulary made from other text: past this share of <unk> tokens a run learns mostly <unk>
UNKNOWN_WARNING = 0.05


class TextSystemBase(GANSystem[TextGANConfig]):
    """What both tasks share: the tokenizer store, the corpus split and text samples."""

    modality = "tokens"

    def __init__(self, config: TextGANConfig, hints: BuildHints | None = None) -> None:
        super().__init__(config, hints)
        self.cfg = config
        if config.data.tokenizer_vocab is None:
            raise ConfigError(
                "data.tokenizer_vocab is unset: resolve textgan configs with ganhub "
                "(TextGANDomain.defaults_for derives it) or set it"
            )
        self.vocab = config.data.tokenizer_vocab
        self.store = TokenizerStore()

    @property
    def tokenizer(self) -> Any:
        """The run's tokenizer: loaded from the checkpoint (and then checked against the
        config once), else made for the corpus."""
        if self.store.tokenizer is None:
            self.store.set(self.make_tokenizer())
        elif self.store.unchecked_load:
            self.store.unchecked_load = False
            self.refuse_other_tokenizer(self.store.tokenizer)
        return self.store.tokenizer

    def refuse_other_tokenizer(self, loaded: Any) -> None:
        """A checkpoint's tokenizer of another kind than `data.tokenizer` asks for: a resumed
        run (or init_from) would encode with the old one while its config says the new."""
        kind, have = self.tokenizer_spec()[0], tokenizer_kind(loaded)
        if have != kind:
            raise ConfigError(
                f"data.tokenizer={kind}: this run's weights were trained with a {have} "
                f"tokenizer ({int(loaded.get_vocab_size()):,} ids), which its checkpoint "
                "carries and a resume or init_from keeps; leave data.tokenizer as it was, or "
                "start a fresh run for another tokenizer"
            )

    def make_tokenizer(self) -> Any:
        """A tokenizer trained on the corpus (`tokenizer_texts`, `tokenizer_spec`)."""
        return train_tokenizer(self.tokenizer_texts(), *self.tokenizer_spec())

    @abstractmethod
    def tokenizer_texts(self) -> list[str]:
        """The texts the tokenizer is trained on."""

    def tokenizer_spec(self) -> tuple[Literal["word", "bpe"], int]:
        """(kind, vocabulary size) of the tokenizer."""
        return self.cfg.data.tokenizer, self.vocab

    @property
    def known(self) -> Known:
        """How many ids the tokenizer has when that is fewer than the model's vocabulary (a
        small file), else None; G masks the rest, and <pad> (`unwritable`)."""
        size = int(self.tokenizer.get_vocab_size())
        return size if size < self.vocab else None

    def decode(self, ids: Tensor) -> list[str]:
        """Texts of token id rows."""
        return decode(self.tokenizer, ids.cpu())

    def save_assets(self, run_dir: Path) -> None:
        """Write the run's tokenizer as RUN_DIR/tokenizer.json (atomic; it also travels in
        every checkpoint), for people and other tools."""
        path = run_dir / "tokenizer.json"
        tmp = path.with_suffix(".json.tmp")
        self.tokenizer.save(str(tmp))
        os.replace(tmp, path)

    def export_spec(self) -> ExportSpec:
        """The (EMA) generator's weights and the tokenizer; no traceable function."""
        return ExportSpec(
            state={"G": self.generator(), "tokenizer": self.store},
            refusal="textgan writes text token by token in a sampling loop and decodes it with "
            "its tokenizer, which is not one traceable call",
        )

    def write_samples(
        self, directory: Path, stem: str, *, n: int | None = None, seed: int = 0
    ) -> list[Path]:
        """Write `n` decoded samples (None: the task's usual count) to directory/stem.txt,
        UTF-8, one a line (`sample_file_lines`; earlier releases wrote an empty sample as a
        blank line)."""
        directory.mkdir(parents=True, exist_ok=True)
        with torch.no_grad():
            lines = self.sample_file_lines(n, seed)
        path = directory / f"{stem}.txt"
        tmp = path.with_suffix(".txt.tmp")
        tmp.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
        os.replace(tmp, path)
        return [path]

    @abstractmethod
    def sample_texts(self, n: int | None, seed: int) -> list[str]:
        """`n` sample lines for the artifact (None: the task's usual count)."""

    def sample_file_lines(self, n: int | None, seed: int) -> list[str]:
        """`sample_texts` as the lines of a samples file (`sample_line`: an empty sample as
        `(empty)`, a backslash doubled, a line break inside one escaped: `read_sample_line`
        reads each back)."""
        return [sample_line(text) for text in self.sample_texts(n, seed)]

    # -- the files a resumed run reads -------------------------------------------------

    # the data files the resumed checkpoint was trained on, when they were other files or
    # the same files edited since (`edited`: their sentences' digest differs)
    moved_from: list[str] | None = None
    edited = False
    _digest: str | None = None

    def file_sentences(self) -> list[str]:
        """The sentences the run read from its data files, held-out ones included."""
        return []

    def data_digest(self) -> str | None:
        """SHA-256 of `file_sentences`, which a checkpoint keeps: a resume can tell that a file
        was edited under the same path; None for the embedded corpora."""
        if not self.data_files():
            return None
        if self._digest is None:  # once a run: every checkpoint keeps it, the text is read once
            digest = hashlib.sha256()
            for text in self.file_sentences():
                digest.update(text.encode("utf-8", "surrogatepass") + b"\n")
            self._digest = digest.hexdigest()
        return self._digest

    def data_files(self) -> list[str]:
        """The text files the run trains on (data.path, or data.style_paths), absolute."""
        d = self.cfg.data
        paths = [d.path] if d.path is not None else list(d.style_paths or [])
        return [str(Path(p).expanduser().resolve()) for p in paths]

    def note_data_files(self, state: dict[str, Any]) -> None:
        """Keep the files a checkpoint was trained on when a resume names others (checkpoints
        before ganhub kept them: none, no note)."""
        saved = state.get("data_files")
        if isinstance(saved, list) and saved != self.data_files():
            self.moved_from = [str(p) for p in saved]
        elif isinstance(saved, list) and state.get("data_sha256") is not None:
            # the same paths: their sentences' digest tells that a file was edited since
            self.edited = state["data_sha256"] != self.data_digest()
            self.moved_from = [str(p) for p in saved] if self.edited else None

    @abstractmethod
    def token_rows(self) -> Tensor:
        """The training token ids (N, length) the run reads."""

    def encoded_sets(self) -> list[tuple[Tensor, list[str]]]:
        """(token ids, the sentences they encode) of each text set already encoded for the run
        (its training data, held-out sentences), for `reencode_after_resume`; [] when none."""
        return []

    def reencode_after_resume(self) -> None:
        """Encode the corpus again with the checkpoint's tokenizer, in place, when it was
        encoded before the resume loaded that tokenizer (`data()` runs first): a resume whose
        data.path (or file) had changed trained on ids of a tokenizer made from the new text,
        which the run then decoded, saved and sampled with the checkpoint's, other words."""
        made, loaded = self.store.made, self.tokenizer  # `tokenizer`: checked against config
        if made is None or made is loaded or made.to_str() == loaded.to_str():
            return
        for ids, texts in self.encoded_sets():
            ids.copy_(self.encode_texts(texts, ids.shape[1]))

    def encode_texts(self, texts: list[str], length: int) -> Tensor:
        """Token ids (N, length) of `texts` with the run's tokenizer, <eos> ended."""
        return encode(self.tokenizer, texts, length)

    def unknown_share(self) -> float:
        """The share of the training tokens (padding aside) that are <unk>."""
        train = self.token_rows()
        tokens = train[train != PAD]
        return float((tokens == UNK).float().mean()) if tokens.numel() else 0.0

    def moved_data_note(self) -> list[str]:
        """One line when a resume reads other data files than its checkpoint was trained on:
        the run keeps the checkpoint's tokenizer (its weights are in its ids), so the words of
        the new files that it lacks read as <unk>."""
        if self.moved_from is None:
            return []
        key = "data.path" if self.cfg.data.path is not None else "data.style_paths"
        now = ", ".join(self.data_files()) or "the oracle corpus"
        was = ", ".join(self.moved_from) or "the oracle corpus"
        if self.edited:
            return [
                f"textgan: resumed with {key}={now}, whose sentences changed since this run "
                f"was trained on them: it keeps its tokenizer, made from the earlier text: "
                f"{self.unknown_share():.1%} of the text's tokens read as <unk> (held-out "
                "sentences and metrics come from the edited text too); for a tokenizer of the "
                "edited text start a fresh run (init_from=RUN keeps the weights)"
            ]
        return [
            f"textgan: resumed with {key}={now}, and this run was trained on {was}: it keeps "
            f"its tokenizer, made from that text: {self.unknown_share():.1%} of the new "
            "text's tokens read as <unk> (held-out sentences and metrics come from the new "
            "text too); for a tokenizer of the new text start a fresh run (init_from=RUN keeps "
            "the weights)"
        ]
