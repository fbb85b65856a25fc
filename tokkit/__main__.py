"""``python -m tokkit`` and ``torchrun --nproc_per_node N -m tokkit ...``: the command line (``tokkit_cli``)."""

from tokkit_cli.app import main

main()
