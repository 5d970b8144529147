"""textgan's data: local model directories (`model.path`), text files and style files
(`ganhub data check`), the embedded corpora and token shards (`ganhub data convert --to
tokens`), each with what the loader does with the same files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from ganhub_textgan.style_transfer import TransferSystem
from ganhub_textgan.system import TextGenSystem
from ganhub_textgan.vocab import EOS, PAD

from ganhub.config.resolve import resolve
from ganhub.engine.loop import fit
from ganhub.errors import ConfigError, UsageError
from ganhub.plugins import get_hub
from ganhub.wiring import make_run

from .test_textgan import TINY, _system

pytestmark = pytest.mark.usefixtures("one_thread")


# -- model directories (`model.path`) --------------------------------------------------------------


def test_local_directory_model(tmp_path: Path) -> None:
    from transformers import GPT2Config, GPT2LMHeadModel

    system = _system()
    torch.manual_seed(5)
    lm = GPT2LMHeadModel(GPT2Config(vocab_size=system.vocab, n_positions=16, n_embd=16,
                                    n_layer=1, n_head=2))  # fmt: skip
    lm.save_pretrained(tmp_path / "lm")
    loaded = _system(f"model.path={tmp_path / 'lm'}").G
    for (name, p), q in zip(lm.state_dict().items(), loaded.state_dict().values(), strict=True):
        assert torch.equal(p, q), name
    small = GPT2LMHeadModel(
        GPT2Config(vocab_size=10, n_positions=16, n_embd=16, n_layer=1, n_head=2)
    )
    small.save_pretrained(tmp_path / "small")
    with pytest.raises(UsageError, match="10 token embeddings"):
        _system(f"model.path={tmp_path / 'small'}")


def _save(model: torch.nn.Module, path: Path) -> Path:
    model.save_pretrained(path)
    return path


def _tiny_bert(path: Path, **extra: object) -> Path:
    from transformers import BertConfig, BertForMaskedLM

    cfg = BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=32, **extra)  # fmt: skip
    return _save(BertForMaskedLM(cfg), path)


def test_an_encoder_model_path_is_refused_from_its_config_alone(tmp_path: Path) -> None:
    from transformers import BartConfig, BartForConditionalGeneration, GPT2Config, GPT2LMHeadModel

    bert = _tiny_bert(tmp_path / "bert")
    with pytest.raises(ConfigError) as exc:
        resolve([*TINY, f"model.path={bert}"])
    message = str(exc.value)
    assert "BertForMaskedLM (model_type 'bert') is an encoder-only model" in message
    assert "ForCausalLM or LMHeadModel" in message and "\n" not in message
    # only config.json is read: the same refusal without any weights in the directory
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "config.json").write_text((bert / "config.json").read_text())
    with pytest.raises(ConfigError, match="encoder-only model"):
        resolve([*TINY, f"model.path={bare}"])
    # the loader refuses it too (a system built without resolving the config)
    config = resolve(TINY, hub=get_hub())
    config.model.path = bert  # type: ignore[attr-defined]
    with pytest.raises(UsageError, match="encoder-only model"):
        TextGenSystem(config)  # type: ignore[arg-type]
    bart = BartConfig(vocab_size=64, d_model=16, encoder_layers=1, decoder_layers=1,
                      encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
                      decoder_ffn_dim=32, max_position_embeddings=32)  # fmt: skip
    bart_dir = _save(BartForConditionalGeneration(bart), tmp_path / "bart")
    with pytest.raises(ConfigError, match="is an encoder-decoder model"):
        resolve([*TINY, f"model.path={bart_dir}"])
    short = _save(GPT2LMHeadModel(GPT2Config(vocab_size=64, n_positions=6, n_embd=16, n_layer=1,
                                             n_head=2)), tmp_path / "short")  # fmt: skip
    with pytest.raises(ConfigError, match=r"6 positions \(n_positions\), data\.length=8 needs 8"):
        resolve([*TINY, f"model.path={short}"])
    assert resolve([*TINY, f"model.path={short}", "data.length=6"]).data.length == 6
    with pytest.raises(ConfigError, match=r"model\.path is for task=generate"):
        resolve([*TINY, "task=transfer", f"model.path={short}"])


def test_a_bert_saved_as_a_decoder_trains_causally(tmp_path: Path) -> None:
    from ganhub_textgan.networks import lm_logits

    decoder = _tiny_bert(tmp_path / "dec", is_decoder=True)
    system = _system(f"model.path={decoder}")
    x = system.token_ids[0][:2]
    later = x.clone()
    later[:, 4] = (x[:, 4] + 1) % system.vocab  # changing token 4 ...
    with torch.no_grad():
        a, b = lm_logits(system.G.eval(), x, system.vocab), lm_logits(system.G, later, system.vocab)
    torch.testing.assert_close(a[:, :5], b[:, :5])  # ... leaves the predictions of tokens 0-4


# -- text files, style files, token shards (`ganhub data check|convert`) ---------------------------


def test_bad_data_path_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"data\.path=.*missing.txt: no such file"):
        resolve([*TINY, f"data.path={tmp_path / 'missing.txt'}"], hub=get_hub())
    with pytest.raises(UsageError, match=r"data\.path=.* is a folder; give a text file"):
        resolve([*TINY, f"data.path={tmp_path}"], hub=get_hub())  # said "no such file"
    utf16 = tmp_path / "utf16.txt"
    utf16.write_text("the food was good\nthe soup was bad\n", encoding="utf-16")
    from ganhub_textgan.corpus import read_lines

    # was a byte-0xff error and NUL warnings per line; its byte-order mark names its byte
    # order, so it is read (tests/plugins/test_textgan_utf16.py)
    assert read_lines(utf16, "data.path") == ["the food was good", "the soup was bad"]
    # without a byte-order mark it trained as '\x00o\x00l\x00d...'; UTF-32 without one was
    # named "UTF-16 text" (with its mark it is read: tests/plugins/test_textgan_utf16.py)
    for encoding, named in (
        ("utf-16-le", "UTF-16"),
        ("utf-16-be", "UTF-16"),
        ("utf-32-le", "UTF-32"),
    ):
        other = tmp_path / f"{encoding}.txt"
        other.write_text("the food was good\nthe soup was bad\n", encoding=encoding)
        with pytest.raises(UsageError, match=rf"{encoding}\.txt is {named} text; save it as UTF-8"):
            read_lines(other, "data.path")


def test_a_file_with_cr_line_endings_is_named_as_such(tmp_path: Path, cli: object) -> None:
    """Classic Mac OS endings (CR alone): check and run said "needs at least 2 non-empty
    lines, found 1" of a 30-sentence file."""
    path = tmp_path / "cr.txt"
    path.write_bytes(b"".join(f"the dog ran far away {i}\r".encode() for i in range(30)))
    code, _, err = cli("data", "check", str(path), "plugin=textgan")  # type: ignore[operator]
    assert code == 2 and "ends its lines with CR alone" in err, err
    with pytest.raises(UsageError, match=r"cr\.txt ends its lines with CR alone .* LF"):
        _system(f"data.path={path}").texts  # noqa: B018
    path.write_bytes(b"the dog ran far away\r\nthe cat sat\r\n")  # Windows endings: fine
    assert _system(f"data.path={path}").texts == (["the cat sat"], ["the dog ran far away"])


