"""Proposal methods by name. Each method module of this package registers its method when
imported; the registry imports them all the first time it is asked, so a caller never names
a module and a new method is one new module (see ``app/studies/methods/__init__.py``)."""

from __future__ import annotations

import importlib
import pkgutil
import re
import threading
from collections.abc import Collection
from typing import Any

from pydantic import BaseModel, ValidationError

from app.domain.validation import validation_message
from app.studies.methods.base import CONTROL, NAME_LENGTH, SAMPLE, TARGETED, ProposalMethod

_METHODS: dict[str, ProposalMethod[Any]] = {}
_PACKAGE = __name__.rpartition(".")[0]
_NOT_METHODS = frozenset({"base", "registry"})
_NAME = re.compile(rf"[a-z][a-z0-9_-]{{0,{NAME_LENGTH - 1}}}")
_discovery = threading.RLock()
_discovered = False


class UnknownMethod(ValueError):
    pass


def _discover() -> None:
    """Import every method module of the package once. The flag is set before importing, so
    the ``register`` calls the imports make do not discover again; the lock makes another
    thread wait until every built-in method is there."""
    global _discovered
    with _discovery:
        if _discovered:
            return
        _discovered = True
        package = importlib.import_module(_PACKAGE)
        for module in pkgutil.iter_modules(package.__path__):
            if module.name not in _NOT_METHODS and not module.name.startswith("_"):
                importlib.import_module(f"{_PACKAGE}.{module.name}")


def register(method: ProposalMethod[Any]) -> None:
    """Add a method; its name must fit ``study_item.method`` and be new."""
    _discover()
    if not _NAME.fullmatch(method.name) or method.name == CONTROL:
        raise ValueError(
            f"proposal method name {method.name!r}: lower-case letters, digits, - and _, "
            f"at most {NAME_LENGTH} characters, and not {CONTROL!r}"
        )
    if method.name in _METHODS:
        raise ValueError(f"proposal method {method.name!r} is registered already")
    _METHODS[method.name] = method


def unregister(name: str) -> None:
    """Forget a method (tests register their own and remove them afterwards)."""
    _METHODS.pop(name, None)


def names() -> list[str]:
    return [method.name for method in methods()]


def methods(only: Collection[str] | None = None) -> list[ProposalMethod[Any]]:
    """Every method (or those named in ``only``, each of which must be registered):
    targeted ones in their fill order, then samples, each by name."""
    _discover()
    found = _METHODS.values() if only is None else [get(name) for name in set(only)]
    return sorted(found, key=lambda m: (m.kind != TARGETED, m.fill_order, m.name))


def get(name: str) -> ProposalMethod[Any]:
    _discover()
    try:
        return _METHODS[name]
    except KeyError:
        raise UnknownMethod(
            f"unknown proposal method {name!r}; known: {', '.join(names())}"
        ) from None


def is_sample(name: str) -> bool:
    """Whether items of this method are a design-based sample; False for a method no longer
    registered (its crops cannot be weighted as a sample they may not be)."""
    _discover()
    method = _METHODS.get(name)
    return method is not None and method.kind == SAMPLE


def validated_params(
    name: str, params: dict[str, Any], *, chosen: Collection[str]
) -> dict[str, Any]:
    """``params`` checked by the method's ``params_model``, as JSON to store on the study; a
    ValueError names the method and each wrong parameter."""
    if name not in chosen:
        raise ValueError(f"parameters for {name!r}, which is not one of the study's methods")
    try:
        checked: BaseModel = get(name).params_model.model_validate(params)
    except ValidationError as exc:
        raise ValueError(validation_message(exc.errors(), within=name)) from None
    return checked.model_dump(mode="json")
