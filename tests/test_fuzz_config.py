"""Property-based fuzzing of the config front end (Hypothesis).

Whatever a user types or a run directory holds, `parse_override`, `merge_sources`, `load_yaml`,
`resolve` and `ganhub config` either succeed or raise the one-line usage error (`ConfigError`,
`PluginError`: exit code 2). Never another exception (TypeError, RecursionError,
UnicodeDecodeError, a yaml error...), never a message over several lines.

Examples are bounded so the module takes well under a minute on a shared 2-core CPU; each run
draws new examples (a failure prints the `@reproduce_failure` line to replay it).
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, currently_in_test_context, event, example, given, settings
from hypothesis import strategies as st

from ganhub.config.overrides import dump_yaml, load_yaml, merge_sources, parse_override
from ganhub.config.resolve import config_class, describe_keys, resolve
from ganhub.config.schema import RunConfig
from ganhub.errors import UsageError
from ganhub.plugins import get_hub

# GANHUB_FUZZ_SCALE=10 runs ten times the examples (a deeper search before a release)
SCALE = float(os.environ.get("GANHUB_FUZZ_SCALE", "1"))
FUZZ = settings(
    max_examples=round(300 * SCALE),
    deadline=None,
    database=None,  # no example database in a shared checkout; a failure prints its blob
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
FUZZ_SLOW = settings(FUZZ, max_examples=round(150 * SCALE))  # examples that validate or run the CLI

FLOAT32_MAX = 3.4028234663852886e38

# -- what is fuzzed ---------------------------------------------------------------------------


def _toy2d_keys() -> list[tuple[str, str]]:
    """(dotted key, type text) of every leaf key toy2d takes, every trick's options included."""
    hub = get_hub()
    cls = config_class(hub.domains.get("toy2d").config_class, hub)
    return [(key, typ) for key, typ, _, _ in describe_keys(cls)]


KEYS = _toy2d_keys()
FLOAT_KEYS = sorted(k for k, typ in KEYS if "float" in typ)
SECTIONS = sorted({k.rsplit(".", 1)[0] for k, _ in KEYS if "." in k})
NAMES = sorted({part for k, _ in KEYS for part in k.split(".")})

# Values that have broken parsers before or could: non-finite and overflowing floats, YAML 1.1
# oddities, tags the safe loader refuses or cannot build, anchors that refer to themselves,
# deep nesting, control characters, lone surrogates, very long text.
TRICKY_VALUES = [
    *[".inf", "-.inf", ".nan", ".NaN", "nan", "NaN", "inf", "-inf", "Infinity", "1e39"],
    *["-1e39", "1e400", "1e-400", "3.4028235e38", "3.5e38", "1.0e+39", "0", "-0", "-1", "0.0"],
    *["1_000", "0x1F", "0o17", "0b101", "99999999999999999999999999", "~", "null", "yes", "no"],
    *["on", "off", "true", "False", "2020-99-99", "2001-12-14t21:59:43.10-99:99", "12:30:45"],
    *["!!bool maybe", "!!int abc", "!!float x", "!!binary ###", "!!set {a}", "!!omap [a]"],
    *["!!pairs [1]", "!!timestamp x", "!!str", "!!null x", "!!python/object:os.system ls"],
    *["!!python/name:os.system", "!custom 1", "&a [*a]", "&a {b: *a}", "*undefined", "<<: 1"],
    *["{<<: [1]}", "[1, 2", "{a", "{a: [1, {b: 2}]}", "{? [a]: 1}", "{1: 2}", "{null: 1}"],
    *["[[1]]", "[]", "{}", "''", '""', '"\\ud800"', '"\\x00"', '"a\\nb"', "a\nb", "a\rb"],
    *["\x00", "\x1b[31m", "\u2028", "\ufeff", "\ud800", "\udcff", "é", "名前", "🙂", " ", "\t"],
    *["- a\n- b", "|\n  block", "%YAML 1.1\n---\n1", "---\n...", "? a", ": b", "a: b: c"],
    *["[" * 40 + "]" * 40, "[" * 3000, "{a: " * 3000, "a" * 10_000, "[" + "1," * 5000 + "1]"],
    *["--config", "--help", "-h", "--version", "--", "-x", "resume", "config"],
]
# `&a [...]` whose aliases multiply (a "billion laughs": 10^6 values from 60 written)
LAUGHS = "[&a [1,1,1,1,1,1,1,1,1,1]" + "".join(
    f", &{b} [{', '.join(['*' + a] * 10)}]" for a, b in zip("abcde", "bcdef")
)
TRICKY_VALUES.append(LAUGHS + "]")

