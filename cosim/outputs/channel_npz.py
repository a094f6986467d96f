"""channel.npz: the channel samples a run actually computed — per scheduled client and step on
air, plus every client's position at each round start — so the file grows with what was on
air, not with clients × time; and the reader that gives the dense [clients, steps] view.

Format 2 (docs/OUTPUTS.md): `format`, `dt`, `carrier_hz`, `bs_position`, `t` [N] (the step
starts of the run's grid up to its end, N steps); per sample s (sorted by client, then step):
`sample_client`, `sample_step`, `sample_round` [S] and the channel terms [S] (`positions`
[S, 3]); `round_t` [R] and `round_positions` [R, K, 3].
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from channels import ChannelTrace, distances
from channels.multicell import CellTrace

FORMAT = 2
TERMS = (  # per sample, with the value the dense view has where there is none
    ("positions", np.nan),
    ("speed", np.nan),
    ("distance_3d_m", np.nan),
    ("pathloss_db", np.nan),
    ("shadowing_db", np.nan),
    ("penetration_db", np.nan),
    ("fading_gain", np.nan),
    ("snr_db", np.nan),
    ("los", -1),
)
CELL_TERMS = (  # runs over several cells (cells.layout = hex) only
    ("cell", -1),  # the serving cell
    ("antenna_gain_db", np.nan),  # its sector antenna's gain toward the client
)


def sample_terms(
    positions: np.ndarray,
    velocities: np.ndarray,
    trace: ChannelTrace,
    bs_position: np.ndarray,
    snr_db: np.ndarray,
    cols: slice = slice(None),
) -> dict[str, np.ndarray]:
    """channel.npz's terms [K, n(, 3)] for columns ``cols`` of clients' ``positions`` and
    ``velocities`` [K, N, 3] (m, m/s), the channel's ``trace`` over them and ``snr_db`` [K, N]."""
    pos = positions[:, cols]
    cells = isinstance(trace, CellTrace)  # distances to the serving cell's site, and its terms
    out = dict(
        positions=pos,
        speed=np.linalg.norm(velocities[:, cols], axis=-1),
        distance_3d_m=trace.distance_3d_m[:, cols] if cells else distances(pos, bs_position)[1],
        pathloss_db=trace.pathloss_db[:, cols],
        shadowing_db=trace.shadowing_db[:, cols],
        penetration_db=trace.penetration_db[:, cols],
        fading_gain=trace.fading_gain[:, cols],
        los=trace.los[:, cols].astype(np.int8),
        snr_db=snr_db[:, cols],
    )
    if cells:
        out["cell"] = trace.cell[:, cols].astype(np.int32)  # type: ignore[attr-defined]
        out["antenna_gain_db"] = trace.antenna_gain_db[:, cols]  # type: ignore[attr-defined]
    return out


def _terms(chunks: list[dict[str, np.ndarray]]) -> tuple[tuple[str, float], ...]:
    """The terms the chunks hold: TERMS, and CELL_TERMS over several cells."""
    return TERMS + (CELL_TERMS if chunks and "cell" in chunks[0] else ())


class ChannelRecorder:
    """Collects each round's samples of its scheduled clients (and everyone's position at the
    round start) and saves them as channel.npz."""

    def __init__(self, num_clients: int, dt: float) -> None:
        self.num_clients = num_clients
        self.dt = dt
        self._chunks: list[dict[str, np.ndarray]] = []

    def add(
        self,
        round_: int,
        steps: np.ndarray,
        clients: np.ndarray,
        start_positions: np.ndarray,
        **arrays: np.ndarray,
    ) -> None:
        """One round: ``steps`` [n] global step indices from its start, its scheduled
        ``clients`` [Ks], ``start_positions`` [K, 3] of every client at the round start, and
        the channel terms [Ks, n(, 3)]."""
        chunk = {"round": np.int64(round_), "steps": steps, "clients": clients}
        chunk["start_positions"] = np.asarray(start_positions, dtype=float)
        self._chunks.append({**chunk, **arrays})

    def save(self, path: Path, carrier_hz: float, bs_position: np.ndarray) -> None:
        """Flatten the rounds into samples (a step shared by two rounds belongs to the later,
        which computed it again) and save."""
        n_total = max(int(c["steps"][-1]) + 1 for c in self._chunks) if self._chunks else 0
        parts: dict[str, list[np.ndarray]] = {"client": [], "step": [], "round": []}
        terms = _terms(self._chunks)
        for name, _ in terms:
            parts[name] = []
        for c in self._chunks:
            ks, n = len(c["clients"]), len(c["steps"])
            parts["client"].append(np.repeat(np.asarray(c["clients"], dtype=np.int64), n))
            parts["step"].append(np.tile(np.asarray(c["steps"], dtype=np.int64), ks))
            parts["round"].append(np.full(ks * n, int(c["round"]), dtype=np.int64))
            for name, _ in terms:
                a = np.asarray(c[name])
                parts[name].append(a.reshape(ks * n, *a.shape[2:]))
        flat = {k: _cat(v, k) for k, v in parts.items()}
        keep = _last_of_each(flat["client"], flat["step"])
        samples = {k: v[keep] for k, v in flat.items()}
        np.savez_compressed(
            path,
            format=np.int64(FORMAT),
            t=np.arange(n_total) * self.dt,
            dt=np.float64(self.dt),
            carrier_hz=np.float64(carrier_hz),
            bs_position=np.asarray(bs_position, dtype=float),
            num_clients=np.int64(self.num_clients),
            sample_client=samples.pop("client").astype(np.int32),
            sample_step=samples.pop("step"),
            sample_round=samples.pop("round").astype(np.int32),
            round_t=np.array([c["steps"][0] * self.dt for c in self._chunks], dtype=float),
            round_positions=(
                np.stack([c["start_positions"] for c in self._chunks])
                if self._chunks
                else np.zeros((0, self.num_clients, 3))
            ),
            **{k: v.astype(np.int8) if k == "los" else v for k, v in samples.items()},
        )


