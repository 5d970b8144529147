"""The YAML dialect of config files and `key=value` values, read and written: YAML 1.2's plain
scalars (`ConfigLoader`), unique keys (`DuplicateKeyError`), and text written so that YAML 1.2
and 1.1 readers both read it back unchanged (`ConfigDumper`, `dump_yaml`).
`ganhub.config.overrides` re-exports these names."""

from __future__ import annotations

import re
from typing import Any

import yaml

from ganhub.config.section import TypedFloat, TypedInt
from ganhub.errors import one_line


class ConfigLoader(yaml.SafeLoader):
    """YAML with the plain scalars of YAML 1.2's core schema instead of 1.1's: `010` is not
    octal 8, `12:30` not the number 750, `yes`/`on`/`no`/`off` and dates stay text, `1e-4` is
    a number, and so are `0x1f` and `0o17`. A number with leading zeros (`007`) stays text, so
    a text key keeps it as typed and a number key still reads it as its number."""

    yaml_implicit_resolvers = {}  # noqa: RUF012 (PyYAML reads and copies this table)

    def construct_document(self, node: yaml.Node) -> Any:
        """The document, once no mapping in it names a key twice (`DuplicateKeyError`)."""
        _check_unique_keys(self, node)
        return super().construct_document(node)


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A mapping names one key twice. YAML 1.2 requires unique keys; PyYAML keeps the last one
    without a word, so `trainer: {steps: 3}` then `trainer: {batch_size: 4}` lost the steps."""

    def __init__(self, key: str, first: yaml.Mark, again: yaml.Mark) -> None:
        self.key, self.first_line, self.line = key, first.line + 1, again.line + 1
        problem = f"found key '{key}' again (first at line {self.first_line})"
        super().__init__(None, None, problem, again)

    def said_of(self, where: str) -> str:
        """The one-line error for file `where` ("config file 'x.yaml'", "search=x.yaml")."""
        return (
            f"{where} gives the key '{self.key}' twice (lines {self.first_line} and {self.line}); "
            "YAML keys must be unique: merge the two into one"
        )


def _check_unique_keys(loader: yaml.SafeLoader, root: yaml.Node) -> None:
    """Raise `DuplicateKeyError` (with the key's dotted path) for a mapping that repeats a key."""
    todo: list[tuple[yaml.Node, str]] = [(root, "")]
    seen_nodes: set[int] = set()  # an alias is the same node: walked once, and never in a loop
    while todo:
        node, prefix = todo.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            todo += [(item, f"{prefix}{i}.") for i, item in enumerate(node.value)]
        if not isinstance(node, yaml.MappingNode):
            continue
        first: dict[Any, yaml.Mark] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):  # a list as a key: no config has one
                continue
            key = loader.construct_object(key_node)  # `a` and `"a"` are one key, as in the dict
            name = f"{prefix}{key}"
            if key in first:
                raise DuplicateKeyError(one_line(name, 100), first[key], key_node.start_mark)
            first[key] = key_node.start_mark
            todo.append((value_node, f"{name}."))


for _tag, _pattern, _first in (
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("int", r"^(?:[-+]?(?:0|[1-9][0-9]*)|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    ("float", r"^[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*|[0-9]+(?:\.[0-9]*)?[eE][-+]?[0-9]+)$",
     "-+.0123456789"),
    ("float", r"^(?:[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$", "-+."),
):  # fmt: skip
    ConfigLoader.add_implicit_resolver(
        f"tag:yaml.org,2002:{_tag}", re.compile(_pattern), list(_first)
    )


class ConfigDumper(yaml.SafeDumper):
    """YAML that reads back the same under `ConfigLoader` (YAML 1.2) and under YAML 1.1 readers
    (`yaml.safe_load`): text that either would read as something else (`1e5`, `0E0`, `yes`,
    `010`) is quoted. PyYAML's own writer quotes only what 1.1 would misread, so a run named
    `1e5` came back from its config.yaml as the number 100000.0.

    Text is written as UTF-8 (a class `ünï`, not `"\\xFCn\\xEF"`) unless `allow_unicode=False`
    is asked for; a text holding a character that shows nothing or moves the text (control,
    format such as U+202E, separators such as U+2028 or U+00A0, private or unassigned: what
    `str.isprintable` refuses, past ASCII) is written whole in escapes, as PyYAML writes it."""

    def __init__(self, *args: Any, **options: Any) -> None:
        if options.get("allow_unicode") is None:  # yaml.dump passes None when not asked
            options["allow_unicode"] = True
        super().__init__(*args, **options)
        self._unicode = bool(self.allow_unicode)

    def analyze_scalar(self, scalar: str) -> Any:
        # the emitter analyses each scalar just before it writes it, and reads allow_unicode
        # both here and as it writes the text in double quotes
        self.allow_unicode = self._unicode and all(c.isprintable() or c < "\x80" for c in scalar)
        return super().analyze_scalar(scalar)

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        found = super().resolve(kind, value, implicit)
        if kind is yaml.ScalarNode and implicit[0]:
            as_12 = _RESOLVE_12.resolve(kind, value, implicit)
            if as_12 != _STR_TAG:
                return as_12  # a number or bool under 1.2: text with this spelling is quoted
        return found


ConfigDumper.add_representer(TypedFloat, yaml.SafeDumper.represent_float)
ConfigDumper.add_representer(TypedInt, yaml.SafeDumper.represent_int)
_STR_TAG = "tag:yaml.org,2002:str"
_RESOLVE_12 = yaml.resolver.BaseResolver()
_RESOLVE_12.yaml_implicit_resolvers = ConfigLoader.yaml_implicit_resolvers


def dump_yaml(data: Any, **options: Any) -> str:
    """`data` as YAML text that `load_yaml` (and any YAML 1.1 reader) reads back unchanged;
    `options` as `yaml.dump` takes them (sort_keys, default_flow_style...)."""
    return yaml.dump(data, Dumper=ConfigDumper, **options)


__all__ = [
    "ConfigDumper",
    "ConfigLoader",
    "DuplicateKeyError",
    "dump_yaml",
]
