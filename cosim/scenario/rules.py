"""Rules across components, stated once: a dense-only strategy (``Strategy.dense_only``) needs
strategy.budget = 1.0 and an allocator that does not choose budgets
(``Allocator.chooses_budgets``); fedasync/fedbuff need an allocator that splits the band among
uploads in flight (``Allocator.splits_in_flight``). The schema applies them to built-in names,
the world builder to what registered factories return."""

from __future__ import annotations

from fl import ALLOCATORS, STRATEGIES


def sparse_strategies() -> list[str]:
    """The built-in strategies that can send less than their dense update."""
    return [name for name, cls in STRATEGIES.items() if not cls.dense_only]


def dense_only_problem(
    strategy: str, dense_only: bool, budget: float, allocator: str, chooses_budgets: bool
) -> str | None:
    """Why this strategy cannot run with this budget and allocator (None when it can)."""
    if not dense_only:
        return None
    sparse = sparse_strategies()
    if budget != 1.0:
        return (
            f"strategy.name = {strategy!r} is dense only (it sends dense updates): "
            f"strategy.budget ({budget}) must be 1.0; sparse ones: {', '.join(sparse)}"
        )
    if chooses_budgets:
        return (
            f"allocation.name = {allocator!r} chooses sparsity budgets; strategy.name = "
            f"{strategy!r} is dense only (use {', '.join(sparse[:-1])} or {sparse[-1]})"
        )
    return None


def in_flight_problem(protocol: str, allocator: str, splits_in_flight: bool) -> str | None:
    """Why this allocator cannot share the band under this protocol (None when it can):
    fedasync/fedbuff re-split the band whenever an upload starts or ends
    (``Allocator.splits_in_flight``)."""
    if protocol not in ("fedasync", "fedbuff") or splits_in_flight:
        return None
    able = [name for name, cls in ALLOCATORS.items() if cls.splits_in_flight]
    return (
        f"allocation.name = {allocator!r} does not split the band among uploads in flight "
        f"(split_in_flight), which server.protocol = {protocol!r} needs; allocators that do: "
        + ", ".join(able)
    )


def builtin_problem(
    strategy: str, budget: float, allocator: str, protocol: str = "sync"
) -> str | None:
    """``dense_only_problem`` and ``in_flight_problem`` for built-in names (custom ones are
    checked once built)."""
    if allocator in ALLOCATORS:
        problem = in_flight_problem(protocol, allocator, ALLOCATORS[allocator].splits_in_flight)
        if problem:
            return problem
    if strategy not in STRATEGIES or allocator not in ALLOCATORS:
        return None
    return dense_only_problem(
        strategy,
        STRATEGIES[strategy].dense_only,
        budget,
        allocator,
        ALLOCATORS[allocator].chooses_budgets,
    )
