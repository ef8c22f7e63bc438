"""What the benchmark measures besides the rounds, one module each, each a command of its own
(``python -m benchmarks.sections.NAME``) that prints what it measured.

In ``python -m benchmarks``'s run: ``overhead``, ``image_sizes``, ``broker_header``,
``open_loop`` and ``start_to_ready``. Alone: ``footprint`` (what the deployment manifests are
sized from), ``curve_encryption``, ``accuracy`` (OpenVINO against TensorFlow) and
``tensorflow_vs_openvino`` (the two runtimes timed in turn in one process)."""