def _lines_fixture(path: Path) -> Path:
    """One line per problem class (1-based numbers in the comments)."""
    lines = [f"the {w} was good today" for w in "abcdefghijklmnopqrstuvwxyz"]
    lines[3] = "   "  # 4: empty
    lines[5] = "  The A  was GOOD today "  # 6: duplicate of line 1 once normalised
    lines[7] = " ".join(["word"] * 12)  # 8: 12 tokens, over data.length=8
    lines[9] = "the j\x07 was good today"  # 10: a control character
    lines[11] = "the l was\tgood today"  # 12: a tab is no control character here (the docs)
    body = "\n".join(lines).encode() + b"\n\xff broken\r\n" + "the café was good today\n".encode()
    path.write_bytes(b"\xef\xbb\xbf" + body)  # a byte-order mark first; line 27 not UTF-8
    return path


def _findings(report: object) -> dict[str, tuple[str, str, str]]:
    return {f.item: (f.severity, f.action, f.problem) for f in report.findings}  # type: ignore[attr-defined]


def test_a_text_file_report_and_what_the_loader_does_with_it(workdir: Path, cli: object) -> None:
    from ganhub_textgan.corpus import read_lines
    from ganhub_textgan.vocab import UNK

    path = _lines_fixture(workdir / "lines.txt")
    config = resolve([*TINY, f"data.path={path}"])
    report = get_hub().domains.get("textgan").inspect_data(config)
    found = _findings(report)
    assert found["lines.txt:4"][:2] == ("error", "drop") and found["lines.txt:4"][2] == "empty"
    assert found["lines.txt:27"][:2] == ("error", "drop")
    assert "not valid UTF-8 (byte 0xff" in found["lines.txt:27"][2]
    assert found["lines.txt:6"] == ("warning", "drop", "duplicate of lines.txt:1")
    assert found["lines.txt:8"] == (
        "note", "convert", "12 tokens, data.length=8 keeps 7 and <eos>: truncated"
    )  # fmt: skip
    # a control character: removed by the clean copy (`ganhub data clean --out`)
    assert found["lines.txt:10"][:2] == ("warning", "convert")
    assert "\\x07 (U+0007)" in found["lines.txt:10"][2]
    assert "U+0009" not in found.get("lines.txt:12", ("", "", ""))[2]  # a tab: not flagged
    # the first 2 lines are held out: their own words are not in the tokenizer
    assert found["lines.txt:2"][0] == "note" and "<unk>: 'b'" in found["lines.txt:2"][2]
    assert report.items == [f"lines.txt:{i}" for i in range(1, 29)]  # file order
    assert not report.clean and report.dropped() == {"lines.txt:4", "lines.txt:6", "lines.txt:27"}
    code, out, _ = cli("data", "check", "lines.txt", *TINY[:2], "--json")  # type: ignore[operator]
    assert code == 1 and json.loads(out)["items"] == 28
    # the loader refuses the file at the line that is not UTF-8, naming it ...
    with pytest.raises(UsageError, match=r"line 27 is not valid UTF-8"):
        read_lines(path, "data.path")
    code, _, err = cli("run", *TINY, "data.path=lines.txt")  # type: ignore[operator]
    assert code == 2 and "line 27 is not valid UTF-8" in err and len(err.strip().splitlines()) == 1
    # ... and without it: skips the empty line, keeps the duplicate, truncates, maps to <unk>
    raw = path.read_bytes().replace(b"\xff broken\r\n", b"")
    path.write_bytes(raw)
    system = _system(f"data.path={path}")
    train, test = system.texts
    assert test == ["the a was good today", "the b was good today"]  # no byte-order mark
    assert len(train) + len(test) == 26 and "The A  was GOOD today" in train
    ids = system.token_ids[0]
    long_row = ids[train.index(" ".join(["word"] * 12))]
    assert long_row[-1] == EOS and (long_row[:-1] != PAD).all()  # 7 tokens and <eos>
    held = system.token_ids[1]
    assert (held[1] == UNK).sum() == 1  # 'b' only occurs in a held-out line


