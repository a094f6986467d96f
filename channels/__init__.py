"""Radio: channel models behind one interface, the link budget and upload timing."""

from channels.base import ChannelModel, ChannelTrace
from channels.cell import Cell38901, CellFading
from channels.fading import SumOfSinusoids
from channels.fields import ExponentialField
from channels.link import LinkBudget, shannon_rate
from channels.pathloss import PathlossChannel, clamped_distances, distances
from channels.rates import PhyAbstraction, RateModel, Shannon
from channels.sionna_fading import SionnaRayFading
from channels.tr38901 import CELLS, los_probability, pathloss_db
from channels.upload import UploadOutcome, delivery_time, step_bits, upload_end_time

__all__ = [
    "CELLS",
    "Cell38901",
    "CellFading",
    "ChannelModel",
    "ChannelTrace",
    "ExponentialField",
    "LinkBudget",
    "PathlossChannel",
    "PhyAbstraction",
    "RateModel",
    "Shannon",
    "SionnaRayFading",
    "SumOfSinusoids",
    "UploadOutcome",
    "clamped_distances",
    "delivery_time",
    "distances",
    "los_probability",
    "pathloss_db",
    "shannon_rate",
    "step_bits",
    "upload_end_time",
]
