"""Notebook 03: the learner's worker and proxy run on real sockets (``routing_demo``)."""
