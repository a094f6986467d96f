"""The scenario's sections: typed, frozen, range-checked, each with its own cross-field checks."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from cosim.scenario.presets import CELL_DEFAULTS, MOBILITY_PRESETS
from cosim.scenario.registry import KINDS, builtin_names, known
from cosim.scenario.rules import dense_only_problem
from fl import STRATEGIES

LoraTarget = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_.]*$", max_length=100)]
FieldName = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Options = dict[str, bool | int | float | str]


def _options_for_custom(kind: str, name: str, options: Options) -> None:
    """``options`` configure registered components; a built-in one has fields of its own."""
    if options and name in builtin_names(kind):
        field = KINDS[kind].field
        section = field.split(".")[0]
        raise ValueError(
            f"{section}.options is read by registered custom components only; {field} = "
            f"{name!r} is built in and takes the fields of [{section}] (remove {section}.options)"
        )


class Section(BaseModel):
    """Base of every scenario section: frozen, strict types, unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class RunSection(Section):
    """Seed and length of the run, and the memory it may plan to use: a run whose estimated
    peak (docs/RELIABILITY.md) exceeds max_memory_gb is refused before anything is written
    (0 = 80 % of the memory this machine has available). The run ends after `rounds` rounds or
    at the simulated instant max_time_s (0 = no limit), whichever comes first: a round under way
    then is stopped there and not aggregated."""

    seed: Annotated[int, Field(ge=0, le=2**32 - 1, description="root seed of every draw")] = 0
    rounds: Annotated[int, Field(ge=1, le=100_000, description="federated rounds")] = 10
    max_time_s: Annotated[
        float,
        Field(ge=0.0, le=1e9, strict=False, description="end at this simulated time; 0 = never"),
    ] = 0.0
    max_memory_gb: Annotated[
        float, Field(ge=0.0, le=1e5, strict=False, description="0 = 80 % of what is available")
    ] = 0.0


class ClientsSection(Section):
    """How many clients, how many are scheduled per round, where they are and how they move."""

    count: Annotated[int, Field(ge=1, le=100_000)] = 10
    per_round: Annotated[int, Field(ge=1, le=100_000)] = 5
    per_cell: Annotated[
        int,
        Field(
            ge=0,
            le=100_000,
            description="cells.layout = hex: clients per cell, drawn from those camping on "
            "it (busy at once under fedasync/fedbuff, scheduled per round under sync/first-k; "
            "0 = clients.per_round over the whole layout)",
        ),
    ] = 0
    placement: Annotated[
        Literal["uniform_disc", "uniform", "per_cell"],
        Field(
            description="uniform_disc / uniform: uniform over the area (one cell's disc, or "
            "the whole layout of cells.layout = hex); per_cell (hex): as many in every cell"
        ),
    ] = "uniform_disc"
    area_radius_m: Annotated[float, Field(gt=10.0, le=5_000.0)] = 400.0
    min_distance_m: Annotated[float, Field(ge=10.0, le=5_000.0)] = 10.0
    height_m: Annotated[float, Field(ge=1.5, le=22.5)] = 1.5

    @model_validator(mode="after")
    def _cross(self) -> Self:
        if self.per_round > self.count:
            raise ValueError(
                f"clients.per_round ({self.per_round}) must be <= clients.count ({self.count})"
            )
        if self.min_distance_m >= self.area_radius_m:
            raise ValueError(
                f"clients.min_distance_m ({self.min_distance_m}) must be < "
                f"clients.area_radius_m ({self.area_radius_m})"
            )
        return self


class MobilitySection(Section):
    """How clients move; a preset fills the fields that the file does not set. Models:
    `static`, `linear` (constant heading), `random_waypoint`, `gauss_markov`, `highway` (cars
    on a 4-lane road along x centred on y = road_y_m, two lanes each way, each at a speed
    drawn once), `trace` (a CSV of positions), or a registered one."""

    preset: Literal["none", "pedestrian", "vehicular", "high_speed"] = "none"
    model: Annotated[str, AfterValidator(known("mobility"))] = "static"
    speed_min_mps: Annotated[float, Field(ge=0.0, le=150.0)] = 0.5
    speed_max_mps: Annotated[float, Field(ge=0.0, le=150.0)] = 1.5
    pause_s: Annotated[float, Field(ge=0.0, le=1e5)] = 0.0
    gm_memory: Annotated[float, Field(ge=0.0, le=1.0)] = 0.85
    gm_update_s: Annotated[float, Field(gt=0.0, le=1e4)] = 1.0
    gm_heading_std_deg: Annotated[float, Field(ge=0.0, le=180.0)] = 20.0
    trace_file: str = ""
    road_y_m: Annotated[
        float, Field(ge=-1e5, le=1e5, strict=False, description="highway: the road's y")
    ] = 0.0
    options: Annotated[Options, Field(description="knobs of a registered model")] = {}

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("preset", "none") in MOBILITY_PRESETS:
            return {**MOBILITY_PRESETS[data["preset"]], **data}
        return data

    @model_validator(mode="after")
    def _cross(self) -> Self:
        if self.speed_max_mps < self.speed_min_mps:
            raise ValueError(
                f"mobility.speed_max_mps ({self.speed_max_mps}) must be >= "
                f"mobility.speed_min_mps ({self.speed_min_mps})"
            )
        if self.model == "trace" and not self.trace_file:
            raise ValueError('mobility.model = "trace" needs mobility.trace_file (a CSV path)')
        _options_for_custom("mobility", self.model, self.options)
        return self


