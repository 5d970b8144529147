"""What a plugin registers is checked when it loads, so a wrong part never fails deep in a
run: the kind of object (an instance or a class of the right base), its own name, and the
options its config classes hold."""

from __future__ import annotations

from typing import Any

from ganhub.plugin_config_checks import config_problem

# what the loader (`ganhub.plugins`), config resolution and `ganhub.testing` ask
__all__ = [
    "direction_mistake",
    "entry_problem",
    "hook_problem",
    "logger_problem",
    "metric_problem",
    "restriction_mistake",
    "trick_problem",
    "wrong_kind",
]


def wrong_kind(kind: str, obj: Any) -> str | None:
    """Why `obj` cannot be registered as `kind` (None when it can): losses, metrics, domains
    and conditioners are instances of their base class; tricks and loggers are subclasses
    (built per run). Checked at registration, so a wrong kind never fails deep in training."""
    from ganhub.conditioning import Conditioner
    from ganhub.domain import Domain
    from ganhub.loggers import Logger
    from ganhub.losses import AdversarialLoss
    from ganhub.metrics import Metric
    from ganhub.tricks import Trick

    instances: dict[str, type] = {"domains": Domain, "losses": AdversarialLoss, "metrics": Metric,
                 "conditioners": Conditioner}  # fmt: skip
    classes: dict[str, type] = {"tricks": Trick, "loggers": Logger}
    if kind in instances and not isinstance(obj, instances[kind]):
        base = instances[kind]
        if isinstance(obj, type) and issubclass(obj, base):
            return f"as the class {obj.__name__}; register an instance: {obj.__name__}()"
        return f"as {type(obj).__name__}; it must be a {base.__module__}.{base.__name__} instance"
    if kind in classes and not (isinstance(obj, type) and issubclass(obj, classes[kind])):
        base = classes[kind]
        if isinstance(obj, base):
            return f"as an instance; register the class itself: {type(obj).__name__}"
        return (
            f"as {type(obj).__name__}; it must be a subclass of {base.__module__}.{base.__name__}"
        )
    return config_problem(kind, obj)


def entry_problem(kind: str, name: str, obj: Any) -> str | None:
    """Why a plugin's entry `name` of `kind` cannot be registered (None when it can): its kind,
    its own name, a method that would never be called, a method ganhub cannot call."""
    return (
        wrong_kind(kind, obj)
        or misnamed(kind, name, obj)
        or (trick_problem(obj) if kind == "tricks" else None)
        or (restriction_problem(obj) if kind == "tricks" else None)
        or (loss_problem(obj) if kind == "losses" else None)
        or (metric_problem(obj) if kind == "metrics" else None)
        or (logger_problem(obj) if kind == "loggers" else None)
    )


# the kinds whose objects carry the name they are registered under (a logger only when it has
# options: it reads them from `logger.<name>`, so it names itself then)
_NAMED_KINDS = ("domains", "losses", "tricks", "metrics", "conditioners", "loggers")


def misnamed(kind: str, name: str, obj: Any) -> str | None:
    """An object whose own `name` is not the name it is registered under: a run keys a trick's
    checkpoint state and options by it, errors and their plugin are found by it (a loss's, a
    metric's), so an alias would name, or collide with, the original."""
    own = getattr(obj, "name", name)
    if kind == "loggers" and not own:
        return None
    if kind in _NAMED_KINDS and own != name:
        return f"whose name attribute is {own!r}; set name = {name!r} on the class"
    return None


# helper names at least this close to a fixed point's (difflib's ratio) are taken for a
# misspelling of it: a plural, a letter left out or added ("extra_losses", "afterstep"); one
# letter of ten replaced ("eval_batch" for "real_batch"), "target_for", "optimizers" pass
NEAR_MISS = 0.905

# what ganhub calls on a metric (an instance) and on a logger (a class it builds per run); a
# metric's `direction` and `scores` are checked as signatures only (a helper `score` is common)
METRIC_METHODS = ("compute", "supports", "check", "fewest_samples")
LOGGER_METHODS = ("problems", "resumed_at", "log", "log_artifacts", "on_error", "close")

