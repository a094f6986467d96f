"""Link budget: SNR from transmit power, channel gain and bandwidth-scaled thermal noise."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from channels.rates import Shannon

BOLTZMANN = 1.380649e-23  # J/K


@dataclass(frozen=True)
class LinkBudget:
    """Uplink budget: noise is k·T·B times the noise figure; ``rx_antennas`` add MRC array gain.

    With A receive antennas and maximum-ratio combining the mean SNR grows by A (10·log10 A dB);
    the channel's ``fading_gain`` is the combined small-scale gain normalised to mean 1.
    """

    tx_power_dbm: float
    noise_figure_db: float
    rx_antennas: int = 1
    temperature_k: float = 290.0

    def noise_dbm(self, bandwidth_hz: np.ndarray | float) -> np.ndarray:
        """Receiver noise power [dBm] over ``bandwidth_hz``."""
        ktb_w = BOLTZMANN * self.temperature_k * np.asarray(bandwidth_hz, dtype=float)
        return 10.0 * np.log10(ktb_w) + 30.0 + self.noise_figure_db

    def snr_db(self, gain_db: np.ndarray, bandwidth_hz: np.ndarray | float) -> np.ndarray:
        """SNR [dB] for a channel gain [dB] and an allocated bandwidth [Hz]."""
        array_gain_db = 10.0 * np.log10(self.rx_antennas)
        gain = np.asarray(gain_db, dtype=float) + array_gain_db
        return self.tx_power_dbm + gain - self.noise_dbm(bandwidth_hz)

    def snr_per_hz(self, gain_db: np.ndarray) -> np.ndarray:
        """Linear SNR x 1 Hz: the SNR over a bandwidth b is this value divided by b."""
        return 10.0 ** (self.snr_db(gain_db, 1.0) / 10.0)


def shannon_rate(bandwidth_hz: np.ndarray | float, snr_db: np.ndarray) -> np.ndarray:
    """Shannon rate b·log2(1 + SNR) [bit/s]."""
    return np.asarray(bandwidth_hz, dtype=float) * Shannon().efficiency(snr_db)
