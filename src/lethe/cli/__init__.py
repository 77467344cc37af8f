"""The ``lethe`` command: a thin layer over :class:`lethe.Lethe`."""
