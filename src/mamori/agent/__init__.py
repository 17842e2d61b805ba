"""``mamori agent``: a local HTTP agent that serves secrets from a cache and shares data keys
for envelope encryption among the processes of a host, compatible with Alibaba Cloud's KMS
Agent. It is a client of the KMS API like any application and imports no server code.

Modules: ``config`` (the TOML layout), ``token`` (the SSRF token), ``upstream`` (the KMS API
it calls), ``secret_cache`` and ``data_keys`` (what it holds in memory), ``responses`` (the
three answer shapes), ``app`` (the HTTP interface), ``serve`` (start and stop).
"""
