"""Cost of a channel trace: wfl-cosim's 38.901 UMi cell vs a raw Sionna call of the same size.

For K clients x 100 steps (K = 100, 1000) it measures, each in a fresh process, the wall time
and the peak resident memory added by (a) one `Cell38901('umi')` trace with Sionna-drawn rays
(large-scale fields, the ray tiles the clients need, ray sums) and (b) Sionna's own `UMi`
channel: `set_topology` (clients split into batches of 100, as Sionna's topology cost grows
as N³) and one call for 100 time samples. The ratio (a)/(b) is the figure; the aim is at most 1.2.
Ours is measured with the default ray tiles of 8 x 8 nodes and with tiles of one node
(channel.ray_tile = 1), side by side.

    python benchmarks/channel_cost.py
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time

import numpy as np

STEPS, DT, FC = 100, 0.005, 3.5e9


def _positions(k: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    r = np.sqrt(rng.uniform(10**2, 400**2, k))
    phi = rng.uniform(0, 2 * np.pi, k)
    start = np.stack([r * np.cos(phi), r * np.sin(phi), np.full(k, 1.5)], 1)
    pos = np.repeat(start[:, None], STEPS, axis=1).copy()
    pos[..., 0] += 1.5 * DT * np.arange(STEPS)  # walking at 1.5 m/s
    return pos


def ours(k: int, tile: int = 8) -> None:
    from channels import Cell38901, SionnaRayFading
    from cosim.world.seeding import SeedBank

    bank = SeedBank(0)
    bs = np.array([0.0, 0.0, 10.0])
    pos = _positions(k)
    fading = SionnaRayFading(
        "umi",
        FC,
        bs,
        1,
        1.5,
        bank.seed_sionna,
        lambda *key: bank.rng("ray_phases", *key),
        tile=tile,
    )
    start = time.perf_counter()  # the ray tiles are drawn inside the trace: they count
    cell = Cell38901("umi", bs, FC, DT, k, bank.rng, 0.0, 0.0, "low", fading)
    tr = cell.trace(np.arange(k), np.arange(STEPS), pos, np.zeros_like(pos))
    _report(time.perf_counter() - start, float(tr.gain_db.mean()))


def raw_sionna(k: int) -> None:
    import torch

    from channels.sionna_fading import panel_array, sionna_cell

    arr = panel_array(FC)
    ch = sionna_cell("umi", FC, arr, arr)
    pos = _positions(k)[:, 0]
    b = max(k // 100, 1)
    n = k // b
    f = torch.float32
    start = time.perf_counter()
    ch.set_topology(
        torch.tensor(pos.reshape(b, n, 3), dtype=f),
        torch.tensor([[[0.0, 0.0, 10.0]]], dtype=f).repeat(b, 1, 1),
        torch.zeros(b, n, 3, dtype=f),
        torch.zeros(b, 1, 3, dtype=f),
        torch.tensor([1.5, 0.0, 0.0], dtype=f).repeat(b, n, 1),
        torch.zeros(b, n, dtype=torch.bool),
    )
    a, _ = ch(STEPS, 1.0 / DT)
    gain = (a.abs() ** 2).sum(dim=-2).mean()
    _report(time.perf_counter() - start, float(gain))


def _report(wall: float, check: float) -> None:
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"wall_s": wall, "peak_mb": peak_mb, "check": check}))


def _run(case: str, k: int, tile: int = 8) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, case, str(k), str(tile)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    print(f"channel trace cost, {STEPS} steps of {DT * 1e3:.0f} ms, 38.901 UMi, 1 antenna")
    print(
        f"{'clients':>8} {'tile':>5} {'ours s':>8} {'sionna s':>9} {'ratio':>6} "
        f"{'ours MB':>8} {'sionna MB':>10} {'ratio':>6}"
    )
    for k in (100, 1000):
        b = _run("sionna", k)
        for tile in (8, 1):
            a = _run("ours", k, tile)
            print(
                f"{k:>8} {tile:>5} {a['wall_s']:>8.3f} {b['wall_s']:>9.3f} "
                f"{a['wall_s'] / b['wall_s']:>6.2f} {a['peak_mb']:>8.0f} {b['peak_mb']:>10.0f} "
                f"{a['peak_mb'] / b['peak_mb']:>6.2f}"
            )
    print("peak MB is the whole process (imports included); wall time is the trace alone")


if __name__ == "__main__":
    if len(sys.argv) == 4:
        if sys.argv[1] == "ours":
            ours(int(sys.argv[2]), int(sys.argv[3]))
        else:
            raw_sionna(int(sys.argv[2]))
    else:
        main()
