"""Secret detection (issue 14.5) and redaction of prod values in plans (14.6). Pure functions,
plus export/validate/plan end to end. Every credential below is made up."""

from __future__ import annotations

import base64
import json
import time

import pytest

from bricksync.core.plan import field_changes
from bricksync.core.secrets import find_secrets, may_hold_secrets, redact

JWT = ".".join(base64.urlsafe_b64encode(json.dumps(part).encode()).decode().rstrip("=")
               for part in ({"alg": "HS256", "typ": "JWT"}, {"sub": "svc", "iat": 1700000000})) + ".c2lnbmF0dXJlLXZhbHVl"
ACCOUNT_KEY = "Zm9vYmFy" * 11  # 88 characters, the shape of a storage account key

# (case id, settings, field the finding must name, the literal that must never be printed)
LEAKS = [
    ("env-db-pass", {"spark_env_vars": {"DB_PASS": "s3cr3t-Value"}}, "spark_env_vars.DB_PASS", "s3cr3t-Value"),
    ("env-pgpass", {"spark_env_vars": {"PGPASS": "pgpw-4711"}}, "spark_env_vars.PGPASS", "pgpw-4711"),
    ("env-snowflake-pwd", {"spark_env_vars": {"SNOWFLAKE_PWD": "snow-pw-1"}}, "spark_env_vars.SNOWFLAKE_PWD", "snow-pw-1"),
    ("jdbc-password", {"spark_conf": {"spark.db.url": "jdbc:postgresql://db:5432/x?user=etl&password=Hunter22"}},
     "spark_conf.spark.db.url", "Hunter22"),
    ("jdbc-sqlserver", {"description": "jdbc:sqlserver://h;database=d;user=u;password=Pw0rd!x;"}, "description", "Pw0rd!x"),
    ("azure-account-key", {"spark_env_vars": {"STORAGE": "DefaultEndpointsProtocol=https;AccountName=acc;"
                                                         f"AccountKey={ACCOUNT_KEY};EndpointSuffix=core.windows.net"}},
     "spark_env_vars.STORAGE", ACCOUNT_KEY),
    ("sas-token", {"parameters": [{"name": "src", "default": "https://acc.blob.core.windows.net/c?sv=2022-11-02&ss=b"
                                                             "&sig=AbCdEf0123456789abcdefXYZ%3D"}]},
     "parameters[0].default", "AbCdEf0123456789abcdefXYZ"),
    ("slack-webhook", {"webhook_url": "https://hooks.slack.com/services/T0123ABCD/B0456EFGH/abcdefghijklmnopqrstuvwx"},
     "webhook_url", "abcdefghijklmnopqrstuvwx"),
    ("jwt", {"tasks": [{"task_key": "t", "notebook_task": {"base_parameters": {"auth_header_value": JWT}}}]},
     "tasks[t].notebook_task.base_parameters.auth_header_value", JWT),
    ("bearer", {"tasks": [{"task_key": "t", "notebook_task": {"base_parameters": {"hdr": "Bearer abcDEF123456ghiJKL"}}}]},
     "tasks[t].notebook_task.base_parameters.hdr", "abcDEF123456ghiJKL"),
    ("url-userinfo", {"tasks": [{"task_key": "t", "spark_python_task": {
        "python_file": "x.py", "parameters": ["--source", "https://svc:Pa55word@api.example.com/v1"]}}]},
     "tasks[t].spark_python_task.parameters[1]", "Pa55word"),
    ("gitlab-oauth2", {"git_source": {"git_url": "https://oauth2:glpat-AbCdEfGh1234567890xy@gitlab.example.com/g/r.git",
                                      "git_provider": "gitLab"}}, "git_source.git_url", "glpat-AbCdEfGh1234567890xy"),
    ("password-arg", {"tasks": [{"task_key": "load", "spark_python_task": {
        "python_file": "x.py", "parameters": ["--user", "etl", "--password", "hunter2"]}}]},
     "tasks[load].spark_python_task.parameters[3]", "hunter2"),
    ("password-arg-equals", {"tasks": [{"task_key": "load", "python_wheel_task": {
        "package_name": "p", "entry_point": "m", "parameters": ["--db-password=hunter3"]}}]},
     "tasks[load].python_wheel_task.parameters[0]", "hunter3"),
    ("token-arg-equals", {"tasks": [{"task_key": "load", "spark_jar_task": {
        "main_class_name": "M", "parameters": ["--api-token=tok-9a8b7c"]}}]},
     "tasks[load].spark_jar_task.parameters[0]", "tok-9a8b7c"),
    ("job-parameter-named-password", {"parameters": [{"name": "db_password", "default": "hunter4"}]},
     "parameters[0].default", "hunter4"),
    ("docker-basic-auth", {"job_clusters": [{"job_cluster_key": "c", "new_cluster": {"docker_image": {
        "url": "r/i", "basic_auth": {"username": "u", "password": "dockpw"}}}}]},
     "job_clusters[c].new_cluster.docker_image.basic_auth.password", "dockpw"),
    ("github-token", {"description": "ghp_" + "a1B2" * 9}, "description", "ghp_"),
]

