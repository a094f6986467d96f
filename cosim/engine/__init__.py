"""The SimPy engine: the round as a story (plan, allocate, broadcast, clients, finish) on one
clock, with the shared uplink band in simulated time."""
