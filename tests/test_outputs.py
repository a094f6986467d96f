"""Outputs: the event log, the event kinds defined once, the table rows as types."""

import json
from dataclasses import fields

import numpy as np
import pytest
from conftest import read_events

from cosim.outputs.events import EventLog, Kind
from cosim.outputs.tables import (
    CLIENT_COLUMNS,
    ROUND_COLUMNS,
    ClientRow,
    CsvTable,
    RoundRow,
    client_columns,
    round_columns,
)


def test_plain_turns_numpy_scalars_into_python_ones():
    from cosim.outputs.events import plain

    got = plain(dict(f=np.float64(2.5), g=np.float32(0.5), n=np.float64("inf"), i=np.int64(7)))
    assert got == {"f": 2.5, "g": 0.5, "n": None, "i": 7}
    assert [type(v) for v in got.values()] == [float, float, type(None), int]
    assert plain(np.bool_(False)) is False and plain(np.int32(4)) == 4


def test_event_log_writes_plain_json_and_calls_observers(tmp_path):
    seen = []
    log = EventLog(tmp_path / "e.jsonl", [seen.append])
    log.emit(
        1.5,
        "csi",
        2,
        np.int64(3),
        gain_db=np.float64(-90.0),
        los=np.bool_(True),
        arr=np.array([1, 2]),
        bad=float("nan"),
    )
    log.close()
    line = json.loads((tmp_path / "e.jsonl").read_text())
    assert line == {
        "t": 1.5,
        "kind": "csi",
        "round": 2,
        "client": 3,
        "gain_db": -90.0,
        "los": True,
        "arr": [1, 2],
        "bad": None,
    }
    assert seen == [line] and log.count == 1


def test_every_event_kind_a_run_writes_is_a_defined_constant(tiny_run):
    out, _ = tiny_run
    defined = {v for k, v in vars(Kind).items() if k.isupper()}
    written = {e["kind"] for e in read_events(out)}
    assert written <= defined, written - defined
    assert {Kind.ROUND_START, Kind.ALLOCATION, Kind.AGGREGATE, Kind.EVAL} <= written


def test_row_types_are_the_table_columns_and_a_table_refuses_other_keys(tmp_path):
    # perplexity is a column of causal-lm runs only, placed after loss; staleness_mean one of
    # fedasync/fedbuff runs, last
    names = tuple(f.name for f in fields(RoundRow))
    assert names == (*ROUND_COLUMNS, "perplexity", "staleness_mean")
    lm = round_columns("causal-lm")
    assert lm[lm.index("loss") + 1] == "perplexity" and round_columns("classify") == ROUND_COLUMNS
    assert round_columns("classify", True) == (*ROUND_COLUMNS, "staleness_mean")
    # download_s is a column of downlink.model = "channel" runs only, placed before train_s;
    # version and staleness of fedasync/fedbuff runs, then cell and handovers of several cells
    dl = client_columns("channel")
    assert tuple(f.name for f in fields(ClientRow)) == client_columns("channel", True, True)
    assert client_columns("fixed") == CLIENT_COLUMNS
    assert client_columns("fixed", True) == (*CLIENT_COLUMNS, "version", "staleness")
    assert dl[dl.index("train_s") - 1] == "download_s"
    assert ROUND_COLUMNS[:4] == ("mode", "round", "t_start", "t_end")
    table = CsvTable(tmp_path / "rounds.csv", ROUND_COLUMNS)
    row = RoundRow("train", 1, 0.0, 1.5, 2, 1, 1, 3.0, np.nan, np.nan, 0, 0, 0.1, 0.2, 0.0, 0.0)
    table.append(row)
    with pytest.raises(KeyError):
        table.append({"mode": "train"})
    table.close()
    lines = (tmp_path / "rounds.csv").read_text().splitlines()
    assert lines[0] == ",".join(ROUND_COLUMNS)
    assert lines[1].startswith("train,1,0.0,1.5,2,1,1,3.0,,,0,0,")
    lm_table = CsvTable(tmp_path / "lm.csv", lm)
    lm_table.append(
        RoundRow("train", 1, 0.0, 1.5, 2, 1, 1, 3.0, 0.5, 2.0, 0, 0, 0.1, 0.2, 0.0, 0.0, 7.389)
    )
    lm_table.close()
    assert (
        (tmp_path / "lm.csv")
        .read_text()
        .splitlines()[1]
        .startswith("train,1,0.0,1.5,2,1,1,3.0,0.5,2.0,7.389,")
    )