def _cat(arrays: list[np.ndarray], name: str) -> np.ndarray:
    if arrays:
        return np.concatenate(arrays)
    return np.zeros((0, 3) if name == "positions" else 0)


def _last_of_each(client: np.ndarray, step: np.ndarray) -> np.ndarray:
    """Indices of the last sample of every (client, step), sorted by client then step."""
    order = np.lexsort((np.arange(len(step)), step, client))  # stable: later rounds last
    c, s = client[order], step[order]
    last = np.ones(len(order), dtype=bool)
    last[:-1] = (c[1:] != c[:-1]) | (s[1:] != s[:-1])
    return order[last]


@dataclass(frozen=True)
class ChannelFile:
    """A run's channel.npz as read: its arrays, and dense views on request."""

    arrays: dict[str, np.ndarray]

    @property
    def num_clients(self) -> int:
        """Clients of the run (K)."""
        return int(self.arrays["num_clients"])

    def samples(self, client: int) -> dict[str, np.ndarray]:
        """The samples of one client in step order: ``step``, ``t`` and its channel terms."""
        a = self.arrays
        clients = a["sample_client"]  # sorted (save writes them so): one client is a slice
        sel = slice(*np.searchsorted(clients, [client, client + 1]))
        out = {"step": a["sample_step"][sel], "t": a["sample_step"][sel] * float(a["dt"])}
        out.update({name: a[name][sel] for name, _ in TERMS + CELL_TERMS if name in a})
        return out

    def dense(self, name: str, clients: np.ndarray | None = None) -> np.ndarray:
        """``name`` as [clients, N] ([clients, N, 3] for positions) over the whole grid, NaN
        (−1 for los) where a client was not on air; ``clients`` default all (beware: K × N)."""
        a = self.arrays
        fill = dict(TERMS + CELL_TERMS)[name]
        rows = np.arange(self.num_clients) if clients is None else np.asarray(clients, dtype=int)
        shape = (len(rows), len(a["t"]), *a[name].shape[1:])
        kind = {"los": np.int8, "cell": np.int32}.get(name, float)
        out = np.full(shape, fill, dtype=kind)
        index = np.full(self.num_clients, -1)
        index[rows] = np.arange(len(rows))
        sel = index[a["sample_client"]] >= 0
        out[index[a["sample_client"][sel]], a["sample_step"][sel]] = a[name][sel]
        return out


def read_channel(path: str | Path) -> ChannelFile:
    """channel.npz's arrays, without pickles (ValueError for another format)."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    if int(arrays.get("format", 1)) != FORMAT:
        raise ValueError(
            f"{path}: channel.npz format {int(arrays.get('format', 1))}; this version reads "
            f"format {FORMAT} (per-sample; written since 2026-12)"
        )
    return ChannelFile(arrays)


def is_trace(folder: Path) -> bool:
    """Whether ``folder`` holds a channel trace (channel.npz from `wfl-cosim trace`, no run)."""
    npz = Path(folder) / "channel.npz"
    if not npz.is_file() or (Path(folder) / "rounds.csv").is_file():
        return False
    try:
        with np.load(npz, allow_pickle=False) as f:
            return "source" in f.files and str(f["source"]) == "trace"
    except (OSError, ValueError):
        return False  # not readable as a trace: the run-folder checks then say what is missing
