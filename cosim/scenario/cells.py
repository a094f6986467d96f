"""The `[cells]` section: one base station (`single`, the default) or a multi-site 38.901
layout (`hex`) with association, A3 handover and the uplink's interference (docs/CELLS.md)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from cosim.scenario.sections import Section

# 38.901 Table 7.2-1: inter-site distances of the deployment scenarios
ISD_DEFAULTS_M = {"umi": 200.0, "uma": 500.0, "rma": 1732.0}


class CellsSection(Section):
    """Where the base stations are. `single`: one at the origin (clients in clients.area_radius_m,
    reflecting at its edge). `hex`: `rings` rings of sites around a centre one (1: 7 sites, 2:
    19) `isd_m` apart (0 = 38.901's default of channel.model: UMi 200 m, UMa 500 m, RMa
    1,732 m), `sectors` cells per site (3: the Table 7.3-1 antenna, boresights 30/150/270°), with
    `wraparound` (clients near the edge see a full ring of interferers; walkers leaving re-enter
    on the far side). Each client's links are computed to its `strongest_sites` sites (ranked
    at the start of each of its jobs). Handover by event A3 (TS 38.331): a neighbour better by
    a3_offset_db + hysteresis_db for time_to_trigger_s (ns-3's A3RsrpHandoverAlgorithm
    defaults); the client then cannot send for handover_interrupt_s. The allocator's plans (a
    sync round's start, a fedasync/fedbuff job's start) see each cell's interference as
    measured at the CSI instant, or averaged over interference_window_s before it. In sync and
    first-k rounds a client handed over takes its planned share into the new cell:
    handover_share `scale` scales every share there to fit the band when they no longer do,
    `free` gives the newcomer only what is free there (the rest by later re-splits). With
    l3_filter_k > 0 A3 compares L3-filtered RSRPs (TS 38.331 §5.5.3.2), as a UE does."""

    layout: Literal["single", "hex"] = "single"
    rings: Annotated[int, Field(ge=1, le=4, description="1: 7 sites, 2: 19")] = 1
    isd_m: Annotated[
        float, Field(ge=0.0, le=20_000.0, strict=False, description="0 = 38.901's default")
    ] = 0.0
    sectors: Literal[1, 3] = 3
    wraparound: bool = True
    strongest_sites: Annotated[
        int, Field(ge=1, le=61, description="sites each client's links are computed to")
    ] = 3
    a3_offset_db: Annotated[float, Field(ge=-30.0, le=30.0, strict=False)] = 0.0
    hysteresis_db: Annotated[float, Field(ge=0.0, le=30.0, strict=False)] = 3.0
    time_to_trigger_s: Annotated[float, Field(ge=0.0, le=10.0, strict=False)] = 0.256
    handover_interrupt_s: Annotated[float, Field(ge=0.0, le=10.0, strict=False)] = 0.05
    interference_window_s: Annotated[
        float,
        Field(
            ge=0.0,
            le=1_000.0,
            strict=False,
            description="the allocator's plans see each cell's interference averaged over "
            "this long before the CSI instant (0: as measured at it)",
        ),
    ] = 0.0
    handover_share: Literal["scale", "free"] = "scale"
    l3_filter_k: Annotated[
        int,
        Field(
            ge=0,
            le=19,
            description="TS 38.331 filterCoefficient k of the UE's L3 RSRP filter before A3 "
            "(a = 1/2^(k/4) per 200 ms; 0: unfiltered, 38.331's default is 4)",
        ),
    ] = 0

    @property
    def multi(self) -> bool:
        """Whether the layout has several cells (hex)."""
        return self.layout != "single"

    def isd_for(self, model: str) -> float:
        """The inter-site distance [m]: isd_m, or 38.901's for channel.model ``model``."""
        return self.isd_m or ISD_DEFAULTS_M[model]

    @property
    def count(self) -> int:
        """Cells of the layout (sites × sectors; 1 for one base station)."""
        return self.sites * self.sectors if self.multi else 1

    @property
    def sites(self) -> int:
        """Sites of the layout: 1 + 3·rings·(rings + 1) for hex."""
        return 1 + 3 * self.rings * (self.rings + 1) if self.multi else 1
