"""Link rate models: spectral efficiency [bit/s/Hz] as a function of SNR.

`shannon` is log2(1 + SNR). `phy` is Sionna's system-level PHY abstraction (`sionna.sys`): for
each SNR the inner-loop link adaptation picks the 5G NR PUSCH MCS (table 1) that meets a BLER
target, and the expected goodput is (1 − TBLER)·TBS per slot over the occupied band. It is
tabulated once at start-up on a fine SNR grid and looked up (step-wise, as MCS switching is).
Below the lowest MCS that decodes, the rate is 0: the link is in outage.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class RateModel(Protocol):
    """Maps SNR [dB] to spectral efficiency [bit/s/Hz]."""

    name: str

    def efficiency(self, snr_db: np.ndarray) -> np.ndarray:
        """Spectral efficiency at ``snr_db`` (any shape)."""
        ...


class Shannon:
    """log2(1 + SNR)."""

    name = "shannon"

    def efficiency(self, snr_db: np.ndarray) -> np.ndarray:
        """Shannon capacity per Hz."""
        return np.log1p(10.0 ** (np.asarray(snr_db, dtype=float) / 10.0)) / np.log(2.0)


class PhyAbstraction:
    """5G NR goodput per Hz from Sionna's PHY abstraction and link adaptation (tabulated)."""

    name = "phy"
    GRID_DB = (-20.0, 45.0, 0.05)
    PRBS, SYMBOLS, SCS_HZ = 51, 14, 30e3  # the reference allocation the table is built for

    def __init__(self, bler_target: float = 0.1) -> None:
        import torch
        from sionna.phy.nr.utils import calculate_tb_size, decode_mcs_index
        from sionna.sys import InnerLoopLinkAdaptation, PHYAbstraction

        lo, hi, step = self.GRID_DB
        self.grid = np.arange(lo, hi + step / 2, step)
        phy = PHYAbstraction()
        la = InnerLoopLinkAdaptation(phy, bler_target=bler_target)
        n_re = self.PRBS * 12 * self.SYMBOLS
        sinr = torch.tensor(10.0 ** (self.grid / 10.0), dtype=torch.float32)
        re = torch.full((len(self.grid),), n_re, dtype=torch.int32)
        mcs = la(sinr_eff=sinr, num_allocated_re=re)
        mod, rate = decode_mcs_index(mcs, table_index=1, is_pusch=True)
        tbs, *_ = calculate_tb_size(mod, rate, num_coded_bits=re * mod, return_cw_length=False)
        tbler = phy(mcs, sinr_eff=sinr, num_allocated_re=re)[3]
        slot_s = 1e-3 / (self.SCS_HZ / 15e3)
        band_hz = self.PRBS * 12 * self.SCS_HZ
        goodput = (1.0 - tbler.double().numpy()) * tbs.double().numpy() / slot_s
        self.table = goodput / band_hz
        self.mcs = mcs.numpy()
        self.bler_target = bler_target

    def efficiency(self, snr_db: np.ndarray) -> np.ndarray:
        """Goodput per Hz at the highest grid SNR not above ``snr_db``."""
        snr_db = np.asarray(snr_db, dtype=float)
        idx = np.floor((snr_db - self.grid[0]) / self.GRID_DB[2] + 1e-9).astype(int)
        out = self.table[np.clip(idx, 0, len(self.grid) - 1)]
        return np.where(idx < 0, 0.0, out)