def test_too_few_lines_are_an_error_in_the_report_and_the_loader(tmp_path: Path) -> None:
    path = tmp_path / "one.txt"
    path.write_text("\nonly one sentence\n\n")
    report = get_hub().domains.get("textgan").inspect_data(resolve([*TINY, f"data.path={path}"]))
    assert _findings(report)["one.txt"][:2] == ("error", "drop")
    assert "needs at least 2 non-empty lines, found 1" in _findings(report)["one.txt"][2]
    with pytest.raises(UsageError, match="needs at least 2 non-empty lines, found 1"):
        _system(f"data.path={path}").texts  # noqa: B018


def test_style_files_balance_and_a_sentence_in_both_styles(tmp_path: Path) -> None:
    neg, pos = tmp_path / "neg.txt", tmp_path / "pos.txt"
    neg.write_text("\n".join(f"the soup {i} was awful" for i in range(10)) + "\n")
    pos.write_text(
        "\n".join(f"the soup {i} was great" for i in range(39)) + "\nthe soup 3 was awful\n"
    )
    config = resolve([*TINY, "task=transfer", f"data.style_paths=[{neg},{pos}]"])
    report = get_hub().domains.get("textgan").inspect_data(config)
    found = _findings(report)
    assert found[f"{pos}:40"] == ("warning", "drop", f"duplicate of {neg}:4")  # as given
    assert (
        found["(labels)"][0] == "warning" and "unbalanced: class negative" in found["(labels)"][2]
    )
    assert report.summary["classes"] == {"negative": 10, "positive": 40}
    # the loader trains on both files as they are: 9 + 36 training sentences after holding out
    system = TransferSystem(config)  # type: ignore[arg-type]
    assert torch.bincount(system.train_ids[1]).tolist() == [9, 36]
    twin = tmp_path / "neg2.txt"  # one file for both styles is refused: a copy of it
    twin.write_text(neg.read_text())
    balanced = resolve([*TINY, "task=transfer", f"data.style_paths=[{neg},{twin}]"])
    with pytest.raises(ConfigError, match=r"data\.style_paths"):  # one style per file
        resolve([*TINY, "task=transfer", f"data.path={neg}"])
    assert "(labels)" not in _findings(get_hub().domains.get("textgan").inspect_data(balanced))


