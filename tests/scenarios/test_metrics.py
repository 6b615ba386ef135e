"""Chapter "Prometheus and Grafana": every scenario of features/metrics.feature."""
from pytest_bdd import scenarios

scenarios("metrics.feature")
