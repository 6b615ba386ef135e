"""Chapter "Hubble is enabled": every scenario of features/hubble.feature."""
from pytest_bdd import scenarios

scenarios("hubble.feature")
