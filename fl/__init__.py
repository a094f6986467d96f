"""Learning: model + LoRA, data and partitions, local training, strategies and allocators."""

from fl.allocation import (
    Allocation,
    AllocationRequest,
    Allocator,
    EqualShare,
    InverseSpectralEfficiency,
    MinMax,
    minmax_split,
    predicted_latency,
    predicted_upload_s,
)
from fl.data import TextDataset, TokenisedData, load_bbc_news, stratified_split, tokenise
from fl.lora_ops import (
    lora_layers,
    orthogonality_defect,
    relative_error,
    separate_aggregation_error,
)
from fl.model import (
    LoraClassifier,
    LoraSpec,
    ModelNotInstalledError,
    build_model,
    load_tokenizer,
    pretrained_model_dir,
    training_flops,
)
from fl.partition import PartitionError, dirichlet, iid, shards
from fl.strategies import (
    STRATEGIES,
    FedAvgLoRA,
    FFALoRA,
    Payload,
    RandomRank,
    Soft,
    Strategy,
    SVDTruncated,
    TopK,
)
from fl.train import LocalResult, Trainer, TrainSettings
from fl.tsfa import TSFA

__all__ = [
    "STRATEGIES",
    "TSFA",
    "Allocation",
    "AllocationRequest",
    "Allocator",
    "EqualShare",
    "FFALoRA",
    "FedAvgLoRA",
    "InverseSpectralEfficiency",
    "LocalResult",
    "LoraClassifier",
    "LoraSpec",
    "MinMax",
    "ModelNotInstalledError",
    "PartitionError",
    "Payload",
    "RandomRank",
    "SVDTruncated",
    "Soft",
    "Strategy",
    "TextDataset",
    "TokenisedData",
    "TopK",
    "TrainSettings",
    "Trainer",
    "build_model",
    "dirichlet",
    "iid",
    "load_bbc_news",
    "load_tokenizer",
    "lora_layers",
    "minmax_split",
    "orthogonality_defect",
    "predicted_latency",
    "predicted_upload_s",
    "pretrained_model_dir",
    "relative_error",
    "separate_aggregation_error",
    "shards",
    "stratified_split",
    "tokenise",
    "training_flops",
]
