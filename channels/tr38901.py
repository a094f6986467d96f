"""3GPP TR 38.901 (v17/v19) large-scale formulas for the UMi-Street Canyon, UMa and RMa cells.

Path loss: Table 7.4.1-1. LoS probability: Table 7.4.2-1. Shadow-fading deviations and their
decorrelation distances: Tables 7.4.1-1 and 7.5-6 (as in Sionna's parameter files). LoS-state
correlation distance: Table 7.6.3.1-2. O2I building penetration: 7.4.3.1; in-car: 7.4.3.2.
Frequencies in the formulas are in GHz; distances in metres; losses in dB.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from channels.constants import SPEED_OF_LIGHT


@dataclass(frozen=True)
class CellParams:
    """Per-scenario constants of 38.901."""

    name: str
    bs_height_m: float
    sf_std_los_db: float
    sf_std_nlos_db: float
    sf_std_o2i_db: float
    sf_corr_los_m: float
    sf_corr_nlos_m: float
    sf_corr_o2i_m: float
    los_corr_m: float
    max_indoor_distance_m: float
    indoor_ratio: float
    in_car_ratio: float
    min_d2d_m: float = 10.0


UMI = CellParams("umi", 10.0, 4.0, 7.82, 7.0, 10.0, 13.0, 7.0, 50.0, 25.0, 0.8, 0.0)
UMA = CellParams("uma", 25.0, 4.0, 6.0, 7.0, 37.0, 50.0, 7.0, 50.0, 25.0, 0.8, 0.2)
RMA = CellParams("rma", 35.0, 4.0, 8.0, 8.0, 37.0, 120.0, 120.0, 60.0, 10.0, 0.5, 0.5)
CELLS = {c.name: c for c in (UMI, UMA, RMA)}

RMA_BUILDING_HEIGHT_M = 5.0
RMA_STREET_WIDTH_M = 20.0


def los_probability(cell: str, d2d_out: np.ndarray, h_ut: np.ndarray | float = 1.5) -> np.ndarray:
    """38.901 LoS probability at outdoor 2D distance ``d2d_out`` (Table 7.4.2-1)."""
    d = np.maximum(np.asarray(d2d_out, dtype=float), 1e-9)
    if cell == "umi":
        p = 18.0 / d + np.exp(-d / 36.0) * (1.0 - 18.0 / d)
        return np.where(d <= 18.0, 1.0, p)
    if cell == "uma":
        h = np.asarray(h_ut, dtype=float)
        c = np.where(h <= 13.0, 0.0, (np.maximum(h - 13.0, 0.0) / 10.0) ** 1.5)
        p = (18.0 / d + np.exp(-d / 63.0) * (1.0 - 18.0 / d)) * (
            1.0 + c * 1.25 * (d / 100.0) ** 3 * np.exp(-d / 150.0)
        )
        return np.where(d <= 18.0, 1.0, p)
    if cell == "rma":
        return np.where(d <= 10.0, 1.0, np.exp(-(d - 10.0) / 1000.0))
    raise ValueError(f"unknown 38.901 cell {cell!r}")


def breakpoint_m(cell: str, carrier_hz: float, h_bs: float, h_ut: np.ndarray) -> np.ndarray:
    """Breakpoint distance: d'_BP with 1 m effective environment height (UMi/UMa), d_BP (RMa)."""
    h_ut = np.asarray(h_ut, dtype=float)
    if cell == "rma":
        return 2.0 * np.pi * h_bs * h_ut * carrier_hz / SPEED_OF_LIGHT
    return 4.0 * (h_bs - 1.0) * (h_ut - 1.0) * carrier_hz / SPEED_OF_LIGHT


