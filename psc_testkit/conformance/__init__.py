"""OP conformance: the pytest plugin, what checks drive, the requirement catalogue, pre-flight
and certificates."""
