"""The instance API's ``.proto`` and protoc's output for it (``make proto`` regenerates it)."""
