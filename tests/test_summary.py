"""The run summary: each metric against a hand count on synthetic rows; accuracy metrics of a
learning-free run are NaN, never 0."""

import json
import math

import pytest

from cosim.outputs.summary import RUN_METRICS, plateau, summarise_run, upload_gaps


def _round(r, t_end, acc, scheduled, on_time, bits):
    return dict(
        round=r, t_end=t_end, accuracy=acc, scheduled=scheduled, on_time=on_time, bits_up=bits
    )


ROUNDS = [
    _round(1, 2.0, "0.5", 4, 2, 3e6),
    _round(2, 4.0, "0.8", 4, 3, 4e6),
    _round(3, 6.0, "0.7", 4, 4, 5e6),
]
MISSES = ["train", "upload", "", "", "rejected", "", "", "", "", "", "", "upload"]
CLIENTS = [dict(miss=m, energy_j=float(i)) for i, m in enumerate(MISSES)]


def test_each_metric_is_its_hand_count():
    s = summarise_run(ROUNDS, CLIENTS, [0.5, -0.1], target_accuracy=0.75)
    assert list(s) == list(RUN_METRICS)
    assert s["final_accuracy"] == 0.7 and s["best_accuracy"] == 0.8
    assert s["plateau_accuracy"] == 0.7  # the last quarter of 3 rounds: the last one
    assert s["time_to_target_s"] == 4.0  # round 2 is the first at or above 0.75
    assert s["mbit_up"] == pytest.approx(12.0)
    assert s["miss_rate"] == pytest.approx(1 - 9 / 12)
    assert s["train_miss_rate"] == pytest.approx(1 / 12)
    assert s["upload_miss_rate"] == pytest.approx(2 / 10)  # train and rejected never uploaded
    assert s["upload_gap_s"] == pytest.approx(0.2)
    assert s["energy_per_client_j"] == pytest.approx(sum(range(12)) / 12)
    assert s["sim_time_s"] == 6.0
    assert math.isnan(s["handovers_per_job"])  # one cell: no handovers column
    cells = [dict(c, handovers=str(i % 3)) for i, c in enumerate(CLIENTS)]
    assert summarise_run(ROUNDS, cells)["handovers_per_job"] == pytest.approx(12 / 12)


def test_learning_free_accuracy_metrics_are_nan_and_no_target_gives_nan():
    lf = [dict(r, accuracy="") for r in ROUNDS]
    s = summarise_run(lf, CLIENTS, None, target_accuracy=0.5)
    accuracy = ("final_accuracy", "best_accuracy", "plateau_accuracy", "time_to_target_s")
    assert all(math.isnan(s[k]) for k in accuracy)
    assert math.isnan(s["upload_gap_s"])  # no events known
    assert math.isnan(summarise_run(ROUNDS, CLIENTS)["time_to_target_s"])


def test_an_upload_with_no_prediction_is_not_in_the_gap(tmp_path):
    events = tmp_path / "events.jsonl"
    lines = [
        {"kind": "upload_end", "predicted_s": 1.0, "realised_s": 1.5},
        {"kind": "upload_end", "predicted_s": None, "realised_s": 0.3},  # rescued at 0 Hz plan
        {"kind": "upload_start", "predicted_s": 2.0},
    ]
    events.write_text("".join(json.dumps(e) + "\n" for e in lines))
    assert upload_gaps(events) == [0.5]


def test_plateau_is_the_mean_of_the_last_quarters_evaluations():
    nan = math.nan
    # 10 rounds: the last quarter is rounds 8-10 (3, rounded up), evaluated at 8 and 10
    acc = [nan, 0.4, nan, 0.6, nan, 0.9, nan, 0.7, nan, 0.5]
    assert plateau(acc) == pytest.approx((0.7 + 0.5) / 2)
    # 8 rounds evaluated every 3rd: none in rounds 7-8, so the last evaluation (round 6)
    assert plateau([nan, nan, 0.3, nan, nan, 0.6, nan, nan]) == 0.6
    assert math.isnan(plateau([nan, nan])) and math.isnan(plateau([]))
