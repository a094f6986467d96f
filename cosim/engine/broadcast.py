"""The global model on its way down, as a round (or a batch of fedasync/fedbuff starts) sends
it: its size on air, the download times over the channel (downlink.model = "channel") or the
fixed broadcast time, the `broadcast` / `download_start` events; and a client's local work in
FLOPs."""

from __future__ import annotations

import numpy as np

from channels import LinkBudget
from cosim.engine.downlink import Downlink
from cosim.engine.plan import RoundWindow
from cosim.outputs.events import EventLog, Kind
from cosim.world.world import World
from fl import State


class Broadcasting:
    """The downlink of the scenario (None: the fixed server.broadcast_s) and its events."""

    def __init__(self, world: World, log: EventLog) -> None:
        self.w, self.s, self.log = world, world.scenario, log
        d = self.s.downlink
        self.downlink = (
            Downlink(
                d,
                LinkBudget(d.tx_power_dbm, d.noise_figure_db, self.s.channel.bs_antennas),
                world.rate,
            )
            if d.model == "channel"
            else None
        )

    def model_bits(self, global_state: State) -> int:
        """The global adapter's size on air [bits]: every value at the strategy's width
        (none of our strategies broadcasts a sparse model)."""
        per = self.w.strategy.bits_per_value
        return sum(x.numel() for x in global_state.values()) * per

    def step_flops(self, global_state: State) -> float:
        """FLOPs of one client's local work in a round: its training steps (with what the
        strategy adds to each, e.g. a penalty's gradients) and the strategy's per-round
        extra (e.g. an SVD)."""
        strategy = self.w.strategy
        per_step = self.w.step_flops + strategy.extra_step_flops(global_state)
        return per_step * self.s.train.local_steps + strategy.extra_round_flops(global_state, 1.0)

    def downloads(self, window: RoundWindow, bits: int) -> tuple[np.ndarray, np.ndarray] | None:
        """With downlink.model = "channel": the download times [K] s of the model's ``bits``
        the server predicts from its CSI, and the instants [K] s each client really holds it
        (NaN: not before the deadline); None with the fixed broadcast time."""
        if self.downlink is None:
            return None
        predicted = self.downlink.predicted_s(bits, window.csi.csi_gain_db, window)
        return predicted, self.downlink.realised_end(bits, window)

    def announce(
        self,
        r: int,
        window: RoundWindow,
        bits: int,
        down: tuple[np.ndarray, np.ndarray] | None,
        now: float,
    ) -> None:
        """The `broadcast` event: the global model's ``bits`` go down (server.broadcast_s); with
        the downlink timed over the channel, a `download_start` per client too."""
        s, clients = self.s, window.clients
        if down is None:
            self.log.emit(
                now,
                Kind.BROADCAST,
                r,
                bits=bits,
                seconds=s.server.broadcast_s,
                clients=clients.tolist(),
            )
            return
        d = s.downlink
        self.log.emit(
            now,
            Kind.BROADCAST,
            r,
            bits=bits,
            seconds=None,
            clients=clients.tolist(),
            mode=d.mode,
            bandwidth_hz=d.bandwidth_hz,
        )
        per = self.downlink.bandwidth_hz(len(clients))
        snr = self.downlink.snr_db(window.csi.csi_gain_db)
        for i, k in enumerate(clients):
            self.log.emit(
                now,
                Kind.DOWNLOAD_START,
                r,
                int(k),
                bits=bits,
                bandwidth_hz=per,
                snr_db=snr[i],
                predicted_s=down[0][i],
            )
