"""Strategies: SOFT's importances and Eckart–Young, the penalty, rank-slot aggregation by hand,
payload bits by hand, and every strategy's compress/reconstruct/aggregate round trip."""

import numpy as np
import pytest
import torch

from fl import STRATEGIES, FedAvgLoRA, FFALoRA, RandomRank, Soft, SoftDelta, SVDTruncated, TopK
from fl.lora_ops import (
    importances,
    index_bits,
    orthogonality_defect,
    orthogonality_penalty,
    relative_error,
    separate_aggregation_error,
)
from fl.strategies.rank import delta_norms2

R, D_IN, D_OUT = 8, 12, 10
A, B = "l0.lora_A.weight", "l0.lora_B.weight"
A2, B2 = "l1.lora_A.weight", "l1.lora_B.weight"


def _state(seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return {
        A: torch.randn(R, D_IN, generator=g),
        B: scale * torch.randn(D_OUT, R, generator=g),
        A2: torch.randn(R, D_IN, generator=g),
        B2: scale * torch.randn(D_OUT, R, generator=g),
        "head.weight": torch.randn(5, D_OUT, generator=g),
        "head.bias": torch.randn(5, generator=g),
    }


def _orthogonal_factors(seed=0):
    g = torch.Generator().manual_seed(seed)
    qa, _ = torch.linalg.qr(torch.randn(D_IN, R, generator=g, dtype=torch.float64))
    qb, _ = torch.linalg.qr(torch.randn(D_OUT, R, generator=g, dtype=torch.float64))
    s = torch.tensor([5.0, 0.3, 2.0, 0.1, 1.0, 4.0, 0.7, 3.0], dtype=torch.float64)
    return qa.T, qb * s, s  # A with orthonormal rows, B with orthogonal columns of norm s_i


def test_importances_are_singular_values_and_soft_topk_is_eckart_young():
    a, b, _ = _orthogonal_factors()
    imp = importances(a, b)
    sv = torch.linalg.svdvals(b @ a)[:R]  # rank R: the rest are zeros
    assert torch.allclose(torch.sort(imp, descending=True).values, sv, atol=1e-10)
    soft = Soft(32, orth_lambda=0.0)
    for k in (1, 3, 5):
        idx = soft.choose(a, b, k, np.random.default_rng(0), a, b)
        approx = b[:, idx] @ a[idx, :]
        err = torch.linalg.matrix_norm(b @ a - approx)
        optimum = torch.sqrt((sv[k:] ** 2).sum())  # Eckart–Young: the dropped singular values
        assert err == pytest.approx(float(optimum), rel=1e-10)


def test_soft_delta_sends_the_slots_that_changed_from_the_global_ones():
    ga, gb, _ = _orthogonal_factors()
    a, b = ga.clone(), gb.clone()
    a[1] += 0.8 * a[2]  # the small slots 1 and 3 move; the large ones (0, 5) stay as they were
    b[:, 3] *= 6.0
    direct = torch.stack(
        [
            torch.linalg.matrix_norm(torch.outer(b[:, i], a[i]) - torch.outer(gb[:, i], ga[i])) ** 2
            for i in range(R)
        ]
    )
    assert torch.allclose(delta_norms2(a, b, ga, gb), direct, atol=1e-12)
    rng = np.random.default_rng(0)
    assert sorted(SoftDelta(32, 0.0).choose(a, b, 2, rng, ga, gb).tolist()) == [1, 3]
    assert sorted(Soft(32, 0.0).choose(a, b, 2, rng, ga, gb).tolist()) == [0, 5]
    update, glob = {A: a, B: b}, {A: ga, B: gb}
    errors = {}
    for strategy in (Soft(32, 0.0), SoftDelta(32, 0.0)):
        sent = strategy.reconstruct(strategy.compress(update, glob, 2 / R, rng), glob)
        got = sent[B] @ sent[A]
        errors[strategy.name] = float(torch.linalg.matrix_norm(got - b @ a))
    assert errors["soft-delta"] < 1e-5 and errors["soft"] > 0.1  # float32 on the air only


class _Lora(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lora_A = torch.nn.Parameter(torch.randn(R, D_IN) * 0.6)
        self.lora_B = torch.nn.Parameter(torch.randn(D_OUT, R) * 0.1)


def test_penalty_lowers_the_orthogonality_defect_over_local_steps():
    torch.manual_seed(0)
    model = torch.nn.Module()
    model.l0 = _Lora()
    model.l1 = _Lora()
    layers = (model.l0, model.l1)
    before = [orthogonality_defect(m.lora_A.detach(), m.lora_B.detach()) for m in layers]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(30):
        opt.zero_grad()
        orthogonality_penalty(model).backward()
        opt.step()
    after = [orthogonality_defect(m.lora_A.detach(), m.lora_B.detach()) for m in layers]
    for (a0, b0), (a1, b1) in zip(before, after, strict=True):
        assert a1 < 0.5 * a0 and b1 < b0


def test_rank_slot_aggregation_by_hand():
    s = Soft(32, 0.0)
    g = {A: torch.zeros(3, 2), B: torch.zeros(2, 3), "head.bias": torch.zeros(1)}
    c1 = {
        A: torch.tensor([[1.0, 1.0], [9.0, 9.0], [2.0, 2.0]]),
        B: torch.tensor([[1.0, 9.0, 2.0], [1.0, 9.0, 2.0]]),
        "head.bias": torch.ones(1),
    }
    c2 = {
        A: torch.tensor([[3.0, 3.0], [0.0, 0.0], [4.0, 4.0]]),
        B: torch.tensor([[3.0, 0.0, 4.0], [3.0, 0.0, 4.0]]),
        "head.bias": torch.zeros(1),
    }
    # hand-built payloads: client 1 sent slots {0, 1}, client 2 sent slot {2}
    p1 = s.compress(c1, g, 1.0, np.random.default_rng(0))
    p1 = type(p1)(
        {A: c1[A][[0, 1]], B: c1[B][:, [0, 1]], "head.bias": c1["head.bias"]},
        0,
        0,
        {A: torch.tensor([0, 1])},
    )
    p2 = type(p1)(
        {A: c2[A][[2]], B: c2[B][:, [2]], "head.bias": c2["head.bias"]},
        0,
        0,
        {A: torch.tensor([2])},
    )
    out = s.aggregate(g, [p1, p2], [0.25, 0.75])
    # slot 0 and 1 only from client 1, slot 2 only from client 2 (weights renormalised)
    assert torch.allclose(out[A], torch.tensor([[1.0, 1.0], [9.0, 9.0], [4.0, 4.0]]))
    assert torch.allclose(out[B][:, 2], torch.tensor([4.0, 4.0]))
    assert torch.allclose(out["head.bias"], torch.tensor([0.25]))
    # both sending slot 0: weighted mean
    p3 = type(p1)(
        {A: c2[A][[0]], B: c2[B][:, [0]], "head.bias": c2["head.bias"]},
        0,
        0,
        {A: torch.tensor([0])},
    )
    out = s.aggregate(g, [p1, p3], [0.5, 0.5])
    assert torch.allclose(out[A][0], torch.tensor([2.0, 2.0]))
    assert torch.allclose(out[A][1], torch.tensor([9.0, 9.0]))  # only client 1
    assert torch.equal(out[A][2], g[A][2])  # nobody sent slot 2: stays global


def test_fedavg_lora_averages_a_and_b_separately_by_hand():
    g = {A: torch.zeros(2, 3), B: torch.zeros(3, 2)}
    s = FedAvgLoRA(32)
    rng = np.random.default_rng(0)
    p1 = s.compress({A: torch.ones(2, 3), B: torch.full((3, 2), 2.0)}, g, 1.0, rng)
    p2 = s.compress({A: torch.full((2, 3), 4.0), B: torch.zeros(3, 2)}, g, 1.0, rng)
    out = s.aggregate(g, [p1, p2], [0.75, 0.25])
    assert torch.allclose(out[A], torch.full((2, 3), 1.75))
    assert torch.allclose(out[B], torch.full((3, 2), 1.5))
    # separate aggregation: B_avg @ A_avg differs from the average of the products
    err = separate_aggregation_error([p1.tensors, p2.tensors], [0.75, 0.25])
    joint = 0.75 * (p1.tensors[B] @ p1.tensors[A]) + 0.25 * (p2.tensors[B] @ p2.tensors[A])
    by_hand = torch.linalg.matrix_norm(joint - out[B] @ out[A]) / torch.linalg.matrix_norm(joint)
    assert err == pytest.approx(float(by_hand))
    with pytest.raises(ValueError, match="sum to 1"):
        s.aggregate(g, [p1], [0.5])


def test_payload_bits_by_hand():
    st = _state()
    head = (5 * D_OUT + 5) * 32
    per_layer_dense = (R * D_IN + D_OUT * R) * 32
    rng = np.random.default_rng(0)
    assert FedAvgLoRA(32).compress(st, st, 1.0, rng).bits == 2 * per_layer_dense + head
    assert FFALoRA(32).compress(st, st, 1.0, rng).bits == 2 * D_OUT * R * 32 + head
    # SOFT at ρ = 0.5: k = 4 of r = 8 components of 12 + 10 values each, and the slot set as
    # 3-bit indices (12 bits) or an 8-bit mask, whichever is shorter: 8 bits
    soft = Soft(32, 0.0).compress(st, st, 0.5, rng)
    assert soft.bits == 2 * (4 * (D_IN + D_OUT) * 32 + 8) + head
    assert soft.values == 2 * 4 * (D_IN + D_OUT) + 5 * D_OUT + 5
    # SVD: 4 ordered triplets, no indices
    svd = SVDTruncated(32).compress(st, st, 0.5, rng)
    assert svd.bits == 2 * 4 * (D_IN + D_OUT) * 32 + head
    # top-k at ρ = 0.25: A has 96 entries -> 24 kept, indices of 7 bits (168) or a 96-bit mask
    # (96); B has 80 entries -> 20 kept, 140 index bits or an 80-bit mask
    tk = TopK(32).compress({**st, A: st[A] + 1.0}, st, 0.25, rng)
    assert len(tk.meta[A]) == 24 and len(tk.meta[B]) == 20
    assert index_bits(24, 96) == 96 and index_bits(20, 80) == 80
    assert tk.bits == 2 * ((24 + 20) * 32 + 96 + 80) + head
    # 16-bit values halve the value bits, not the index bits
    soft16 = Soft(16, 0.0).compress(st, st, 0.5, rng)
    assert soft16.bits == 2 * (4 * 22 * 16 + 8) + (5 * D_OUT + 5) * 16
    # at least one component or entry, however small the budget
    assert len(Soft(32, 0.0).compress(st, st, 0.01, rng).meta[A]) == 1


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_every_strategy_round_trips_with_the_right_shapes(name):
    cls = STRATEGIES[name]
    s = cls(32, 0.01) if name in ("soft", "soft-delta") else cls(32)
    budget = 1.0 if s.dense_only else 0.5
    g = {**_state(0), B: torch.zeros(D_OUT, R), B2: torch.zeros(D_OUT, R)}  # as in round 1
    clients = [_state(1), _state(2), _state(3)]
    if name == "ffa-lora":
        clients = [{**c, A: g[A], A2: g[A2]} for c in clients]
    rng = np.random.default_rng(0)
    pays = [s.compress(c, g, budget, rng) for c in clients]
    for c, p in zip(clients, pays, strict=True):
        assert p.bits == s.payload_bits(g, budget)
        rec = s.reconstruct(p, g)
        assert {n: t.shape for n, t in rec.items()} == {n: t.shape for n, t in g.items()}
        err = relative_error(c, rec)
        assert err < 1e-6 if budget == 1.0 else 0 < err < 1.5
    out = s.aggregate(g, pays, [0.2, 0.3, 0.5])
    assert {n: t.shape for n, t in out.items()} == {n: t.shape for n, t in g.items()}
    assert all(torch.isfinite(t).all() for t in out.values())
    unchanged = s.aggregate(g, [], [])
    assert all(torch.equal(unchanged[n], g[n]) for n in g)


def test_random_rank_is_seeded_and_soft_keeps_the_largest():
    st = _state(4)
    g = _state(0)
    r1 = RandomRank(32).compress(st, g, 0.5, np.random.default_rng(9))
    r2 = RandomRank(32).compress(st, g, 0.5, np.random.default_rng(9))
    assert torch.equal(r1.meta[A], r2.meta[A])
    soft = Soft(32, 0.0).compress(st, g, 0.5, np.random.default_rng(0))
    imp = importances(st[A], st[B])
    kept = set(soft.meta[A].tolist())
    assert min(imp[list(kept)]) >= max(imp[[i for i in range(R) if i not in kept]])


def test_svd_has_no_separate_aggregation_error_and_is_eckart_young_per_client():
    g = _state(0)
    c = _state(5)
    s = SVDTruncated(32)
    p = s.compress(c, g, 0.5, np.random.default_rng(0))
    rec = s.reconstruct(p, g)
    w = c[B].double() @ c[A].double()
    sv = torch.linalg.svdvals(w)
    err = torch.linalg.matrix_norm(w - rec[B].double() @ rec[A].double())
    assert float(err) == pytest.approx(float(torch.sqrt((sv[4:] ** 2).sum())), rel=1e-5)
    assert s.extra_round_flops(g, 1.0) > 0 and Soft(32, 0.1).extra_step_flops(g) > 0
