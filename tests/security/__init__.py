"""Each module reproduces one group of attacks from a security review against a real server,
and asserts the refusal."""
