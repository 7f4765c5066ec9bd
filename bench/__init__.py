"""Benchmarks: ``python -m bench.<name>`` runs one and prints one JSON object that states its
workload and compares it with a baseline measured in the same run (the README lists them and
holds their results). ``harness`` is what they share; the other modules here serve the
benchmarks and the tests only."""
