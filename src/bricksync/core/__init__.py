"""Pure core: values in, values out. No workspace, no files, no git, no network, no terminal.

May import: bricksync.core only (and stdlib/pure libraries; databricks.sdk.service.* for its
generated types, never the client). tests/test_architecture.py enforces this.
"""
