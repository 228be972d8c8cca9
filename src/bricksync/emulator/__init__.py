"""A local Databricks workspace that the real databricks-sdk talks to over HTTP."""

from .faults import FaultRule, Faults
from .server import DEFAULT_TOKEN, EmulatorServer

__all__ = ["DEFAULT_TOKEN", "EmulatorServer", "FaultRule", "Faults"]
