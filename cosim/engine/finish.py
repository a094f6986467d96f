"""The end of a round: the allocator learns the latency, the on-time payloads are aggregated
(with the paper's three error terms measured), the global model is evaluated, and the round's
rows and channel chunk are written."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from cosim.engine import contract
from cosim.engine.client import MISS_REJECTED, ClientOutcome
from cosim.engine.plan import RoundPlan
from cosim.outputs.channel_npz import ChannelRecorder
from cosim.outputs.events import EventLog, Kind
from cosim.outputs.results import HostTime
from cosim.outputs.tables import ClientRow, CsvTable, RoundRow
from cosim.scenario.schema import Scenario
from cosim.world.world import World
from fl import (
    State,
    lora_layers,
    orthogonality_defect,
    relative_error,
    separate_aggregation_error,
)

NAN = float("nan")


def evaluate(
    world: World, host: HostTime, log: EventLog, state: State, now: float, round_: int
) -> tuple[float, float]:
    """Held-out (accuracy, loss) of ``state``, logged as an ``eval`` event with the number of
    samples it was measured on; the host time it took is counted, never simulated."""
    start = time.perf_counter()
    acc, loss = world.trainer.evaluate(state, world.eval_indices)
    host.eval_s += time.perf_counter() - start
    log.emit(now, Kind.EVAL, round_, accuracy=acc, loss=loss, samples=len(world.eval_indices))
    return acc, loss


@dataclass
class Finishing:
    """Ends rounds: aggregate and eval events, the rounds/clients rows, the channel chunk."""

    world: World
    log: EventLog
    host: HostTime
    rounds_table: CsvTable
    clients_table: CsvTable
    recorder: ChannelRecorder | None

    def __post_init__(self) -> None:
        w = self.world
        self.sizes = (
            np.ones(w.scenario.clients.count)
            if w.learning_free
            else np.array([len(s) for s in w.shards], dtype=float)
        )

    def finish(
        self,
        plan: RoundPlan,
        outcomes: dict[int, ClientOutcome],
        global_state: State,
        now: float,
        chunk: dict[str, np.ndarray],
        more: dict[int, dict[str, Any]] | None = None,
    ) -> tuple[RoundRow, State]:
        """Round ``plan.round``'s end at ``now`` (``more``: row i's cell and handovers over
        several cells); its row and the new global model."""
        w, r = self.world, plan.round
        arrived = [k for k in map(int, plan.clients) if outcomes[k].on_time]
        weights = self.sizes[arrived] / self.sizes[arrived].sum() if arrived else np.array([])
        payloads = [outcomes[k].payload for k in arrived]
        w.allocator.observe(now - plan.t0)
        acc = loss = NAN
        if w.learning_free:  # nothing trained: no model to aggregate, only the profile's errors
            terms = surrogate_terms([outcomes[k] for k in arrived])
            self.log.emit(
                now,
                Kind.AGGREGATE,
                r,
                clients=arrived,
                weights=weights,
                learning_free=True,
                **terms,
            )
        else:
            terms = self.error_terms(
                [outcomes[k] for k in arrived], payloads, weights, [global_state] * len(arrived)
            )
            global_state = contract.state(
                w.strategy,
                w.strategy.aggregate(global_state, payloads, weights.tolist()),
                global_state,
            )
            self.log.emit(now, Kind.AGGREGATE, r, clients=arrived, weights=weights, **terms)
            if r % w.scenario.server.eval_every == 0 or is_last(w.scenario, r, now):
                acc, loss = evaluate(w, self.host, self.log, global_state, now, r)
        row = RoundRow(
            mode=w.scenario.fl.mode,
            round=r,
            t_start=plan.t0,
            t_end=now,
            scheduled=len(plan.clients),
            on_time=len(arrived),
            late=len(plan.clients) - len(arrived),
            bits_up=sum(o.bits for o in outcomes.values()),
            accuracy=acc,
            loss=loss,
            rejected=sum(o.miss == MISS_REJECTED for o in outcomes.values()),
            reallocations=plan.uplink.reallocations,
            **terms,
            perplexity=perplexity(w.scenario, loss),
        )
        self.rounds_table.append(row)
        self._client_rows(plan, outcomes, more or {})
        self.record(r, chunk, now)
        return row, global_state

    def _client_rows(
        self, plan: RoundPlan, outcomes: dict[int, ClientOutcome], more: dict[int, dict]
    ) -> None:
        mode = self.world.scenario.fl.mode
        for i, k in enumerate(map(int, plan.clients)):
            self.clients_table.append(client_row(mode, plan, i, outcomes[k], **more.get(i, {})))

    def record(self, r: int, chunk: dict[str, np.ndarray], now: float) -> None:
        """The round's channel chunk up to its end (the rest of the grid belongs to the next
        round)."""
        if self.recorder is None:
            return
        keep = chunk["steps"] * self.world.scenario.channel.dt < now
        keep[0] = True
        steps, clients = chunk.pop("steps"), chunk.pop("clients")
        start = chunk.pop("start_positions")
        terms = {name: a[:, keep] for name, a in chunk.items()}
        self.recorder.add(r, steps[keep], clients, start, **terms)

    def error_terms(
        self,
        outcomes: list[ClientOutcome],
        payloads: list,
        weights: np.ndarray,
        references: list[State],
    ) -> dict[str, float]:
        """The paper's three effects, measured on this round's on-time updates: the
        separate-aggregation error of what the server received, the mean relative
        sparsification error of each client's B·A, and the mean orthogonality defects.
        ``references``: the global model each update started from (the round's, in sync)."""
        if not outcomes:
            return dict(
                sep_agg_error=NAN, sparsification_error=NAN, orth_defect_a=NAN, orth_defect_b=NAN
            )
        strategy = self.world.strategy
        received = [
            strategy.reconstruct(p, ref) for p, ref in zip(payloads, references, strict=True)
        ]
        spars = [relative_error(o.update, rec) for o, rec in zip(outcomes, received, strict=True)]
        defects = [
            orthogonality_defect(o.update[layer.a], o.update[layer.b])
            for o in outcomes
            for layer in lora_layers(o.update)
        ]
        return dict(
            sep_agg_error=separate_aggregation_error(received, weights.tolist()),
            sparsification_error=float(np.nanmean(spars)) if not np.all(np.isnan(spars)) else NAN,
            orth_defect_a=float(np.mean([d[0] for d in defects])),
            orth_defect_b=float(np.mean([d[1] for d in defects])),
        )


def client_row(mode: str, plan: RoundPlan, i: int, out: ClientOutcome, **more) -> ClientRow:
    """clients.csv's row of ``plan``'s client i with its outcome (``more``: the columns of
    fedasync/fedbuff, version and staleness)."""
    x, y, z = plan.positions[i]
    return ClientRow(
        mode=mode,
        round=plan.round,
        client=int(plan.clients[i]),
        x_m=x,
        y_m=y,
        z_m=z,
        distance_m=plan.distance_m[i],
        snr_db_mean=float(np.mean(plan.snr_db[i, plan.grid.j0 :])),
        bandwidth_hz=plan.bandwidth_hz[i],
        budget=plan.budget[i],
        download_s=out.download_s,
        train_s=out.train_s,
        upload_s=out.upload_s,
        bits=out.bits,
        payload_bits=plan.payload_bits[i],
        on_time=out.on_time,
        miss=out.miss,
        train_loss=out.train_loss,
        energy_j=out.energy_j,
        **more,
    )


def surrogate_terms(outcomes: list[ClientOutcome]) -> dict[str, float]:
    """Learning-free rounds: the mean dropped share of the on-time clients' drawn updates;
    the terms that need real factors are not defined (NaN)."""
    errors = [o.surrogate_error for o in outcomes]
    return dict(
        sep_agg_error=NAN,
        sparsification_error=float(np.mean(errors)) if errors else NAN,
        orth_defect_a=NAN,
        orth_defect_b=NAN,
    )


def is_last(s: Scenario, r: int, now: float) -> bool:
    """Whether round ``r``, ending at ``now``, may be the run's last: run.rounds reached, or
    the next round could run past run.max_time_s (then it is stopped and not aggregated, so
    this round's model is the run's final one)."""
    limit = s.run.max_time_s
    return r == s.run.rounds or bool(limit and now + s.deadline.seconds > limit)


def perplexity(s: Scenario, loss: float | None) -> float | None:
    """exp(held-out mean token loss) of a causal-lm run's evaluated rounds; None otherwise."""
    if s.model.task != "causal-lm" or loss is None:
        return None
    return math.exp(loss) if loss < 700 else math.inf
