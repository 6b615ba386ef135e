"""Chapter "Star Wars demo": every scenario of features/starwars.feature."""
from pytest_bdd import scenarios

scenarios("starwars.feature")