any_text = st.text(st.characters(), max_size=40)  # every code point, lone surrogates included
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(),  # nan, inf and subnormals included
    st.text(max_size=20),
    st.sampled_from(NAMES),
)
keys_of_maps = st.one_of(st.sampled_from(NAMES), st.text(max_size=10), st.integers(-5, 5))
nested = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys_of_maps, inner, max_size=4),
    max_leaves=20,
)


def _flow(value: Any) -> str:
    return (
        yaml.safe_dump(value, default_flow_style=True, width=10**9, sort_keys=False)
        .strip()
        .removesuffix("...")
    )


yaml_values = st.one_of(
    st.sampled_from(TRICKY_VALUES),
    any_text,
    nested.map(_flow),
    st.floats().map(repr),
    st.integers().map(str),
)
key_parts = st.one_of(st.sampled_from(NAMES), st.just(""), st.text(st.characters(), max_size=8))
any_keys = st.one_of(
    st.sampled_from([k for k, _ in KEYS] + SECTIONS),
    st.lists(key_parts, min_size=1, max_size=5).map(".".join),  # empty parts: `a..b`, `.a`
)
# Valid items, so that a list of them with one hostile item reaches the later checks (presets,
# tricks and their options, cross-checks) instead of stopping at the first parse error.
GOOD_ITEMS = [
    *["trainer.steps=3", "trainer.batch_size=16", "trainer.grad_accum=2", "preset=grid"],
    *["preset=ring", "data=grid", "data.n_samples=2000", "model.g_norm=batch", "loss=hinge"],
    *["loss=wasserstein", "tricks=[ema]", "tricks=[ema,r1]", "tricks=[gp]", "trick.r1.gamma=5"],
    *["trick.ema.beta=0.99", "precision=bf16", "device=cpu", "seed=3", "optim.G.lr=1e-4"],
    *["optim.D.betas=[0.0,0.99]", "optim.G.name=rmsprop", "loggers=[jsonl]", "name=fuzz"],
    *["eval.metrics=[mode_coverage_2d]", "trainer.max_seconds=10", "deterministic=true"],
]
items = st.one_of(
    st.builds(lambda k, v: f"{k}={v}", any_keys, yaml_values),
    any_text,  # not key=value at all
    st.sampled_from(TRICKY_VALUES),
    st.sampled_from(GOOD_ITEMS),
    st.sampled_from(GOOD_ITEMS),
)
float_values = st.one_of(
    st.sampled_from([".inf", "-.inf", ".nan", "nan", "inf", "1e39", "-1e39", "1e400", "1e-400"]),
    st.sampled_from(["3.4028235e38", "3.4028234663852886e+38", "3.5e38", "0", "-0.0", "1e-45"]),
    st.floats().map(repr),
    st.floats(allow_nan=False, allow_infinity=False).map(str),
    st.sampled_from(["[.inf, 0.9]", "[0.5, .nan]", "[1e39, 0]", "[0.5]", "[0.5, 0.9, 0.1]"]),
)


# -- the property ------------------------------------------------------------------------------


