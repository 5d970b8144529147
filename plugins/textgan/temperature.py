"""The sampling temperature's one range and message, shared by `sample.temperature`,
`ganhub textgan generate --temperature`, `ganhub textgan curve --temperature`, the Python
API's `temperature=` and the system's `sample(temperature=)` / `nll(temperature=)`. Imports no
torch."""

from __future__ import annotations

from ganhub.errors import UsageError

# sample.temperature's range, the same for the config key, `ganhub textgan generate
# --temperature` and `sample(temperature=)`: at least the smallest normal float32 (the config's
# floor for any nonzero number; smaller T is greedy decoding all the same), at most 100 (above
# it the tempered softmax is uniform to float precision)
MIN_TEMPERATURE = 1.2e-38
MAX_TEMPERATURE = 100.0


def temperature_problem(value: object) -> str | None:
    """What is wrong with a sampling temperature (None: valid), one phrase for every way of
    giving one."""
    valid = (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and MIN_TEMPERATURE <= value <= MAX_TEMPERATURE
    )
    if valid:
        return None
    return (
        f"must be above 0 and at most {MAX_TEMPERATURE:g} (at least {MIN_TEMPERATURE:g}, "
        "float32's smallest normal number; near 0: greedy decoding; below 1: safer, less "
        "varied sentences)"
    )


def check_temperature(value: object, name: str) -> float:
    """`value` as a float when it is a valid sampling temperature, else a UsageError naming it
    as `name` (`--temperature`, `temperature`) with the config key's message."""
    problem = temperature_problem(value)
    if problem is not None:
        raise UsageError(f"{name}={value}: {problem}")
    assert isinstance(value, int | float)
    return float(value)


__all__ = ["MAX_TEMPERATURE", "MIN_TEMPERATURE", "check_temperature", "temperature_problem"]
