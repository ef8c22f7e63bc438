"""The ResNet50 model server of the lab: loaded once, answering over ZeroMQ.

Importing this package does not import TensorFlow: only ``model_server.models.tensorflow_model`` does, when a
model is built. The web app and the clients use ``protocol`` and ``client`` alone.
"""
