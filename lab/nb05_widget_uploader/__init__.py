"""Notebook 05: the image uploader widget that calls the learner's code (``widgets``)."""
