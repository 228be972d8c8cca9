"""Keep secrets out: find them in job settings before they reach git, and redact output.

Secrets belong in Databricks secret scopes; settings refer to them as `{{secrets/scope/key}}`,
which passes through untouched (also inside a longer value: `...;password={{secrets/db/pw}}`).

Credential shapes come from detect-secrets (Yelp's maintained detector, used as a library:
its regex plugins, and its keyword list for key names), plus the shapes it has no plugin for
and that job settings carry: passwords in JDBC URLs, SAS signatures, `Bearer` headers,
Databricks tokens, and a literal after a `--password` style flag in task arguments.
"""

from __future__ import annotations

import functools
import logging
import os
import re
from collections.abc import Iterable, Iterator
from typing import Any

from detect_secrets.plugins import keyword as _ds_keyword
from detect_secrets.plugins.artifactory import ArtifactoryDetector
from detect_secrets.plugins.aws import AWSKeyDetector
from detect_secrets.plugins.azure_storage_key import AzureStorageKeyDetector
from detect_secrets.plugins.base import RegexBasedDetector
from detect_secrets.plugins.basic_auth import BasicAuthDetector
from detect_secrets.plugins.discord import DiscordBotTokenDetector
from detect_secrets.plugins.github_token import GitHubTokenDetector
from detect_secrets.plugins.gitlab_token import GitLabTokenDetector
from detect_secrets.plugins.jwt import JwtTokenDetector
from detect_secrets.plugins.mailchimp import MailchimpDetector
from detect_secrets.plugins.npm import NpmDetector
from detect_secrets.plugins.openai import OpenAIDetector
from detect_secrets.plugins.private_key import PrivateKeyDetector
from detect_secrets.plugins.pypi_token import PypiTokenDetector
from detect_secrets.plugins.sendgrid import SendGridDetector
from detect_secrets.plugins.slack import SlackDetector
from detect_secrets.plugins.square_oauth import SquareOAuthDetector
from detect_secrets.plugins.stripe import StripeDetector
from detect_secrets.plugins.telegram_token import TelegramBotTokenDetector
from detect_secrets.plugins.twilio import TwilioKeyDetector

# detect-secrets plugins that recognise a credential by its shape alone. Left out: the entropy
# detectors (hashes, IDs and paths look random too), public IPs, and the keyword/context
# detectors written for source code lines (key names are checked below, field by field).
_DETECTORS: tuple[RegexBasedDetector, ...] = tuple(cls() for cls in (
    AWSKeyDetector, ArtifactoryDetector, AzureStorageKeyDetector, BasicAuthDetector, DiscordBotTokenDetector,
    GitHubTokenDetector, GitLabTokenDetector, JwtTokenDetector, MailchimpDetector, NpmDetector,
    OpenAIDetector, PrivateKeyDetector, PypiTokenDetector, SendGridDetector, SlackDetector,
    SquareOAuthDetector, StripeDetector, TelegramBotTokenDetector, TwilioKeyDetector))

# Their regular expressions, searched directly: a first match is enough (the plugins' findall
# would collect every match, and costs more on documents that have none).
_DETECTOR_PATTERNS = tuple((d, tuple(d.denylist)) for d in _DETECTORS)

TOKEN_PATTERNS = [
    re.compile(r"dapi[0-9a-f]{32}(-\d+)?"),          # Databricks personal access token
    re.compile(r"dose[0-9a-f]{32}"),                 # Databricks OAuth secret
    re.compile(r"gh[pousr]_[A-Za-z0-9]{36,}"),        # GitHub token
    re.compile(r"AKIA[0-9A-Z]{16}"),                 # AWS access key id
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"xox[abpr]-[A-Za-z0-9-]{10,}"),      # Slack token
]
# Shapes detect-secrets has no plugin for. A value that is a reference (`{{secrets/..}}`,
# `${VAR}`) is not a literal: the character classes exclude `{` and `$`.
EXTRA_PATTERNS = [
    re.compile(r"(?i)[;&?:\s]?(?:password|passwd|pwd)=[^;&\s{$'\"]"),   # JDBC / ODBC / connection strings
    re.compile(r"(?i)AccountKey=[^;\s{$]"),                             # Azure storage connection string
    re.compile(r"(?i)SharedAccessKey=[^;\s{$]"),                        # Azure Service Bus / Event Hubs
    re.compile(r"[?&]sig=[A-Za-z0-9%/+=]{16,}"),                        # Azure SAS token signature
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9\-._~+/]{12,}=*"),            # an Authorization header value
    re.compile(r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/]{16,}"),
    re.compile(r"https://[a-z0-9.-]+\.webhook\.office\.com/webhookb2/\S{16,}"),  # Teams webhook
    re.compile(r"(?i)://[^/\s:@{$]*:[^/\s@{$]+@"),                      # userinfo with a password in a URL
    re.compile(r"(?i)://(?:oauth2|x-access-token|git|pat|token)?:?gl(?:pat|dt|rt)-[A-Za-z0-9_\-]{10,}@"),
]
SECRET_KEY_RE = re.compile(
    r"password|passwd|secret|token|api[_-]?key|access[_-]?key|credential|private[_-]?key|account\.key|"
    r"(?:^|[_.\-])(?:pg)?pass(?:$|[_.\-])|pgpass|(?:^|[_.\-])pwd(?:$|[_.\-])|"
    r"(?:^|[_.\-])sas(?:$|[_.\-])|connection[_-]?string|"
    + "|".join(_ds_keyword.DENYLIST), re.IGNORECASE)
