"""Learning: model + LoRA, data and partitions, local training, strategies and allocators."""

from fl.allocation import (
    ALLOCATORS,
    Allocation,
    AllocationRequest,
    Allocator,
    EqualShare,
    predicted_upload_s,
)
from fl.data import TextDataset, TokenisedData, load_bbc_news, stratified_split, tokenise
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
from fl.strategy import STRATEGIES, FedAvgLoRA, Payload, Strategy
from fl.train import LocalResult, Trainer, TrainSettings

__all__ = [
    "ALLOCATORS",
    "STRATEGIES",
    "Allocation",
    "AllocationRequest",
    "Allocator",
    "EqualShare",
    "FedAvgLoRA",
    "LocalResult",
    "LoraClassifier",
    "LoraSpec",
    "ModelNotInstalledError",
    "PartitionError",
    "Payload",
    "Strategy",
    "TextDataset",
    "TokenisedData",
    "TrainSettings",
    "Trainer",
    "build_model",
    "dirichlet",
    "iid",
    "load_bbc_news",
    "load_tokenizer",
    "predicted_upload_s",
    "pretrained_model_dir",
    "shards",
    "stratified_split",
    "tokenise",
    "training_flops",
]
