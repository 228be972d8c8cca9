"""One bricksync operation each (export, plan, apply, drift, capture/import), composing the
pure core with the edges.

May import: bricksync.core, bricksync.edges, bricksync.commands.
"""
