"""The edges that do I/O: the workspace (databricks-sdk), state files and git, the config file
and environment, Azure DevOps.

May import: bricksync.core, bricksync.edges.
"""
