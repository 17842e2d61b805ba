"""Pure algorithms and byte formats: no I/O, no state, nothing else of Mamori imported."""
