"""The benchmark: the same images through every way of serving ResNet50, on one machine, in one run.

``python -m benchmarks`` (or ``make benchmark``) writes ``benchmarks/results/results.json`` and a
plot beside it. ``docs/benchmark.md`` says what each row is. ``__main__`` reads the flags and
``run`` runs; ``systems/`` is what is compared, ``rounds/`` how it is measured fairly,
``sections/`` what else is measured and ``report/`` what is written. The harness below
(``harness``) starts the processes, makes the images and sends the load.
"""
