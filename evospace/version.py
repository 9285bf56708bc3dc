"""The version of evospace (recorded in every run's ``run.yaml``)."""

__version__ = "0.2.0"
