"""Notebook 08: a model server at several numbers of clients at once, beside the bare model as the
limit (``load_levels``), and one of its settings changed at a time (``one_change``)."""
