"""Notebook 06: uploads through a web app's form, timed the same way for each app (``upload_timing``)."""
