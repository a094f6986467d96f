"""One scheduled client's round as a SimPy process: train (or drop out), upload, and the typed
outcome the round end reads."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import numpy as np
import simpy
import torch

from cosim.engine import contract
from cosim.engine.plan import RoundPlan
from cosim.outputs.events import EventLog, Kind
from cosim.outputs.results import HostTime
from cosim.world.world import World
from fl import LocalResult, State
from fl.strategies import Payload

MISS_TRAIN, MISS_UPLOAD, MISS_REJECTED = "train", "upload", "rejected"  # clients.csv `miss`
MISS_STOPPED = "stopped"  # first-k took its updates before this client's arrived
MISS_DOWNLOAD = "download"  # downlink.model = "channel": the model did not arrive in time
MISS_STALE = "stale"  # fedasync/fedbuff: it arrived staler than server.max_staleness
STOP_FIRST_K, STOP_MAX_TIME = "first-k", "max_time"  # why a `stopped` client was stopped
STOP_RUN_END = "run_end"  # fedasync/fedbuff: run.rounds versions made while it was busy


@dataclass
class ClientOutcome:
    """How one client's round ended (one clients.csv row's worth): simulated times [s], bits
    delivered, the miss ("" = on time, or one of MISS_*), energy [J], and what was sent."""

    train_s: float
    upload_s: float = 0.0
    bits: float = 0.0
    on_time: bool = False
    miss: str = ""
    train_loss: float | None = None
    energy_j: float = 0.0
    payload: Payload | None = None  # what arrived (on time only)
    update: State | None = None  # the trained adapter (trained runs)
    surrogate_error: float | None = None  # learning-free: the share the payload drops
    upload_t0: float | None = None  # when its upload began (None: it never began one)
    download_s: float | None = None  # downlink.model = "channel": its download time [s]
    # where its process waits (a checkpoint of fedasync/fedbuff resumes it there): "lead",
    # "download", "download_miss", "cut_off", "draw", "train" or "upload"
    phase: str = ""
    t_start: float = 0.0  # when its training (or download) began [s]
    sending: Payload | None = None  # the payload on air (trained runs)
    sending_bits: int = 0  # its bits


@dataclass
class ClientProcess:
    """Plays clients' rounds on ``env``: ``run(plan, i, ...)`` is the process of client i."""

    env: simpy.Environment
    world: World
    log: EventLog
    host: HostTime

    def outcome(self, plan: RoundPlan, i: int, flops: float) -> ClientOutcome:
        """Client i's outcome as its round starts: its simulated training time, now."""
        train_s = float(self.world.compute.seconds(int(plan.clients[i]), flops))
        return ClientOutcome(train_s=train_s, t_start=self.env.now)

    def run(
        self,
        plan: RoundPlan,
        i: int,
        global_state: State,
        flops: float,
        lead_s: float = 0.0,
        out: ClientOutcome | None = None,
    ) -> Generator[simpy.Event, Any, ClientOutcome]:
        """[download_end ->] train_start -> train_end -> upload_start -> upload_end |
        deadline_miss; the process's value is the client's outcome. ``lead_s``: a fixed
        broadcast time this client waits first (fedasync/fedbuff; a sync round waits it
        once for everyone); ``out``: its ``outcome`` (made here when not given)."""
        env = self.env
        out = self.outcome(plan, i, flops) if out is None else out
        try:
            if lead_s:
                out.phase = "lead"
                yield env.timeout(lead_s)
            yield from self._after_lead(plan, i, out, global_state, flops)
        except simpy.Interrupt as stop:
            self._stopped(plan, i, out, str(stop.cause))
        return out

    def resume(
        self,
        plan: RoundPlan,
        i: int,
        global_state: State,
        flops: float,
        out: ClientOutcome,
        wake: simpy.Event,
    ) -> Generator[simpy.Event, Any, ClientOutcome]:
        """Client i's process continued from a checkpoint (fedasync/fedbuff): ``out`` as it
        was, waiting in ``out.phase`` for ``wake`` (its timer, or its upload's end)."""
        phase = out.phase
        try:
            if phase == "train":  # the host's job did not survive the checkpoint: again
                self._submit(plan, i, global_state)
            value = yield wake
            if phase == "lead":
                yield from self._after_lead(plan, i, out, global_state, flops)
            elif phase == "download":
                yield from self._after_download(plan, i, out, global_state, flops)
            elif phase == "download_miss":
                self._after_download_miss(plan, i, out)
            elif phase == "cut_off":
                self._after_cut_off(plan, i, out)
            elif phase == "draw":
                yield from self._after_draw(plan, i, out)
            elif phase == "train":
                yield from self._after_train(plan, i, out, global_state)
            else:
                self._after_upload(plan, i, out, value)
        except simpy.Interrupt as stop:
            self._stopped(plan, i, out, str(stop.cause))
        return out

    def _after_lead(self, plan: RoundPlan, i: int, out: ClientOutcome, global_state, flops):
        """The broadcast is over: the download (timed over the channel), or training."""
        out.t_start = self.env.now
        if plan.download_end is not None:
            yield from self._download(plan, i, out, global_state, flops)
        else:
            yield from self._local(plan, i, out, global_state, flops)

    def _download(self, plan: RoundPlan, i: int, out: ClientOutcome, global_state, flops):
        """Wait for the global model to arrive over the channel (`download_end`), then train;
        when it cannot before the deadline, a `deadline_miss` in phase download at the
        deadline (the band it was given stays idle: the server cannot know before)."""
        env = self.env
        end = float(plan.download_end[i])
        if np.isnan(end):
            out.phase = "download_miss"
            yield env.timeout(max(plan.deadline - env.now, 0.0))
            self._after_download_miss(plan, i, out)
            return
        out.phase = "download"
        yield env.timeout(max(end - env.now, 0.0))
        yield from self._after_download(plan, i, out, global_state, flops)

    def _after_download_miss(self, plan: RoundPlan, i: int, out: ClientOutcome) -> None:
        out.miss, out.download_s = MISS_DOWNLOAD, self.env.now - plan.t0
        self._missed_before_upload(plan, i, "download", 0.0)

    def _after_download(self, plan: RoundPlan, i: int, out: ClientOutcome, global_state, flops):
        env = self.env
        out.download_s = env.now - plan.t0
        self.log.emit(
            env.now, Kind.DOWNLOAD_END, plan.round, int(plan.clients[i]), realised_s=out.download_s
        )
        out.t_start = env.now
        yield from self._local(plan, i, out, global_state, flops)

    def _local(self, plan: RoundPlan, i: int, out: ClientOutcome, global_state: State, flops):
        """train_start, then training (or its cut-off, or a learning-free draw) and upload."""
        w, env, r, k = self.world, self.env, plan.round, int(plan.clients[i])
        train_s = out.train_s
        fits = env.now + train_s <= plan.deadline
        self.log.emit(
            env.now,
            Kind.TRAIN_START,
            r,
            k,
            flops=flops,
            speed_tflops=w.compute.flops_per_s[k] / 1e12,
            train_s=train_s,
            host_trained=fits and not w.learning_free,
        )
        if not fits:
            yield from self._cut_off(plan, i, out)
        elif w.surrogate is not None:
            yield from self._draw(plan, i, out)
        else:
            yield from self._train(plan, i, out, global_state)

    def _stopped(self, plan: RoundPlan, i: int, out: ClientOutcome, reason: str) -> None:
        """The round ended before this client's update arrived (``reason``: first-k's quorum,
        or run.max_time_s): training is abandoned (its host job dropped) or the upload
        stops; its band is freed."""
        w, env, r, k = self.world, self.env, plan.round, int(plan.clients[i])
        if w.training is not None:
            w.training.discard((plan.key, k))
        bits, held = plan.uplink.stop(i)
        uploading = out.upload_t0 is not None
        downloading = plan.download_end is not None and out.download_s is None
        out.upload_s = env.now - out.upload_t0 if uploading else 0.0
        out.bits, out.miss, out.on_time, out.payload = bits, MISS_STOPPED, False, None
        trained = 0.0 if downloading else min(env.now - out.t_start, out.train_s)
        out.energy_j = self._energy(trained, out.upload_s)
        self.log.emit(
            env.now,
            Kind.STOPPED,
            r,
            k,
            reason=reason,
            phase="upload" if uploading else "download" if downloading else "train",
            bits=bits,
            payload_bits=plan.payload_bits[i],
            bandwidth_hz=held,
            energy_j=out.energy_j,
        )

    def _cut_off(self, plan: RoundPlan, i: int, out: ClientOutcome):
        """Its update could not arrive in time: the simulated device trains until the deadline
        cuts it off; the host skips the (discarded) computation."""
        env = self.env
        plan.uplink.drop(i, "training cannot finish by the deadline")
        out.phase = "cut_off"
        yield env.timeout(max(plan.deadline - env.now, 0.0))
        self._after_cut_off(plan, i, out)

    def _after_cut_off(self, plan: RoundPlan, i: int, out: ClientOutcome) -> None:
        out.miss = MISS_TRAIN
        out.energy_j = self._energy(self.env.now - out.t_start, 0.0)
        self._missed_before_upload(plan, i, "train", out.energy_j)

    def _missed_before_upload(self, plan: RoundPlan, i: int, phase: str, energy_j: float) -> None:
        """The `deadline_miss` of a client the deadline caught before it sent a bit."""
        self.log.emit(
            self.env.now,
            Kind.DEADLINE_MISS,
            plan.round,
            int(plan.clients[i]),
            phase=phase,
            bits=0,
            payload_bits=plan.payload_bits[i],
            energy_j=energy_j,
        )

    def _draw(self, plan: RoundPlan, i: int, out: ClientOutcome):
        """Learning-free: this client's update is a draw from the profile, never trained."""
        w, env, k = self.world, self.env, int(plan.clients[i])
        importance = w.surrogate.draw(w.seeds.rng("surrogate", plan.key, k))
        out.surrogate_error = w.strategy.surrogate_error(
            importance, float(plan.budget[i]), w.seeds.rng("compress", plan.key, k)
        )
        out.phase = "draw"
        yield env.timeout(out.train_s)
        yield from self._after_draw(plan, i, out)

    def _after_draw(self, plan: RoundPlan, i: int, out: ClientOutcome):
        r, k = plan.round, int(plan.clients[i])
        self.log.emit(
            self.env.now, Kind.TRAIN_END, r, k, loss=None, train_s=out.train_s, learning_free=True
        )
        yield from self._upload(plan, i, out, int(plan.payload_bits[i]), None)

    def _train(self, plan: RoundPlan, i: int, out: ClientOutcome, global_state: State):
        """The backend trains while simulated training lasts (here, or on a Ray worker);
        seeded by (round, client), the result does not depend on where or when it is
        computed."""
        self._submit(plan, i, global_state)
        out.phase = "train"
        yield self.env.timeout(out.train_s)
        yield from self._after_train(plan, i, out, global_state)

    def _submit(self, plan: RoundPlan, i: int, global_state: State) -> None:
        """Client i's local training to the backend, keyed and seeded by (key, client): the
        key is the round (sync) or the batch of starts (fedasync/fedbuff)."""
        w, key, k = self.world, plan.key, int(plan.clients[i])
        w.training.submit(
            (key, k), global_state, w.shards[k], w.seeds.int_seed("local_train", key, k)
        )

    def _after_train(self, plan: RoundPlan, i: int, out: ClientOutcome, global_state: State):
        w, env, r, k = self.world, self.env, plan.round, int(plan.clients[i])
        key = plan.key
        waited = w.training.busy_s
        update = w.training.collect((key, k))
        self.host.train_s += w.training.busy_s - waited  # host time training (or waiting)
        self.host.trained_updates += 1
        out.train_loss = update.loss
        self.log.emit(env.now, Kind.TRAIN_END, r, k, loss=update.loss, train_s=out.train_s)
        reason = self._rejection(update)
        if reason:
            out.miss, out.energy_j = MISS_REJECTED, self._energy(out.train_s, 0.0)
            plan.uplink.drop(i, "update rejected")
            self.log.emit(
                env.now,
                Kind.UPDATE_REJECTED,
                r,
                k,
                reason=reason,
                loss=update.loss,
                energy_j=out.energy_j,
            )
            return
        out.update = update.state
        payload = contract.payload(
            w.strategy,
            w.strategy.compress(
                update.state,
                global_state,
                float(plan.budget[i]),
                w.seeds.rng("compress", key, k),
            ),
        )
        yield from self._upload(plan, i, out, payload.bits, payload)

    def _upload(
        self, plan: RoundPlan, i: int, out: ClientOutcome, bits: int, payload: Payload | None
    ):
        """upload_start -> upload_end | deadline_miss, on the round's rate trace."""
        env, r, k = self.env, plan.round, int(plan.clients[i])
        t_up = out.upload_t0 = env.now
        out.phase, out.sending, out.sending_bits = "upload", payload, bits
        j = plan.grid.column_from(t_up)
        self.log.emit(
            t_up,
            Kind.UPLOAD_START,
            r,
            k,
            bits=bits,
            bandwidth_hz=plan.uplink.bw[i],
            snr_db=plan.snr_db[i, j],
            predicted_s=plan.predicted_upload_s[i],
        )
        result = yield plan.uplink.start(i, bits, float(plan.predicted_upload_s[i]))
        self._after_upload(plan, i, out, result)

    def _after_upload(self, plan: RoundPlan, i: int, out: ClientOutcome, result) -> None:
        env, r, k = self.env, plan.round, int(plan.clients[i])
        t_up, bits, payload = out.upload_t0, out.sending_bits, out.sending
        out.phase, out.sending = "", None
        out.upload_s = env.now - t_up
        if result.delivered:
            out.bits, out.on_time, out.payload = float(bits), True, payload
            out.energy_j = self._energy(out.train_s, out.upload_s)
            self.log.emit(
                env.now,
                Kind.UPLOAD_END,
                r,
                k,
                bits=bits,
                predicted_s=plan.predicted_upload_s[i],
                realised_s=env.now - t_up,
                energy_j=out.energy_j,
                **(plan.stamp(i) if plan.stamp else {}),
            )
            return
        out.bits, out.miss = float(result.bits), MISS_UPLOAD
        out.energy_j = self._energy(out.train_s, out.upload_s)
        self.log.emit(
            env.now,
            Kind.DEADLINE_MISS,
            r,
            k,
            phase="upload",
            bits=result.bits,
            payload_bits=bits,
            predicted_s=plan.predicted_upload_s[i],
            realised_s=env.now - t_up,
            energy_j=out.energy_j,
        )

    def _rejection(self, update: LocalResult) -> str:
        """Why a client update must not be aggregated ("" when it is fine)."""
        limit = self.world.scenario.train.divergence_loss
        if not np.isfinite(update.loss):
            return f"non-finite training loss ({update.loss})"
        if update.loss > limit:
            return f"training loss {update.loss:.3g} above train.divergence_loss ({limit})"
        bad = [n for n, t in update.state.items() if not torch.isfinite(t).all()]
        if bad:
            return f"non-finite values in {len(bad)} tensor(s), e.g. {bad[0]}"
        return ""

    def _energy(self, train_s: float, upload_s: float) -> float:
        """Device energy [J]: device power while training + transmit power while uploading."""
        s = self.world.scenario
        tx_w = 10.0 ** (s.channel.tx_power_dbm / 10.0) / 1000.0
        return s.compute.device_power_w * train_s + tx_w * upload_s
