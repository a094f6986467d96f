"""`wfl-cosim trace`: the channel alone, no learning — every client at every step of [0, S) —
written as a run's channel.npz (SNR at the full band, as the file states) beside the resolved
scenario. Its values at a time are those any run of the scenario and seed sees then, because
the channel is a function of the seed and positions only (docs/CHANNELS.md)."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from cosim.outputs.channel_npz import CELL_TERMS, FORMAT, TERMS, sample_terms
from cosim.running.folder import OUTPUT_FILES, check_run_dir, writing
from cosim.scenario import scenario_to_toml
from cosim.scenario.errors import ScenarioError
from cosim.scenario.schema import Scenario
from cosim.world.build import Air, build_air
from cosim.world.inputs import built, check_inputs

logger = logging.getLogger(__name__)

MAX_SAMPLES = 200_000_000  # clients × steps: about 25 GB of channel.npz terms in memory
BLOCK_SAMPLES = 250_000  # clients × steps computed at once (bounds the working memory)


@dataclass(frozen=True)
class TraceResult:
    """What a trace wrote: its folder, clients, steps and host seconds."""

    out_dir: Path
    clients: int
    steps: int
    wall_s: float


def trace_steps(seconds: float, dt: float) -> int:
    """Steps of ``dt`` that cover [0, ``seconds``)."""
    return max(1, math.ceil(seconds / dt - 1e-9))


def trace_channel(
    scenario: Scenario,
    seconds: float,
    out_dir: str | Path,
    overwrite: bool = False,
    progress: bool = False,
    source: str = "<scenario>",
) -> TraceResult:
    """Write ``out_dir``/channel.npz with every client at every step of [0, ``seconds``) and
    the resolved scenario.toml; RunDirError / ScenarioError before anything is written."""
    wall0 = time.perf_counter()
    out = Path(out_dir)
    k = scenario.clients.count
    n = trace_steps(seconds, scenario.channel.dt)
    if not seconds > 0:
        raise ScenarioError(f"{source}: --seconds {seconds}: must be > 0")
    if k * n > MAX_SAMPLES:
        raise ScenarioError(
            f"{source}: a trace of {k} clients x {n} steps ({k * n:,} samples) is over "
            f"{MAX_SAMPLES:,}; trace fewer --seconds, fewer clients.count or a longer channel.dt"
        )
    check_inputs(scenario, source)
    with writing(out):
        check_run_dir(out, overwrite)
        air = built(build_air, scenario, source)
        arrays = _sample(scenario, air, n, progress)
        for name in OUTPUT_FILES:
            (out / name).unlink(missing_ok=True)
        (out / "scenario.toml").write_text(scenario_to_toml(scenario), encoding="utf-8")
        np.savez_compressed(out / "channel.npz", **arrays)
    return TraceResult(out, k, n, time.perf_counter() - wall0)


def _sample(s: Scenario, air: Air, n: int, progress: bool) -> dict[str, np.ndarray]:
    """Every client's channel terms at steps 0..n−1, as channel.npz's arrays (format 2)."""
    k, dt = s.clients.count, s.channel.dt
    steps_per_block = max(1, min(n, BLOCK_SAMPLES // max(k, 1)))
    if s.cells.multi:  # A3 runs over each client's whole trace: all steps in one call
        steps_per_block = n
    clients_per_block = max(1, min(k, BLOCK_SAMPLES // steps_per_block))
    kinds = {"los": np.int8, "cell": np.int32}
    terms = {
        name: np.empty((k, n, 3) if name == "positions" else (k, n), kinds.get(name, float))
        for name, _ in TERMS + (CELL_TERMS if s.cells.multi else ())
    }
    channel, link = air.radio.channel, air.radio.link
    blocks = [
        (c0, s0) for s0 in range(0, n, steps_per_block) for c0 in range(0, k, clients_per_block)
    ]
    for c0, s0 in tqdm(blocks, desc="trace", unit="block", disable=not progress):
        clients = np.arange(c0, min(k, c0 + clients_per_block))
        steps = np.arange(s0, min(n, s0 + steps_per_block), dtype=np.int64)
        t = steps * dt
        pos, vel = air.mobility.motion(t, clients)
        tr = channel.trace(clients, steps, pos, vel)
        where = (slice(c0, c0 + len(clients)), slice(s0, s0 + len(steps)))
        snr_db = link.snr_db(tr.gain_db, s.channel.bandwidth_hz)
        for name, values in sample_terms(pos, vel, tr, air.bs_position, snr_db).items():
            terms[name][where] = values
    return dict(
        format=np.int64(FORMAT),
        source=np.str_("trace"),
        snr_bandwidth_hz=np.float64(s.channel.bandwidth_hz),
        t=np.arange(n) * dt,
        dt=np.float64(dt),
        carrier_hz=np.float64(s.channel.carrier_hz),
        bs_position=np.asarray(air.bs_position, dtype=float),
        num_clients=np.int64(k),
        sample_client=np.repeat(np.arange(k, dtype=np.int32), n),
        sample_step=np.tile(np.arange(n, dtype=np.int64), k),
        sample_round=np.full(k * n, -1, dtype=np.int32),
        round_t=np.zeros(1),
        round_positions=terms["positions"][None, :, 0],
        **{name: a.reshape(k * n, *a.shape[2:]) for name, a in terms.items()},
    )
