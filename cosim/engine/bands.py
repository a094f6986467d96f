"""The band fedasync/fedbuff's uploads share: the one cell's (SharedBand), or every cell's of a
multi-site layout with interference and handovers (CellBand)."""

from __future__ import annotations

import math

import simpy

from cosim.engine.cell_band import CellBand, CellsOptions
from cosim.engine.shared_band import BandOptions, SharedBand
from cosim.engine.uplink import UplinkRadio
from cosim.outputs.events import EventLog
from cosim.scenario.schema import Scenario
from cosim.world.cells import noise_dbm_hz
from cosim.world.world import World
from fl.allocators import Efficiency


def make_band(
    env: simpy.Environment, s: Scenario, w: World, efficiency: Efficiency, log: EventLog
) -> SharedBand:
    """The scenario's band: channel.bandwidth_hz per cell, the allocator's in-flight splits."""
    c = s.channel
    options = BandOptions(c.bandwidth_hz, c.dt, c.csi_delay_s, s.output.share_lists)
    radio = UplinkRadio(w.link, w.rate, efficiency)
    if not s.cells.multi:
        return SharedBand(env, options, radio, w.allocator, log)
    cells = CellsOptions(
        count=w.channel.cells,  # type: ignore[attr-defined]
        noise_dbm_hz=noise_dbm_hz(s),
        p_max_dbm=c.tx_power_dbm,
        p0_dbm=c.p0_dbm,
        alpha=c.alpha,
        array_gain_db=10.0 * math.log10(c.bs_antennas),
    )
    return CellBand(env, options, cells, radio, w.allocator, log)
