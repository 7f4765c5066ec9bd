"""``python -m engine.cli``: the same as the ``ripcity`` command."""

from engine.cli import main

main()
