"""The SimPy engine: one server process runs the rounds, one process per scheduled client."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import simpy
import torch

from channels import distances, upload_end_time
from cosim.engine.uplink import Uplink
from cosim.outputs.events import EventLog
from cosim.outputs.results import HostTime
from cosim.outputs.tables import ChannelRecorder, CsvTable
from cosim.world.radio import efficiency_of
from cosim.world.world import World
from fl import (
    Allocation,
    AllocationRequest,
    LocalResult,
    for_subset,
    lora_layers,
    orthogonality_defect,
    predicted_upload_s,
    relative_error,
    separate_aggregation_error,
)


@dataclass
class RoundPlan:
    """One round as the server set it up: grid, channel, allocation, and where results go."""

    round: int
    t0: float
    deadline: float
    clients: np.ndarray
    steps: np.ndarray
    snr_db: np.ndarray
    bandwidth_hz: np.ndarray
    budget: np.ndarray
    payload_bits: np.ndarray
    predicted_upload_s: np.ndarray
    positions: np.ndarray
    distance_m: np.ndarray
    j0: int
    uplink: Uplink
    results: dict[int, dict[str, Any]] = field(default_factory=dict)


class Simulation:
    """Plays the rounds of a scenario in simulated time and writes events and tables."""

    def __init__(
        self,
        world: World,
        log: EventLog,
        rounds_table: CsvTable,
        clients_table: CsvTable,
        recorder: ChannelRecorder | None = None,
        on_round: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.w = world
        self.s = world.scenario
        self.log = log
        self.rounds_table = rounds_table
        self.clients_table = clients_table
        self.recorder = recorder
        self.on_round = on_round
        self.env = simpy.Environment()
        self.global_state = world.initial_state
        self.host = HostTime()
        self.dt = self.s.channel.dt
        self._efficiency = efficiency_of(world.rate)
        self.sizes = (
            np.ones(self.s.clients.count)
            if world.learning_free
            else np.array([len(s) for s in world.shards], dtype=float)
        )
        self._pending_chunk: dict[str, np.ndarray] = {}
        self.first_round = 1

    # ------------------------------------------------------------------ state
    def state(self) -> dict[str, Any]:
        """What the engine itself carries from one round to the next (for checkpoints)."""
        return dict(
            now=self.env.now,
            next_round=self.first_round,
            global_state=self.global_state,
            host=self.host,
            pending_chunk=self._pending_chunk,
        )

    def load_state(self, state: dict[str, Any]) -> None:
        """Continue from ``state`` (as ``state()`` gave it after a round): the clock, the
        next round, the global model, the host counters."""
        self.env = simpy.Environment(initial_time=state["now"])
        self.first_round = int(state["next_round"])
        self.global_state = state["global_state"]
        self.host = state["host"]
        self._pending_chunk = state["pending_chunk"]

    # ------------------------------------------------------------------ server
    def run(self) -> None:
        """Run every round (from ``first_round``) to the end."""
        self.env.process(self._server())
        self.env.run()

    def _evaluate(self) -> tuple[float, float]:
        start = time.perf_counter()
        acc, loss = self.w.trainer.evaluate(self.global_state, self.w.eval_indices)
        self.host.eval_s += time.perf_counter() - start
        return acc, loss

    def _server(self):
        if self.first_round == 1:
            self._start()
        for r in range(self.first_round, self.s.run.rounds + 1):
            plan = self._plan_round(r)
            yield self.env.timeout(self.s.server.broadcast_s)
            procs = [self.env.process(self._client(plan, i)) for i in range(len(plan.clients))]
            yield self.env.all_of(procs)
            self.first_round = r + 1  # what a checkpoint written at this round's end resumes
            self._finish_round(plan)

    def _start(self) -> None:
        """run_start, stage1 and the round-0 evaluation."""
        s = self.s
        self.log.emit(
            self.env.now,
            "run_start",
            0,
            mode=s.fl.mode,
            learning_free=self.w.learning_free,
            profile=self.w.surrogate.profile.source if self.w.surrogate else None,
            clients=s.clients.count,
            per_round=s.clients.per_round,
            rounds=s.run.rounds,
            allocator=s.allocation.name,
            strategy=s.strategy.name,
        )
        if self.w.stage1 is not None:
            st = self.w.stage1
            self.log.emit(
                self.env.now,
                "stage1",
                0,
                candidates=st.candidates,
                chosen=st.chosen,
                rule=st.rule,
                latency_target_s=s.allocation.latency_target_s,
            )
        if not self.w.learning_free:
            acc, loss = self._evaluate()
            self.log.emit(self.env.now, "eval", 0, accuracy=acc, loss=loss)

    def _plan_round(self, r: int) -> RoundPlan:
        """round_start, csi, allocation and broadcast events; the round's channel trace."""
        s, w, now = self.s, self.w, self.env.now
        deadline = now + s.deadline.seconds
        self.log.emit(now, "round_start", r, deadline=deadline)
        clients = np.sort(
            w.seeds.rng("schedule", r).choice(s.clients.count, s.clients.per_round, replace=False)
        )
        # the round's channel, one batched call: from the CSI instant to the deadline
        t_csi = max(now - s.channel.csi_delay_s, 0.0)
        steps = grid_steps(t_csi, deadline, self.dt)
        j0 = int(grid_steps(now, deadline, self.dt)[0] - steps[0])
        t = steps * self.dt
        pos = w.mobility.positions(t, clients)
        vel = w.mobility.velocities(t, clients)
        trace = w.channel.trace(clients, t, pos, vel)
        csi_gain_db = self._estimate_csi(r, clients, trace, vel, j0, now - t_csi)
        alloc, bits, pred_up = self._allocate(r, clients, csi_gain_db, trace, steps)
        self.log.emit(
            now,
            "broadcast",
            r,
            bits=sum(x.numel() for x in self.global_state.values()) * w.strategy.bits_per_value,
            seconds=s.server.broadcast_s,
            clients=clients.tolist(),
        )
        snr_db = self._snr_db(trace.gain_db, alloc.bandwidth_hz[:, None])
        uplink = self._uplink(
            r, clients, alloc.bandwidth_hz, trace.gain_db, steps, csi_gain_db - trace.gain_db[:, 0]
        )
        if self.recorder is not None:
            own = slice(j0, None)
            pos_all = w.mobility.positions(t[own])
            self._pending_chunk = dict(
                steps=steps[own],
                clients=clients,
                positions=pos_all,
                speed=np.linalg.norm(w.mobility.velocities(t[own]), axis=-1),
                distance_3d_m=distances(pos_all, w.channel.bs_position)[1],
                pathloss_db=trace.pathloss_db[:, own],
                shadowing_db=trace.shadowing_db[:, own],
                penetration_db=trace.penetration_db[:, own],
                fading_gain=trace.fading_gain[:, own],
                los=trace.los[:, own].astype(np.int8),
                snr_db=snr_db[:, own],
            )
        return RoundPlan(
            round=r,
            t0=now,
            deadline=deadline,
            clients=clients,
            steps=steps,
            snr_db=snr_db,
            bandwidth_hz=alloc.bandwidth_hz,
            budget=alloc.budget,
            payload_bits=bits,
            predicted_upload_s=pred_up,
            positions=pos[:, j0],
            distance_m=trace.distance_3d_m[:, j0],
            j0=j0,
            uplink=uplink,
        )

    def _uplink(
        self,
        r: int,
        clients: np.ndarray,
        bandwidth_hz: np.ndarray,
        gain_db: np.ndarray,
        steps: np.ndarray,
        csi_offset_db: np.ndarray,
    ) -> Uplink:
        """The round's band; mid-round re-splits see the channel as the round-start CSI does:
        ``channel.csi_delay_s`` old, with the same estimation error."""
        s, w = self.s, self.w
        grid_t0 = steps[0] * self.dt

        def estimate(idx: np.ndarray, now: float) -> np.ndarray:
            j = int(np.clip((now - s.channel.csi_delay_s - grid_t0) // self.dt, 0, len(steps) - 1))
            return w.link.snr_per_hz(gain_db[idx, j] + csi_offset_db[idx])

        a = s.allocation
        return Uplink(
            self.env,
            r,
            gain_db,
            grid_t0,
            self.dt,
            self.env.now + s.deadline.seconds,
            bandwidth_hz,
            s.channel.bandwidth_hz,
            w.link,
            w.rate,
            self._efficiency,
            estimate,
            self.log.emit,
            clients,
            reallocate=a.reallocate,
            threshold=a.realloc_threshold,
            min_interval_s=a.realloc_min_s,
        )

    def _estimate_csi(
        self, r: int, clients: np.ndarray, trace: Any, vel: np.ndarray, j0: int, age_s: float
    ) -> np.ndarray:
        """`csi` events: the gain at the window's first step (``age_s`` before now), plus a
        Gaussian estimation error in dB; returns what the allocator will see."""
        now = self.env.now
        true_gain_db = trace.gain_db[:, 0]
        error_db = self.w.seeds.rng("csi_error", r).normal(0.0, 1.0, len(clients))
        csi_gain_db = true_gain_db + self.s.channel.csi_error_db * error_db
        for i, k in enumerate(clients):
            self.log.emit(
                now,
                "csi",
                r,
                k,
                gain_db=csi_gain_db[i],
                true_gain_db=true_gain_db[i],
                age_s=age_s,
                error_db=csi_gain_db[i] - true_gain_db[i],
                distance_m=trace.distance_3d_m[i, j0],
                los=bool(trace.los[i, j0]),
                speed_mps=float(np.linalg.norm(vel[i, j0])),
            )
        return csi_gain_db

    def _allocate(
        self,
        r: int,
        clients: np.ndarray,
        csi_gain_db: np.ndarray,
        trace: Any,
        steps: np.ndarray,
    ) -> tuple[Allocation, np.ndarray, np.ndarray]:
        """`allocator` and `allocation` events: the allocator's split of the band and the
        budgets, with predicted times; returns it with the payload bits and upload times."""
        s, w, now = self.s, self.w, self.env.now
        template, n = self.global_state, len(clients)
        compute_s = w.compute.seconds(clients, self.step_flops_round)
        snr_per_hz = w.link.snr_per_hz(csi_gain_db)
        chooses = getattr(w.allocator, "chooses_budgets", False)  # TSFA, or a custom one
        grid = np.array(s.allocation.budget_grid if chooses else (s.strategy.budget,))
        bits_grid = np.tile([float(w.strategy.payload_bits(template, g)) for g in grid], (n, 1))
        error_grid = np.tile([w.strategy.predicted_error(template, g) for g in grid], (n, 1))
        # a client whose training cannot end before the deadline is a known dropout: it gets
        # no band (else min-max would stretch everyone's plan past the deadline for it)
        time_left = s.deadline.seconds - s.server.broadcast_s
        can = compute_s < time_left
        idx = np.flatnonzero(can)
        part = None
        if idx.size:
            part = w.allocator.allocate(
                AllocationRequest(
                    clients=clients[idx],
                    snr_per_hz=snr_per_hz[idx],
                    dense_bits=np.full(idx.size, w.strategy.payload_bits(template, 1.0), float),
                    compute_s=compute_s[idx],
                    total_bandwidth_hz=s.channel.bandwidth_hz,
                    time_left_s=time_left,
                    efficiency=self._efficiency,
                    budget_grid=grid,
                    bits_grid=bits_grid[idx],
                    error_grid=error_grid[idx],
                    true_delivered_bits=(
                        self._true_delivered(trace, steps, compute_s, idx)
                        if w.allocator.name == "oracle"
                        else None
                    ),
                )
            )
        alloc = for_subset(part, idx, n, grid[0])
        if alloc.info:
            self.log.emit(now, "allocator", r, name=w.allocator.name, **alloc.info)
        if alloc.bandwidth_hz.sum() > s.channel.bandwidth_hz * (1 + 1e-9):
            raise RuntimeError(
                f"allocator {w.allocator.name!r} assigned {alloc.bandwidth_hz.sum()} Hz "
                f"of {s.channel.bandwidth_hz} Hz"
            )
        level = np.searchsorted(grid, alloc.budget)
        if np.any(level >= len(grid)) or np.any(
            grid[np.minimum(level, len(grid) - 1)] != alloc.budget
        ):
            raise RuntimeError(
                f"allocator {w.allocator.name!r} chose budgets {alloc.budget.tolist()}, not all "
                f"from the request's budget_grid {grid.tolist()}"
            )
        bits = bits_grid[np.arange(n), level].astype(np.int64)
        pred_up = predicted_upload_s(bits, alloc.bandwidth_hz, snr_per_hz, self._efficiency)
        for i, k in enumerate(clients):
            self.log.emit(
                now,
                "allocation",
                r,
                k,
                bandwidth_hz=alloc.bandwidth_hz[i],
                share=alloc.bandwidth_hz[i] / s.channel.bandwidth_hz,
                budget=alloc.budget[i],
                bits=bits[i],
                snr_db=self._snr_db(csi_gain_db[i], alloc.bandwidth_hz[i]),
                predicted_train_s=compute_s[i],
                predicted_upload_s=pred_up[i],
                predicted_s=s.server.broadcast_s + compute_s[i] + pred_up[i],
                predicted_error=error_grid[i, level[i]],
                excluded=bool(alloc.bandwidth_hz[i] == 0),
            )
        return alloc, bits, pred_up

    def _true_delivered(
        self, trace: Any, steps: np.ndarray, compute_s: np.ndarray, rows: np.ndarray
    ) -> Callable[[np.ndarray, float], np.ndarray]:
        """For the oracle only: bits each client of ``rows`` would deliver on the real channel
        between the end of its training and ``t`` seconds after the broadcast, at bandwidths
        ``bw``."""
        w, n = self.w, len(rows)
        t0 = self.env.now + self.s.server.broadcast_s
        start = t0 + np.asarray(compute_s)[rows]
        gain_db = trace.gain_db[rows]
        grid_t0 = steps[0] * self.dt

        def delivered(bw: np.ndarray, t: float) -> np.ndarray:
            bw = np.maximum(np.asarray(bw, dtype=float), 1e-9)
            snr_db = w.link.snr_db(gain_db, bw[:, None])
            limit = np.full(n, min(t0 + t, grid_t0 + len(steps) * self.dt))
            return upload_end_time(
                np.full(n, np.inf),
                bw,
                snr_db,
                grid_t0,
                self.dt,
                np.minimum(start, limit),
                limit,
                w.rate,
            ).delivered_bits

        return delivered

    def _snr_db(self, gain_db: np.ndarray, bandwidth_hz: np.ndarray) -> np.ndarray:
        """SNR over the allocated band; NaN where a client has no band."""
        bw = np.asarray(bandwidth_hz, dtype=float)
        with np.errstate(divide="ignore"):
            snr = self.w.link.snr_db(gain_db, np.where(bw > 0, bw, 1.0))
        return np.where(bw > 0, snr, np.nan)

    @property
    def step_flops_round(self) -> float:
        """FLOPs of one client's local work in a round: its training steps (with what the
        strategy adds to each, e.g. a penalty's gradients) and the strategy's per-round
        extra (e.g. an SVD)."""
        strategy, template = self.w.strategy, self.global_state
        per_step = self.w.step_flops + strategy.extra_step_flops(template)
        return per_step * self.s.train.local_steps + strategy.extra_round_flops(template, 1.0)

    # ------------------------------------------------------------------ client
    def _client(self, plan: RoundPlan, i: int):
        """train_start -> train_end -> upload_start -> upload_end | deadline_miss."""
        w, env, r, k = self.w, self.env, plan.round, int(plan.clients[i])
        train_s = float(w.compute.seconds(k, self.step_flops_round))
        fits = env.now + train_s <= plan.deadline
        env_log = self.log.emit
        env_log(
            env.now,
            "train_start",
            r,
            k,
            flops=self.step_flops_round,
            speed_tflops=w.compute.flops_per_s[k] / 1e12,
            train_s=train_s,
            host_trained=fits and not w.learning_free,
        )
        result: dict[str, Any] = dict(
            train_s=train_s,
            upload_s=0.0,
            bits=0.0,
            on_time=False,
            miss="",
            train_loss=None,
            energy_j=0.0,
            payload=None,
        )
        plan.results[k] = result
        if not fits:
            # Its update could not arrive in time: the simulated device trains until the
            # deadline cuts it off; the host skips the (discarded) computation.
            t_start = env.now
            plan.uplink.drop(i, "training cannot finish by the deadline")
            yield env.timeout(max(plan.deadline - env.now, 0.0))
            result["miss"] = "train"
            result["energy_j"] = self._energy(env.now - t_start, 0.0)
            env_log(
                env.now,
                "deadline_miss",
                r,
                k,
                phase="train",
                bits=0,
                payload_bits=plan.payload_bits[i],
                energy_j=result["energy_j"],
            )
            return
        if w.surrogate is not None:
            # learning-free: this client's update is a draw from the profile, never trained
            importance = w.surrogate.draw(w.seeds.rng("surrogate", r, k))
            result["surrogate_error"] = w.strategy.surrogate_error(
                importance, float(plan.budget[i]), w.seeds.rng("compress", r, k)
            )
            yield env.timeout(train_s)
            env_log(env.now, "train_end", r, k, loss=None, train_s=train_s, learning_free=True)
            yield from self._upload(plan, i, result, int(plan.payload_bits[i]), None)
            return
        # the backend trains while simulated training lasts (here, or on a Ray worker); seeded
        # by (round, client), the result does not depend on where or when it is computed
        w.training.submit(
            (r, k), self.global_state, w.shards[k], w.seeds.int_seed("local_train", r, k)
        )
        yield env.timeout(train_s)
        waited = w.training.busy_s
        update = w.training.collect((r, k))
        self.host.train_s += w.training.busy_s - waited  # host time training (or waiting)
        self.host.trained_updates += 1
        result["train_loss"] = update.loss
        env_log(env.now, "train_end", r, k, loss=update.loss, train_s=train_s)
        reason = self._rejection(update)
        if reason:
            result.update(miss="rejected", energy_j=self._energy(train_s, 0.0))
            plan.uplink.drop(i, "update rejected")
            env_log(
                env.now,
                "update_rejected",
                r,
                k,
                reason=reason,
                loss=update.loss,
                energy_j=result["energy_j"],
            )
            return
        result["update"] = update.state
        payload = w.strategy.compress(
            update.state,
            self.global_state,
            float(plan.budget[i]),
            w.seeds.rng("compress", r, k),
        )
        yield from self._upload(plan, i, result, payload.bits, payload)

    def _upload(self, plan: RoundPlan, i: int, result: dict[str, Any], bits: int, payload: Any):
        """upload_start -> upload_end | deadline_miss, on the round's rate trace."""
        env, r, k = self.env, plan.round, int(plan.clients[i])
        env_log, train_s = self.log.emit, result["train_s"]
        t_up = env.now
        grid_t0 = plan.steps[0] * self.dt
        j = min(int((t_up - grid_t0) // self.dt), len(plan.steps) - 1)
        env_log(
            t_up,
            "upload_start",
            r,
            k,
            bits=bits,
            bandwidth_hz=plan.uplink.bw[i],
            snr_db=plan.snr_db[i, j],
            predicted_s=plan.predicted_upload_s[i],
        )
        outcome = yield plan.uplink.start(i, bits, float(plan.predicted_upload_s[i]))
        if outcome.delivered:
            result.update(upload_s=env.now - t_up, bits=float(bits), on_time=True, payload=payload)
            result["energy_j"] = self._energy(train_s, result["upload_s"])
            env_log(
                env.now,
                "upload_end",
                r,
                k,
                bits=bits,
                predicted_s=plan.predicted_upload_s[i],
                realised_s=env.now - t_up,
                energy_j=result["energy_j"],
            )
        else:
            result.update(upload_s=env.now - t_up, bits=float(outcome.bits), miss="upload")
            result["energy_j"] = self._energy(train_s, result["upload_s"])
            env_log(
                env.now,
                "deadline_miss",
                r,
                k,
                phase="upload",
                bits=outcome.bits,
                payload_bits=bits,
                predicted_s=plan.predicted_upload_s[i],
                realised_s=env.now - t_up,
                energy_j=result["energy_j"],
            )

    def _rejection(self, update: LocalResult) -> str:
        """Why a client update must not be aggregated ("" when it is fine)."""
        if not np.isfinite(update.loss):
            return f"non-finite training loss ({update.loss})"
        if update.loss > self.s.train.divergence_loss:
            return (
                f"training loss {update.loss:.3g} above train.divergence_loss "
                f"({self.s.train.divergence_loss})"
            )
        bad = [n for n, t in update.state.items() if not torch.isfinite(t).all()]
        if bad:
            return f"non-finite values in {len(bad)} tensor(s), e.g. {bad[0]}"
        return ""

    def _energy(self, train_s: float, upload_s: float) -> float:
        """Device energy [J]: device power while training + transmit power while uploading."""
        tx_w = 10.0 ** (self.s.channel.tx_power_dbm / 10.0) / 1000.0
        return self.s.compute.device_power_w * train_s + tx_w * upload_s

    def _error_terms(
        self, results: list[dict[str, Any]], payloads: list[Any], weights: np.ndarray
    ) -> dict[str, float]:
        """The paper's three effects, measured on this round's on-time updates: the
        separate-aggregation error of what the server received, the mean relative
        sparsification error of each client's B·A, and the mean orthogonality defects."""
        if not results:
            nan = float("nan")
            return dict(
                sep_agg_error=nan, sparsification_error=nan, orth_defect_a=nan, orth_defect_b=nan
            )
        received = [self.w.strategy.reconstruct(p, self.global_state) for p in payloads]
        spars = [
            relative_error(res["update"], rec) for res, rec in zip(results, received, strict=True)
        ]
        defects = [
            orthogonality_defect(res["update"][layer.a], res["update"][layer.b])
            for res in results
            for layer in lora_layers(res["update"])
        ]
        return dict(
            sep_agg_error=separate_aggregation_error(received, weights.tolist()),
            sparsification_error=float(np.nanmean(spars))
            if not np.all(np.isnan(spars))
            else float("nan"),
            orth_defect_a=float(np.mean([d[0] for d in defects])),
            orth_defect_b=float(np.mean([d[1] for d in defects])),
        )

    @staticmethod
    def _surrogate_terms(results: list[dict[str, Any]]) -> dict[str, float]:
        """Learning-free rounds: the mean dropped share of the on-time clients' drawn updates;
        the terms that need real factors are not defined (NaN)."""
        nan = float("nan")
        errors = [res["surrogate_error"] for res in results]
        return dict(
            sep_agg_error=nan,
            sparsification_error=float(np.mean(errors)) if errors else nan,
            orth_defect_a=nan,
            orth_defect_b=nan,
        )

    # ------------------------------------------------------------------ round end
    def _finish_round(self, plan: RoundPlan) -> None:
        """aggregate and eval events; round and client rows; the round's channel chunk."""
        now, r = self.env.now, plan.round
        arrived = [k for k in map(int, plan.clients) if plan.results[k]["on_time"]]
        weights = self.sizes[arrived] / self.sizes[arrived].sum() if arrived else np.array([])
        payloads = [plan.results[k]["payload"] for k in arrived]
        self.w.allocator.observe(now - plan.t0)
        if self.w.learning_free:
            # nothing was trained: no model to aggregate or evaluate, only the profile's errors
            terms = self._surrogate_terms([plan.results[k] for k in arrived])
            self.log.emit(
                now, "aggregate", r, clients=arrived, weights=weights, learning_free=True, **terms
            )
            acc = loss = float("nan")
        else:
            terms = self._error_terms([plan.results[k] for k in arrived], payloads, weights)
            self.global_state = self.w.strategy.aggregate(
                self.global_state, payloads, weights.tolist()
            )
            self.log.emit(now, "aggregate", r, clients=arrived, weights=weights, **terms)
            acc = loss = float("nan")
            if r % self.s.server.eval_every == 0 or r == self.s.run.rounds:
                acc, loss = self._evaluate()
                self.log.emit(now, "eval", r, accuracy=acc, loss=loss)
        late = len(plan.clients) - len(arrived)
        bits_up = sum(res["bits"] for res in plan.results.values())
        row = dict(
            mode=self.s.fl.mode,
            round=r,
            t_start=plan.t0,
            t_end=now,
            scheduled=len(plan.clients),
            on_time=len(arrived),
            late=late,
            bits_up=bits_up,
            accuracy=acc,
            loss=loss,
            rejected=sum(res["miss"] == "rejected" for res in plan.results.values()),
            reallocations=plan.uplink.reallocations,
            **terms,
        )
        self.rounds_table.append(row)
        for i, k in enumerate(map(int, plan.clients)):
            res = plan.results[k]
            x, y, z = plan.positions[i]
            self.clients_table.append(
                dict(
                    mode=self.s.fl.mode,
                    round=r,
                    client=k,
                    x_m=x,
                    y_m=y,
                    z_m=z,
                    distance_m=plan.distance_m[i],
                    snr_db_mean=float(np.mean(plan.snr_db[i, plan.j0 :])),
                    bandwidth_hz=plan.bandwidth_hz[i],
                    budget=plan.budget[i],
                    train_s=res["train_s"],
                    upload_s=res["upload_s"],
                    bits=res["bits"],
                    payload_bits=plan.payload_bits[i],
                    on_time=res["on_time"],
                    miss=res["miss"],
                    train_loss=res["train_loss"],
                    energy_j=res["energy_j"],
                )
            )
        if self.recorder is not None:
            chunk = self._pending_chunk
            keep = chunk["steps"] * self.dt < now  # the rest of the grid belongs to the next round
            keep[0] = True
            steps, clients = chunk.pop("steps"), chunk.pop("clients")
            self.recorder.add(
                steps[keep], clients, **{name: a[:, keep] for name, a in chunk.items()}
            )
        if self.on_round is not None:
            self.on_round(row)


def grid_steps(t0: float, t1: float, dt: float) -> np.ndarray:
    """Global step indices i whose steps [i·dt, (i+1)·dt) cover [t0, t1]."""
    i0 = math.floor(t0 / dt)
    while i0 * dt > t0:
        i0 -= 1
    i1 = math.ceil(t1 / dt)
    while i1 * dt < t1:
        i1 += 1
    return np.arange(i0, max(i1, i0 + 1))
