"""Every way of serving ResNet50 that the benchmark compares: how each is started and called
(``launch``), the run's servers, started once and shared by the rows that use them (``servers``),
the table's rows (``catalogue``), and the servers of the systems that are not ours:
``ray_serve`` (a peer) and ``global_model_app`` (the model as a global in the web process)."""
