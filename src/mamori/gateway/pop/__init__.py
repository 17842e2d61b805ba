"""The shared gateway: the Alibaba POP wire protocol (signatures, parameters, responses)."""