def pathloss_db(
    cell: str,
    d2d: np.ndarray,
    d3d: np.ndarray,
    carrier_hz: float,
    h_bs: float,
    h_ut: np.ndarray | float,
    los: np.ndarray,
) -> np.ndarray:
    """Basic path loss (no shadowing) of a LoS or NLoS link (Table 7.4.1-1)."""
    fc = carrier_hz / 1e9
    h_ut = np.asarray(h_ut, dtype=float)
    d_bp = breakpoint_m(cell, carrier_hz, h_bs, h_ut)
    if cell == "umi":
        pl1 = 32.4 + 21.0 * np.log10(d3d) + 20.0 * np.log10(fc)
        pl2 = (
            32.4
            + 40.0 * np.log10(d3d)
            + 20.0 * np.log10(fc)
            - 9.5 * np.log10(d_bp**2 + (h_bs - h_ut) ** 2)
        )
        pl_los = np.where(d2d <= d_bp, pl1, pl2)
        pl_nlos = 35.3 * np.log10(d3d) + 22.4 + 21.3 * np.log10(fc) - 0.3 * (h_ut - 1.5)
    elif cell == "uma":
        pl1 = 28.0 + 22.0 * np.log10(d3d) + 20.0 * np.log10(fc)
        pl2 = (
            28.0
            + 40.0 * np.log10(d3d)
            + 20.0 * np.log10(fc)
            - 9.0 * np.log10(d_bp**2 + (h_bs - h_ut) ** 2)
        )
        pl_los = np.where(d2d <= d_bp, pl1, pl2)
        pl_nlos = 13.54 + 39.08 * np.log10(d3d) + 20.0 * np.log10(fc) - 0.6 * (h_ut - 1.5)
    elif cell == "rma":
        h, w = RMA_BUILDING_HEIGHT_M, RMA_STREET_WIDTH_M

        def pl1_of(d: np.ndarray) -> np.ndarray:
            return (
                20.0 * np.log10(40.0 * np.pi * d * fc / 3.0)
                + min(0.03 * h**1.72, 10.0) * np.log10(d)
                - min(0.044 * h**1.72, 14.77)
                + 0.002 * np.log10(h) * d
            )

        # PL2 = PL1(d_BP) + 40 log10(d3D / d_BP), as the table writes it (and Sionna computes it)
        pl_los = np.where(d2d <= d_bp, pl1_of(d3d), pl1_of(d_bp) + 40.0 * np.log10(d3d / d_bp))
        pl_nlos = (
            161.04
            - 7.1 * np.log10(w)
            + 7.5 * np.log10(h)
            - (24.37 - 3.7 * (h / h_bs) ** 2) * np.log10(h_bs)
            + (43.42 - 3.1 * np.log10(h_bs)) * (np.log10(d3d) - 3.0)
            + 20.0 * np.log10(fc)
            - (3.2 * np.log10(11.75 * h_ut) ** 2 - 4.97)
        )
    else:
        raise ValueError(f"unknown 38.901 cell {cell!r}")
    return np.where(los, pl_los, np.maximum(pl_los, pl_nlos))


def shadowing_std_db(
    cell: CellParams,
    los: np.ndarray,
    indoor: np.ndarray,
    d2d: np.ndarray,
    carrier_hz: float,
    h_ut: np.ndarray | float,
) -> np.ndarray:
    """Shadow-fading standard deviation: LoS / NLoS / O2I (RMa LoS: 4 dB before d_BP, 6 after)."""
    los_std = np.full(np.shape(los), cell.sf_std_los_db)
    if cell.name == "rma":
        d_bp = breakpoint_m("rma", carrier_hz, cell.bs_height_m, h_ut)
        los_std = np.where(d2d <= d_bp, 4.0, 6.0)
    return np.where(indoor, cell.sf_std_o2i_db, np.where(los, los_std, cell.sf_std_nlos_db))


def o2i_wall_loss_db(carrier_hz: float, model: str) -> float:
    """Building-entry loss PL_tw of the low- or high-loss O2I model (Table 7.4.3-2)."""
    fc = carrier_hz / 1e9
    glass, irr_glass, concrete = 2.0 + 0.2 * fc, 23.0 + 0.3 * fc, 5.0 + 4.0 * fc
    if model == "low":
        return 5.0 - 10.0 * np.log10(0.3 * 10 ** (-glass / 10) + 0.7 * 10 ** (-concrete / 10))
    if model == "high":
        return 5.0 - 10.0 * np.log10(0.7 * 10 ** (-irr_glass / 10) + 0.3 * 10 ** (-concrete / 10))
    raise ValueError(f"O2I model must be 'low' or 'high', got {model!r}")


O2I_STD_DB = {"low": 4.4, "high": 6.5}
IN_CAR_MEAN_DB, IN_CAR_STD_DB = 9.0, 5.0
