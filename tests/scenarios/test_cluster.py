"""Chapter "The cluster as built": every scenario of features/cluster.feature."""
from pytest_bdd import scenarios

scenarios("cluster.feature")
