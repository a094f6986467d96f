"""The global model's way down (downlink.model = "channel"): its bits over each scheduled
client's own channel at the downlink band and base-station power, as one multicast at the rate
the worst client decodes at each instant, or unicast on equal shares of the band; predicted
from the server's CSI for the allocator, realised on the true trace for the clients."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from channels import LinkBudget, RateModel, delivery_time
from channels.multicell import CellTrace
from cosim.engine.plan import RoundWindow
from cosim.scenario.server import DownlinkSection


@dataclass(frozen=True)
class Downlink:
    """The downlink's radio: budget (BS power, UE noise figure, the BS array's gain, as the
    uplink's by reciprocity), rate model, and how the band is used."""

    section: DownlinkSection
    link: LinkBudget
    rate: RateModel

    def bandwidth_hz(self, k: int) -> float:
        """Each client's band [Hz]: all of it (multicast) or an equal share of ``k``."""
        b = self.section.bandwidth_hz
        return b if self.section.mode == "multicast" else b / k

    def _rates(self, gain_db: np.ndarray, cell: np.ndarray | None = None) -> np.ndarray:
        """Rates [K, ...] bit/s at channel gains ``gain_db`` [K, ...] dB: each client's own
        (unicast), or everyone's the worst client's at each instant (multicast) — over several
        cells, the worst of those its serving cell ``cell`` [K, ...] multicasts to."""
        k = gain_db.shape[0]
        b: float | np.ndarray = self.bandwidth_hz(k)
        if cell is not None and self.section.mode == "unicast":  # each cell splits its own band
            same = (cell[:, None] == cell[None, :]).sum(axis=1)  # [K, ...] clients of its cell
            b = self.section.bandwidth_hz / same
        rate = np.asarray(b * self.rate.efficiency(self.link.snr_db(gain_db, b)), dtype=float)
        if self.section.mode == "multicast":
            if cell is None:
                return np.broadcast_to(rate.min(axis=0, keepdims=True), rate.shape).copy()
            worst = rate.copy()
            for c in np.unique(cell):
                mine = cell == c
                low = np.where(mine, rate, np.inf).min(axis=0, keepdims=True)
                worst = np.where(mine, np.broadcast_to(low, rate.shape), worst)
            return worst
        return rate

    def _sinr_gain_db(self, window: RoundWindow) -> tuple[np.ndarray, np.ndarray | None]:
        """The gain [K, n] dB the download sees and the serving cells [K, n] (None for one
        cell): over several cells the serving link's gain less 10·log10(1 + I/N), I every
        other kept cell's base station transmitting at full power (full load) over the band."""
        tr = window.trace
        if not isinstance(tr, CellTrace):
            return tr.gain_db, None
        b = self.section.bandwidth_hz
        noise_mw = 10.0 ** (self.link.noise_dbm(b) / 10.0)
        p_mw = 10.0 ** (self.link.tx_power_dbm / 10.0)
        cut = np.empty(tr.cell.shape)
        for i, lk in enumerate(tr.links):
            heard = 10.0 ** (lk.gain_db / 10.0)  # [n, M] large scale to every kept cell
            own = lk.cells[None, :] == tr.cell[i][:, None]
            i_mw = p_mw * np.where(own, 0.0, heard).sum(axis=1)
            cut[i] = 10.0 * np.log10(1.0 + i_mw / noise_mw)
        return tr.gain_db - cut, tr.cell

    def predicted_s(self, bits: int, csi_gain_db: np.ndarray, window: RoundWindow) -> np.ndarray:
        """Download times [K] s the server expects from its CSI (gain held constant; over
        several cells less the interference at the CSI instant)."""
        gain, cell = self._sinr_gain_db(window)
        csi = np.asarray(csi_gain_db, dtype=float)
        if cell is not None:
            csi = csi - (window.trace.gain_db[:, 0] - gain[:, 0])
        rate = self._rates(csi, None if cell is None else cell[:, 0])
        with np.errstate(divide="ignore"):
            return np.where(rate > 0, bits / np.where(rate > 0, rate, 1.0), np.inf)

    def realised_end(self, bits: int, window: RoundWindow) -> np.ndarray:
        """Instants [K] s each client holds the whole model, on the true channel of the
        round from its start; NaN where that is not before the deadline."""
        g = window.grid
        gain, cell = self._sinr_gain_db(window)
        rate = self._rates(gain, cell)
        k = rate.shape[0]
        return delivery_time(
            np.full(k, float(bits)),
            rate,
            g.t0,
            g.dt,
            np.full(k, window.t0),
            np.full(k, window.deadline),
        ).t_end

    def snr_db(self, csi_gain_db: np.ndarray) -> np.ndarray:
        """Each client's downlink SNR [dB] over its band at the CSI (for the events)."""
        gain = np.asarray(csi_gain_db, dtype=float)
        return self.link.snr_db(gain, self.bandwidth_hz(gain.shape[0]))
