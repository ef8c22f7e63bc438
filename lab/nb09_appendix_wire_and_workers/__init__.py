"""Notebook 09: two frames against base64 JSON on the wire (``wire_formats``), and which worker
process answered through the broker (``remote_workers``)."""
