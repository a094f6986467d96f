"""What a run writes and how it is read back: the event log and its kinds, the CSV tables,
channel.npz, and RunResult / read_run."""
