"""Probes: typed questions to the lab, one or a few primitive calls each, no pytest inside."""
