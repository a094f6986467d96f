"""Checkpoints at round ends and resuming from them: the run's whole state (mobility, channel
processes and rays, allocator queue, global adapter and head, recorder, host counters, the
clock, the offsets of the files written so far) as JSON, npz and safetensors, made atomically.

State is found by walking the run's components: numpy arrays, numpy and Python scalars,
random generators, tensors, and the containers and objects of this project that hold them.
Everything else (models, Sionna objects, callables) is rebuilt from the scenario, which is
why a resumed run rebuilds its world first and then pours the saved state into it.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from cosim.running import integrity

FORMAT = 2
NAME = "checkpoint"
OWN_PACKAGES = ("cosim", "channels", "fl")


class CheckpointError(ValueError):
    """A checkpoint that cannot be used (missing, damaged, or from another kind of run)."""


# ---------------------------------------------------------------------- encoding
class _Encoder:
    """Turns a state tree into JSON nodes, arrays and tensors (kept apart for npz/safetensors)."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self.tensors: dict[str, torch.Tensor] = {}
        self._seen: set[int] = set()

    def node(self, value: Any) -> dict[str, Any]:
        if value is None or isinstance(value, bool | int | float | str):
            return {"t": "py", "v": value}
        if isinstance(value, np.ndarray):
            key = f"a{len(self.arrays)}"
            self.arrays[key] = value
            return {"t": "array", "k": key}
        if isinstance(value, np.generic):
            return {"t": "np", "dtype": value.dtype.str, "v": value.item()}
        if isinstance(value, torch.Tensor):
            key = f"t{len(self.tensors)}"
            # a copy: the same tensor (or views of one storage) may sit in several places of
            # the tree (fedasync/fedbuff's global model, and jobs that started from it)
            self.tensors[key] = value.detach().contiguous().clone()
            # the memory layout too: float32 reductions over a transposed tensor round
            # differently, and a resumed run must compute exactly what the first one would
            return {"t": "tensor", "k": key, "stride": list(value.stride())}
        if isinstance(value, np.random.Generator):
            return {"t": "rng", "v": value.bit_generator.state}
        if isinstance(value, dict):
            return {"t": "dict", "items": [[_key(k), self.node(v)] for k, v in value.items()]}
        if isinstance(value, list | tuple):
            return {"t": type(value).__name__, "items": [self.node(v) for v in value]}
        if _own(value):
            if id(value) in self._seen:
                return {"t": "skip"}  # already saved where it was first met
            self._seen.add(id(value))
            return {"t": "obj", "attrs": {k: self.node(v) for k, v in sorted(vars(value).items())}}
        return {"t": "skip"}  # rebuilt from the scenario: models, Sionna, callables, modules


def _own(value: Any) -> bool:
    module = type(value).__module__.split(".")[0]
    return module in OWN_PACKAGES and hasattr(value, "__dict__") and not callable(value)


def _key(k: Any) -> list:
    if isinstance(k, bool) or not isinstance(k, int | str | np.integer):
        raise CheckpointError(f"cannot checkpoint a dict keyed by {type(k).__name__}")
    return ["int", int(k)] if isinstance(k, int | np.integer) else ["str", k]


class _Decoder:
    """Rebuilds values from nodes; objects are filled in place (they exist in the new world)."""

    def __init__(self, arrays: dict[str, np.ndarray], tensors: dict[str, torch.Tensor]) -> None:
        self.arrays, self.tensors = arrays, tensors

    def value(self, node: dict[str, Any], current: Any) -> Any:
        t = node["t"]
        if t == "py":
            return node["v"]
        if t == "array":
            return self.arrays[node["k"]]
        if t == "np":
            return np.dtype(node["dtype"]).type(node["v"])
        if t == "tensor":
            loaded = self.tensors[node["k"]]
            out = torch.empty_strided(loaded.shape, node["stride"], dtype=loaded.dtype)
            return out.copy_(loaded)
        if t == "rng":
            rng = current if isinstance(current, np.random.Generator) else np.random.default_rng()
            rng.bit_generator.state = node["v"]
            return rng
        if t == "dict":
            old = current if isinstance(current, dict) else {}
            out = {}
            for (kind, k), v in node["items"]:
                key = int(k) if kind == "int" else k
                out[key] = self.value(v, old.get(key))
            return out
        if t in ("list", "tuple"):
            old = list(current) if isinstance(current, list | tuple) else []
            items = [
                self.value(v, old[i] if i < len(old) else None) for i, v in enumerate(node["items"])
            ]
            return items if t == "list" else tuple(items)
        if t == "obj":
            if current is None or not _own(current):
                raise CheckpointError(
                    f"checkpoint holds an object where this run has {type(current).__name__}"
                )
            self.fill(current, node)
            return current
        return current  # "skip": keep what the rebuilt world has

    def fill(self, obj: Any, node: dict[str, Any]) -> None:
        for name, child in node["attrs"].items():
            if child["t"] == "skip":
                continue
            if not hasattr(obj, name):
                raise CheckpointError(f"{type(obj).__name__} has no attribute {name!r} to restore")
            object.__setattr__(obj, name, self.value(child, getattr(obj, name)))


