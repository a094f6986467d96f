"""Components by name: the built-in mobility models, allocators and strategies as one table
per kind (a new built-in is its class plus one row), registered like plugins; and building
the one a scenario names, with what a registered factory returns checked once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from cosim.mobility import (
    GaussMarkov,
    Highway,
    Linear,
    Paths,
    RandomWaypoint,
    Static,
    TraceFile,
    highway_lanes,
)
from cosim.scenario.registry import ComponentError, custom, make, register_builtin
from cosim.scenario.rules import dense_only_problem, in_flight_problem
from cosim.scenario.schema import Scenario
from cosim.world.cells import layout_tile, mobility_radius_m
from cosim.world.seeding import SeedBank
from fl import (
    STRATEGIES,
    TSFA,
    Allocation,
    AllocationRequest,
    Allocator,
    EqualShare,
    InFlightRequest,
    InverseSpectralEfficiency,
    MinMax,
    Oracle,
    Soft,
    SoftDelta,
    Strategy,
)

BlockRng = Callable[[int], np.random.Generator]


def _gauss_markov(s: Scenario, placement: np.ndarray, block: BlockRng) -> Paths:
    m = s.mobility
    return GaussMarkov(
        placement,
        block,
        mobility_radius_m(s),
        m.speed_min_mps,
        m.speed_max_mps,
        m.gm_memory,
        m.gm_update_s,
        np.deg2rad(m.gm_heading_std_deg),
    )


# name -> factory(scenario, placement [K, 3], block_rng): the signature of a registered one
MOBILITY = {
    "static": lambda s, placement, block: Static(placement),
    "linear": lambda s, placement, block: Linear(
        placement,
        block,
        mobility_radius_m(s),
        s.mobility.speed_min_mps,
        s.mobility.speed_max_mps,
    ),
    "random_waypoint": lambda s, placement, block: RandomWaypoint(
        placement,
        block,
        mobility_radius_m(s),
        s.mobility.speed_min_mps,
        s.mobility.speed_max_mps,
        s.mobility.pause_s,
        layout_tile(s),
    ),
    "gauss_markov": _gauss_markov,
    "highway": lambda s, placement, block: Highway(
        highway_lanes(placement, s.mobility.road_y_m),
        block,
        mobility_radius_m(s),
        s.mobility.speed_min_mps,
        s.mobility.speed_max_mps,
    ),
    "trace": lambda s, placement, block: TraceFile(
        Path(s.mobility.trace_file), s.clients.count, s.clients.height_m
    ),
}

# name -> factory(scenario)
ALLOCATORS = {
    "equal": lambda s: EqualShare(budget=s.strategy.budget),
    "inverse-se": lambda s: InverseSpectralEfficiency(budget=s.strategy.budget),
    "minmax": lambda s: MinMax(budget=s.strategy.budget),
    "oracle": lambda s: Oracle(budget=s.strategy.budget),
    "tsfa": lambda s: TSFA(
        s.allocation.lyapunov_v, s.allocation.latency_target_s, s.allocation.deadline_margin
    ),
}
STRATEGY_FACTORIES = {
    **{
        name: (lambda s, cls=cls: cls(s.strategy.bits_per_value))
        for name, cls in STRATEGIES.items()
    },
    "soft": lambda s: Soft(s.strategy.bits_per_value, s.strategy.orth_lambda),
    "soft-delta": lambda s: SoftDelta(s.strategy.bits_per_value, s.strategy.orth_lambda),
}

register_builtin("mobility", MOBILITY)
register_builtin("allocator", ALLOCATORS)
register_builtin("strategy", STRATEGY_FACTORIES)


class Registered(Allocator):
    """A registered allocator that does not subclass fl.Allocator (duck typed, as docs/API.md
    allows): its declared capabilities are read once, here, into the typed interface."""

    def __init__(self, made: object) -> None:
        self.made = made
        self.name = made.name
        self.chooses_budgets = bool(getattr(made, "chooses_budgets", False))
        self.needs_true_channel = bool(getattr(made, "needs_true_channel", False))
        self.splits_in_flight = bool(getattr(made, "splits_in_flight", False))

    def allocate(self, request: AllocationRequest) -> Allocation:
        """The registered allocator's answer."""
        return self.made.allocate(request)

    def observe(self, round_latency_s: float) -> None:
        """Passed on."""
        self.made.observe(round_latency_s)

    def split_in_flight(self, request: InFlightRequest) -> np.ndarray:
        """Passed on."""
        return self.made.split_in_flight(request)


def build_allocator(s: Scenario) -> Allocator:
    """The scenario's allocator (``allocation.name``): built in, or a registered one."""
    a = s.allocation
    made = make("allocator", a.name, s)
    if custom("allocator", a.name) is None:
        return made
    missing = [m for m in ("allocate", "observe") if not callable(getattr(made, m, None))]
    if missing or not isinstance(getattr(made, "name", None), str):
        raise ComponentError(
            f"allocation.name = {a.name!r}: the registered factory returned {made!r}, "
            "which lacks " + (", ".join(f"{m}()" for m in missing) or "a str `name`")
        )
    return made if isinstance(made, Allocator) else Registered(made)


def build_strategy(s: Scenario) -> Strategy:
    """The scenario's strategy (``strategy.name``): built in, or a registered one (checked
    against the budget as the schema checks the built-in ones)."""
    st = s.strategy
    made = make("strategy", st.name, s)
    if custom("strategy", st.name) is None:
        return made
    if not isinstance(made, Strategy):
        raise ComponentError(
            f"strategy.name = {st.name!r}: the registered factory returned {made!r}, "
            "not an fl.Strategy"
        )
    problem = dense_only_problem(st.name, made.dense_only, st.budget, "", False)
    if problem:
        raise ComponentError(problem)
    return made


def check_pair(s: Scenario, strategy: Strategy, allocator: Allocator) -> None:
    """The dense-only rule on the strategy and allocator as built (custom ones included)."""
    problem = dense_only_problem(
        s.strategy.name,
        strategy.dense_only,
        s.strategy.budget,
        s.allocation.name,
        allocator.chooses_budgets,
    )
    if problem:
        raise ComponentError(problem)
    problem = in_flight_problem(s.server.protocol, s.allocation.name, allocator.splits_in_flight)
    if problem:
        raise ComponentError(problem)


def build_mobility(s: Scenario, placement: np.ndarray, seeds: SeedBank) -> Paths:
    """The scenario's mobility model, starting from the placement (a trace has its own);
    a registered model gets the scenario, a copy of the placement and its random stream."""
    m = s.mobility

    def block(b: int) -> np.random.Generator:
        return seeds.rng("mobility", b)

    if custom("mobility", m.model) is None:
        return make("mobility", m.model, s, placement, block)
    made = make("mobility", m.model, s, placement.copy(), block)
    if not isinstance(made, Paths) or made.num_clients != s.clients.count:
        raise ComponentError(
            f"mobility.model = {m.model!r}: the registered factory must return a "
            f"cosim.mobility.Paths for clients.count = {s.clients.count} clients; got {made!r}"
        )
    return made
