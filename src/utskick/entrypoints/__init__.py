"""The composition root: the only modules that may import every area."""