@pytest.mark.parametrize("task", ["generate", "transfer"])
def test_the_embedded_corpora_are_clean(cli: object, task: str) -> None:
    code, out, err = cli("data", "check", "plugin=textgan", f"task={task}")  # type: ignore[operator]
    assert code == 0, out + err
    assert ", clean (0 errors, 0 warnings" in out
    if task == "transfer":  # repeats of template sentences are documented, not warned about
        assert "sentences repeat an earlier one: expected: 8 templates" in out
        assert '"negative": 6000, "positive": 6000' in out


def test_convert_to_tokens_and_train_from_the_shard(
    workdir: Path, cli: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ganhub_textgan import base as base_module
    from ganhub_textgan import corpus

    lines = [f"the {a} was {b} today" for a in "abcdefgh" for b in "ijklmnop"]
    lines[5] = "a much longer sentence than the length of eight tokens allows here"
    (workdir / "c.txt").write_text("\n".join(lines) + "\n\n")
    args = ("data", "convert", "c.txt", "plugin=textgan", "data.length=8")
    code, out, err = cli(*args, "--to", "tokens", "--out", "c.safetensors")  # type: ignore[operator]
    assert code == 0 and "c.safetensors" in out, err
    manifest = json.loads((workdir / "c.json").read_text())
    assert manifest["dtype"] == "int32" and manifest["source"]["truncated"] == 1
    from_text = _system("data.path=c.txt")
    expected = (from_text.tokenizer.get_vocab(), from_text.token_ids, from_text.texts[1])
    monkeypatch.setattr(base_module, "train_tokenizer", _no_training)
    monkeypatch.setattr(corpus, "read_lines", _no_training)
    config = resolve(["plugin=textgan", "preset=tiny", "data.path=c.safetensors"])
    assert (config.data.length, config.data.tokenizer_vocab) == (8, 2000)  # from the manifest
    shard = _system("data.path=c.safetensors", "data.length=8", "data.tokenizer_vocab=2000")
    assert shard.tokenizer.get_vocab() == expected[0]
    for a, b in zip(shard.token_ids, expected[1], strict=True):
        assert torch.equal(a, b)  # the same ids, without reading or tokenising text
    assert shard.texts[1] == expected[2]
    fit(make_run(resolve(["plugin=textgan", "preset=tiny", "data.path=c.safetensors",
                          "data.length=8", "data.tokenizer_vocab=2000", f"out_dir={workdir}",
                          "eval.metrics=[]", "trainer.progress=false", "loggers=[jsonl]"])))  # fmt: skip
    code, out, _ = cli("data", "check", "c.safetensors", "plugin=textgan")  # type: ignore[operator]
    assert code == 0 and "64 token rows, clean" in out and "truncated when converted: 1" in out
    code, _, err = cli("run", "plugin=textgan", "data.path=c.safetensors", "data.length=12")  # type: ignore[operator]
    assert code == 2 and "made with data.length=8" in err
    for extra, message in [
        (("--to", "shard"), "--to shard: textgan's data is text; --to tokens"),
        (("task=transfer", "--to", "tokens"), "task=transfer reads data.style_paths"),
    ]:
        code, _, err = cli("data", "convert", "plugin=textgan", *extra, "--out", "x.safetensors")  # type: ignore[operator]
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    (workdir / "c.json").write_text('{"format": "ganhub-shard/1"}')
    code, _, err = cli("run", "plugin=textgan", "data.path=c.safetensors")  # type: ignore[operator]
    assert code == 2 and "not a textgan token shard" in err


def _no_training(*args: object, **kwargs: object) -> None:
    raise AssertionError("a token shard is read as it is stored")


def test_a_model_path_run_opens_samples_and_exports_without_the_model_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The LM's architecture (its config.json) is saved in the run's config as model.lm_config,
    so a trained run rebuilds G for its checkpoint's weights when model.path is gone (another
    machine, a moved folder): it loads, samples as before and exports."""
    import shutil

    from transformers import GPT2Config, GPT2LMHeadModel

    import ganhub
    from ganhub.export import export_run

    monkeypatch.chdir(tmp_path)
    vocab = _system().vocab
    GPT2LMHeadModel(GPT2Config(vocab_size=vocab, n_positions=16, n_embd=16, n_layer=1,
                               n_head=2)).save_pretrained(tmp_path / "lm")  # fmt: skip
    run_dir = Path(ganhub.train([*TINY, f"model.path={tmp_path / 'lm'}", "trainer.steps=2",
                                 "eval.metrics=[]", "name=lm"])["run_dir"])  # fmt: skip
    saved = json.loads((tmp_path / "lm" / "config.json").read_text())
    before = ganhub.load(run_dir)
    assert before.config.model.lm_config == saved
    shutil.rmtree(tmp_path / "lm")
    after = ganhub.load(run_dir)
    for (name, p), q in zip(before.system.G.state_dict().items(),
                            after.system.G.state_dict().values(), strict=True):  # fmt: skip
        assert torch.equal(p, q), name
    assert torch.equal(after.sample(4, seed=1), before.sample(4, seed=1))
    folder = export_run(run_dir, out=tmp_path / "exported")
    assert torch.equal(ganhub.load(folder).sample(4, seed=1), before.sample(4, seed=1))


def test_model_lm_config_is_checked_like_a_model_directory(tmp_path: Path) -> None:
    """model.lm_config alone builds that architecture with random weights, checked as a
    directory's config.json is; one that differs from model.path's config.json is refused."""
    from transformers import GPT2Config

    vocab = _system().vocab
    gpt2 = GPT2Config(vocab_size=vocab, n_positions=16, n_embd=16, n_layer=1, n_head=2)
    system = make_run(resolve([*TINY, f"model.lm_config={json.dumps(gpt2.to_dict())}"])).system
    assert type(system.G).__name__ == "GPT2LMHeadModel" and system.G.config.n_embd == 16
    with pytest.raises(UsageError, match=r"model.lm_config: .*4 positions"):
        resolve([*TINY, f"model.lm_config={json.dumps({**gpt2.to_dict(), 'n_positions': 4})}"])
    bert = {"model_type": "bert", "vocab_size": vocab}
    with pytest.raises(UsageError, match=r"model\.lm_config: .*encoder-only"):
        resolve([*TINY, f"model.lm_config={json.dumps(bert)}"])
    from transformers import GPT2LMHeadModel

    GPT2LMHeadModel(gpt2).save_pretrained(tmp_path / "lm")
    other = {**gpt2.to_dict(), "n_layer": 2}
    with pytest.raises(UsageError, match=r"model\.lm_config differs from"):
        resolve([*TINY, f"model.path={tmp_path / 'lm'}", f"model.lm_config={json.dumps(other)}"])