def one_line_or_success(call: Callable[[], Any]) -> Any:
    """Run `call`: its result, or None after a usage error whose message is one line.

    Any other exception fails the example (and Hypothesis shrinks it to a minimal reproducer).
    """
    try:
        result = call()
    except UsageError as exc:
        _event(f"refused: {type(exc).__name__}")
        message = str(exc)
        assert exc.exit_code == 2, f"{type(exc).__name__} exits {exc.exit_code}: {message}"
        assert message.strip(), f"{type(exc).__name__} with an empty message"
        assert "\n" not in message and "\r" not in message, f"message over lines: {message!r}"
        message.encode("utf-8")  # printable on a UTF-8 terminal (no lone surrogates)
        return None
    _event("accepted")
    return result


def _event(name: str) -> None:
    """Count outcomes (pytest --hypothesis-show-statistics): a fuzz that never reaches
    `accepted` tests little past the parser."""
    if currently_in_test_context():
        event(name)


def _write(data: bytes) -> Path:
    """A fresh file holding `data` (tmp_path is per test, not per example)."""
    with tempfile.NamedTemporaryFile("wb", suffix=".yaml", delete=False) as fh:
        fh.write(data)
    return Path(fh.name)


@contextlib.contextmanager
def config_file(data: bytes):  # type: ignore[no-untyped-def]
    path = _write(data)
    try:
        yield path
    finally:
        path.unlink()


# -- parse_override, merge_sources ---------------------------------------------------------------


@FUZZ
@given(st.one_of(items, any_text, st.text(max_size=300)))
@example("optim.G.lr=.inf")
@example("a..b=1")
@example(".a=1")
@example("a.=1")
@example("=1")
@example("\n=1")
@example("x=" + "[" * 5000)
@example("x=&a {b: *a}")
@example("x=2020-99-99")
@example("x=" + LAUGHS + "]")
@example("a\udcff=1")
def test_parse_override_splits_or_refuses_in_one_line(item: str) -> None:
    parsed = one_line_or_success(lambda: parse_override(item))
    if parsed is not None:
        parts, _ = parsed
        key = item.partition("=")[0].strip()
        assert parts == key.split(".") and all(parts)


@FUZZ
@given(st.lists(items, max_size=6))
@example(["trainer=1", "trainer.steps=2"])
@example(["trainer.steps=2", "trainer=&a {b: *a}"])
@example(["config="])
@example(["config=" + "a" * 5000])
@example(["config=01"])
@example(["config=[a]"])
@example(["config=\x00"])
def test_merge_sources_merges_or_refuses_in_one_line(overrides: list[str]) -> None:
    merged = one_line_or_success(lambda: merge_sources(overrides))
    assert merged is None or isinstance(merged, dict)


# -- load_yaml: text, bytes, structures ----------------------------------------------------------

VALID = b"plugin: toy2d\ntrainer:\n  steps: 3\n  batch_size: 16\noptim:\n  G: {lr: 1.0e-3}\n"


@FUZZ
@given(st.one_of(st.text(st.characters(), max_size=200), st.sampled_from(TRICKY_VALUES)))
@example("\ud800: 1")  # written with surrogatepass: bytes that are not UTF-8
@example("trainer:\n  steps: !!int abc\n")
@example("when: 2020-99-99\n")
@example("a: &a {b: *a}\n")
@example("[" * 3000)
@example("- 1\n- 2\n")
@example("0")
@example("false")
@example("\ufeffplugin: toy2d\n")
def test_load_yaml_text(text: str) -> None:
    with config_file(text.encode("utf-8", "surrogatepass")) as path:
        data = one_line_or_success(lambda: load_yaml(path))
    assert data is None or isinstance(data, dict)


@FUZZ
@given(
    st.one_of(
        st.binary(max_size=300),
        # a valid config with bytes cut out or spliced in: mostly-YAML, sometimes not UTF-8
        st.builds(
            lambda at, junk, cut: VALID[:at] + junk + VALID[at + cut :],
            st.integers(0, len(VALID)),
            st.binary(max_size=8),
            st.integers(0, 5),
        ),
    )
)
@example(b"\xff\xfe" + "plugin: toy2d\n".encode("utf-16-le"))
@example(b"plugin: toy\xe9\n")
@example(b"plugin: toy2d\x00\n")
@example(b"\xef\xbb\xbfplugin: toy2d\n")
def test_load_yaml_bytes(data: bytes) -> None:
    with config_file(data) as path:
        loaded = one_line_or_success(lambda: load_yaml(path))
    assert loaded is None or isinstance(loaded, dict)


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    return True


