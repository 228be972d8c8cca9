"""Values to text for a medium: terminal tables, Markdown, Azure Pipelines logging commands.

May import: bricksync.core, bricksync.reports.
"""