SECRET_REF_RE = re.compile(r"\{\{\s*secrets/[^/\s{}]+/[^}\s]+\s*\}\}")
PLACEHOLDER_RE = re.compile(r"^\$\{[a-z_]+:[^}]+\}$")
# A flag in task arguments whose next argument is its value (`--password hunter2`).
SECRET_FLAG_RE = re.compile(
    r"^-{1,2}(?:[\w.]*[-_.])?(?:password|passwd|pwd|pass|secret|token|api[-_]?key|access[-_]?key|credentials?|"
    r"client[-_]?secret)(?:[-_.][\w.-]*)?(?<![-_.]file)(?<![-_.]path)(?<![-_.]scope)(?<![-_.]name)$", re.IGNORECASE)
# Keys whose values are not secrets even though their names look like it (JobSettings fields).
NOT_SECRET_KEYS = frozenset({"max_tokens", "pwd", "oldpwd"})  # lower-case; PWD is the working directory
REDACTED = "(redacted)"
REDACTED_CHANGED = "(redacted, changed)"


def _strip_refs(text: str) -> str:
    """Secret-scope references are how secrets should be written: never a finding."""
    return SECRET_REF_RE.sub("", text) if "{{" in text else text


def shape_of(text: str) -> str | None:
    """The kind of credential a string holds by its shape, or None. Never the value itself."""
    text = _strip_refs(text)
    for pattern in TOKEN_PATTERNS:
        if pattern.search(text):
            return "token or key pattern"
    for pattern in EXTRA_PATTERNS:
        if pattern.search(text):
            return "credential pattern"
    for detector, patterns in _DETECTOR_PATTERNS:
        if any(p.search(text) for p in patterns) and (not isinstance(detector, JwtTokenDetector) or
                                                     any(True for _ in detector.analyze_string(text))):
            return detector.secret_type  # (the JWT plugin also checks the parts decode as JSON)
    return None


def keys_and_strings(settings: object) -> tuple[list[str], list[str]]:
    """Every mapping key and every string value of a settings tree, without their paths."""
    keys: list[str] = []
    strings: list[str] = []
    stack: list[object] = [settings]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            keys.extend(map(str, value))
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, str):
            strings.append(value)
    return keys, strings


def may_hold_secrets(keys: str | Iterable[str], strings: str) -> bool:
    """False when neither key names nor string values (joined into one text) can match: lets big
    documents skip the per-field walk. Key names repeat across documents: each is judged once."""
    names = set(keys.split("\n") if isinstance(keys, str) else keys)
    if any(map(secret_key, names)):
        return True
    if "default" in names and SECRET_KEY_RE.search(strings):  # a job parameter named like a secret
        return True
    return shape_of(strings) is not None or _has_secret_flag(strings)


def _has_secret_flag(strings: str) -> bool:
    return "-" in strings and any(SECRET_FLAG_RE.match(line.partition("=")[0])
                                  for line in strings.split("\n") if line[:1] == "-")


# Environment variables whose values databricks-sdk unified auth treats as credentials.
CREDENTIAL_ENV = ("DATABRICKS_TOKEN", "DATABRICKS_PASSWORD", "DATABRICKS_CLIENT_SECRET", "ARM_CLIENT_SECRET",
                  "DATABRICKS_GOOGLE_CREDENTIALS", "GOOGLE_CREDENTIALS", "SYSTEM_ACCESSTOKEN",
                  "AZURE_DEVOPS_EXT_PAT",
                  # AzureCLI@2 with addSpnToEnvironment: the federated token / the connection's secret
                  "idToken", "servicePrincipalKey")


# A key that names or identifies a credential holds its name, not the credential
# (Unity Catalog's `storage_credential_name` in a published job, issue 16's corpus).
NAMES_A_SECRET_RE = re.compile(r"[_-](name|id)$", re.IGNORECASE)


@functools.lru_cache(maxsize=1 << 14)
def secret_key(key: str) -> bool:
    """Is this key (a dict key, an env var name, a job parameter name) named like a secret?"""
    return bool(SECRET_KEY_RE.search(key)) and key.lower() not in NOT_SECRET_KEYS and not NAMES_A_SECRET_RE.search(key)