# Values that must pass: references, shell variables, ordinary settings.
CLEAN = [
    {"spark_env_vars": {"DB_PASS": "{{secrets/db/pass}}", "PGPASS": "{{ secrets/pg/pass }}",
                        "SNOWFLAKE_PWD": "${SNOWFLAKE_PWD}", "PWD": "/tmp", "HOME": "${HOME}"}},
    {"spark_conf": {"spark.db.url": "jdbc:postgresql://db/x?user=etl&password={{secrets/db/pw}}"}},
    {"spark_env_vars": {"CONN": "DefaultEndpointsProtocol=https;AccountName=a;AccountKey={{secrets/st/key}}"}},
    {"tasks": [{"task_key": "t", "spark_python_task": {"python_file": "x.py",
                                                       "parameters": ["--password", "{{secrets/a/b}}", "--verbose"]}}]},
    {"git_source": {"git_url": "https://github.com/org/repo.git", "git_provider": "gitHub"}},
    {"parameters": [{"name": "run_date", "default": "${run_date}"}, {"name": "db_password", "default": ""}]},
    {"tasks": [{"task_key": "t", "spark_python_task": {"python_file": "x.py", "parameters": [
        "--passthrough-args", "a b", "--token-file", "/dbfs/tok", "--secret-scope", "kv", "--bypass", "x"]}}]},
    {"max_concurrent_runs": 1, "tags": {"token_budget": "512", "team": "sales"},
     "description": "Reads https://example.com/docs and writes /Volumes/main/x"},
]


@pytest.mark.parametrize("case,settings,field,value", LEAKS, ids=[c[0] for c in LEAKS])
def test_credential_shapes_are_found_and_named_without_their_value(case: str, settings: dict, field: str,
                                                                   value: str) -> None:
    found = list(find_secrets(settings))
    assert field in [where for where, _ in found], (case, found)
    assert all(value not in why for _, why in found)


@pytest.mark.parametrize("settings", CLEAN)
def test_references_and_ordinary_values_pass(settings: dict) -> None:
    assert list(find_secrets(settings)) == []


def test_the_fast_prefilter_never_hides_a_finding() -> None:
    from bricksync.core.validate import keys_and_strings

    for _, settings, _, _ in LEAKS:
        keys, strings = keys_and_strings(settings)
        assert may_hold_secrets("\n".join(keys), "\n".join(strings)), settings


