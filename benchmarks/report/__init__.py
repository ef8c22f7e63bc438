"""A run's results turned into what a reader compares: the ratios the targets are stated in
(``ratios``), Markdown tables (``tables``, each built by ``markdown``), plots (``plots``), the
open loop's targets met or not (``open_loop``), and the files they are written to (``files``).
Everything is computed from ``results.json``, so ``python -m benchmarks --report-only`` redoes it."""
