"""Notebook 02: the monolith's requests timed from the caller's side (``request_times``)."""
