"""The model server: the broker, the worker pool, batching, remote workers and their supervisor,
settings, ZAP security and the command line (``python -m model_server``).

TensorFlow and OpenVINO are not imported here: the models (``model_server.models``) are loaded
only when a classifier is.
"""
