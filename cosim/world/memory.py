"""The memory a run will need, estimated from its scenario before anything is built: the
per-round channel window, the state kept per client, and the recorded channel.npz; a run
whose estimate exceeds run.max_memory_gb is refused, naming the fields that drive it.

The coefficients are bytes measured on this project's code (benchmarks/memory_estimate.py
prints estimate and measured peak side by side): per (scheduled client, trace step) of the
window, per client of the cell, per sample of channel.npz (a scheduled client's step on air)
and per (client, round)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from cosim.scenario.errors import ScenarioError
from cosim.scenario.schema import Scenario

GIB = 2**30
BASE_BYTES = 0.6 * GIB  # the interpreter with torch, transformers and Sionna imported
# per (scheduled client, step) of the round's window: positions, velocities, the trace and
# the channel model's intermediates (measured: ~145 B pathloss, ~1.4 kB sum of sinusoids,
# ~10.7 kB 38.901 cell with the position-keyed float64 ray sums, 2026-12-06; it was ~3.2 kB
# before them, and 4 kB had become a 2.2x under-estimate); with a margin
WINDOW_BYTES = {"pathloss": 200, "rayleigh": 1_800, "rician": 1_800, "umi": 12_000}
CELLS_38901 = ("umi", "uma", "rma")
# per client of the cell: paths, device, processes; Sionna rays for a 38.901 cell
CLIENT_BYTES = {"pathloss": 1_000, "rayleigh": 4_000, "rician": 4_000, "umi": 20_000}
# channel.npz: per (scheduled client, step on air) its position, speed, distance and six channel
# terms, kept per round and flattened (and sorted) at the end; per (client, round) the position
# at the round start
RECORD_SAMPLE_BYTES, RECORD_ROUND_BYTES = 320, 48


@dataclass(frozen=True)
class MemoryEstimate:
    """Estimated peak bytes by part, and the limit they are held to."""

    window: float
    clients: float
    recorder: float
    limit: float

    @property
    def total(self) -> float:
        """Everything, with the interpreter's own base."""
        return BASE_BYTES + self.window + self.clients + self.recorder

    def summary(self) -> str:
        """One line for `validate`."""
        return (
            f"estimated peak memory {self.total / GIB:.2f} GiB (channel window "
            f"{self.window / GIB:.2f}, clients {self.clients / GIB:.2f}, channel.npz "
            f"{self.recorder / GIB:.2f}) of run.max_memory_gb {self.limit / GIB:.1f} GiB"
        )


def machine_bytes() -> float:
    """The memory this machine has for a run: MemAvailable (Linux), else its physical
    memory."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def estimate(s: Scenario) -> MemoryEstimate:
    """The memory ``s`` will need, from its fields alone."""
    c = s.channel
    model = "umi" if c.model in CELLS_38901 else c.model
    window_steps = math.ceil((s.deadline.seconds + c.csi_delay_s) / c.dt) + 3
    antennas = max(1, c.bs_antennas) if model != "pathloss" else 1
    window = s.clients.per_round * window_steps * WINDOW_BYTES[model] * antennas
    clients = s.clients.count * CLIENT_BYTES[model] * antennas
    recorder = 0.0
    if s.output.channel:
        steps = s.run.rounds * (s.deadline.seconds + s.server.broadcast_s) / c.dt
        recorder = steps * s.clients.per_round * RECORD_SAMPLE_BYTES
        recorder += s.run.rounds * s.clients.count * RECORD_ROUND_BYTES
    limit = s.run.max_memory_gb * GIB if s.run.max_memory_gb > 0 else 0.8 * machine_bytes()
    return MemoryEstimate(float(window), float(clients), float(recorder), float(limit))


def check_memory(s: Scenario, source: str) -> MemoryEstimate:
    """The estimate, or ScenarioError naming the fields that drive it when over the limit."""
    est = estimate(s)
    if est.total <= est.limit:
        return est
    parts = {
        "channel window (clients.per_round x (deadline.seconds + channel.csi_delay_s) / "
        "channel.dt)": est.window,
        "per-client state (clients.count)": est.clients,
        "channel.npz (output.channel: clients.per_round x run.rounds x deadline.seconds / "
        "channel.dt)": est.recorder,
    }
    worst = max(parts, key=parts.get)
    raise ScenarioError(
        f"{source}: {est.summary()}: too much; the largest part is the {worst}, "
        f"{parts[worst] / GIB:.2f} GiB. Change those fields, or raise run.max_memory_gb"
    )
