"""Rules across components, stated once: a dense-only strategy (``Strategy.dense_only``) needs
strategy.budget = 1.0 and an allocator that does not choose budgets
(``Allocator.chooses_budgets``). The schema applies them to built-in names, the world builder
to what registered factories return."""

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


def builtin_problem(strategy: str, budget: float, allocator: str) -> str | None:
    """``dense_only_problem`` for built-in names (custom ones are checked once built)."""
    if strategy not in STRATEGIES or allocator not in ALLOCATORS:
        return None
    return dense_only_problem(
        strategy,
        STRATEGIES[strategy].dense_only,
        budget,
        allocator,
        ALLOCATORS[allocator].chooses_budgets,
    )
