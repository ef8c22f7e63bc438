"""How the benchmark measures fairly on a shared machine: every system in the same rounds, taking
turns at going first (``turns``, ``interleaved``), each burst with the CPU and memory its
processes used (``usage``), and a round's entries for the systems and bare models (``entries``)."""
