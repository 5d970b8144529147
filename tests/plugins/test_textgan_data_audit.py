"""A user's text files as textgan reads them: control characters inside a line (NUL, ESC
sequences, C1) are listed by `ganhub data check`, named once by `ganhub run`, removed by
`ganhub data clean --out`; a token shard whose manifest is damaged is refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ganhub_textgan.corpus import cleaned_copy

from ganhub.config.resolve import resolve
from ganhub.plugins import get_hub

from .test_textgan import TINY

pytestmark = pytest.mark.usefixtures("one_thread")

# (line number, text): a terminal's colour codes, a NUL, a C1 CSI, an OSC title ended by BEL
CONTROLLED = {
    6: "the \x1b[31mred\x1b[0m cat sat here",
    10: "a nul\x00byte in the line",
    21: "a c1 \x9b control here",
    25: "set \x1b]0;owned\x07 the title",
}


def _corpus(path: Path) -> Path:
    lines = [f"the cat sat on mat number {i} today" for i in range(1, 41)]
    for number, text in CONTROLLED.items():
        lines[number - 1] = text
    lines[14] = "zero\u200bwidth and \u202ebidi here"  # 15: read by the loader (a note)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_check_lists_the_lines_that_hold_control_characters(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    path = _corpus(workdir / "ctl.txt")
    report = get_hub().domains.get("textgan").inspect_data(resolve([*TINY, f"data.path={path}"]))
    assert report.summary["control characters"] == (
        "4 lines (ctl.txt:6, ctl.txt:10, ctl.txt:21, ctl.txt:25): \\x1b, \\x00, \\x9b, \\x07"
    )
    found = {f.item: f for f in report.findings if "control" in f.problem}
    assert sorted(found) == [f"ctl.txt:{n}" for n in (10, 21, 25, 6)]
    assert found["ctl.txt:25"].problem == "control characters: \\x1b (U+001B), \\x07 (U+0007)"
    assert {(f.severity, f.action) for f in found.values()} == {("warning", "convert")}
    code, out, _ = cli("data", "check", "ctl.txt", "plugin=textgan")
    assert code == 1 and "control characters: 4 lines (ctl.txt:6, " in out
    assert "\x1b" not in out and "\x00" not in out  # escaped, never obeyed by the terminal


def test_clean_writes_a_copy_without_control_characters(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    path = _corpus(workdir / "ctl.txt")
    kept = [f"ctl.txt:{n}" for n in range(1, 41)]
    lines = cleaned_copy(path, kept).decode("utf-8").splitlines()
    assert [lines[n - 1] for n in CONTROLLED] == [
        "the red cat sat here",  # each escape sequence removed whole: no `[31m` word
        "a nulbyte in the line",
        "a c1 control here",
        "set the title",
    ]
    code, _, err = cli("data", "clean", "ctl.txt", "plugin=textgan", "--out", "clean.txt")
    assert code == 0, err
    code, out, _ = cli("data", "check", "clean.txt", "plugin=textgan")
    assert "control characters" not in out


def test_run_says_once_that_its_sentences_hold_control_characters(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    _corpus(workdir / "ctl.txt")
    args = [*TINY, "data.path=ctl.txt", "trainer.steps=2", "eval.metrics=[]"]
    code, out, err = cli("run", *args)
    assert code == 0, err
    said = [line for line in (out + err).splitlines() if "control characters" in line]
    assert said == [
        "textgan: warning: data.path: 4 of 40 sentences hold control characters (\\x1b, \\x00, "
        "\\x9b, \\x07), trained as parts of their words; ganhub data check ctl.txt "
        "plugin=textgan lists their lines, ganhub data clean ctl.txt plugin=textgan --out "
        "clean.txt writes a copy without them"
    ]
    _corpus(workdir / "ctl.txt").write_text("the cat sat\nthe dog ran\n" * 20, encoding="utf-8")
    code, out, err = cli("run", *args)
    assert code == 0 and "control characters" not in out + err


def _damaged_shard(workdir: Path, cli, edit) -> str:  # type: ignore[no-untyped-def]
    lines = [f"the cat number {i} sat on the mat" for i in range(40)]
    (workdir / "good.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, _, err = cli("data", "convert", "good.txt", *TINY[:2], "--to", "tokens", "--out", "c.safetensors")  # fmt: skip
    assert code == 0, err
    manifest = json.loads((workdir / "c.json").read_text(encoding="utf-8"))
    edit(manifest["source"])
    (workdir / "c.json").write_text(json.dumps(manifest), encoding="utf-8")
    return "data.path=c.safetensors"


@pytest.mark.parametrize(
    ("edit", "said"),
    [
        (lambda s: s.update(tokenizer_json=s["tokenizer_json"][:300]), "the tokenizer in its "
         "manifest c.json is damaged (EOF while parsing"),
        (lambda s: s.update(tokenizer_json='{"model": 1}'), "the tokenizer in its manifest "
         "c.json is damaged"),
        (lambda s: s.update(length=-3), "its manifest c.json has no valid 'length'"),
        (lambda s: s.update(tokenizer_vocab=5), "its manifest c.json has no valid "
         "'tokenizer_vocab'"),
    ],
)  # fmt: skip
def test_a_damaged_token_shard_manifest_is_refused_in_one_line(
    workdir: Path, cli, edit, said
) -> None:  # type: ignore[no-untyped-def]
    given = _damaged_shard(workdir, cli, edit)
    for args in (["data", "check", "c.safetensors", "plugin=textgan"],
                 ["run", *TINY, given, "trainer.steps=2", "eval.metrics=[]"]):  # fmt: skip
        code, _, err = cli(*args)
        assert code == 2 and err.startswith("ganhub: error: data.path=c.safetensors: "), err
        assert said in err and len(err.strip().splitlines()) == 1, err
        assert "ganhub data convert FILE plugin=textgan --to tokens" in err


def test_a_resume_after_the_file_was_edited_says_so(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """The same data.path with other sentences: the run keeps its checkpoint's tokenizer, so
    the edit reads largely as <unk>; earlier releases noted only another path."""
    data = workdir / "s.txt"
    data.write_text("".join(f"the cat number {i} sat on the mat\n" for i in range(40)))
    code, _, err = cli("run", *TINY, "data.path=s.txt", "trainer.steps=2", "eval.metrics=[]",
                       "name=r1")  # fmt: skip
    assert code == 0, err
    code, out, err = cli("run", "resume=runs/r1", "trainer.steps=3")  # the file as it was
    assert code == 0 and "changed since" not in out + err, err
    data.write_text("".join(f"a dog called {i} ran in the park\n" for i in range(40)))
    code, out, err = cli("run", "resume=runs/r1", "trainer.steps=4")
    said = [line for line in (out + err).splitlines() if "changed since" in line]
    assert code == 0 and len(said) == 1, out + err
    assert said[0].startswith(f"textgan: resumed with data.path={data.resolve()}, whose sentences")
    assert "% of the text's tokens read as <unk>" in said[0]
