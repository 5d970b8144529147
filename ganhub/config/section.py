"""`Section`, the base of every config section, and the rules it holds each value to: numbers
finite and within float32's and int64's range, true/false never a number, `~` and `$VAR`
expanded in paths, a number typed for a text key kept as typed (`TypedFloat`, `TypedInt`),
a section's shorthand (`data=folder`). `ganhub.config.schema` re-exports these names."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, get_args

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator, model_validator

# The largest float a hyperparameter may take: torch's fused optimizers and most kernels convert
# them to float32, which overflows past this (lr=1e39 stopped deep inside Adam).
FLOAT32_MAX = 3.4028234663852886e38
# The smallest normal float32: below it a value loses its precision and, flushed to zero on
# GPUs or under 1.4e-45, becomes 0 (lr=1e-50 trained nothing while the docs say lr > 0).
FLOAT32_TINY = 1.1754943508222875e-38
# Integer keys end up in torch and numpy as int64: above this `trainer.steps` trained forever.
INT64_MAX = 2**63 - 1


def expand_path_text(text: str) -> str:
    """A path as a user typed it, with `~` and `$VAR` / `${VAR}` expanded (unset variables
    stay as written, so the error about the missing path shows them)."""
    return os.path.expanduser(os.path.expandvars(text))


def holds_path(annotation: Any) -> bool:
    """Whether a field's type is a Path (possibly optional, or a list of paths)."""
    if annotation is Path:
        return True
    return any(holds_path(arg) for arg in get_args(annotation))


def _takes_number_not_bool(annotation: Any) -> bool:
    """Whether a field takes an int or float (possibly optional) and no bool."""
    options = get_args(annotation) or (annotation,)
    return bool({int, float} & set(options)) and bool not in options


class TypedFloat(float):
    """A number read from `key=value` that remembers how it was typed (`1.10`, `2024.10`): a text
    key (a run name, a folder) takes the text as typed, a number key the number."""

    text: str

    def __new__(cls, value: float, text: str = "") -> TypedFloat:
        self = super().__new__(cls, value)
        self.text = text or repr(float(value))
        return self


class TypedInt(int):
    """An integer read from `key=value` that remembers how it was typed (`+5`); see TypedFloat."""

    text: str

    def __new__(cls, value: int, text: str = "") -> TypedInt:
        self = super().__new__(cls, value)
        self.text = text or str(int(value))
        return self


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, assignments are validated,
    numbers are finite (NaN and infinity are refused, and so are floats float32 cannot hold),
    and true/false is not a number (`trainer.steps=true` would otherwise mean 1)."""

    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, protected_namespaces=(), allow_inf_nan=False
    )

    # A scalar written for the whole section (`data=folder`) sets this field instead.
    shorthand: ClassVar[str | None] = None

    @field_validator("*", mode="after")
    @classmethod
    def _float32_range(cls, v: Any) -> Any:
        values = v if isinstance(v, tuple | list) else (v,)
        floats = [abs(x) for x in values if isinstance(x, float)]
        if any(x > FLOAT32_MAX for x in floats):
            raise ValueError(f"{v} is out of float32's range (|x| < 3.4e38)")
        if any(0 < x < FLOAT32_TINY for x in floats):
            raise ValueError(
                f"{v} is too small for float32 and would become 0 (a nonzero value needs "
                "|x| >= 1.2e-38)"
            )
        if any(isinstance(x, int) and abs(x) > INT64_MAX for x in values):
            raise ValueError(f"{v} is out of int64's range (|x| < 9.2e18)")
        return v

    @field_validator("*", mode="before")
    @classmethod
    def _numbers_as_text(cls, v: Any, info: ValidationInfo) -> Any:
        # `name=1.10` reads as a number before its key's type is known: a text key takes it as
        # typed (a number with leading zeros, `007`, already stays text when it is read)
        field = cls.model_fields.get(info.field_name or "")
        if field is None or isinstance(v, bool) or not isinstance(v, int | float):
            return v
        options = get_args(field.annotation) or (field.annotation,)
        if ({str, Path} & set(options)) and not ({int, float} & set(options)):
            return v.text if isinstance(v, TypedFloat | TypedInt) else str(v)
        return v

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_numbers(cls, v: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        if isinstance(v, bool) and field is not None and _takes_number_not_bool(field.annotation):
            raise ValueError(f"a number is needed, not {str(v).lower()}")
        return v

    @field_validator("*", mode="before")
    @classmethod
    def _expand_user_paths(cls, v: Any, info: ValidationInfo) -> Any:
        # Paths are typed after `key=`, where the shell expands neither ~ nor $VAR
        field = cls.model_fields.get(info.field_name or "")
        if field is None or not holds_path(field.annotation):
            return v
        if isinstance(v, str):
            return expand_path_text(v)
        if isinstance(v, list | tuple):
            return type(v)(expand_path_text(x) if isinstance(x, str) else x for x in v)
        return v

    @model_validator(mode="before")
    @classmethod
    def _expand_shorthand(cls, value: Any) -> Any:
        if cls.shorthand and isinstance(value, str | int | float):
            return {cls.shorthand: value}
        return value


__all__ = [
    "FLOAT32_MAX",
    "FLOAT32_TINY",
    "INT64_MAX",
    "Section",
    "TypedFloat",
    "TypedInt",
    "expand_path_text",
    "holds_path",
]
