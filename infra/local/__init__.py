"""The local stack: the same tables, bus, rules and queues as CDK, provisioned on moto."""
