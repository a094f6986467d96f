"""The same FedAvg-LoRA workload in Flower's simulation engine and in this tool, in one run:
wall time of each, their ratio, and both final accuracies.

Flower is a bench-only extra whose pins conflict with the `ray` extra (flwr 1.42 wants
protobuf < 7, packaging < 26 and ray 2.55.1), so it lives in its own virtual environment:

    python3 -m venv .venv-flower
    .venv-flower/bin/pip install -c benchmarks/flower-constraints.txt -e '.[flower]'
    .venv-flower/bin/python benchmarks/vs_flower.py [--clients 10] [--per-round 5] [--rounds 5]

Workload (both sides): all-MiniLM-L6-v2 (first 4 layers), LoRA r=8 on query/value, a
mean-pooled head; BBC News split over the clients by Dirichlet(0.5) as the default scenario
splits it; each round `--per-round` clients run 5 AdamW steps of batch 16 from the global
adapter, seeded by (round, client) alike; the server averages A, B and the head weighted by
shard size and evaluates on the held-out split after every round. Flower samples the round's
clients itself (its own sampler), this tool by its seeded schedule; in this tool the radio
is made harmless (path loss only, static clients, a 60 s deadline, 100 MHz) so that every
update arrives, as in Flower. Flower's clients run as Ray actors (one CPU each); this tool
trains in its one process (torch's threads). Host time only.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def scenario(clients: int, per_round: int, rounds: int):
    """The shared workload as a scenario of this tool (radio made harmless)."""
    from cosim import Scenario

    return Scenario.load(ROOT / "scenarios" / "default.toml").updated(
        {
            "clients.count": clients,
            "clients.per_round": per_round,
            "run.rounds": rounds,
            "mobility.preset": "none",
            "mobility.model": "static",
            "channel.model": "pathloss",
            "channel.bandwidth_hz": 100e6,
            "channel.csi_delay_s": 0.0,
            "deadline.seconds": 60.0,
            "compute.min_tflops": 10.0,
            "compute.max_tflops": 10.0,
            "output.channel": False,
            "output.checkpoint_every": 0,
        }
    )


class _Workload:
    """Model, data shards and settings of the scenario, built once per process."""

    def __init__(self, s) -> None:
        from cosim.world.components import build_strategy
        from cosim.world.learning import lora_spec, model_source, split_data, train_settings
        from cosim.world.seeding import SeedBank
        from fl import Trainer, build_model, load_bbc_news

        self.seeds = SeedBank(s.run.seed)
        dataset = load_bbc_news()
        self.data = split_data(s, self.seeds, dataset)
        self.seeds.seed_torch("model_init")
        model = build_model(model_source(s), len(dataset.label_names), lora_spec(s))
        self.trainer = Trainer(model, self.data.tokens)
        self.strategy, self.settings = build_strategy(s), train_settings(s)


def flower(s) -> tuple[float, float]:
    """Run the workload in Flower's simulation engine; (wall s, final accuracy)."""
    from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict
    from flwr.clientapp import ClientApp
    from flwr.serverapp import Grid, ServerApp
    from flwr.serverapp.strategy import FedAvg
    from flwr.simulation import run_simulation

    from fl.backends import train_seeded

    client_cache: dict[str, _Workload] = {}  # one per Ray actor (filled there)
    server_cache: dict[str, _Workload] = {}

    def workload(cache: dict[str, _Workload]) -> _Workload:
        if "w" not in cache:
            cache["w"] = _Workload(s)
        return cache["w"]

    client = ClientApp()

    @client.train()
    def train(msg: Message, context: Context) -> Message:
        w = workload(client_cache)
        k = int(context.node_config["partition-id"])
        r = int(msg.content["config"]["server-round"])
        state = msg.content["arrays"].to_torch_state_dict()
        seed = w.seeds.int_seed("local_train", r, k)
        update = train_seeded(w.trainer, w.strategy, w.settings, (state, w.data.shards[k], seed))
        reply = RecordDict(
            {
                "arrays": ArrayRecord(update.state),
                "metrics": MetricRecord({"num-examples": len(w.data.shards[k])}),
            }
        )
        return Message(content=reply, reply_to=msg)

    accuracy: list[float] = []
    server = ServerApp()

    @server.main()
    def main(grid: Grid, context: Context) -> None:
        w = workload(server_cache)

        def evaluate(server_round: int, arrays: ArrayRecord) -> MetricRecord:
            acc, loss = w.trainer.evaluate(arrays.to_torch_state_dict(), w.data.eval_indices)
            accuracy.append(acc)
            return MetricRecord({"accuracy": acc, "loss": loss})

        n, m = s.clients.count, s.clients.per_round
        strategy = FedAvg(
            fraction_train=m / n,
            fraction_evaluate=0.0,
            min_train_nodes=m,
            min_available_nodes=n,
        )
        strategy.start(
            grid=grid,
            initial_arrays=ArrayRecord(w.trainer.initial_state()),
            num_rounds=s.run.rounds,
            evaluate_fn=evaluate,
        )

    start = time.perf_counter()
    run_simulation(
        server_app=server,
        client_app=client,
        num_supernodes=s.clients.count,
        backend_config={"client_resources": {"num_cpus": 1, "num_gpus": 0.0}},
    )
    return time.perf_counter() - start, accuracy[-1]


def ours(s) -> tuple[float, float]:
    """Run the workload in this tool; (wall s, final accuracy)."""
    from cosim import run

    start = time.perf_counter()
    result = run(s)
    missed = sum(r["late"] for r in result.rounds)
    if missed:
        raise RuntimeError(f"{missed} updates missed the deadline: not the Flower workload")
    return time.perf_counter() - start, result.final_accuracy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--per-round", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    try:
        import flwr
    except ImportError:
        raise SystemExit(
            "vs_flower needs Flower in its own environment: python3 -m venv .venv-flower && "
            ".venv-flower/bin/pip install -c benchmarks/flower-constraints.txt -e '.[flower]'"
        ) from None
    s = scenario(args.clients, args.per_round, args.rounds)
    logging.getLogger("flwr").setLevel(logging.WARNING)
    print(
        f"FedAvg-LoRA, {args.clients} clients, {args.per_round} per round, {args.rounds} "
        f"rounds, {s.train.local_steps} local steps of {s.train.batch_size}; "
        f"Flower {flwr.__version__}"
    )
    w_ours, acc_ours = ours(s)
    w_flower, acc_flower = flower(s)
    print(f"this tool   wall {w_ours:7.1f} s   final accuracy {acc_ours:.3f}")
    print(f"Flower      wall {w_flower:7.1f} s   final accuracy {acc_flower:.3f}")
    print(f"wall-time ratio (this tool / Flower): {w_ours / w_flower:.3f}")


if __name__ == "__main__":
    main()
