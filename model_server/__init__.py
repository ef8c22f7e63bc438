"""The ResNet50 model server of the lab, and its clients.

This package is the client side: the wire format (``protocol``), ``ModelClient`` (``client``), its
CURVE setup (``curve``), key files (``keys``), image decoding (``images``) and the test client.
The web app imports these alone: no TensorFlow, no OpenVINO, no server machinery.

``serving`` is the model server (``python -m model_server``); ``models`` holds ResNet50 and the
only imports of TensorFlow and OpenVINO, made when a classifier is loaded.
"""