def test_checking_10000_clean_documents_is_fast() -> None:
    """validate is a pre-commit hook and plan checks 10k files: the prefilter must stay cheap."""
    from bricksync.core.validate import _clean_strings

    doc = {"name": "Daily sales ETL", "tags": {"team": "sales", "cost-center": "cc-4711"},
           "job_clusters": [{"job_cluster_key": "etl", "new_cluster": {
               "spark_version": "15.4.x-scala2.12", "node_type_id": "Standard_DS3_v2", "num_workers": 4,
               "spark_conf": {"spark.sql.shuffle.partitions": "200", "spark.databricks.delta.optimizeWrite": "true"},
               "spark_env_vars": {"LOG_DIR": "${HOME}/logs", "ENV": "prod"}, "instance_pool_id": "${pool:dev-pool}"}}],
           "tasks": [{"task_key": f"t{i}", "job_cluster_key": "etl", "notebook_task": {
               "notebook_path": f"/Workspace/dev/sales/step_{i}", "base_parameters": {"date": "{{job.start_time}}"}},
               "depends_on": [{"task_key": f"t{i - 1}"}] if i else []} for i in range(8)],
           "schedule": {"quartz_cron_expression": "0 0 2 * * ?", "timezone_id": "UTC"}}
    started = time.perf_counter()
    for _ in range(10_000):
        assert _clean_strings(doc)
    elapsed = time.perf_counter() - started
    assert elapsed < 20, f"{elapsed:.2f}s for 10,000 documents"  # ~2 s here (0.3 s before detect-secrets)


# --- 14.6: secrets that live in prod never print ---------------------------------------

@pytest.mark.parametrize("live,desired,path", [
    ({"spark_env_vars": {"DB_PASS": "old-prod-pw"}}, {"spark_env_vars": {"DB_PASS": "{{secrets/db/pw}}"}},
     "spark_env_vars.DB_PASS"),
    ({"spark_env_vars": {"X": "Bearer abcDEF123456ghiJKL"}}, {"spark_env_vars": {"X": "none"}}, "spark_env_vars.X"),
    ({"description": "jdbc:mysql://h/d?password=old-prod-pw"}, {"description": "moved"}, "description"),
    ({"spark_env_vars": {"A": "1", "PGPASS": "old-prod-pw"}}, {}, "spark_env_vars"),
])
def test_plan_diffs_redact_prod_secrets(live: dict, desired: dict, path: str) -> None:
    changes = field_changes(live, desired)
    assert [c.path for c in changes] == [path]
    text = json.dumps([c.__dict__ for c in changes]) + "".join(c.describe() for c in changes)
    assert "old-prod-pw" not in text and "abcDEF123456ghiJKL" not in text
    assert "(redacted" in text


def test_redact_strips_url_userinfo() -> None:
    assert redact("GET https://me:pw@adb-1.azuredatabricks.net/api failed") == \
        "GET https://***@adb-1.azuredatabricks.net/api failed"


def test_export_and_validate_refuse_the_new_shapes_without_printing_them(project) -> None:
    from .conftest import Project

    p: Project = project
    p.test.client().api_client.do("POST", "/api/2.2/jobs/create", body={
        "name": "Leaky", "tags": {"PROD_MIGRATION": "true"},
        "job_clusters": [{"job_cluster_key": "c", "new_cluster": {
            "spark_version": "15.4.x-scala2.12", "num_workers": 1, "spark_env_vars": {"PGPASS": "pgpw-4711"}}}],
        "tasks": [{"task_key": "t", "job_cluster_key": "c", "spark_python_task": {
            "python_file": "/Workspace/dev/x.py", "parameters": ["--password", "hunter2"]}}]})
    res = p.run("export", "--no-ack")
    assert res.code == 1 and p.state_files == {}
    assert "job_clusters[c].new_cluster.spark_env_vars.PGPASS" in res.output
    assert "tasks[t].spark_python_task.parameters[1]" in res.output
    assert "pgpw-4711" not in res.output and "hunter2" not in res.output
    jobs = p.root / "state" / "jobs"
    jobs.mkdir(parents=True, exist_ok=True)
    (jobs / "hand.yml").write_text("bricksync:\n  key: hand\njob:\n  name: Hand\n  description: "
                                   "jdbc:postgresql://db/x?user=a&password=Hunter22\n")
    res = p.run("validate")
    assert res.code == 1 and "hand.yml" in res.output and "field 'description'" in res.output
    assert "Hunter22" not in res.output