# ---------------------------------------------------------------------- files
@dataclass
class Saved:
    """A checkpoint read back: the round it was made after, its state tree, offsets, extras,
    the records of the output files and inputs it vouches for, and the folder it came from."""

    round: int
    roots: dict[str, Any]
    extra: dict[str, Any]
    decoder: _Decoder
    outputs: dict[str, dict[str, Any]]
    inputs: dict[str, dict[str, str]]
    folder: Path

    @property
    def offsets(self) -> dict[str, int]:
        """Byte length of each output file when the checkpoint was made."""
        return {name: rec["length"] for name, rec in self.outputs.items()}


PARTS = ("state.json", "arrays.npz", "tensors.safetensors")


def write(
    run_dir: Path,
    round_: int,
    roots: dict[str, Any],
    outputs: dict[str, dict[str, Any]],
    inputs: dict[str, dict[str, str]],
    extra: dict[str, Any],
) -> None:
    """Write the checkpoint of the end of ``round_`` atomically: a complete new folder replaces
    the old one by renames, so a kill at any instant leaves one whole checkpoint; the one
    before is kept as .checkpoint.old (a fallback when the newest turns out damaged).
    ``outputs``: per output file its length and prefix hash (integrity.prefix); ``inputs``:
    hashes of the scenario and the files the run reads; a checksum.json covers the rest."""
    enc = _Encoder()
    tree = {name: enc.node(obj) for name, obj in roots.items()}
    tmp = run_dir / f".{NAME}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    np.savez(tmp / "arrays.npz", **enc.arrays)
    save_file(enc.tensors, str(tmp / "tensors.safetensors"))
    meta = dict(
        format=FORMAT,
        round=round_,
        outputs=outputs,
        inputs=inputs,
        extra=extra,
        roots=tree,
    )
    _write_synced(tmp / "state.json", json.dumps(meta))
    sums = {part: integrity.digest(tmp / part) for part in PARTS}
    _write_synced(tmp / "checksum.json", json.dumps(sums))
    final, old = run_dir / NAME, run_dir / f".{NAME}.old"
    if final.exists():
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
    tmp.rename(final)


def _write_synced(path: Path, text: str) -> None:
    with path.open("w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def remove(run_dir: Path) -> None:
    """Remove the checkpoints of ``run_dir`` (a complete or a restarted run)."""
    for name in (NAME, f".{NAME}.old", f".{NAME}.tmp"):
        shutil.rmtree(run_dir / name, ignore_errors=True)


def read(run_dir: Path) -> Saved | None:
    """The latest checkpoint of ``run_dir`` that verifies (the newest, else the one before),
    or None when no round has ended yet; CheckpointError naming what is damaged when none
    does."""
    candidates = [d for d in (run_dir / NAME, run_dir / f".{NAME}.old") if d.is_dir()]
    if not candidates:
        return None
    problems = []
    for folder in candidates:
        try:
            return _read(folder)
        except CheckpointError as exc:
            problems.append(str(exc))
    raise CheckpointError("; ".join(problems) + " (no checkpoint to resume from)")


def _read(folder: Path) -> Saved:
    try:
        sums = json.loads((folder / "checksum.json").read_text(encoding="utf-8"))
        for part in PARTS:
            integrity.regular_file(folder / part)
            if integrity.digest(folder / part) != sums.get(part):
                raise CheckpointError(f"{folder / part}: damaged (its checksum differs)")
        meta = json.loads((folder / "state.json").read_text(encoding="utf-8"))
        with np.load(folder / "arrays.npz", allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        tensors = load_file(str(folder / "tensors.safetensors"))
    except CheckpointError:
        raise
    except Exception as exc:  # a damaged file: whatever its reader raises, one clear error
        raise CheckpointError(f"{folder}: unreadable checkpoint ({exc!r:.200})") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{folder}: checkpoint format {meta.get('format')}, need {FORMAT}")
    return Saved(
        meta["round"],
        meta["roots"],
        meta["extra"],
        _Decoder(arrays, tensors),
        meta["outputs"],
        meta["inputs"],
        folder,
    )


def verify(run_dir: Path, saved: Saved) -> None:
    """Before a resume: the output files hold what the checkpoint recorded (regular files,
    long enough, same prefix) and the run's inputs hash as they did."""
    try:
        for name, record in saved.outputs.items():
            integrity.check_prefix(run_dir / name, record)
        integrity.check_inputs(saved.inputs, run_dir)
    except integrity.IntegrityError as exc:
        raise CheckpointError(str(exc)) from None


def restore(saved: Saved, roots: dict[str, Any]) -> dict[str, Any]:
    """Pour the saved state into the rebuilt run's parts (same names as when saved): objects
    are filled in place; the decoded value of every part is returned (dicts are new)."""
    differ = set(saved.roots) ^ set(roots)
    if differ:
        raise CheckpointError(f"checkpoint and run differ in their parts: {sorted(differ)}")
    return {name: saved.decoder.value(saved.roots[name], obj) for name, obj in roots.items()}
