"""Chapter "URL query redaction": every scenario of features/redaction.feature."""
from pytest_bdd import scenarios

scenarios("redaction.feature")
