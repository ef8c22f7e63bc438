"""ResNet50 and what it needs: weights, labels, preprocessing, the TensorFlow and OpenVINO runtimes.

The only package that imports TensorFlow or OpenVINO, and only when a classifier is loaded:
importing any of its modules is cheap.
"""
