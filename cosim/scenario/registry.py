"""Names a scenario file may give a mobility model, an allocator or a strategy: the built-in
ones, and custom components a user registers from Python under a name of their own."""

from __future__ import annotations

import contextlib
import contextvars
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

Factory = Callable[..., Any]


@dataclass(frozen=True)
class Kind:
    """One kind of component: the scenario field naming it, its built-in names, and the
    signature its factories are called with (for messages)."""

    field: str
    signature: str


KINDS: dict[str, Kind] = {
    "mobility": Kind(
        "mobility.model",
        "factory(scenario, placement, block_rng) -> cosim.mobility.Paths",
    ),
    "allocator": Kind(
        "allocation.name",
        "factory(scenario) -> an allocator (name, allocate(request), observe(latency_s))",
    ),
    "strategy": Kind(
        "strategy.name",
        "factory(scenario) -> fl.Strategy",
    ),
}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_builtin: dict[str, dict[str, Factory]] = {kind: {} for kind in KINDS}
_custom: dict[str, dict[str, Factory]] = {kind: {} for kind in KINDS}
_any_name = contextvars.ContextVar("any_name", default=False)


class RegistryError(ValueError):
    """A registration that cannot be accepted (bad name, clash with a built-in or another)."""


class ComponentError(ValueError):
    """A registered factory gave something the engine cannot use; says which and why."""


class ContractError(RuntimeError):
    """A component broke its contract during a run (an allocator's answer of the wrong shape,
    type or range, a plugin calling sys.exit); names the component, the method and the field."""


def register(kind: str, name: str, factory: Factory | None = None, *, replace: bool = False):
    """Register ``factory`` under ``name`` for ``kind``; usable as a decorator when
    ``factory`` is left out. Registering the same factory twice is a no-op."""
    if kind not in KINDS:
        raise RegistryError(f"unknown component kind {kind!r}; kinds: {', '.join(KINDS)}")
    spec = KINDS[kind]
    if not isinstance(name, str) or not _NAME.match(name):
        raise RegistryError(
            f"{spec.field} name {name!r}: letters, digits, '_', '-' or '.', at most 64 "
            "characters, starting with a letter or digit"
        )
    if name in _builtin[kind]:
        raise RegistryError(f"{spec.field} = {name!r} is built in; register under another name")

    def add(f: Factory) -> Factory:
        if not callable(f):
            raise RegistryError(f"{spec.field} = {name!r}: factory must be callable, got {f!r}")
        old = _custom[kind].get(name)
        if old is not None and old is not f and not replace:
            raise RegistryError(
                f"{spec.field} = {name!r} is already registered (by {old!r}); "
                "pass replace=True to replace it"
            )
        _custom[kind][name] = f
        return f

    return add if factory is None else add(factory)


def register_mobility(name: str, factory: Factory | None = None, *, replace: bool = False):
    """Register a mobility model: ``factory(scenario, placement [K, 3], block_rng)`` returns a
    ``cosim.mobility.Paths`` subclass instance; a scenario selects it by mobility.model."""
    return register("mobility", name, factory, replace=replace)


def register_allocator(name: str, factory: Factory | None = None, *, replace: bool = False):
    """Register an allocator: ``factory(scenario)`` returns an object with ``name``,
    ``allocate(AllocationRequest) -> Allocation`` and ``observe(latency_s)``."""
    return register("allocator", name, factory, replace=replace)


def register_strategy(name: str, factory: Factory | None = None, *, replace: bool = False):
    """Register a federated strategy: ``factory(scenario)`` returns an ``fl.Strategy``."""
    return register("strategy", name, factory, replace=replace)


def register_builtin(kind: str, table: dict[str, Factory]) -> None:
    """The built-in components of ``kind``, name -> factory with the signature a registered
    one has (cosim.world.components holds the tables and registers them on import)."""
    _builtin[kind].update(table)


def builtin_names(kind: str) -> tuple[str, ...]:
    """The built-in names of ``kind``, in their table's order."""
    return tuple(_builtin[kind])


def unregister(kind: str, name: str) -> None:
    """Forget a custom component (no-op when it is not registered)."""
    _custom[kind].pop(name, None)


def names(kind: str) -> tuple[str, ...]:
    """Every name ``kind`` accepts now: the built-in ones, then the registered ones."""
    return builtin_names(kind) + tuple(sorted(_custom[kind]))


def custom(kind: str, name: str) -> Factory | None:
    """The factory registered under ``name``, or None for a built-in (or unknown) name."""
    return _custom[kind].get(name)


def make(kind: str, name: str, *args: Any) -> Any:
    """Call the factory of ``name``: a built-in one as it is; for a registered one, a
    ValueError, TypeError or KeyError it raises (say, over its options) comes back as
    ComponentError naming the field."""
    if name in _builtin[kind]:
        return _builtin[kind][name](*args)
    try:
        return _custom[kind][name](*args)
    except SystemExit as exc:
        raise ComponentError(
            f"{KINDS[kind].field} = {name!r}: its factory called sys.exit({exc.code!r})"
        ) from None
    except (ValueError, TypeError, KeyError) as exc:
        raise ComponentError(f"{KINDS[kind].field} = {name!r}: {exc}") from exc


def known(kind: str) -> Callable[[str], str]:
    """A validator: the value, when ``kind`` knows it; else ValueError naming the choices."""
    spec = KINDS[kind]

    def check(value: str) -> str:
        if value in _builtin[kind] or value in _custom[kind] or _any_name.get():
            return value
        registered = ", ".join(repr(n) for n in sorted(_custom[kind])) or "none"
        raise ValueError(
            f"{spec.field} = {value!r} is not a known name; built in: "
            f"{', '.join(repr(n) for n in builtin_names(kind))}; "
            f"registered from Python: {registered} "
            f"(register one with cosim.register_{kind}, and on the command line load it with "
            "--plugin)"
        )

    return check


@contextlib.contextmanager
def any_name() -> Iterator[None]:
    """Within it, scenarios accept unregistered component names: for reading back a run
    folder whose custom components are not registered in this process (nothing is built)."""
    token = _any_name.set(True)
    try:
        yield
    finally:
        _any_name.reset(token)
