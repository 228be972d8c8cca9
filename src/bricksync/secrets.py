"""Keep secrets out: find them in job settings before they reach git, and redact output.

Secrets belong in Databricks secret scopes; settings refer to them as `{{secrets/scope/key}}`,
which passes through untouched.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from typing import Any

TOKEN_PATTERNS = [
    re.compile(r"dapi[0-9a-f]{32}(-\d+)?"),          # Databricks personal access token
    re.compile(r"dose[0-9a-f]{32}"),                 # Databricks OAuth secret
    re.compile(r"gh[pousr]_[A-Za-z0-9]{36,}"),        # GitHub token
    re.compile(r"AKIA[0-9A-Z]{16}"),                 # AWS access key id
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"xox[abpr]-[A-Za-z0-9-]{10,}"),      # Slack token
]
# Literal fragments that each pattern above needs: cheap `in` tests before any regex runs.
TOKEN_PREFIXES = ("dapi", "dose", "gh", "AKIA", "-----BEGIN", "xox")
SECRET_KEY_RE = re.compile(r"password|passwd|secret|token|api[_-]?key|access[_-]?key|credential|"
                           r"private[_-]?key|account\.key", re.IGNORECASE)
SECRET_REF_RE = re.compile(r"^\{\{\s*secrets/[^/\s]+/[^}\s]+\s*\}\}$")
SECRET_KEY_FRAGMENTS = ("passw", "secret", "token", "api", "access", "credential", "private", "account")
PLACEHOLDER_RE = re.compile(r"^\$\{[a-z]+:[^}]+\}$")


def may_hold_secrets(keys: str, strings: str) -> bool:
    """False when neither key names nor string values (each joined into one text) can match
    the patterns above: lets big documents skip the per-field walk."""
    lowered = keys.lower()
    if any(f in lowered for f in SECRET_KEY_FRAGMENTS) and SECRET_KEY_RE.search(keys):
        return True
    return any(prefix in strings and pattern.search(strings)
               for prefix, pattern in zip(TOKEN_PREFIXES, TOKEN_PATTERNS, strict=True))

# Environment variables whose values databricks-sdk unified auth treats as credentials.
CREDENTIAL_ENV = ("DATABRICKS_TOKEN", "DATABRICKS_PASSWORD", "DATABRICKS_CLIENT_SECRET", "ARM_CLIENT_SECRET",
                  "DATABRICKS_GOOGLE_CREDENTIALS", "GOOGLE_CREDENTIALS", "SYSTEM_ACCESSTOKEN",
                  "AZURE_DEVOPS_EXT_PAT",
                  # AzureCLI@2 with addSpnToEnvironment: the federated token / the connection's secret
                  "idToken", "servicePrincipalKey")


def _literal_secret_key(key: str) -> bool:
    return bool(SECRET_KEY_RE.search(key))


def _looks_literal(value: str) -> bool:
    """Numbers, booleans and empty strings are settings, not secrets (max_tokens: 512)."""
    v = value.strip()
    return bool(v) and not v.replace(".", "", 1).isdigit() and v.lower() not in ("true", "false")


def find_secrets(value: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """(field path, why) for every value that looks like a secret."""
    if isinstance(value, dict):
        for key, item in value.items():
            sub = f"{where}.{key}" if where else str(key)
            if isinstance(item, str) and _looks_literal(item) and _literal_secret_key(str(key)) and not (
                    SECRET_REF_RE.match(item.strip()) or PLACEHOLDER_RE.match(item.strip())):
                yield sub, f"a literal value under a key named like a secret ('{key}'); use {{{{secrets/scope/key}}}}"
                continue
            yield from find_secrets(item, sub)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            label = item.get("task_key", i) if isinstance(item, dict) else i
            yield from find_secrets(item, f"{where}[{label}]")
    elif isinstance(value, str):
        for pattern in TOKEN_PATTERNS:
            if pattern.search(value):
                yield where, "a value that looks like a credential (token or key pattern)"
                break


def known_secret_values() -> list[str]:
    values = [os.environ[name] for name in CREDENTIAL_ENV if len(os.environ.get(name, "")) >= 4]
    return sorted(set(values), key=len, reverse=True)


def redact(text: str) -> str:
    """Mask credential values from the environment and anything shaped like a token."""
    for value in known_secret_values():
        text = text.replace(value, "***")
    for pattern in TOKEN_PATTERNS[:3]:
        text = pattern.sub("***", text)
    return text


class RedactingFilter(logging.Filter):
    """Applied to every log handler bricksync installs: no secret reaches a log line."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken log call must not break the run
            return True
        record.msg = redact(message)
        record.args = None
        return True
