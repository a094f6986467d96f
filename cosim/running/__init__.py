"""Running scenarios into folders: run and resume (checkpoints between runs of the clock), the
folder checks and lock, progress, sweeps. (Not ``cosim/run/``: ``cosim.run`` is the public
function.)"""
