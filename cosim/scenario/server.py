"""The server's sections: how rounds turn scheduled clients into global versions (protocol,
evaluation) and how the global model goes down to the clients (downlink)."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from cosim.scenario.sections import Section

PROTOCOLS_BUILT = ("sync", "first-k")
OVERCOMMIT = 1.3  # FedScale's default over-commitment (Bonawitz et al. 2019 select 130 %)


class ServerSection(Section):
    """Server-side timing, round protocol and evaluation. `protocol`: `sync` waits for every
    scheduled client until the deadline; `first-k` aggregates the first aggregate_k updates to
    arrive and stops the rest (0 = per_round / 1.3, FedScale's over-commitment). The global
    model is evaluated on eval_samples held-out samples before round 1, after every
    eval_every-th round and after the last one (each evaluation costs host time, never
    simulated time)."""

    protocol: Literal["sync", "first-k", "fedasync", "fedbuff"] = "sync"
    aggregate_k: Annotated[
        int, Field(ge=0, le=100_000, description="first-k: updates aggregated; 0 = per_round/1.3")
    ] = 0

    broadcast_s: Annotated[float, Field(ge=0.0, le=1e4, description="downlink time")] = 0.0
    eval_samples: Annotated[int, Field(ge=0, le=1_000_000, description="0 = whole test")] = 0
    eval_every: Annotated[
        int, Field(ge=1, le=1_000_000, description="evaluate every N rounds (and the last)")
    ] = 1

    @model_validator(mode="after")
    def _cross(self) -> Self:
        if self.protocol not in PROTOCOLS_BUILT:
            raise ValueError(
                f"server.protocol = {self.protocol!r} is not built yet (docs/PROTOCOLS.md); built: "
                + ", ".join(PROTOCOLS_BUILT)
            )
        if self.aggregate_k and self.protocol != "first-k":
            raise ValueError(
                f"server.aggregate_k ({self.aggregate_k}) is read by server.protocol = "
                f"'first-k' only (got {self.protocol!r})"
            )
        return self


class DownlinkSection(Section):
    """How the global model reaches the scheduled clients. `fixed`: it takes
    server.broadcast_s, whatever the channel (the default). `channel`: its exact bits go down
    each client's own channel (the uplink's path loss, shadowing and fading, reciprocal) at
    bandwidth_hz and the base station's tx_power_dbm, received with the UE's
    noise_figure_db: as one `multicast` at the rate the worst scheduled client decodes at each
    instant, or `unicast` with the band split equally. A client trains once its download
    ends."""

    model: Literal["fixed", "channel"] = "fixed"
    mode: Literal["multicast", "unicast"] = "multicast"
    bandwidth_hz: Annotated[float, Field(ge=1e3, le=1e9, description="downlink band")] = 20e6
    tx_power_dbm: Annotated[float, Field(ge=-30.0, le=70.0, description="base station")] = 44.0
    noise_figure_db: Annotated[float, Field(ge=0.0, le=20.0, description="the UE's")] = 9.0
