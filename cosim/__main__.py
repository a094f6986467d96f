"""`python -m cosim` is the `wfl-cosim` command."""

from cosim.cli import main

main()