class ComputeSection(Section):
    """Device speeds: effective training throughput, log-uniform per client between the bounds."""

    min_tflops: Annotated[float, Field(gt=0.0, le=1_000.0)] = 0.1
    max_tflops: Annotated[float, Field(gt=0.0, le=1_000.0)] = 1.0
    device_power_w: Annotated[float, Field(ge=0.0, le=1_000.0, description="while training")] = 3.0

    @model_validator(mode="after")
    def _cross(self) -> Self:
        if self.max_tflops < self.min_tflops:
            raise ValueError(
                f"compute.max_tflops ({self.max_tflops}) must be >= "
                f"compute.min_tflops ({self.min_tflops})"
            )
        return self


class ChannelSection(Section):
    """Radio: channel model, trace step, carrier, bandwidth, link budget, CSI quality; with
    cells.layout = hex, the uplink's open-loop power control P = min(tx_power_dbm, p0_dbm +
    alpha·PL + 10·log10(RBs)) (TS 38.213 §7.1.1; α 0.8, P0 −86 dBm: a common fractional
    setting, our choice)."""

    model: Literal["pathloss", "rayleigh", "rician", "umi", "uma", "rma"] = "pathloss"
    dt: Annotated[float, Field(ge=1e-4, le=10.0, description="trace step [s]")] = 0.01
    carrier_hz: Annotated[float, Field(ge=0.5e9, le=100e9)] = 3.5e9
    bandwidth_hz: Annotated[float, Field(ge=1e3, le=1e9, description="total uplink band")] = 10e6
    tx_power_dbm: Annotated[float, Field(ge=-30.0, le=40.0)] = 23.0
    noise_figure_db: Annotated[float, Field(ge=0.0, le=20.0)] = 5.0
    bs_height_m: Annotated[float, Field(ge=1.0, le=150.0)] = 10.0
    bs_antennas: Annotated[int, Field(ge=1, le=64, description="receive antennas, MRC")] = 1
    link: Literal["shannon", "phy"] = "shannon"
    bler_target: Annotated[float, Field(ge=0.001, le=0.5, description="for link = phy")] = 0.1
    rician_k_db: Annotated[float, Field(ge=-20.0, le=40.0)] = 6.0
    fading_paths: Annotated[int, Field(ge=4, le=1024, description="sinusoids per client")] = 32
    indoor_ratio: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    in_car_ratio: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    o2i_model: Literal["low", "high"] = "low"
    csi_delay_s: Annotated[float, Field(ge=0.0, le=1e3, description="CSI staleness")] = 0.0
    csi_error_db: Annotated[float, Field(ge=0.0, le=30.0, description="CSI error std")] = 0.0
    frequency_selective: Annotated[
        bool, Field(description="rate over each client's piece of the band, not at the carrier")
    ] = False
    subbands: Annotated[int, Field(ge=1, le=256, description="rate points per piece")] = 8
    delay_spread_s: Annotated[
        float, Field(ge=0.0, le=1e-5, description="rayleigh/rician exponential delay profile")
    ] = 1e-7
    ray_tile: Annotated[
        int, Field(ge=1, le=16, description="umi/uma/rma: lattice nodes per ray tile side")
    ] = 8
    p0_dbm: Annotated[
        float, Field(ge=-130.0, le=0.0, strict=False, description="cells.layout = hex: P0")
    ] = -86.0
    alpha: Annotated[
        float, Field(ge=0.0, le=1.0, strict=False, description="cells.layout = hex: α")
    ] = 0.8

    @model_validator(mode="before")
    @classmethod
    def _cell_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("model", "pathloss") in CELL_DEFAULTS:
            return {**CELL_DEFAULTS[data.get("model", "pathloss")], **data}
        return data

    @model_validator(mode="after")
    def _cross(self) -> Self:
        no_cell = self.model in ("pathloss", "rayleigh", "rician")  # no 38.901 cell, no rays
        if no_cell and (self.indoor_ratio or self.in_car_ratio):
            raise ValueError(
                f"channel.indoor_ratio / channel.in_car_ratio need a 38.901 cell model; "
                f"channel.model = {self.model!r} has outdoor users only (set them to 0)"
            )
        default_tile = type(self).model_fields["ray_tile"].default
        if no_cell and self.ray_tile != default_tile:
            raise ValueError(
                f"channel.ray_tile = {self.ray_tile} needs a 38.901 cell model (umi, uma, rma); "
                f"channel.model = {self.model!r} draws no rays (leave it at {default_tile})"
            )
        if self.indoor_ratio + self.in_car_ratio > 1.0:
            raise ValueError(
                f"channel.indoor_ratio + channel.in_car_ratio ({self.indoor_ratio} + "
                f"{self.in_car_ratio}) must be <= 1"
            )
        return self


