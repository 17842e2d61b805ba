"""HTTP plumbing shared by the server's listeners and ``mamori agent``: it imports nothing of
Mamori, so the agent can use it without loading server code (tests/agent/test_layering.py)."""
