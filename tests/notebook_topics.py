"""What each notebook shows, for ``test_notebook_text``: a sentence that names "notebook NN" must
speak of one of NN's topics, so that moving a section from one notebook to another makes every
sentence still pointing to its old home fail.

Keep this table true to the notebooks: add a topic when a notebook gains a section, remove one
when a section leaves. Phrases are matched without regard to case.
"""

from __future__ import annotations

TOPICS: dict[str, tuple[str, ...]] = {
    "01": ("setup", "versions", "cores", "weights"),
    "02": ("monolith", "where those seconds go", "stage", "every request", "loading ResNet50",
           "split that time"),
    "03": ("ZeroMQ", "envelope", "ROUTER", "DEALER", "proxy", "from scratch", "request-reply",
           "worker_loop", "run_proxy", "worker loop"),
    "04": ("model server", "test client", "Lazy Pirate", "several clients", "batching",
           "RequestHandler", "resnet_model_server"),
    "05": ("widget", "upload", "one request at a time"),
    "06": ("Flask", "web app", "app.py", "one request at a time"),
    "07": ("compares", "compare", "timings", "one request at a time"),
    "08": ("many clients", "batching", "bare model", "load generator", "closed loop", "Little's law",
           "one change at a time", "measures it more carefully", "measures that limit"),
    "09": ("appendix", "two frames", "base64", "wire format", "workers in other processes"),
}

#: Figures typed into a notebook's text that no cell computes, and why each may stay. Anything
#: else with a unit must be computed by a cell, or be the original write-up's (its sentence says
#: "original").
ALLOWED_FIGURES: dict[tuple[str, str], str] = {
    ("01", "100 MB"): "the size of ResNet50's weights file, which notebook 02 reads",
    ("02", "~100 MB"): "the size of ResNet50's weights file, which the notebook's cells read",
    ("04", "0.2 s"): "a model speed made up for a question the learner answers before running",
    ("04", "0.6 s"): "a client's wait made up for a question the learner answers before running",
    ("08", "400 ms"): "a median made up for a question on Little's law",
    ("08", "20 ms"): "the server's default --max-delay-ms (the test checks it)",
    ("09", "1 s"): "the default --heartbeat-interval-s (the test checks it)",
}
