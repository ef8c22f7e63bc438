"""Running and measuring the system: processes started and always stopped, the launch recipes of
each part, stub servers and sample images. Used by ``lab`` (the notebooks), ``benchmarks`` and
the tests; it imports ``model_server`` and ``flask_server``, never those three.
"""
