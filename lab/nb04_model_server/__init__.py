"""Notebook 04: the learner's model server run one step at a time (``steps``), and measured with the
same clients against our design (``original_against_ours``)."""
