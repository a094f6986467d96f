"""The uploads on the shared band as arrays by slot: each one's bits sent, band, rate over
the current step of channel.dt, deadline and channel window (the true gain its rate follows,
the server's estimate a re-split reads), so that a step, a join or a re-split is one pass over
arrays, never a Python loop over the uploads."""

from __future__ import annotations

import numpy as np

from channels import LinkBudget, RateModel


class OnAir:
    """Slots of uploads on air; ``order`` [n] holds the occupied slots in the order they
    joined (the order the allocator sees them in)."""

    def __init__(self, dt: float) -> None:
        self.dt = dt
        self.order = np.zeros(0, dtype=np.int64)
        self._free: list[int] = []
        self._size = 0
        cap = 8
        self.bits, self.sent = np.zeros(cap), np.zeros(cap)  # payload, sent so far [bit]
        self.bw, self.rate = np.zeros(cap), np.zeros(cap)  # band [Hz], rate now [bit/s]
        self.deadline, self.t_fin = np.zeros(cap), np.zeros(cap)  # [s]
        self.step0 = np.zeros(cap, dtype=np.int64)  # global step of the window's column 0
        self.length = np.ones(cap, dtype=np.int64)
        self.gain = np.zeros((cap, 1))  # true gain [dB] over the window, padded
        self.csi_gain = np.zeros((cap, 1))  # the server's estimate [dB] over its window
        self.csi_t0 = np.zeros(cap)
        self.csi_n = np.ones(cap, dtype=np.int64)
        self.ids = np.zeros((cap, 3), dtype=np.int64)  # (client, job, round)

    # ------------------------------------------------------------------ slots
    def add(
        self,
        bits: float,
        deadline: float,
        gain_db: np.ndarray,
        step0: int,
        csi_db: np.ndarray,
        csi_t0: float,
        ids: tuple[int, int, int],
    ) -> int:
        """A new upload of ``bits`` due by ``deadline``; its true gain ``gain_db`` [n] dB from
        global step ``step0``, the server's estimate ``csi_db`` [m] dB on the grid from
        ``csi_t0`` [s]; ``ids`` its (client, job, round). Its slot; it holds no band yet."""
        slot = self._free.pop() if self._free else self._new_slot()
        self._fit(max(len(gain_db), len(csi_db)))
        self.bits[slot], self.sent[slot] = bits, 0.0
        self.bw[slot] = self.rate[slot] = 0.0
        self.deadline[slot], self.t_fin[slot] = deadline, np.inf
        self.step0[slot], self.length[slot] = step0, len(gain_db)
        self.gain[slot, : len(gain_db)] = gain_db
        self.csi_gain[slot, : len(csi_db)] = csi_db
        self.csi_t0[slot], self.csi_n[slot] = csi_t0, len(csi_db)
        self.ids[slot] = ids
        self.order = np.append(self.order, slot)
        return slot

    def remove(self, slot: int) -> None:
        """Slot ``slot`` leaves the air (its band is 0 from now)."""
        self.order = self.order[self.order != slot]
        self.bw[slot] = self.rate[slot] = 0.0
        self._free.append(slot)

    def _new_slot(self) -> int:
        if self._size == len(self.bits):
            self._grow_rows(2 * len(self.bits))
        self._size += 1
        return self._size - 1

    def _grow_rows(self, cap: int) -> None:
        for name in ("bits", "sent", "bw", "rate", "deadline", "t_fin", "step0", "length"):
            old = getattr(self, name)
            new = np.zeros(cap, dtype=old.dtype)
            new[: len(old)] = old
            setattr(self, name, new)
        for name in ("csi_t0", "csi_n"):
            old = getattr(self, name)
            new = np.ones(cap, dtype=old.dtype)
            new[: len(old)] = old
            setattr(self, name, new)
        for name in ("gain", "csi_gain", "ids"):
            old = getattr(self, name)
            new = np.zeros((cap, old.shape[1]), dtype=old.dtype)
            new[: len(old)] = old
            setattr(self, name, new)

    def _fit(self, width: int) -> None:
        """Room for a window of ``width`` steps."""
        if width <= self.gain.shape[1]:
            return
        for name in ("gain", "csi_gain"):
            old = getattr(self, name)
            new = np.zeros((len(old), max(width, 2 * old.shape[1])))
            new[:, : old.shape[1]] = old
            setattr(self, name, new)

    # ------------------------------------------------------------------ passes
    def settle(self, elapsed_s: float) -> None:
        """Every upload's bits of the last ``elapsed_s`` seconds at its current rate."""
        if elapsed_s > 0 and len(self.order):
            o = self.order
            self.sent[o] = np.minimum(self.sent[o] + self.rate[o] * elapsed_s, self.bits[o])

    def rates(self, step: int, link: LinkBudget, model: RateModel) -> None:
        """Every upload's rate [bit/s] over global step ``step`` at the band it holds:
        b·η(SNR(b)) at the step's gain (0 without band)."""
        o = self.order
        if not len(o):
            return
        col = np.clip(step - self.step0[o], 0, self.length[o] - 1)
        bw = self.bw[o]
        snr = link.snr_db(self.gain[o, col], np.maximum(bw, 1e-9))
        self.rate[o] = bw * model.efficiency(snr)

    def finish_times(self, now: float) -> np.ndarray:
        """Each upload's delivery instant [n] s at its current rate (now when nothing is left,
        inf without rate); kept as ``t_fin`` so that a wake at that instant knows who
        delivered."""
        o = self.order
        left, rate = self.bits[o] - self.sent[o], self.rate[o]
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(left <= 0, now, np.where(rate > 0, now + left / rate, np.inf))
        self.t_fin[o] = t
        return t

    def estimate_db(self, o: np.ndarray, now: float, delay_s: float) -> np.ndarray:
        """The server's gain estimate [len(o)] dB of the uploads in slots ``o`` at ``now``:
        its CSI window's column holding ``now − delay_s`` (clamped into the window)."""
        col = np.floor_divide(now - delay_s - self.csi_t0[o], self.dt).astype(np.int64)
        return self.csi_gain[o, np.clip(col, 0, self.csi_n[o] - 1)]
