"""The benchmark: the same images through every way of serving ResNet50, on one machine, in one run.

``python -m benchmarks`` (or ``make benchmark``) writes ``benchmarks/results/results.json`` and a
plot beside it. ``docs/benchmark.md`` says what each row is.
"""
