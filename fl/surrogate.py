"""Learning-free stand-in for local training: LoRA updates described by a per-rank importance
profile (recorded from real training, or a documented synthetic one) instead of trained.

A profile gives the mean importance ‖b_i‖·‖a_i‖ of rank slot i (sorted, largest = 1) and the
spread of one client's importances around it (log-normal σ). Each round every client draws its
own importances per layer from it; a strategy then says what share of that update its payload
drops (``Strategy.surrogate_error``). Payload bits come from the real adapter's shapes (the
model skeleton on torch's meta device), so sizes are exact; nothing is trained or evaluated.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from fl.lora_ops import State, lora_layers

PROFILE_FORMAT = "wfl-cosim surrogate profile"
SYNTHETIC_DECAY = 3.0
SYNTHETIC_SPREAD = 0.3


class ProfileError(ValueError):
    """A surrogate profile file that cannot be used (the message names the file and field)."""


PROFILE_MAX_BYTES = 2**20


def _number(x: object) -> bool:
    """A JSON number (true/false are not numbers here)."""
    return isinstance(x, int | float) and not isinstance(x, bool)


@dataclass(frozen=True)
class SurrogateProfile:
    """Mean per-rank importance (descending, first = 1) and the log-normal spread around it."""

    source: str
    importance: np.ndarray
    spread: float

    @classmethod
    def synthetic(cls, rank: int) -> SurrogateProfile:
        """Documented synthetic profile: importance exp(−3·i/r) for slot i of r (a spectrum
        that falls to 5 % across the rank) with log-normal spread σ = 0.3."""
        i = np.arange(rank, dtype=float)
        return cls(
            source=f"synthetic: exp(-{SYNTHETIC_DECAY}*i/r), spread {SYNTHETIC_SPREAD}",
            importance=np.exp(-SYNTHETIC_DECAY * i / rank),
            spread=SYNTHETIC_SPREAD,
        )

    @classmethod
    def load(cls, path: str | Path) -> SurrogateProfile:
        """Read a profile JSON file (as written by ``save``); ProfileError names what is wrong."""
        path = Path(path)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise ProfileError(f"{path}: profile file not found") from None
        except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
            raise ProfileError(f"{str(path)[:80]!r}: profile file cannot be read ({exc})") from None
        if not stat.S_ISREG(st.st_mode) or st.st_size > PROFILE_MAX_BYTES:
            raise ProfileError(
                f"{path}: a profile must be a regular JSON file of at most "
                f"{PROFILE_MAX_BYTES:,} bytes (not a folder, FIFO or device)"
            )
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ProfileError(
                f"{path}: not a readable JSON file ({type(exc).__name__} at "
                f"{getattr(exc, 'pos', getattr(exc, 'start', '?'))})"
            ) from None
        if not isinstance(raw, dict) or raw.get("format") != PROFILE_FORMAT:
            raise ProfileError(f"{path}: field 'format' must be {PROFILE_FORMAT!r}")
        imp = raw.get("rank_importance")
        if (
            not isinstance(imp, list)
            or not imp
            or not all(_number(x) and 0.0 < x <= 1.0 for x in imp)
        ):
            raise ProfileError(
                f"{path}: field 'rank_importance' must be a non-empty list of numbers in (0, 1]"
            )
        if list(imp) != sorted(imp, reverse=True) or imp[0] != 1.0:
            raise ProfileError(
                f"{path}: field 'rank_importance' must be sorted descending and start at 1.0"
            )
        spread = raw.get("spread")
        if not _number(spread) or not 0.0 <= spread <= 3.0:
            raise ProfileError(
                f"{path}: field 'spread' must be a number in [0, 3], got {str(spread)[:40]!r}"
            )
        return cls(str(raw.get("source", path)), np.asarray(imp, dtype=float), float(spread))

    def save(self, path: str | Path) -> None:
        """Write the profile as JSON."""
        body = {
            "format": PROFILE_FORMAT,
            "source": self.source,
            "rank_importance": [round(float(x), 6) for x in self.importance],
            "spread": round(self.spread, 6),
        }
        Path(path).write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")

    def at_rank(self, rank: int) -> np.ndarray:
        """The mean importances of ``rank`` slots: the profile read at the same relative slot
        positions (linear interpolation when it was recorded at another rank)."""
        if rank == len(self.importance):
            return self.importance.copy()
        here = (np.arange(rank) + 0.5) / rank
        there = (np.arange(len(self.importance)) + 0.5) / len(self.importance)
        return np.interp(here, there, self.importance)


class Surrogate:
    """Draws per-client, per-round importances (layers x rank) from a profile."""

    def __init__(self, profile: SurrogateProfile, layers: int, rank: int) -> None:
        self.profile = profile
        self.mean = profile.at_rank(rank)
        self.layers = layers

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        """One client's importances for one round: the mean times a log-normal factor."""
        factor = rng.lognormal(0.0, self.profile.spread, (self.layers, len(self.mean)))
        return self.mean[None, :] * factor


def surrogate_template(skeleton: State, importance: np.ndarray, rng: np.random.Generator) -> State:
    """A state with the skeleton's names and shapes whose LoRA layers carry ``importance`` as
    their spectrum (A with orthonormal rows, B with orthogonal columns of those norms) and a
    zero head: what the strategies and allocators plan with in a learning-free run."""
    out: State = {}
    for layer in lora_layers(skeleton):
        r, d_in = skeleton[layer.a].shape
        d_out = skeleton[layer.b].shape[0]
        qa, _ = np.linalg.qr(rng.standard_normal((d_in, r)))
        qb, _ = np.linalg.qr(rng.standard_normal((d_out, r)))
        out[layer.a] = torch.tensor(qa.T, dtype=torch.float32)
        out[layer.b] = torch.tensor(qb * importance[None, :r], dtype=torch.float32)
    for name, t in skeleton.items():
        if name not in out:
            out[name] = torch.zeros(tuple(t.shape), dtype=torch.float32)
    return out


def dropped_share(importance: np.ndarray, kept: np.ndarray) -> float:
    """Mean over layers of the share of Σ importance² outside the kept slots.

    ``importance`` is (layers, r); ``kept`` a boolean mask of the same shape."""
    imp2 = importance**2
    return float(np.mean((imp2 * ~kept).sum(axis=1) / imp2.sum(axis=1)))


def top_slots(importance: np.ndarray, k: int) -> np.ndarray:
    """Per layer, the k slots of largest importance (layers x k indices)."""
    return np.argsort(-importance, axis=1, kind="stable")[:, :k]


def dropped_share_of(importance: np.ndarray, slots: np.ndarray) -> float:
    """``dropped_share`` when the slots ``slots`` (layers x k indices) are the ones sent."""
    kept = np.zeros(importance.shape, dtype=bool)
    np.put_along_axis(kept, slots, True, axis=1)
    return dropped_share(importance, kept)
