"""What both ends of a wire share: the KMS instance API's protobuf messages (``instance_api.proto``
and protoc's output, ``make proto``), its API table and its request-signature string. The
dedicated gateway and ``mamori.client`` both import this package; it imports nothing else of
Mamori, so a client never loads server code to speak the instance API."""
