"""Chapter "Flows are exported to a file on every node": every scenario of features/export.feature."""
from pytest_bdd import scenarios

scenarios("export.feature")