class DeadlineSection(Section):
    """The per-round latency deadline, counted from the round's start."""

    seconds: Annotated[float, Field(gt=0.0, le=1e6)] = 3.0


class AllocationSection(Section):
    """Which allocator splits the bandwidth and sets the budgets. `equal`, `inverse-se` and
    `minmax` use strategy.budget for everyone (`oracle` too: min-max on the true future
    channel, an upper bound, not a realisable scheme); `tsfa` picks each client's budget from
    budget_grid every round (Lyapunov drift-plus-penalty with weight lyapunov_v and long-term
    latency target latency_target_s). With `reallocate` on, band freed during a round (dropouts,
    finished uploads) or held by a client falling behind its plan by more than
    realloc_threshold is re-split among the clients still uploading (all allocators). With
    `stage1` on (tsfa only), TSFA's offline stage picks model.lora_rank from stage1_ranks (and
    SOFT's strategy.orth_lambda from stage1_lambdas) before round 1 by expected latency at
    average channel conditions and a pilot round of stage1_pilot_clients (cosim/world/stage1.py)."""

    name: Annotated[str, AfterValidator(known("allocator"))] = "equal"
    lyapunov_v: Annotated[float, Field(ge=0.0, le=1e6)] = 1.0
    latency_target_s: Annotated[float, Field(gt=0.0, le=1e6)] = 1.5
    budget_grid: Annotated[
        tuple[Annotated[float, Field(gt=0.0, le=1.0)], ...],
        Field(min_length=1, max_length=32, strict=False),
    ] = (0.125, 0.25, 0.5, 1.0)
    deadline_margin: Annotated[
        float, Field(ge=0.0, lt=1.0, description="tsfa: share of the time left kept in reserve")
    ] = 0.1
    stage1: bool = False
    stage1_ranks: Annotated[
        tuple[Annotated[int, Field(ge=1, le=128)], ...],
        Field(min_length=1, max_length=16, strict=False),
    ] = (2, 4, 8, 16)
    stage1_lambdas: Annotated[
        tuple[Annotated[float, Field(ge=0.0, le=100.0)], ...],
        Field(max_length=16, strict=False, description="soft and soft-delta; () keeps orth_lambda"),
    ] = ()
    stage1_pilot_clients: Annotated[int, Field(ge=1, le=1_000)] = 3
    reallocate: bool = True
    realloc_threshold: Annotated[
        float, Field(gt=0.0, lt=1.0, description="behind plan by this share of its bits")
    ] = 0.3
    realloc_min_s: Annotated[
        float, Field(ge=0.0, le=1e4, description="least time between a client's checks")
    ] = 0.05
    options: Annotated[Options, Field(description="knobs of a registered allocator")] = {}

    @model_validator(mode="after")
    def _cross(self) -> Self:
        _options_for_custom("allocator", self.name, self.options)
        if list(self.budget_grid) != sorted(set(self.budget_grid)):
            raise ValueError(
                f"allocation.budget_grid {list(self.budget_grid)} must be strictly increasing"
            )
        if list(self.stage1_ranks) != sorted(set(self.stage1_ranks)):
            raise ValueError(
                f"allocation.stage1_ranks {list(self.stage1_ranks)} must be strictly increasing"
            )
        return self


class StrategySection(Section):
    """Which federated strategy, its budget (fraction of the dense LoRA bits a client sends;
    1.0 = dense), SOFT's orthogonality penalty, and how many bits each value costs on air."""

    name: Annotated[str, AfterValidator(known("strategy"))] = "fedavg-lora"
    budget: Annotated[float, Field(gt=0.0, le=1.0)] = 1.0
    orth_lambda: Annotated[float, Field(ge=0.0, le=100.0, description="soft and soft-delta")] = 0.01
    bits_per_value: Literal[16, 32] = 32
    options: Annotated[Options, Field(description="knobs of a registered strategy")] = {}

    @model_validator(mode="after")
    def _cross(self) -> Self:
        _options_for_custom("strategy", self.name, self.options)
        if self.name in STRATEGIES:  # a registered one is checked once built
            problem = dense_only_problem(
                self.name, STRATEGIES[self.name].dense_only, self.budget, "", False
            )
            if problem:
                raise ValueError(problem)
        return self


