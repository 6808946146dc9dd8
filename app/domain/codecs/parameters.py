"""The parameters a codec declares, for a form generated from them: each parameter's kind,
bounds, choices, default and help, read from the codec's pydantic ``Config`` (its fields,
their constraints and their docstrings). Pure: the web process builds the run form from
these without importing any codec's heavy dependencies.

A form sends text; ``from_form`` turns the fields of one codec back into the values its
``Config`` validates, leaving an empty field out so that the codec's default applies.
"""

from __future__ import annotations

import math
import types
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

Kind = Literal["integer", "number", "boolean", "choice", "text"]


@dataclass(frozen=True)
class Parameter:
    name: str
    kind: Kind
    required: bool
    default: Any = None
    """The codec's default (None: none, or "not set" for an optional parameter)."""
    optional: bool = False
    """None is accepted: an empty field means "not set"."""
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    """The value must be above ``minimum`` (a float bounded by ``gt``)."""
    choices: tuple[str, ...] = ()
    help: str = ""

    @property
    def bounds(self) -> str:
        """The range in words, for the form's hint: "1 to 100", "above 0", "at most 6"."""
        low = None if self.minimum is None else _figure(self.minimum)
        high = None if self.maximum is None else _figure(self.maximum)
        if low is not None and high is not None and not self.exclusive_minimum:
            return f"{low} to {high}"
        parts = []
        if low is not None:
            parts.append(f"above {low}" if self.exclusive_minimum else f"at least {low}")
        if high is not None:
            parts.append(f"at most {high}")
        return ", ".join(parts)


def _figure(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1 and len(get_args(annotation)) == 2:
            return args[0], True
    return annotation, False


def _kind_and_choices(annotation: Any) -> tuple[Kind, tuple[str, ...]]:
    if get_origin(annotation) is Literal:
        return "choice", tuple(str(a) for a in get_args(annotation))
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return "choice", tuple(str(member.value) for member in annotation)
    if annotation is bool:
        return "boolean", ()
    if annotation is int:
        return "integer", ()
    if annotation is float:
        return "number", ()
    return "text", ()


def _bound(value: Any) -> float:
    return float(value)


def _parameter(name: str, field: FieldInfo) -> Parameter:
    annotation, optional = _unwrap_optional(field.annotation)
    kind, choices = _kind_and_choices(annotation)
    minimum: float | None = None
    maximum: float | None = None
    exclusive = False
    for constraint in field.metadata:
        if isinstance(constraint, annotated_types.Ge):
            minimum = _bound(constraint.ge)
        elif isinstance(constraint, annotated_types.Gt):
            # A whole number above n is at least n + 1; a real one stays "above n".
            if kind == "integer":
                minimum = _bound(constraint.gt) + 1
            else:
                minimum, exclusive = _bound(constraint.gt), True
        elif isinstance(constraint, annotated_types.Le):
            maximum = _bound(constraint.le)
        elif isinstance(constraint, annotated_types.Lt):
            maximum = _bound(constraint.lt) - (1 if kind == "integer" else 0)
    required = field.is_required()
    default = None if required or field.default is PydanticUndefined else field.default
    if isinstance(default, Enum):
        default = default.value
    return Parameter(
        name=name,
        kind=kind,
        required=required,
        default=default,
        optional=optional,
        minimum=minimum,
        maximum=maximum,
        exclusive_minimum=exclusive,
        choices=choices,
        help=" ".join((field.description or "").split()),
    )


def declared(config: type[BaseModel] | None) -> list[Parameter]:
    """The parameters of a codec's ``Config`` in declaration order (none without one)."""
    if config is None:
        return []
    return [_parameter(name, field) for name, field in config.model_fields.items()]


def with_choices(
    parameters: list[Parameter], choices: Mapping[str, tuple[str, ...]]
) -> list[Parameter]:
    """The parameters with choices known only on this server (the command-line codecs the
    operator declared) put in place of free text."""
    return [
        Parameter(**{**p.__dict__, "kind": "choice", "choices": choices[p.name]})
        if p.name in choices
        else p
        for p in parameters
    ]


def from_form(parameters: list[Parameter], fields: Mapping[str, str]) -> dict[str, Any]:
    """The values the codec's ``Config`` validates, from the text of its form fields: an
    empty field is left out (the default applies; a required one is then reported missing),
    a box left unticked is False. Text that is not a number of the right kind is passed on
    as typed, so that the ``Config`` refuses it in plain words and names the parameter."""
    values: dict[str, Any] = {}
    for parameter in parameters:
        if parameter.kind == "boolean":
            if parameter.name in fields:
                values[parameter.name] = fields[parameter.name] in ("true", "on", "yes", "1")
            continue
        text = fields.get(parameter.name, "").strip()
        if not text:
            continue
        values[parameter.name] = _typed(parameter.kind, text)
    return values


def _typed(kind: Kind, text: str) -> Any:
    if kind == "integer":
        try:
            return int(text)
        except ValueError:
            return text
    if kind == "number":
        try:
            number = float(text)
        except ValueError:
            return text
        return number if math.isfinite(number) else text
    return text