# what a trick declares besides methods: options and restrictions. A class with none of them
# and no trick method does nothing (its one method misnamed beyond a near miss); one with them
# is left alone, its restrictions acting on runs even without a method
_DECLARED = ("Config", "suits_losses", "modalities", "excludes", "needs_trained_weights")


def trick_problem(cls: Any) -> str | None:
    """A public method of a trick class (its own, not Trick's) named like no fixed point but
    close to one (the loop would never call it), a fixed point whose signature cannot take
    the arguments the loop passes (a TypeError mid-run otherwise), or a class that overrides
    no trick method and declares nothing (it would silently do nothing)."""
    import inspect

    from ganhub.tricks import HOOK_POINTS, TRICK_METHODS, Trick

    found = _near_miss(cls, Trick, TRICK_METHODS, "trick") or _signature_problem(
        cls, Trick, TRICK_METHODS
    )
    if found:
        return found
    methods = (*TRICK_METHODS, "constrains_d")
    if any(inspect.getattr_static(cls, m) is not inspect.getattr_static(Trick, m) for m in methods):
        return None
    if any(getattr(cls, a, None) is not getattr(Trick, a) for a in _DECLARED):
        return None
    return (
        f"which overrides no trick method ({', '.join(HOOK_POINTS)}) and declares no options "
        "or restrictions, so it would do nothing; define the fixed point it acts at"
    )


def metric_problem(metric: Any) -> str | None:
    """A metric's public method close to one ganhub calls (`support` for `supports`: never
    called), a method ganhub calls whose signature cannot take what it passes (`compute`
    without `n_samples`: a TypeError once the run has trained), or a `better` table with
    another direction than 'lower', 'higher' or None (read as higher-is-better)."""
    from ganhub.metrics import Metric

    cls = type(metric)
    mistake = direction_mistake(getattr(metric, "better", None))
    return (
        _near_miss(cls, Metric, METRIC_METHODS, "metric")
        or _signature_problem(cls, Metric, (*METRIC_METHODS, "direction", "scores"))
        or (f"whose {mistake}" if mistake else None)
    )


def logger_problem(cls: Any) -> str | None:
    """A logger's public method close to one ganhub calls (`logg`: never called), or one
    ganhub calls whose signature cannot take what it passes (a TypeError mid-run). Its
    constructor is left to the run, which names the logger when building it fails."""
    from ganhub.loggers import Logger

    return _near_miss(cls, Logger, LOGGER_METHODS, "logger") or _signature_problem(
        cls, Logger, LOGGER_METHODS
    )


def direction_mistake(better: Any) -> str | None:
    """What is wrong with a metric's `better` table ("better['m'] is 'smaller'; use ..."), or
    None: anything but 'lower', 'higher' or None was read as higher-is-better, so
    trainer.keep_best kept the worst checkpoint."""
    from collections.abc import Mapping

    if not isinstance(better, Mapping):
        return (
            f"better is {type(better).__name__}; it must map each reported key to 'lower', "
            "'higher' or None: better = {'key': 'lower'}"
        )
    for key, way in better.items():
        if not isinstance(key, str):
            return f"better has the key {key!r}; its keys are the names compute() reports"
        if way is not None and not (isinstance(way, str) and way in ("lower", "higher")):
            return f"better[{key!r}] is {way!r}; use 'lower', 'higher' or None"
    return None


def _near_miss(cls: Any, base: type, methods: tuple[str, ...], kind: str) -> str | None:
    """A public method of `cls` (its own or its bases', not `base`'s) named like none of the
    `methods` ganhub calls but close to one, as "whose method 'x' ... (did you mean 'y'?)"."""
    import difflib
    import inspect

    for klass in cls.__mro__:
        if klass in base.__mro__:
            continue
        for attr, value in vars(klass).items():
            if attr.startswith("_") or hasattr(base, attr):
                continue
            if not isinstance(value, staticmethod | classmethod) and not inspect.isfunction(value):
                continue
            # one letter of a short name is a large share of it: `logg` for `log`
            close = difflib.get_close_matches(attr, methods, n=1, cutoff=NEAR_MISS) or [
                m for m in methods if _one_edit(attr, m)
            ]
            if close:
                return (
                    f"whose method '{attr}' is no {kind} method, so ganhub never calls it (did "
                    f"you mean '{close[0]}'?); rename it, or start a helper's name with '_'"
                )
    return None