class ModelSection(Section):
    """The transformer and its LoRA adapter: path "" = the packaged all-MiniLM-L6-v2 (then 4
    layers unless set), else a local Hugging Face checkpoint folder (then all layers unless
    set); layers 0 = all. lora_targets "auto" = the architecture's attention projections."""

    path: Annotated[str, Field(description='checkpoint folder; "" = packaged MiniLM')] = ""
    task: Literal["classify", "causal-lm"] = "classify"
    dtype: Literal["float32", "bfloat16"] = "float32"
    layers: Annotated[int, Field(ge=0, le=1_000, description="layers kept; 0 = all")] = 0
    max_seq_len: Annotated[int, Field(ge=8, le=8_192)] = 64
    lora_rank: Annotated[int, Field(ge=1, le=128)] = 8
    lora_alpha: Annotated[float, Field(gt=0.0, le=1024.0)] = 16.0
    lora_targets: Annotated[tuple[LoraTarget, ...], Field(min_length=1, strict=False)] = ("auto",)
    lora_dropout: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    lora_init: Literal["orthonormal", "peft"] = "orthonormal"

    @model_validator(mode="before")
    @classmethod
    def _packaged_layers(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("path") and "layers" not in data:
            return {**data, "layers": 4}  # the packaged model's depth before model.path
        return data


class DataSection(Section):
    """Which data: path, a CSV / JSON Lines / Parquet file or a datasets save_to_disk folder,
    read by the named fields; or, path "", a packaged dataset (`bbc`: BBC News, 2,225 articles,
    5 topics; `tweets`: 38,158 sentiment-labelled tweets, 3 classes, harder). Its federated
    split and the held-out share."""

    name: Literal["bbc", "tweets"] = "bbc"
    path: Annotated[str, Field(description='data file or folder; "" = data.name')] = ""
    text_field: FieldName = "text"
    label_field: FieldName = "label"
    prompt_field: Annotated[str, Field(max_length=200)] = ""
    response_field: Annotated[str, Field(max_length=200)] = ""
    group_field: Annotated[str, Field(max_length=200)] = ""
    partition: Literal["iid", "dirichlet", "shards"] = "dirichlet"
    dirichlet_alpha: Annotated[float, Field(gt=0.0, le=1_000.0)] = 0.5
    shards_per_client: Annotated[int, Field(ge=1, le=100)] = 2
    test_fraction: Annotated[float, Field(ge=0.05, le=0.5)] = 0.2


class TrainSection(Section):
    """Local training per round (AdamW), and where the host computes it: `local` (this
    process) or `ray` (ray_workers Ray actors, on ray_address or a local Ray instance; needs
    the `ray` extra). The backend changes host time only, never the results."""

    local_steps: Annotated[int, Field(ge=1, le=10_000)] = 5
    batch_size: Annotated[int, Field(ge=1, le=1_024)] = 16
    lr: Annotated[float, Field(gt=0.0, le=1.0)] = 5e-3
    weight_decay: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    divergence_loss: Annotated[float, Field(gt=0.0, le=1e6, description="reject above")] = 20.0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    backend: Literal["local", "ray"] = "local"
    ray_workers: Annotated[int, Field(ge=1, le=1_024, description="Ray actors")] = 2
    ray_address: Annotated[str, Field(description='"" = start Ray locally')] = ""

    @model_validator(mode="after")
    def _cross(self) -> Self:
        if self.ray_address and self.backend != "ray":
            raise ValueError(
                f"train.ray_address ({self.ray_address!r}) is for train.backend = 'ray' "
                f"(got {self.backend!r})"
            )
        return self


class FlSection(Section):
    """How local learning happens: `train` really trains every client's LoRA adapter;
    `surrogate` is learning-free (no training, no evaluation, no accuracy): updates are drawn
    from a per-rank importance profile (fl.profile, a JSON file recorded from a real run, or
    "" for the documented synthetic profile) so allocation studies run in seconds."""

    mode: Literal["train", "surrogate"] = "train"
    profile: str = ""


class OutputSection(Section):
    """Optional outputs: the channel trace (channel.npz), and checkpoints for `wfl-cosim run
    --resume`: at the end of every checkpoint_every-th round (0 = never) once at least
    checkpoint_min_s host seconds passed since the last one (when they are written never
    changes results); the checkpoint is removed when the run completes. share_lists = false
    keeps `reallocation` events to counts (uploads on air, shares changed) instead of a list
    per upload: with hundreds of uploads on air those lists grow as their square."""

    channel: bool = False
    share_lists: bool = True
    checkpoint_every: Annotated[int, Field(ge=0, le=100_000, description="rounds")] = 1
    checkpoint_min_s: Annotated[float, Field(ge=0.0, le=1e6, description="host s")] = 10.0
