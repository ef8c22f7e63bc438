"""ResNet50's input preprocessing in NumPy, shared by every runtime so that all see the same numbers.

Keras's ResNet50 was trained on "caffe"-style inputs: channels in BGR order, the ImageNet mean of
each channel subtracted, no scaling. This is Keras's ``preprocess_input`` for ResNet50, written
here without TensorFlow so that the OpenVINO runtime needs neither.
"""

from __future__ import annotations

import numpy as np

#: The ImageNet training set's mean of each channel, in BGR order (as Keras subtracts them).
IMAGENET_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)


def preprocess_resnet50(pixels: np.ndarray) -> np.ndarray:
    """A batch of RGB uint8 images ``(n, 224, 224, 3)`` as ResNet50's float32 input.

    One channel at a time, straight into the output: the same numbers as
    ``pixels[..., ::-1].astype(np.float32) - IMAGENET_MEAN_BGR``, several times faster, because
    no reversed, interleaved temporary is made.
    """
    out = np.empty(pixels.shape, dtype=np.float32)
    for bgr, rgb in enumerate((2, 1, 0)):
        np.subtract(pixels[..., rgb], IMAGENET_MEAN_BGR[bgr], out=out[..., bgr], dtype=np.float32)
    return out
