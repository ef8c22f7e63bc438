"""Notebook 02's monolith timed: the real parts (``parts``), the learner's ``handle_upload`` in a fresh
interpreter per image (``cold_start``, notebooks 01, 02 and 07) and in a running web app
(``handler_app``, notebook 07)."""
