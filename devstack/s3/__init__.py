"""Local S3 endpoints: moto in-process, a minimal in-memory server, and a fault-injecting proxy."""
