"""The band fedasync/fedbuff's uploads share: the one cell's (SharedBand), or every cell's of a
multi-site layout with interference and handovers (CellBand); and a sync/first-k round's
band over several cells (PlannedCellBand)."""

from __future__ import annotations

import math

import simpy

from cosim.engine.cell_band import CellBand, CellsOptions
from cosim.engine.planned_band import PlannedCellBand
from cosim.engine.shared_band import BandOptions, SharedBand
from cosim.engine.uplink import SplitPolicy, UplinkRadio
from cosim.outputs.events import EventLog
from cosim.scenario.schema import Scenario
from cosim.world.cells import noise_dbm_hz
from cosim.world.world import World
from fl.allocators import Efficiency


def make_band(
    env: simpy.Environment, s: Scenario, w: World, efficiency: Efficiency, log: EventLog
) -> SharedBand:
    """The scenario's band: channel.bandwidth_hz per cell, the allocator's in-flight splits."""
    options, radio = band_options(s), UplinkRadio(w.link, w.rate, efficiency)
    if not s.cells.multi:
        return SharedBand(env, options, radio, w.allocator, log)
    return CellBand(env, options, cells_options(s, w), radio, w.allocator, log)


def make_round_band(
    env: simpy.Environment, s: Scenario, w: World, efficiency: Efficiency, log: EventLog
) -> PlannedCellBand:
    """A sync/first-k round's band over several cells: the planned shares, re-split within
    each cell by the allocation section's policy; first-k closes it at server.aggregate_k."""
    radio = UplinkRadio(w.link, w.rate, efficiency)
    return PlannedCellBand(
        env,
        band_options(s),
        cells_options(s, w),
        radio,
        w.allocator,
        log,
        split_policy(s),
        round_quorum(s),
    )


def band_options(s: Scenario) -> BandOptions:
    """The band of a cell: channel.bandwidth_hz on the grid of channel.dt, CSI
    channel.csi_delay_s old, `reallocation` events with share lists or not."""
    c = s.channel
    return BandOptions(c.bandwidth_hz, c.dt, c.csi_delay_s, s.output.share_lists)


def split_policy(s: Scenario) -> SplitPolicy:
    """When a sync/first-k round re-splits band: the allocation section's policy."""
    a = s.allocation
    return SplitPolicy(a.reallocate, a.realloc_threshold, a.realloc_min_s, s.output.share_lists)


def round_quorum(s: Scenario) -> int:
    """The delivery a sync round's band closes at: server.aggregate_k under first-k, else
    none (0)."""
    return s.aggregate_k if s.server.protocol == "first-k" else 0


def cells_options(s: Scenario, w: World) -> CellsOptions:
    """The cells of a multi-site layout: count, noise, power control, receive array gain."""
    c = s.channel
    return CellsOptions(
        count=w.channel.cells,  # type: ignore[attr-defined]
        noise_dbm_hz=noise_dbm_hz(s),
        p_max_dbm=c.tx_power_dbm,
        p0_dbm=c.p0_dbm,
        alpha=c.alpha,
        array_gain_db=10.0 * math.log10(c.bs_antennas),
        interference_window_s=s.cells.interference_window_s,
        handover_share=s.cells.handover_share,
    )
