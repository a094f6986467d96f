"""Radio: channel models behind one interface, the link budget and upload timing."""

from channels.base import ChannelModel, ChannelTrace
from channels.link import LinkBudget, shannon_rate
from channels.pathloss import UMiPathloss, distances, umi_los_probability, umi_pathloss_db
from channels.upload import UploadOutcome, delivery_time, upload_end_time

__all__ = [
    "ChannelModel",
    "ChannelTrace",
    "LinkBudget",
    "UMiPathloss",
    "UploadOutcome",
    "delivery_time",
    "distances",
    "shannon_rate",
    "umi_los_probability",
    "umi_pathloss_db",
    "upload_end_time",
]