def _one_edit(a: str, b: str) -> bool:
    """Whether `a` is `b` with one letter replaced, added or left out."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    return a[i + 1 :] == b[i + 1 :] or a[i:] == b[i + 1 :] or a[i + 1 :] == b[i:]


def _signature_problem(cls: Any, base: type, methods: tuple[str, ...]) -> str | None:
    """A method of `methods` that `cls` overrides with a signature that cannot take the
    arguments `base`'s takes (positional ones and keyword-only ones)."""
    import inspect

    for method in methods:
        raw, own = inspect.getattr_static(cls, method), inspect.getattr_static(base, method)
        if raw is own:
            continue
        params = inspect.signature(getattr(own, "__func__", own)).parameters.values()
        count = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)
        keywords = {p.name: None for p in params if p.kind is p.KEYWORD_ONLY}
        if isinstance(raw, staticmethod | classmethod):  # `problems` is called on the class
            func, count = getattr(cls, method), count - 1
        elif inspect.isfunction(raw):  # bound to the object, unless called on the class
            func, count = raw, count - isinstance(own, classmethod)
        else:
            continue
        if not _takes(func, count, **keywords):
            return (
                f"whose {_shown(method, func)} cannot take what ganhub passes: define "
                f"{_shown(method, own)}"
            )
    return None


def restriction_problem(cls: Any) -> str | None:
    """A trick's `suits_losses` or `excludes` that is no set of names (a str: `"hinge"`
    suits 'hinge' and 'in'; a list: `excludes & tricks` fails), or names something no plugin
    can register (names are identifiers)."""
    for attr, kind in (("suits_losses", "loss"), ("excludes", "trick")):
        value = getattr(cls, attr, None)
        if value is None and attr == "suits_losses":
            continue
        if not isinstance(value, set | frozenset):
            return (
                f"whose {attr} is {type(value).__name__}; it must be a frozenset of {kind} names: "
                f"{attr} = frozenset({{...}})"
            )
        bad = next((n for n in value if not isinstance(n, str) or not n.isidentifier()), None)
        if bad is not None:
            return f"whose {attr} names {bad!r}, which is no {kind} name (names are identifiers)"
    return None


_NOT_YOURS = "a mistake of its plugin, not of your config"


def restriction_mistake(cls: Any, loss: str, tricks: list[str], hub: Any) -> str | None:
    """A typo in an enabled trick's `suits_losses` or `excludes` that matters to a run (with
    loss `loss` and tricks `tricks`), said as its plugin's mistake: a name no installed plugin
    registers close to the run's loss, which the trick refuses, or to one of the run's tricks,
    which it does not exclude; or `suits_losses` naming no installed loss at all."""
    import difflib

    losses = hub.losses.names()
    suits = sorted(cls.suits_losses or ())
    unknown = [n for n in suits if n not in losses]
    if cls.suits_losses is not None and loss not in suits and unknown:
        typo = next((n for n in unknown if difflib.get_close_matches(n, [loss], 1, 0.8)), None)
        if typo is not None:
            return (
                f"its suits_losses names '{typo}', which no installed plugin registers (did you "
                f"mean '{loss}'?), so it refuses loss '{loss}': {_NOT_YOURS}"
            )
        if len(unknown) == len(suits):
            return (
                f"its suits_losses names only losses no installed plugin registers "
                f"({', '.join(unknown)}), so it refuses every loss: a plugin it needs is "
                "missing, or a mistake of its own"
            )
    for name in sorted(set(cls.excludes) - set(hub.tricks.names())):
        meant = difflib.get_close_matches(name, [t for t in tricks if t != cls.name], 1, 0.8)
        if meant:
            return (
                f"its excludes names '{name}', which no installed plugin registers (did you mean "
                f"'{meant[0]}'?), so it does not exclude '{meant[0]}' of this run: {_NOT_YOURS}"
            )
    return None


