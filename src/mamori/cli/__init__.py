"""The ``mamori`` command."""
