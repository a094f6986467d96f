"""The server's sections: how rounds turn scheduled clients into global versions (protocol,
evaluation) and how the global model goes down to the clients (downlink)."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from cosim.scenario.sections import Section

PROTOCOLS_BUILT = ("sync", "first-k", "fedasync", "fedbuff")
ASYNC = ("fedasync", "fedbuff")  # the protocols where rounds overlap
OVERCOMMIT = 1.3  # FedScale's default over-commitment (Bonawitz et al. 2019 select 130 %)
FEDASYNC_MIXING = 0.6  # FedAsync's α in most of its experiments (Xie et al. 2019)
FEDBUFF_BUFFER = 10  # FedBuff's K (Nguyen et al. 2022)


class ServerSection(Section):
    """Server-side timing, round protocol and evaluation. `protocol`: `sync` waits for every
    scheduled client until the deadline; `first-k` aggregates the first aggregate_k updates to
    arrive and stops the rest (0 = per_round / 1.3, FedScale's over-commitment); `fedasync`
    keeps `concurrency` clients busy and mixes each arriving update into the global model with
    weight mixing × s(staleness); `fedbuff` aggregates every buffer_size arrivals (FedBuff).
    s(τ) = 1 (`constant`), (1+τ)^−a (`polynomial`, FedBuff's a = 0.5) or 1 if τ ≤ b else
    1/(a(τ−b)+1) (`hinge`, FedAsync's a = 10, b = 4); updates staler than max_staleness are
    dropped (−1: none). The global
    model is evaluated on eval_samples held-out samples before round 1, after every
    eval_every-th round and after the last one (each evaluation costs host time, never
    simulated time)."""

    protocol: Literal["sync", "first-k", "fedasync", "fedbuff"] = "sync"
    aggregate_k: Annotated[
        int, Field(ge=0, le=100_000, description="first-k: updates aggregated; 0 = per_round/1.3")
    ] = 0

    concurrency: Annotated[
        int, Field(ge=0, le=1_000_000, description="fedasync/fedbuff: busy clients; 0 = per_round")
    ] = 0
    mixing: Annotated[
        float,
        Field(ge=0.0, le=1.0, description="fedasync α / fedbuff server step; 0 = 0.6 / 1.0"),
    ] = 0.0
    buffer_size: Annotated[
        int, Field(ge=0, le=1_000_000, description="fedbuff: updates per version; 0 = 10")
    ] = 0
    staleness: Literal["constant", "polynomial", "hinge"] = "polynomial"
    staleness_a: Annotated[float, Field(ge=0.0, le=1e3, description="s(τ)'s a")] = 0.5
    staleness_b: Annotated[int, Field(ge=0, le=1_000_000, description="hinge's b")] = 4
    max_staleness: Annotated[
        int, Field(ge=-1, le=1_000_000, description="drop staler updates; -1 = none")
    ] = -1

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
        if self.protocol not in ASYNC:
            for name in ("concurrency", "mixing", "buffer_size"):
                if getattr(self, name):
                    raise ValueError(
                        f"server.{name} ({getattr(self, name)}) is read by server.protocol = "
                        f"'fedasync' or 'fedbuff' only (got {self.protocol!r})"
                    )
        if self.buffer_size and self.protocol != "fedbuff":
            raise ValueError(
                f"server.buffer_size ({self.buffer_size}) is read by server.protocol = "
                f"'fedbuff' only (got {self.protocol!r})"
            )
        return self

    @property
    def is_async(self) -> bool:
        """Whether rounds overlap (fedasync, fedbuff): global versions, not rounds."""
        return self.protocol in ASYNC

    @property
    def mixing_rate(self) -> float:
        """server.mixing, or the protocol's default when 0 (FedAsync's α = 0.6, FedBuff's
        server step 1.0)."""
        if self.mixing:
            return self.mixing
        return FEDASYNC_MIXING if self.protocol == "fedasync" else 1.0


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
