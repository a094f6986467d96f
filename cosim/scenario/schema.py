"""The scenario schema: the whole Scenario (its sections and the checks across them), and
loading, updating and writing it."""

from __future__ import annotations

import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Self

from pydantic import ValidationError, model_validator

from cosim.scenario import errors
from cosim.scenario.cells import ISD_DEFAULTS_M, CellsSection
from cosim.scenario.errors import ScenarioError
from cosim.scenario.io import apply_overrides, read_toml, toml_text
from cosim.scenario.rules import builtin_problem
from cosim.scenario.sections import (
    AllocationSection,
    ChannelSection,
    ClientsSection,
    ComputeSection,
    DataSection,
    DeadlineSection,
    FlSection,
    MobilitySection,
    ModelSection,
    OutputSection,
    RunSection,
    Section,
    StrategySection,
    TrainSection,
)
from cosim.scenario.server import FEDBUFF_BUFFER, OVERCOMMIT, DownlinkSection, ServerSection


class Scenario(Section):
    """A whole scenario; every section and field has a default."""

    run: RunSection = RunSection()
    clients: ClientsSection = ClientsSection()
    mobility: MobilitySection = MobilitySection()
    compute: ComputeSection = ComputeSection()
    channel: ChannelSection = ChannelSection()
    deadline: DeadlineSection = DeadlineSection()
    allocation: AllocationSection = AllocationSection()
    strategy: StrategySection = StrategySection()
    model: ModelSection = ModelSection()
    data: DataSection = DataSection()
    train: TrainSection = TrainSection()
    fl: FlSection = FlSection()
    server: ServerSection = ServerSection()
    downlink: DownlinkSection = DownlinkSection()
    cells: CellsSection = CellsSection()
    output: OutputSection = OutputSection()

    @classmethod
    def load(cls, path: str | Path, overrides: Sequence[str] = ()) -> Scenario:
        """Read a scenario file with ``section.key=value`` overrides (ScenarioError if bad)."""
        path = Path(path)
        return scenario_from_dict(read_toml(path), str(path), overrides)

    def updated(self, changes: Mapping[str, Any]) -> Scenario:
        """A copy with ``{"section.key": value}`` changes, validated as a file is (raises
        ScenarioError naming the field and what is allowed)."""
        return scenario_from_dict(self.model_dump(mode="json"), "<Scenario.updated>", changes)

    @property
    def aggregate_k(self) -> int:
        """The updates a first-k round aggregates: server.aggregate_k, or per_round / 1.3
        (FedScale's over-commitment) rounded down, at least 1, when it is 0."""
        k = self.server.aggregate_k
        return k if k else max(1, int(self.clients.per_round / OVERCOMMIT))

    @property
    def concurrency(self) -> int:
        """Clients busy at once under fedasync/fedbuff: server.concurrency, or
        clients.per_round when 0; with clients.per_cell, that many in every cell."""
        if self.clients.per_cell and self.cells.multi:
            return self.clients.per_cell * self.cells.count
        return self.server.concurrency or self.clients.per_round

    @property
    def buffer_size(self) -> int:
        """Updates per fedbuff version: server.buffer_size, or FedBuff's K = 10 (at most the
        concurrency) when 0."""
        return self.server.buffer_size or min(FEDBUFF_BUFFER, self.concurrency)

    def to_toml(self) -> str:
        """The whole scenario as TOML, defaults included (what a run folder keeps)."""
        return toml_text(self.model_dump(mode="json"))

    @model_validator(mode="after")
    def _cross(self) -> Self:
        a, st = self.allocation, self.strategy
        problem = builtin_problem(st.name, st.budget, a.name, self.server.protocol)
        if problem:
            raise ValueError(problem)
        if a.stage1 and a.name != "tsfa":
            raise ValueError(
                f"allocation.stage1 is TSFA's offline stage: it needs allocation.name = 'tsfa' "
                f"(got {a.name!r})"
            )
        if a.stage1_lambdas and st.name not in ("soft", "soft-delta"):
            raise ValueError(
                f"allocation.stage1_lambdas tunes SOFT's penalty; strategy.name is {st.name!r}"
            )
        if a.stage1 and a.stage1_pilot_clients > self.clients.count:
            raise ValueError(
                f"allocation.stage1_pilot_clients ({a.stage1_pilot_clients}) must be <= "
                f"clients.count ({self.clients.count})"
            )
        if self.server.aggregate_k > self.clients.per_round:
            raise ValueError(
                f"server.aggregate_k ({self.server.aggregate_k}) must be <= clients.per_round "
                f"({self.clients.per_round}): first-k aggregates at most the clients scheduled"
            )
        if self.server.is_async:
            self._check_async()
        if self.clients.per_cell and not self.cells.multi:
            raise ValueError(
                f"clients.per_cell ({self.clients.per_cell}) needs several cells "
                "(cells.layout = 'hex'); one cell schedules clients.per_round"
            )
        if self.clients.placement == "per_cell" and not self.cells.multi:
            raise ValueError(
                "clients.placement = 'per_cell' needs several cells (cells.layout = 'hex'); "
                "one cell's clients are 'uniform_disc'"
            )
        if self.cells.multi:
            self._check_cells()
        if self.downlink.model == "channel" and self.server.broadcast_s:
            raise ValueError(
                f"server.broadcast_s ({self.server.broadcast_s}) is the downlink time of "
                "downlink.model = 'fixed'; with 'channel' the broadcast is timed over the "
                "channel (set server.broadcast_s = 0)"
            )
        if self.channel.dt > self.deadline.seconds:
            raise ValueError(
                f"channel.dt ({self.channel.dt}) must be <= deadline.seconds "
                f"({self.deadline.seconds})"
            )
        return self

    def _check_async(self) -> None:
        """What fedasync/fedbuff need of the other sections."""
        if self.server.concurrency > self.clients.count:
            raise ValueError(
                f"server.concurrency ({self.server.concurrency}) must be <= clients.count "
                f"({self.clients.count}): a client trains one update at a time"
            )
        if self.channel.frequency_selective:
            raise ValueError(
                f"channel.frequency_selective with server.protocol = {self.server.protocol!r} "
                "is not built yet (docs/PROTOCOLS.md): pieces of the band for uploads that "
                "come and go; use it with 'sync' or 'first-k'"
            )

    def _check_cells(self) -> None:
        """What a `hex` layout needs of the other sections, and what is not built with it."""
        c, model = self.cells, self.channel.model
        if model not in ISD_DEFAULTS_M:
            raise ValueError(
                f"cells.layout = 'hex' needs a 38.901 channel.model (umi, uma, rma); got {model!r}"
            )
        if c.handover_share != "scale" and self.server.is_async:
            raise ValueError(
                f"cells.handover_share ({c.handover_share!r}) is read by server.protocol = "
                f"'sync' or 'first-k' only (got {self.server.protocol!r}: a handover there "
                "re-splits both cells in flight)"
            )
        if self.channel.frequency_selective:
            raise ValueError(
                "channel.frequency_selective with cells.layout = 'hex' is not built yet "
                "(docs/CELLS.md): several cells' pieces are laid out by the cells' band"
            )
        per = self.clients.per_cell
        if per and self.server.concurrency:
            raise ValueError(
                f"clients.per_cell ({per}) sets how many are busy (per_cell x cells); "
                f"server.concurrency ({self.server.concurrency}) must then be 0"
            )
        if per and self.concurrency > self.clients.count:
            raise ValueError(
                f"clients.per_cell ({per}) x {c.count} cells must be <= "
                f"clients.count ({self.clients.count})"
            )
        if c.strongest_sites > c.sites:
            raise ValueError(
                f"cells.strongest_sites ({c.strongest_sites}) must be <= the layout's sites "
                f"({c.sites} for cells.rings = {c.rings})"
            )


def load_scenario(path: str | Path, overrides: typing.Sequence[str] = ()) -> Scenario:
    """Read ``path``, apply ``section.key=value`` overrides, validate; raise ScenarioError."""
    return Scenario.load(path, overrides)


def scenario_from_dict(
    raw: dict[str, Any],
    source: str = "<scenario>",
    overrides: typing.Sequence[str] | typing.Mapping[str, Any] = (),
) -> Scenario:
    """Validate a scenario given as nested dicts, after applying overrides: ``section.key=value``
    strings (values read as TOML) or a ``{"section.key": value}`` mapping."""
    data, overridden, by = apply_overrides(raw, source, overrides)
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(errors.describe(exc, Scenario, source, overridden, by)) from None


def scenario_to_toml(scenario: Scenario) -> str:
    """The fully resolved scenario as TOML, every default written out."""
    return scenario.to_toml()


def describe_field(section: str, field: str) -> str:
    """Allowed values of ``section.field`` in words (range or choices)."""
    return errors.describe_field(Scenario, section, field)
