"""Writes road.csv: 20 vehicles on a straight two-lane road past a UMa base station.

Lane 1 (y = +20 m) drives east, lane 2 (y = -20 m) west, at 40-60 km/h, spaced along the road;
one sample every 0.5 s for 60 s. Run `python scenarios/traces/road.py` to regenerate.
"""

from pathlib import Path

import numpy as np

rng = np.random.default_rng(2026)
t = np.arange(0.0, 60.0 + 1e-9, 0.5)
rows = ["t,client,x,y,z"]
for c in range(20):
    east = c % 2 == 0
    speed = rng.uniform(40, 60) / 3.6
    x0 = rng.uniform(-700, 300) if east else rng.uniform(-300, 700)
    x = x0 + (speed if east else -speed) * t
    y = 20.0 if east else -20.0
    rows += [f"{ti:.1f},{c},{xi:.2f},{y:.1f},1.5" for ti, xi in zip(t, x, strict=True)]
(Path(__file__).parent / "road.csv").write_text("\n".join(rows) + "\n")
