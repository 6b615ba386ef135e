"""Chapter "Hubble CLI": every scenario of features/hubble_cli.feature."""
from pytest_bdd import scenarios

scenarios("hubble_cli.feature")
