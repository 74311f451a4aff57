"""``python -m spikestore``: the same as the ``spikestore`` command."""

from .cli import main

if __name__ == "__main__":
    main()
