"""The user's text data: sentence files, token shards, and what `ganhub data check` finds.

* **Text files** (`data.path`, `data.style_paths`): UTF-8, one sentence per line. Lines are
  split on "\\n" only, so line N is the line an editor shows as N; a trailing "\\r", the
  surrounding whitespace and invisible characters are stripped, a leading byte-order mark is
  dropped; inside a line U+200B and U+FEFF separate words and the other invisible format
  characters are removed (`ganhub_textgan.textfile.clean_sentence`, which this module's
  readers and checks share). The loader keeps the non-empty lines in file order, holds out
  the first 10% (at least 1, at most `data.n_test`) and refuses a line that is not valid
  UTF-8 with its number.
* **Token shards** (`ganhub data convert FILE plugin=textgan --to tokens --out c.safetensors`):
  those lines tokenised once with the run's tokenizer (trained on the training lines, as a run
  trains it), int32 ids (N, `data.length`) in a `ganhub.data.shards` shard whose manifest holds
  the tokenizer and the held-out sentences as written (BLEU's references). `data.path=
  c.safetensors` trains on them without reading or tokenising text: the same ids, tokenizer
  and references as training on FILE, on every machine.
* **Checks** (`TextGANDomain.inspect_data`): empty lines (error), lines that are not UTF-8
  (error), lines longer than `data.length` tokens (note: truncated), words the tokenizer maps
  to `<unk>` (note), invisible characters inside a line (note), control characters (warning:
  `controls`), U+FFFD (warning), duplicates of normalised text (warning), and for
  task=transfer the balance of the two styles (warning when one has less than half of an even
  share). Items are `FILE:LINE`: data.path's file by its name (`ganhub data clean` copies its
  lines by that name), each of data.style_paths by the path as given; the embedded corpora are
  named `oracle:N` and `negative:N` / `positive:N`. `ganhub data clean --out` writes the kept
  lines as the loader reads them (`cleaned_copy`).
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from ganhub_textgan.config import TOKEN_SHARD, TextGANConfig, token_shard_facts
from ganhub_textgan.controls import controls_in, describe_lines, named, strip_controls
from ganhub_textgan.textfile import (
    EXPORT_MARKER,
    Line,
    clean_sentence,
    describe_invisible,
    invisible_inside,
    read_numbered,
    sentence_text,
)
from ganhub_textgan.vocab import EOS, PAD, UNK, encode, train_tokenizer
from torch import Tensor

from ganhub.data.inspect import (
    CONVERT,
    DROP,
    KEEP,
    DataReport,
    class_balance,
    inspect_texts,
    normalise_text,
)
from ganhub.errors import UsageError, one_line
from ganhub.plural import counted

if TYPE_CHECKING:
    from ganhub_textgan.style_transfer import TransferSystem
    from ganhub_textgan.system import TextGenSystem
    from tokenizers import Tokenizer

# -- text files -------------------------------------------------------------------------------


def read_lines(path: Path, key: str) -> list[str]:
    """The loader: the non-empty lines of a text file, cleaned (`clean_sentence`), in file
    order."""
    lines = []
    for line in read_numbered(path, key):
        if line.text is None:
            raise UsageError(
                f"{key}={path}: line {line.number} is {line.problem}; {_not_utf8_fix(path)}; "
                "ganhub data check lists every unusable line"
            )
        if text := clean_sentence(line.text):
            lines.append(text)
    if len(lines) < 2:
        raise UsageError(f"{key}={path}: needs at least 2 non-empty lines, found {len(lines)}")
    return lines


def _not_utf8_fix(path: Path) -> str:
    """What to do with a file whose line is not UTF-8: a file holding NUL bytes is no text
    (an archive, a document, a model file); another is text in a legacy encoding, most often
    Windows-1252 or Latin-1 (`café` as the byte 0xe9), which iconv converts."""
    try:
        binary = b"\0" in path.read_bytes()
    except OSError:
        binary = False
    if binary:
        return "it holds NUL bytes, so it is no text file: give one sentence per line, as UTF-8"
    name = shlex.quote(str(path))
    return (
        "if it is text in another encoding, save it as UTF-8 (from Windows-1252 or Latin-1: "
        f"iconv -f cp1252 -t utf-8 {name} > {shlex.quote(path.stem + '.utf8.txt')})"
    )


def cleaned_copy(path: Path, kept: Sequence[str]) -> bytes:
    """`ganhub data clean --out`'s copy of a text file: its `kept` lines (items `NAME:LINE`)
    as the loader reads them (`clean_sentence`: invisible characters read, NFC, ends
    stripped) without their control characters (`controls.strip_controls`), UTF-8 without a
    byte-order mark, one a line, each ended by "\\n". A copy of the raw lines kept what the
    loader cleans (U+200B, soft hyphens, direction marks) and a UTF-16 or UTF-32 file's
    encoding; the loader reads this copy as the same sentences, less control characters."""
    wanted = {int(item.rpartition(":")[2]) for item in kept}
    out = []
    for line in read_numbered(path, "data.path"):
        if line.number not in wanted or line.text is None:
            continue
        if text := strip_controls(clean_sentence(line.text)):
            out.append(f"{text}\n")
    return "".join(out).encode("utf-8")


def held_out(n: int, n_test: int) -> int:
    """How many sentences of a file corpus of `n` are held out (the first ones): 10%, at
    least 1, at most `data.n_test`."""
    return min(n_test, max(n // 10, 1))


# -- token shards -----------------------------------------------------------------------------


@dataclass
class TokenShard:
    """A tokenised corpus: ids (N, length) in file order, and the tokenizer that made them."""

    ids: Tensor
    tokenizer: Tokenizer
    facts: dict[str, Any]


def write_token_shard(
    out: Path, source: Path, lines: list[str], tokenizer: Tokenizer, config: TextGANConfig
) -> list[Path]:
    """Tokenise `lines` (the loader's lines of `source`) into the shard `out` + its manifest."""
    from ganhub.data.shards import write_shard

    d = config.data
    ids = encode(tokenizer, lines, d.length)
    counts = [len(e.ids) for e in tokenizer.encode_batch(lines)]
    facts = {
        "plugin": "textgan",
        "kind": TOKEN_SHARD,
        "file": source.name,
        "sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
        "sentences": len(lines),
        "length": d.length,
        "truncated": sum(n > d.length - 1 for n in counts),
        "tokenizer": d.tokenizer,
        "tokenizer_vocab": d.tokenizer_vocab,
        "tokenizer_json": tokenizer.to_str(),
        # the held-out sentences as written: BLEU's references, as on the text file
        "held_out_texts": lines[: held_out(len(lines), d.n_test)],
    }
    return write_shard(out, ids.to(torch.int32), facts)


def load_token_shard(path: Path) -> TokenShard:
    """A shard written by `write_token_shard` (one-line errors for anything else)."""
    from tokenizers import Tokenizer

    from ganhub.data.shards import load_shard

    facts = token_shard_facts(path)
    ids = load_shard(path)
    if ids.dtype.is_floating_point or ids.ndim != 2 or ids.shape[1] != facts["length"]:
        raise UsageError(f"data.path={path}: the shard does not hold token ids of its length")
    try:
        tokenizer = Tokenizer.from_str(facts["tokenizer_json"])
    except Exception as exc:  # tokenizers raises a bare Exception for JSON it cannot read
        raise UsageError(
            f"data.path={path}: the tokenizer in its manifest {path.with_suffix('.json').name} "
            f"is damaged ({one_line(str(exc), 80)}); write the shard again with ganhub data "
            "convert FILE plugin=textgan --to tokens"
        ) from None
    if len(ids) and int(ids.max()) >= tokenizer.get_vocab_size():
        raise UsageError(f"data.path={path}: token ids outside its tokenizer (a damaged shard)")
    return TokenShard(ids.long(), tokenizer, facts)


# -- checks -----------------------------------------------------------------------------------

# why the embedded corpora repeat sentences (a note, not a warning: see inspect_sentences)
ORACLE_REPEATS = "expected: independent samples of the oracle LSTM, whose likeliest sentences recur"
TEMPLATE_REPEATS = (
    "expected: 8 templates drawn with replacement, most with at most 720 fillings per style "
    "(a sentence's true transfer stays known)"
)


def inspect_sentences(
    report: DataReport,
    sentences: Sequence[tuple[str, str]],
    tokenizer: Tokenizer,
    *,
    length: int,
    eos: bool = True,
    repeats_expected: str | None = None,
) -> None:
    """(name, text) sentences as the loader reads them: empty (error), over `length` tokens
    (note: truncated), words mapped to <unk> (note), control characters (warning, with a
    summary of their lines), U+FFFD (warning), duplicates
    of normalised text (warning; with `repeats_expected`, one note that says why)."""
    keep = length - 1 if eos else length  # tokens left before the <eos>
    texts = [(name, clean_sentence(text)) for name, text in sentences]
    filled = [(name, text) for name, text in texts if text]
    encodings = tokenizer.encode_batch([text for _, text in filled]) if filled else []
    truncated = unknown = tokens = 0
    controlled: list[str] = []
    found: list[str] = []
    invisible = [(name, chars) for name, text in sentences if (chars := invisible_inside(text))]
    for name, chars in invisible:
        report.add(
            name, f"invisible characters inside: {describe_invisible(chars)}", CONVERT, "note"
        )
    for (name, text), enc in zip(filled, encodings, strict=True):
        n = len(enc.ids)
        tokens += n
        if n > keep:
            truncated += 1
            tail = f"keeps {keep} and <eos>" if eos else f"keeps {keep}"
            report.add(name, f"{n} tokens, data.length={length} {tail}: truncated", CONVERT, "note")
        unk = [text[a:b] for i, (a, b) in zip(enc.ids, enc.offsets, strict=True) if i == UNK]
        if unk:
            unknown += len(unk)
            shown = ", ".join(repr(one_line(w, 24)) for w in unk[:3])
            report.add(
                name,
                f"{counted(len(unk), 'words')} not in the tokenizer's vocabulary, read as <unk>: "
                f"{shown}{', ...' if len(unk) > 3 else ''}",
                CONVERT,
                "note",
            )
        if chars := controls_in(text):  # trained as parts of words: clean removes them
            controlled.append(name)
            found += chars
            report.add(name, f"control characters: {named(chars)}", CONVERT, "warning")
        if "\ufffd" in text:  # a decoder's mark for bytes it could not read: text is lost
            report.add(name, "replacement character U+FFFD", KEEP, "warning")
    if repeats_expected is None:
        inspect_texts(report, texts)
    else:  # the first of each sentence goes through the engine's checks; repeats are counted
        seen: set[str] = set()
        firsts: list[tuple[str, str]] = []
        repeats: list[tuple[str, str]] = []
        for name, text in texts:
            norm = normalise_text(text)
            (repeats if norm and norm in seen else firsts).append((name, text))
            seen.add(norm)
        inspect_texts(report, firsts)
        report.items.extend(name for name, _ in repeats)
        if repeats:
            report.add(
                "(corpus)",
                f"{counted(len(repeats), 'sentences')} "
                f"{'repeats' if len(repeats) == 1 else 'repeat'} an earlier one: "
                f"{repeats_expected}",
                KEEP,
                "note",
            )
        report.summary["distinct sentences"] = len(firsts)
    order = {name: i for i, (name, _) in enumerate(sentences)}
    report.items.sort(key=lambda name: order.get(name, -1))
    if filled:
        report.summary["tokens per sentence"] = (
            f"mean {tokens / len(filled):.1f}, max {max(len(e.ids) for e in encodings)}"
        )
    report.summary["truncated"] = f"{truncated} over data.length={length}"
    report.summary["tokenizer"] = f"{tokenizer.get_vocab_size()} ids in use"
    report.summary["<unk> tokens"] = f"{unknown} of {tokens}"
    if invisible:
        report.summary["invisible characters inside"] = counted(len(invisible), "lines")
    if controlled:
        controlled.sort(key=lambda name: order.get(name, -1))
        report.summary["control characters"] = describe_lines(controlled, found)


def _file_sentences(
    report: DataReport, path: Path, key: str, name: str, order: list[str]
) -> list[tuple[str, str]]:
    """The lines of one file as (FILE:LINE, text), every name appended to `order`; lines that
    are not UTF-8 are errors."""
    out = []
    for line in read_numbered(path, key):
        item = f"{name}:{line.number}"
        order.append(item)
        if line.text is None:
            report.items.append(item)
            report.add(item, line.problem, DROP, "error")
            continue
        out.append((item, line.text))
    return out


def _split(report: DataReport, name: str, sentences: list[tuple[str, str]], n_test: int) -> int:
    """How many of a file's sentences the loader holds out; 0 (and an error naming the file)
    when it would refuse the file."""
    n = sum(1 for _, text in sentences if clean_sentence(text))
    if n < 2:
        report.add(name, f"needs at least 2 non-empty lines, found {n}", DROP, "error")
        return 0
    return held_out(n, n_test)


def _in_file_order(report: DataReport, order: list[str]) -> DataReport:
    index = {name: i for i, name in enumerate(order)}
    report.items.sort(key=lambda name: index.get(name, -1))
    return report


def inspect_text_file(config: TextGANConfig) -> DataReport:
    """task=generate, data.path=FILE: every line with the rules above."""
    d = config.data
    assert d.path is not None and d.tokenizer_vocab is not None
    report = DataReport(str(d.path), "lines")
    order: list[str] = []
    sentences = _file_sentences(report, d.path, "data.path", d.path.name, order)
    k = _split(report, d.path.name, sentences, d.n_test)
    if not k:
        inspect_texts(report, sentences)
        return _in_file_order(report, order)
    texts = [t for _, text in sentences if (t := clean_sentence(text))]
    tokenizer = train_tokenizer(texts[k:], d.tokenizer, d.tokenizer_vocab)
    inspect_sentences(report, sentences, tokenizer, length=d.length)
    report.summary["tokenizer"] = f"{d.tokenizer}, {report.summary['tokenizer']}"
    report.summary["training / held out"] = (
        f"{len(texts) - k} / {k} (the first {k} non-empty lines)"
    )
    return _in_file_order(report, order)


def inspect_style_files(config: TextGANConfig) -> DataReport:
    """task=transfer, data.style_paths=[FILE0, FILE1]: both files, their balance, sentences
    that appear in both styles (duplicates across the files)."""
    d = config.data
    assert d.style_paths is not None and d.tokenizer_vocab is not None
    paths = d.style_paths
    names = [str(p) for p in paths]  # as given, as the title and the key's errors name them
    report = DataReport(f"{paths[0]} + {paths[1]}", "lines")
    order: list[str] = []
    per_style = [
        _file_sentences(report, p, f"data.style_paths[{i}]", names[i], order)
        for i, p in enumerate(paths)
    ]
    splits = [_split(report, names[i], s, d.n_test) for i, s in enumerate(per_style)]
    sentences = per_style[0] + per_style[1]
    labels = [d.style_names[i] for i, s in enumerate(per_style) for _, t in s if clean_sentence(t)]
    if not all(splits):
        inspect_texts(report, sentences)
        class_balance(report, labels)
        return _in_file_order(report, order)
    kept = [[c for _, t in s if (c := clean_sentence(t))] for s in per_style]
    train = kept[0][splits[0] :] + kept[1][splits[1] :]  # as TransferSystem.tokenizer_texts
    tokenizer = train_tokenizer(train, d.tokenizer, d.tokenizer_vocab)
    inspect_sentences(report, sentences, tokenizer, length=d.length)
    report.summary["tokenizer"] = f"{d.tokenizer}, {report.summary['tokenizer']}"
    class_balance(report, labels)
    return _in_file_order(report, order)


def inspect_token_shard(config: TextGANConfig) -> DataReport:
    """task=generate, data.path=SHARD: rows that are empty (error), hold <unk> (note) or
    repeat an earlier row (warning); what was truncated when it was converted."""
    d = config.data
    assert d.path is not None
    shard = load_token_shard(d.path)
    report = DataReport(str(d.path), "token rows")
    seen: dict[bytes, str] = {}
    unknown = 0
    for i, row in enumerate(shard.ids):
        name = f"{d.path.name}:{i + 1}"
        report.items.append(name)
        if bool((row == PAD).all()) or int(row[0]) == EOS:
            report.add(name, "empty", DROP, "error")
            continue
        n_unk = int((row == UNK).sum())
        if n_unk:
            unknown += n_unk
            report.add(name, counted(n_unk, "<unk> tokens"), CONVERT, "note")
        key = row.numpy().tobytes()
        if key in seen:
            report.add(name, f"duplicate of {seen[key]}", DROP, "warning")
        else:
            seen[key] = name
    facts = shard.facts
    report.summary["source"] = f"{facts.get('file')} (sha256 {str(facts.get('sha256'))[:12]})"
    report.summary["rows"] = f"{len(shard.ids)} of {facts.get('length')} tokens"
    report.summary["truncated when converted"] = facts.get("truncated")
    report.summary["tokenizer"] = (
        f"{facts.get('tokenizer')}, {shard.tokenizer.get_vocab_size()} ids"
    )
    report.summary["<unk> tokens"] = unknown
    return report


def inspect_oracle(system: TextGenSystem) -> DataReport:
    """task=generate, embedded: the oracle's training and held-out sentences."""
    cfg = system.cfg
    train, test = system.texts
    report = DataReport("textgan oracle corpus", "sentences")
    sentences = [(f"oracle:{i + 1}", text) for i, text in enumerate(train + test)]
    inspect_sentences(
        report,
        sentences,
        system.tokenizer,
        length=cfg.data.length,
        eos=False,  # oracle sentences are exactly data.length tokens, no <eos>
        repeats_expected=ORACLE_REPEATS,
    )
    report.summary["tokenizer"] = f"word, {report.summary['tokenizer']}"
    report.summary["training / held out"] = f"{len(train)} / {len(test)}"
    return report


def inspect_templates(system: TransferSystem) -> DataReport:
    """task=transfer, embedded: both styles' template sentences and their balance."""
    d = system.cfg.data
    corpus = system.corpus
    report = DataReport("textgan template corpus", "sentences")
    sentences, labels = [], []
    for style in (0, 1):
        texts = corpus["train"][style] + corpus["test"][style]
        sentences += [(f"{d.style_names[style]}:{i + 1}", t) for i, t in enumerate(texts)]
        labels += [d.style_names[style]] * len(texts)
    inspect_sentences(
        report, sentences, system.tokenizer, length=d.length, repeats_expected=TEMPLATE_REPEATS
    )
    report.summary["tokenizer"] = f"{d.tokenizer}, {report.summary['tokenizer']}"
    class_balance(report, labels)
    train = {normalise_text(t) for style in (0, 1) for t in corpus["train"][style]}
    test = [t for style in (0, 1) for t in corpus["test"][style]]
    report.summary["held out and also in training"] = (
        f"{sum(normalise_text(t) in train for t in test)} of {len(test)}"
    )
    return report


__all__ = [
    "EXPORT_MARKER",
    "Line",
    "TokenShard",
    "clean_sentence",
    "cleaned_copy",
    "held_out",
    "inspect_oracle",
    "inspect_sentences",
    "inspect_style_files",
    "inspect_templates",
    "inspect_text_file",
    "inspect_token_shard",
    "load_token_shard",
    "read_lines",
    "read_numbered",
    "sentence_text",
    "write_token_shard",
]