@FUZZ
@given(st.dictionaries(keys_of_maps, nested, max_size=5))
@example({"0E0": None})  # plain under YAML 1.1, a number under 1.2: ganhub's writer quotes it
@example({"name": "1e5", "k": ["yes", "010", "12:30", "1.10", "~"]})
def test_load_yaml_reads_back_what_ganhub_wrote(data: dict[Any, Any]) -> None:
    text = dump_yaml(data, sort_keys=False)  # escaped: PyYAML misreads a raw U+0085
    with config_file(text.encode("utf-8")) as path:
        loaded = one_line_or_success(lambda: load_yaml(path))
    if _finite(data):  # NaN != NaN
        assert loaded == data
        assert yaml.safe_load(text) == data  # and a YAML 1.1 reader sees the same values


@FUZZ
@given(st.dictionaries(keys_of_maps, nested, max_size=5))
def test_load_yaml_reads_what_other_writers_wrote(data: dict[Any, Any]) -> None:
    """PyYAML's own writer (YAML 1.1) leaves `0E0` plain, which YAML 1.2 reads as a number:
    such a file still loads, or is refused in one line, never a traceback."""
    text = yaml.safe_dump(data, sort_keys=False)
    with config_file(text.encode("utf-8")) as path:
        loaded = one_line_or_success(lambda: load_yaml(path))
    assert loaded is None or isinstance(loaded, dict)


# -- resolve -------------------------------------------------------------------------------------


def _resolve(overrides: list[str], files: tuple[Path, ...] = ()) -> RunConfig | None:
    return one_line_or_success(lambda: resolve(["plugin=toy2d", *overrides], files))


@FUZZ_SLOW
@given(st.lists(items, max_size=5))
@example(["optim.G.lr=-1", "optim.D.lr=-1"])  # two problems, still one line
@example(["trai\nner=1"])
@example(['device="a\\nb"'])
@example(['device="\\ud800"'])
@example(["preset=[1]"])
@example(["preset={a: 1}"])
@example(["resume=" + "a" * 5000])
@example(["tricks=&a [*a]"])
@example(["trainer=&a {b: *a}"])
@example(["trick=[ema]"])
@example(["tricks=[ema]", "trick.ema=3"])
@example(["trainer={1: 2}"])
def test_resolve_toy2d_with_any_overrides(overrides: list[str]) -> None:
    _resolve(overrides)


@FUZZ_SLOW
@given(st.sampled_from([k for k, _ in KEYS]), yaml_values)
def test_resolve_any_value_for_each_key(key: str, value: str) -> None:
    _resolve([f"{key}={value}"])


@FUZZ_SLOW
@given(st.sampled_from(FLOAT_KEYS), float_values)
@example("optim.G.lr", ".inf")
@example("optim.G.lr", "nan")
@example("optim.G.lr", "1e39")
@example("optim.D.betas", "[.nan, 0.9]")
def test_float_keys_resolve_finite_or_refuse(key: str, value: str) -> None:
    config = _resolve([f"{key}={value}"])
    if config is None:
        return
    node: Any = config
    for part in key.split("."):
        node = getattr(node, part)
    for x in node if isinstance(node, tuple | list) else (node,):
        if isinstance(x, float):
            assert math.isfinite(x) and abs(x) <= FLOAT32_MAX, f"{key}={value} resolved to {x}"


