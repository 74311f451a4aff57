"""spikestore benchmarks: ``python -m benchmarks --scale small|medium``.

``bench_store`` runs first (spikestore vs spikelab vs the raw floor); then
every other ``bench_*.py`` module here that defines ``main(scale)``.
"""
