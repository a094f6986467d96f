"""Federated strategies behind one interface: FedAvg-LoRA, FFA-LoRA, top-k, SVD, random-rank,
SOFT, SOFT-delta."""

from fl.strategies.base import ExtraLoss, Payload, Strategy
from fl.strategies.dense import FedAvgLoRA, FFALoRA
from fl.strategies.rank import RandomRank, RankSlotStrategy, Soft, SoftDelta
from fl.strategies.svd import SVDTruncated
from fl.strategies.topk import TopK

STRATEGIES: dict[str, type[Strategy]] = {
    s.name: s for s in (FedAvgLoRA, FFALoRA, TopK, SVDTruncated, RandomRank, Soft, SoftDelta)
}

__all__ = [
    "STRATEGIES",
    "ExtraLoss",
    "FFALoRA",
    "FedAvgLoRA",
    "Payload",
    "RandomRank",
    "RankSlotStrategy",
    "SVDTruncated",
    "Soft",
    "SoftDelta",
    "Strategy",
    "TopK",
]
