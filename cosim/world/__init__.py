"""What a run is made of: the typed World and the functions that build it from a scenario
(radio, devices, learning, components by name, TSFA's stage 1), and the seed streams."""
