"""Defaults a scenario section fills in before validation: mobility presets, and the 38.901
cell defaults (BS height, indoor and in-car shares), read from channels' 38.901 tables, never
retyped here."""

from __future__ import annotations

from typing import Any

from channels import CELLS

MOBILITY_PRESETS: dict[str, dict[str, Any]] = {
    # walking people: 1.8-5.4 km/h between random waypoints, pausing 5 s at each
    "pedestrian": {
        "model": "random_waypoint",
        "speed_min_mps": 0.5,
        "speed_max_mps": 1.5,
        "pause_s": 5.0,
    },
    # urban vehicles: 30-60 km/h with Gauss-Markov speed and heading changes every second
    "vehicular": {
        "model": "gauss_markov",
        "speed_min_mps": 8.3,
        "speed_max_mps": 16.7,
        "gm_memory": 0.85,
        "gm_update_s": 1.0,
        "gm_heading_std_deg": 20.0,
    },
    # motorway / high-speed: 100-150 km/h on straight lines
    "high_speed": {"model": "linear", "speed_min_mps": 27.8, "speed_max_mps": 41.7},
}


def _cell(name: str) -> dict[str, Any]:
    c = CELLS[name]
    return {
        "bs_height_m": c.bs_height_m,
        "indoor_ratio": c.indoor_ratio,
        "in_car_ratio": c.in_car_ratio,
    }


# 38.901 Tables 7.2-1..3 for the cells; the simple models (outdoor users only) take the UMi
# base-station height
_OUTDOOR = {"bs_height_m": CELLS["umi"].bs_height_m, "indoor_ratio": 0.0, "in_car_ratio": 0.0}
CELL_DEFAULTS: dict[str, dict[str, Any]] = {
    "pathloss": _OUTDOOR,
    "rayleigh": _OUTDOOR,
    "rician": _OUTDOOR,
    **{name: _cell(name) for name in ("umi", "uma", "rma")},
}
