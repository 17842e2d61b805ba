"""KMS instance actions: Alibaba's (ListKmsInstances, GetKmsInstance, …) and Mamori's
extensions that create and resize instances."""
