"""bricksync: declarative GitOps sync for Databricks Jobs."""

__version__ = "0.1.0"
