"""Notebook 01: what this machine brings (``machine``: package versions, cores, where the weights come
from); its one classification runs in ``lab.monolith.cold_start``."""
