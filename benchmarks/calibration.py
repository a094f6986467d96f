"""The 38.901 §7.8.1 large-scale calibration of the multi-site channel (channels/multisite.py):
coupling loss to the serving cell and geometry, beside the 3GPP reference.

    python benchmarks/calibration.py [--clients 2000] [--seeds 3] [--out calibration.png]

Setup (38.901 Table 7.8-1, as QuaDRiGa's calibration tutorial implements it): 19 sites x 3
sectors with wrap-around; UMa ISD 500 m, BS 25 m; UMi street canyon ISD 200 m, BS 10 m; 6 GHz;
each cell's antenna the Table 7.3-1 element times 10 vertical elements 0.5 λ apart, one port,
12° electrical downtilt; the UT an omnidirectional 0 dBi antenna; 80 % of UTs indoor (floor
n uniform in 1..N, N uniform in 4..8, height 3(n − 1) + 1.5 m; outdoors 1.5 m; indoor distance
the least of two uniforms on [0, 25] m; building loss half low-loss, half high-loss), no UT
nearer a site than 35 m (UMa) or 10 m (UMi); UTs uniform over the layout. Serving cell: the
highest coupling gain (handover margin 0 dB). Coupling loss: the serving cell's gain (path
loss, shadowing, penetration, antenna gains; no fast fading), shown as a negative dB value as
3GPP does. Geometry: the serving cell's gain over the sum of every other cell's, no noise
(QuaDRiGa's definition).

Reference: the median of the companies' results in 3GPP R1-165974 (August 2016, made with TR
38.900 v14.0.0's parameters), as reproduced in QuaDRiGa's tutorials/calib_3GPP_ref_data.m
(arrays cl38900a, gf38900a, 6 GHz), at the 5th, 50th and 95th percentiles.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from channels.layout import ISD_DEFAULTS_M
from channels.multisite import Layout, MultiSite, O2IState
from channels.tr38901 import CELLS, O2I_STD_DB, o2i_wall_loss_db

CARRIER_HZ = 6e9
MIN_D2D_M = {"uma": 35.0, "umi": 10.0}
PERCENTILES = (5, 50, 95)
# R1-165974 medians at 6 GHz (QuaDRiGa cl38900a / gf38900a, percentiles 5, 50, 95)
REFERENCE = {
    "uma": {"coupling_db": (-150.4, -120.3, -86.0), "geometry_db": (-1.0, 8.6, 25.6)},
    "umi": {"coupling_db": (-142.3, -112.2, -74.8), "geometry_db": (-1.7, 7.3, 24.9)},
}


def drop(cell: str, clients: int, seed: int) -> tuple[np.ndarray, O2IState]:
    """Positions [K, 1, 3] m and O2I state of one drop of the calibration's UTs."""
    rng = np.random.default_rng([seed, 0])
    layout = calibration_layout(cell)
    xy = layout.uniform(rng, clients, MIN_D2D_M[cell])
    indoor = rng.random(clients) < 0.8
    floors = rng.integers(4, 9, clients)  # N_fl in 4..8
    floor = rng.integers(1, floors + 1)  # n_fl in 1..N_fl
    h = np.where(indoor, 3.0 * (floor - 1) + 1.5, 1.5)
    d_in = np.minimum(rng.uniform(0, 25, clients), rng.uniform(0, 25, clients))
    high = rng.random(clients) < 0.5
    wall = np.where(high, o2i_wall_loss_db(CARRIER_HZ, "high"), o2i_wall_loss_db(CARRIER_HZ, "low"))
    std = np.where(high, O2I_STD_DB["high"], O2I_STD_DB["low"])
    pen = wall + 0.5 * d_in + std * rng.standard_normal(clients)
    o2i = O2IState(indoor, np.where(indoor, d_in, 0.0), np.where(indoor, pen, 0.0))
    return np.concatenate([xy, h[:, None]], axis=1)[:, None, :], o2i


def calibration_layout(cell: str) -> Layout:
    """19 sites x 3 sectors with wrap-around at the scenario's ISD and BS height."""
    return Layout(2, ISD_DEFAULTS_M[cell], 3, True, CELLS[cell].bs_height_m)


def metrics(cell: str, clients: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Coupling loss [K] dB (negative) and geometry [K] dB of one drop."""
    pos, o2i = drop(cell, clients, seed)

    def rng(purpose: str, *keys: int) -> np.random.Generator:
        return np.random.default_rng([seed, 1, *keys, len(purpose)])

    site = MultiSite(cell, calibration_layout(cell), CARRIER_HZ, o2i, rng)
    gain = site.links(np.arange(clients), pos).gain_db[:, 0, :]  # [K, C]
    best = gain.max(axis=1)
    lin = 10.0 ** ((gain - best[:, None]) / 10.0)
    others = lin.sum(axis=1) - 1.0
    return best, -10.0 * np.log10(others)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=2000, help="UTs per drop")
    ap.add_argument("--seeds", type=int, default=3, help="independent drops per scenario")
    ap.add_argument("--out", type=Path, default=None, help="a CDF figure (PNG) here")
    args = ap.parse_args()
    print(
        f"38.901 §7.8.1 large-scale calibration, 6 GHz, 19 sites x 3 sectors, wrap-around; "
        f"{args.seeds} drops x {args.clients} UTs; reference: R1-165974 median (via QuaDRiGa)"
    )
    print(" scenario  metric         pct    ours   3GPP   ours-3GPP")
    curves = {}
    for cell in ("uma", "umi"):
        drops = [metrics(cell, args.clients, s) for s in range(1, args.seeds + 1)]
        cl = np.concatenate([d[0] for d in drops])
        gf = np.concatenate([d[1] for d in drops])
        curves[cell] = {"coupling_db": cl, "geometry_db": gf}
        for name, values in curves[cell].items():
            ours = np.percentile(values, PERCENTILES)
            for p, o, r in zip(PERCENTILES, ours, REFERENCE[cell][name], strict=True):
                print(f" {cell:<9} {name:<13} {p:>4} {o:>7.1f} {r:>6.1f} {o - r:>+10.1f}")
    if args.out:
        figure(curves, args.out)
        print(f"figure: {args.out}")


def figure(curves: dict, out: Path) -> None:
    """CDFs of coupling loss and geometry, ours as lines, the reference's points as marks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, name, label in zip(
        axes, ("coupling_db", "geometry_db"), ("coupling loss [dB]", "geometry [dB]"), strict=True
    ):
        for cell, colour in (("uma", "C0"), ("umi", "C1")):
            v = np.sort(curves[cell][name])
            ax.plot(v, np.linspace(0, 100, len(v)), colour, label=f"{cell.upper()} (ours)")
            ax.plot(REFERENCE[cell][name], PERCENTILES, "o", color=colour, mfc="none")
        ax.set_xlabel(label)
        ax.set_ylabel("CDF [%]")
        ax.grid(True, alpha=0.3)
    axes[0].legend(title="o: R1-165974 median")
    fig.tight_layout()
    fig.savefig(out, dpi=120)


if __name__ == "__main__":
    main()
