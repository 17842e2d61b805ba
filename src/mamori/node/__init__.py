"""What the worker processes of one node share (DESIGN §6): memory mapped before they are forked
(the replay guard's table, the invalidation ring, the instance throttle's buckets), the locks
that guard it, and the supervisor that forks, watches and stops the workers.

Nothing here imports the rest of Mamori: the gateways and ``app.py`` build on it.
"""