# how many arguments the run passes to a loss's methods, positionally (and real_weight= to a
# d_loss that has it), and the signature to write
_LOSS_CALLS = {
    "d_loss": (3, "d_loss(self, real, fake, targets=Targets())"),
    "g_loss": (3, "g_loss(self, fake, real=None, targets=Targets())"),
    "decision_threshold": (1, "decision_threshold(self, targets=Targets())"),
}


def loss_problem(loss: Any) -> str | None:
    """A loss method whose signature cannot take the arguments the run passes (a TypeError
    mid-run otherwise)."""
    for method, (count, expected) in _LOSS_CALLS.items():
        func = getattr(loss, method, None)
        if func is None:
            continue
        weighs = method == "d_loss" and "real_weight" in _parameters(func)
        if not _takes(func, count) or (weighs and not _takes(func, count, real_weight=None)):
            return f"whose {_shown(method, func)} cannot take what ganhub passes: define {expected}"
    return None


def _parameters(func: Any) -> list[str]:
    import inspect

    try:
        return list(inspect.signature(func).parameters)
    except (TypeError, ValueError):
        return []


def _takes(func: Any, count: int, **keywords: Any) -> bool:
    """Whether `func` can be called with `count` positional arguments (and `keywords`); True
    when its signature cannot be read."""
    import inspect

    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return True
    try:
        signature.bind(*([None] * count), **keywords)
    except TypeError:
        return False
    return True


def _shown(method: str, func: Any) -> str:
    """'after_step(self, step)': the method as its author wrote it."""
    import inspect

    try:
        signature = inspect.signature(getattr(func, "__func__", func))
    except (TypeError, ValueError):
        return f"{method}()"
    empty = inspect.Parameter.empty
    bare = [p.replace(annotation=empty, default=empty) for p in signature.parameters.values()]
    return f"{method}{signature.replace(parameters=bare, return_annotation=empty)}"


def hook_problem(plugin: object) -> str | None:
    """Why a plugin's hooks would silently never run (None when they would): an @hookimpl
    named after no ganhub hook (`after_steps`), an argument its hook does not have
    (`metricz`), or a function named like a hook without @hookimpl (pluggy ignores it)."""
    from ganhub import hookspecs
    from ganhub.errors import did_you_mean

    specs = [n for n in dir(hookspecs) if hasattr(getattr(hookspecs, n), "ganhub_spec")]
    for attr in dir(plugin):
        obj = getattr(plugin, attr, None)
        options = getattr(obj, "ganhub_impl", None)
        if isinstance(options, dict):
            name = options.get("specname") or attr
            if name not in specs:
                return f"its @hookimpl '{name}' is no ganhub hook{did_you_mean(name, specs)}"
            valid = _required_arguments(getattr(hookspecs, name))
            unknown = [a for a in _required_arguments(obj) if a not in valid]
            if unknown:  # pluggy's own error names neither the hook's arguments nor the docs
                listed = ", ".join(repr(a) for a in unknown)
                return (
                    f"its @hookimpl '{name}': Argument(s) {{{listed}}} are declared in the "
                    f"hookimpl but can not be found in the hookspec; {name} takes any of: "
                    f"{', '.join(valid)}{did_you_mean(unknown[0], valid)} (see docs/hooks.md)"
                )
        elif attr in specs and callable(obj) and not hasattr(obj, "ganhub_spec"):
            return (
                f"its function '{attr}' is named like a ganhub hook but lacks @hookimpl "
                "(from ganhub.hookspecs import hookimpl)"
            )
    return None


def _required_arguments(func: Any) -> list[str]:
    """The arguments pluggy passes by name: positional ones without a default (`self` of a
    bound method excluded), as pluggy's own check counts them."""
    import inspect

    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return []
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [p.name for p in params if p.kind in positional and p.default is p.empty]
