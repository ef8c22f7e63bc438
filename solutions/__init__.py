"""Reference answers to the exercises in ``exercises/``, module for module.

``LAB_ANSWERS=solutions pytest tests/exercises`` checks them with the same checks as yours.
"""
