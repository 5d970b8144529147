"""Named registries (domains, losses, tricks, metrics, loggers, conditioners) that plugins fill
through hooks.

The host owns names: duplicates are refused, lookups of unknown names get a did-you-mean, and
every entry remembers which plugin registered it so `ganhub plugins` can say who added what.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ganhub.errors import PluginError, UnknownName, one_line

T = TypeVar("T")

KINDS = ("domains", "losses", "tricks", "metrics", "loggers", "conditioners")

# id of a registered object -> (a weak reference to it, or the object where it takes none; the
# plugin that registered it): its errors name the plugin where the run lists no provenance
_REGISTERED_BY: dict[int, tuple[Any, str]] = {}


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered object with its name, one-line description and the plugin that added it."""

    name: str
    obj: T
    description: str
    plugin: str


def describe(obj: Any) -> str:
    """One-line description: an explicit `description` attribute, else the docstring's first
    sentence (which may wrap over several lines; a sentence ends at a full stop before a
    capital, so "et al. 2019" does not end it)."""
    explicit = getattr(obj, "description", None)
    if explicit:
        return str(explicit).strip().splitlines()[0]
    paragraph = (getattr(obj, "__doc__", None) or "").strip().split("\n\n")[0]
    return re.split(r"(?<=\.)\s+(?=[A-Z])", " ".join(paragraph.split()), maxsplit=1)[0]


class Registry(Generic[T]):
    """A name -> object table for one kind of extension."""

    def __init__(
        self, kind: str, singular: str, failed: Callable[[], list[Any]] | None = None
    ) -> None:
        self.kind = kind
        self.singular = singular
        self._entries: dict[str, Entry[T]] = {}
        self._failed = failed or list  # the plugins that failed to load: where a name may be

    def register(self, name: str, obj: T, *, plugin: str, description: str | None = None) -> None:
        """Add `obj` under `name`; a second registration of the same name is an error."""
        self.check_new([(name, obj, description)], plugin=plugin)
        self._entries[name] = Entry(name, obj, description or describe(obj), plugin)
        try:
            held: Any = weakref.ref(obj)
        except TypeError:  # an object without weak references (__slots__) is kept
            held = obj
        _REGISTERED_BY[id(obj)] = (held, plugin)

    def check_new(
        self, entries: list[tuple[str, Any, str | None]], *, plugin: str, taken: bool = True
    ) -> None:
        """Raise if any of a plugin's new entries has a bad or (unless `taken` is False: the
        caller settles clashes) a taken name; nothing is added."""
        seen: set[str] = set()
        for name, _, _ in entries:
            if not isinstance(name, str) or not name.isidentifier():
                raise PluginError(
                    f"plugin '{plugin}' registers {self.singular} {name!r}: names must be "
                    "identifiers (letters, digits, underscores)"
                )
            if name in seen:
                raise PluginError(f"plugin '{plugin}' registers {self.singular} '{name}' twice")
            if taken and name in self._entries:
                other = self._entries[name].plugin
                raise PluginError(
                    f"{self.singular} '{name}' is registered twice: by '{other}' and by '{plugin}'"
                )
            seen.add(name)

    def withdraw(self, plugin: str) -> None:
        """Remove every entry one plugin registered (the plugin was refused after the fact)."""
        self._entries = {n: e for n, e in self._entries.items() if e.plugin != plugin}

    def get(self, name: str) -> T:
        """Look up `name`, raising a did-you-mean error listing the known names."""
        try:
            return self._entries[name].obj
        except KeyError:
            raise self.unknown(name) from None

    def unknown(self, name: str) -> UnknownName:
        """The error for a name this registry does not hold: a did-you-mean, the names it
        holds, and the plugins that failed to load: in full the one the name is named after
        (it would have registered it), the others counted (`ganhub.failed_providers`)."""
        from ganhub.failed_providers import unknown_name

        return unknown_name(self.singular, name, self._entries, self._failed())

    def entry(self, name: str) -> Entry[T]:
        """The full entry (object, description, plugin) for `name`."""
        self.get(name)
        return self._entries[name]

    def names(self) -> list[str]:
        """Registered names in registration order."""
        return list(self._entries)

    def by_plugin(self, plugin: str) -> list[str]:
        """Names registered by one plugin."""
        return [e.name for e in self._entries.values() if e.plugin == plugin]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)


def registered_by(obj: object) -> str | None:
    """The plugin that last registered `obj` in any registry of this process, or None."""
    held, plugin = _REGISTERED_BY.get(id(obj), (None, ""))
    found = held() if isinstance(held, weakref.ref) else held
    return plugin if found is obj and obj is not None else None


def follows_naming(name: str, plugin: str, dist: str) -> bool:
    """Whether a registered `name` keeps docs/plugins.md's naming rule for a third-party
    plugin: it is the plugin's name, or starts with it and '_' (`spiral_squared_hinge` of
    plugin `spiral`); the distribution's name without `ganhub-` counts as the plugin's."""
    own = {plugin, re.sub(r"[-.]", "_", dist.lower()).removeprefix("ganhub_")}
    return any(p.isidentifier() and (name == p or name.startswith(p + "_")) for p in own)


def failed_note(plugins: list[str]) -> str:
    """' (plugins that failed to load: a, b; see ganhub plugins)', or '' when none did."""
    if not plugins:
        return ""
    names = one_line(", ".join(plugins), 200)
    return f" (plugins that failed to load: {names}; see ganhub plugins)"
