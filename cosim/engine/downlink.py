"""The global model's way down (downlink.model = "channel"): its bits over each scheduled
client's own channel at the downlink band and base-station power, as one multicast at the rate
the worst client decodes at each instant, or unicast on equal shares of the band; predicted
from the server's CSI for the allocator, realised on the true trace for the clients."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from channels import LinkBudget, RateModel, delivery_time
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

    def _rates(self, gain_db: np.ndarray) -> np.ndarray:
        """Rates [K, ...] bit/s at channel gains ``gain_db`` [K, ...] dB: each client's own
        (unicast), or everyone's the worst client's at each instant (multicast)."""
        k = gain_db.shape[0]
        b = self.bandwidth_hz(k)
        rate = b * self.rate.efficiency(self.link.snr_db(gain_db, b))
        if self.section.mode == "multicast":
            rate = np.broadcast_to(rate.min(axis=0, keepdims=True), rate.shape)
        return np.asarray(rate, dtype=float)

    def predicted_s(self, bits: int, csi_gain_db: np.ndarray) -> np.ndarray:
        """Download times [K] s the server expects from its CSI (gain held constant)."""
        rate = self._rates(np.asarray(csi_gain_db, dtype=float))
        with np.errstate(divide="ignore"):
            return np.where(rate > 0, bits / np.where(rate > 0, rate, 1.0), np.inf)

    def realised_end(self, bits: int, window: RoundWindow) -> np.ndarray:
        """Instants [K] s each client holds the whole model, on the true channel of the
        round from its start; NaN where that is not before the deadline."""
        g = window.grid
        rate = self._rates(window.trace.gain_db)
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
