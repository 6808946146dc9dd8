"""Monitoring: the Prometheus figures of ``GET /metrics`` and the workers' heartbeats."""
