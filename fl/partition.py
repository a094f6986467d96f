"""Federated data splits: IID, Dirichlet(alpha) label skew, and label shards; all seeded."""

from __future__ import annotations

import numpy as np


class PartitionError(ValueError):
    """A split cannot give every client data."""


def iid(labels: np.ndarray, num_clients: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffle and cut into near-equal parts."""
    _check(len(labels), num_clients)
    parts = np.array_split(rng.permutation(len(labels)), num_clients)
    return [np.sort(p) for p in parts]


def dirichlet(
    labels: np.ndarray,
    num_clients: int,
    alpha: float,
    rng: np.random.Generator,
    min_samples: int = 1,
    max_tries: int = 100,
) -> list[np.ndarray]:
    """Per class, split its samples over clients in Dirichlet(alpha) proportions.

    Redraws (up to ``max_tries``) until every client holds at least ``min_samples``.
    """
    _check(len(labels), num_clients * min_samples)
    classes = np.unique(labels)
    for _ in range(max_tries):
        parts: list[list[int]] = [[] for _ in range(num_clients)]
        for c in classes:
            idx = rng.permutation(np.flatnonzero(labels == c))
            share = rng.dirichlet(np.full(num_clients, alpha))
            cuts = (np.cumsum(share)[:-1] * len(idx)).astype(int)
            for k, chunk in enumerate(np.split(idx, cuts)):
                parts[k].extend(chunk.tolist())
        if min(len(p) for p in parts) >= min_samples:
            return [np.sort(np.asarray(p, dtype=np.int64)) for p in parts]
    raise PartitionError(
        f"Dirichlet(alpha={alpha}) left a client with fewer than {min_samples} samples in "
        f"{max_tries} draws; raise alpha or lower the number of clients"
    )


def shards(
    labels: np.ndarray, num_clients: int, shards_per_client: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Sort by label, cut into num_clients x shards_per_client shards, deal them at random."""
    n_shards = num_clients * shards_per_client
    _check(len(labels), n_shards)
    order = np.argsort(labels, kind="stable")
    pieces = np.array_split(order, n_shards)
    deal = rng.permutation(n_shards).reshape(num_clients, shards_per_client)
    return [np.sort(np.concatenate([pieces[s] for s in row])) for row in deal]


def _check(n_samples: int, needed: int) -> None:
    if needed > n_samples:
        raise PartitionError(f"{needed} parts requested from only {n_samples} training samples")
