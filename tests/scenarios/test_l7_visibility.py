"""Chapter "L7 visibility through Envoy": every scenario of features/l7_visibility.feature."""
from pytest_bdd import scenarios

scenarios("l7_visibility.feature")