def _looks_literal(value: str) -> bool:
    """Numbers, booleans, empty strings and references are settings, not secrets (max_tokens: 512)."""
    v = _strip_refs(value).strip()
    return bool(v) and not v.replace(".", "", 1).isdigit() and v.lower() not in ("true", "false") and \
        not PLACEHOLDER_RE.match(v) and not (v.startswith("${") and v.endswith("}"))


_WHY_KEY = "a literal value under a key named like a secret ('{}'); use {{{{secrets/scope/key}}}}"


def find_secrets(value: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """(field path, why) for every value that looks like a secret. `why` never holds the value."""
    if isinstance(value, dict):
        # A job parameter {name: db_password, default: hunter2} is a key/value pair too.
        param = value.get("name") if isinstance(value.get("name"), str) and "default" in value else None
        for key, item in value.items():
            sub = f"{where}.{key}" if where else str(key)
            named = param if (key == "default" and param) else str(key)
            if isinstance(item, str) and secret_key(named) and _looks_literal(item):
                yield sub, _WHY_KEY.format(named)
                continue
            yield from find_secrets(item, sub)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            label = item.get("task_key", item.get("job_cluster_key", i)) if isinstance(item, dict) else i
            if isinstance(item, str) and SECRET_FLAG_RE.match(item) and i + 1 < len(value) and \
                    isinstance(value[i + 1], str) and _looks_literal(value[i + 1]):
                yield f"{where}[{i + 1}]", f"a literal value after the argument '{item}'; use {{{{secrets/scope/key}}}}"
                continue
            if isinstance(item, str) and "=" in item and item.startswith("-"):
                flag, _, rest = item.partition("=")
                if SECRET_FLAG_RE.match(flag) and _looks_literal(rest):
                    yield f"{where}[{label}]", f"a literal value in the argument '{flag}=…'; use {{{{secrets/scope/key}}}}"
                    continue
            yield from find_secrets(item, f"{where}[{label}]")
    elif isinstance(value, str):
        kind = shape_of(value)
        if kind:
            yield where, f"a value that looks like a credential ({kind})"


def secrets_in(settings: dict) -> list[tuple[str, str]]:
    """find_secrets of a whole settings tree, skipping the walk (which builds a path for every
    field) when the pathless prefilter finds nothing: most jobs hold no secret-like text."""
    keys, strings = keys_and_strings(settings)
    if not may_hold_secrets(keys, "\n".join(set(strings))):
        return []
    return list(find_secrets(settings))


def secret_value(path: str, value: Any) -> bool:
    """Would this value, found at this diff path, print a secret? (plan and drift redact it)"""
    if isinstance(value, str):
        return (secret_key(_last_key(path)) and _looks_literal(value)) or shape_of(value) is not None
    return False


def redact_settings(value: Any, key: str = "") -> Any:
    """A copy of a value with every secret-like leaf replaced by REDACTED (for whole added or
    removed subtrees in a diff)."""
    if isinstance(value, dict):
        param = value.get("name") if isinstance(value.get("name"), str) and "default" in value else None
        return {k: redact_settings(v, param if (k == "default" and param) else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        out, hide_next = [], False
        for item in value:
            out.append(REDACTED if hide_next and isinstance(item, str) else redact_settings(item, key))
            hide_next = isinstance(item, str) and bool(SECRET_FLAG_RE.match(item))
        return out
    if isinstance(value, str) and ((secret_key(key) and _looks_literal(value)) or shape_of(value) is not None):
        return REDACTED
    return value


def redact_change(path: str, before: Any, after: Any) -> tuple[Any, Any]:
    """(before, after) fit to print: a secret on either side shows as (redacted[, changed])."""
    if secret_value(path, before) or secret_value(path, after):
        return (REDACTED if before is not None else None), (REDACTED_CHANGED if after is not None else None)
    return redact_settings(before, _last_key(path)), redact_settings(after, _last_key(path))


def _last_key(path: str) -> str:
    return re.split(r"[.\[\]]", path.rstrip("]"))[-1] if path else ""


def known_secret_values() -> list[str]:
    values = [os.environ[name] for name in CREDENTIAL_ENV if len(os.environ.get(name, "")) >= 4]
    return sorted(set(values), key=len, reverse=True)


_URL_USERINFO_RE = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/\s@]+@")


def strip_userinfo(text: str) -> str:
    """`https://user:pass@host` -> `https://***@host` (credentials in URLs never print)."""
    return _URL_USERINFO_RE.sub(r"\1***@", text) if "@" in text else text


def redact(text: str) -> str:
    """Mask credential values from the environment, URL userinfo and anything shaped like a token."""
    for value in known_secret_values():
        text = text.replace(value, "***")
    for pattern in TOKEN_PATTERNS[:3]:
        text = pattern.sub("***", text)
    return strip_userinfo(text)


class RedactingFilter(logging.Filter):
    """Applied to every log handler bricksync installs: no secret, and no line a log reader
    (or Azure Pipelines) would take for another line or a command, reaches a log."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken log call must not break the run
            return True
        from .escape import log_text

        record.msg = log_text(redact(message))
        record.args = None
        return True