sections = st.fixed_dictionaries(
    {},
    optional={
        "trainer": st.dictionaries(st.sampled_from(NAMES), nested, max_size=3) | nested,
        "optim": st.fixed_dictionaries({}, optional={"G": nested, "D": nested}) | nested,
        "model": st.dictionaries(st.sampled_from(NAMES), nested, max_size=3) | nested,
        "data": nested,
        "tricks": st.lists(st.sampled_from(NAMES), max_size=3) | nested,
        "trick": st.dictionaries(st.sampled_from(NAMES), nested, max_size=2) | nested,
        "preset": nested,
        "plugin": st.just("toy2d") | nested,
        "resume": nested,
    },
)


@FUZZ_SLOW
@given(
    st.one_of(sections, st.dictionaries(keys_of_maps, nested, max_size=4)),
    st.lists(items, max_size=2),
)
def test_resolve_fuzzed_yaml_file(data: dict[Any, Any], overrides: list[str]) -> None:
    with config_file(yaml.safe_dump(data, sort_keys=False).encode("utf-8")) as path:
        _resolve(overrides, (path,))
        _resolve([f"config={path}", *overrides])


@FUZZ_SLOW
@given(
    st.binary(max_size=200)
    | st.text(st.characters(), max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass"))
)
def test_resolve_fuzzed_file_bytes(data: bytes) -> None:
    with config_file(data) as path:
        _resolve([], (path,))


# -- the command line ----------------------------------------------------------------------------


def _cli(*args: str) -> tuple[int, str, str]:
    """`ganhub ARGS` in-process (as conftest's `cli` fixture, without a per-test fixture)."""
    from ganhub.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue(), err.getvalue()


def _check_cli(args: list[str]) -> None:
    code, out, err = _cli("config", *args)
    assert code in (0, 2), f"exit {code}: {err!r}"
    if code == 2:
        assert len(err.strip().splitlines()) == 1, f"stderr is not one line: {err!r}"
    elif not any(a in ("-h", "--help") for a in args):
        # the warnings `ganhub run` would give (e.g. loss=wasserstein without a Lipschitz D)
        assert all(line.startswith("ganhub: warning: ") for line in err.splitlines()), err
        assert isinstance(yaml.safe_load(out), dict)


@FUZZ_SLOW
@given(st.lists(items, max_size=4))
@example(["--config"])
@example(["--config="])
@example(["--config", "/nonexistent/x.yaml"])
@example(["--config", "a" * 5000])
@example(["optim.G.lr=.inf"])
@example(["a\udcff=1"])
@example(["optim.G.lr=-1", "trainer.steps=0"])
def test_cli_config_exits_0_or_2_with_one_line(overrides: list[str]) -> None:
    _check_cli(["plugin=toy2d", *overrides])


@FUZZ_SLOW
@given(
    st.binary(max_size=120)
    | nested.map(lambda v: yaml.safe_dump(v, sort_keys=False).encode("utf-8"))
)
def test_cli_config_file(data: bytes) -> None:
    with config_file(data) as path:
        _check_cli(["plugin=toy2d", "--config", str(path)])


@pytest.mark.parametrize("name", sorted(get_hub().domains.names()))
def test_every_domain_resolves_hostile_values_in_one_line(name: str) -> None:
    """Each domain's own defaults_for and check see odd types too (bounded: 25 examples)."""

    @settings(FUZZ, max_examples=round(50 * SCALE))
    @given(st.lists(items, max_size=3))
    def fuzz(overrides: list[str]) -> None:
        one_line_or_success(lambda: resolve([f"plugin={name}", *overrides]))

    fuzz()


# Names looked up in a registry are shown in "unknown X" errors: a name holding a newline (YAML's
# "\n" escape) must not break the one-line error.
REGISTRY_KEYS = ["plugin", "preset", "loss", "tricks", "loggers", "eval.metrics"]


@pytest.mark.parametrize("key", REGISTRY_KEYS)
def test_unknown_registry_name_with_a_newline_is_one_line(key: str) -> None:
    value = '"a\\nb"' if key in ("plugin", "preset", "loss") else '["a\\nb"]'
    items = [f"{key}={value}"] if key == "plugin" else ["plugin=toy2d", f"{key}={value}"]
    one_line_or_success(lambda: resolve(items))
    _check_cli(items)
