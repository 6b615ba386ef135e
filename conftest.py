"""Thin: the suite's pytest plugin lives in cilab/plugin.py."""

pytest_plugins = ["cilab.plugin"]
