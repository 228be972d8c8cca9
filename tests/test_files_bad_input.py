"""Issue 21, bad input: each a clear error naming the path and the job, and nothing written for it."""

from __future__ import annotations

import base64
import os

from .conftest import Project
from .filesetup import PY, add_job, files_project_fixture, nb, put  # noqa: F401  (the files_project fixture)
from .test_files_export import files_of


def export(p: Project):
    return p.run("export", "--branch", "export-1")


def test_export_rejects_the_jobs_whose_files_cannot_be_stored(files_project: Project) -> None:
    p = files_project
    ws = p.test.workspace
    put(p.test, "/Workspace/dev/case/Util", PY + b"a\n")
    put(p.test, "/Workspace/dev/case/util", PY + b"b\n")
    add_job(p.test, "Case clash", [nb("a", "/Workspace/dev/case/Util"), nb("b", "/Workspace/dev/case/util")])
    put(p.test, "/Workspace/dev/ext/x", PY + b"n\n")  # a notebook x is stored as x.py ...
    put(p.test, "/Workspace/dev/ext/x.py", b"f\n", language=None)  # ... and so is a file x.py
    add_job(p.test, "Ext clash", [nb("a", "/Workspace/dev/ext/x"),
                                  {"task_key": "b", "spark_python_task": {"python_file": "/Workspace/dev/ext/x.py"}}])
    put(p.test, "/Workspace/dev/bin/latin1", PY + b"caf\xe9\n")
    add_job(p.test, "Not UTF-8", [nb("a", "/Workspace/dev/bin/latin1")])
    put(p.test, "/Workspace/dev/big/data.csv", b"x", language=None)
    ws.objects["/dev/big/data.csv"]["content"] = base64.b64encode(b"1" * (10 * 1024 * 1024 + 1)).decode()
    add_job(p.test, "Too big", [{"task_key": "a", "spark_python_task": {"python_file": "/Workspace/dev/big/data.csv"}}])
    add_job(p.test, "Escapes", [nb("a", "/Workspace/dev/../prod/x")])
    add_job(p.test, "Missing", [nb("a", "/Workspace/dev/nowhere/nb")])
    put(p.test, "/Workspace/dev/sec/creds", PY + b"x = 1\ntoken = 'dapi0123456789abcdef0123456789abcdef'\n")
    add_job(p.test, "Secret", [nb("a", "/Workspace/dev/sec/creds")])
    res = export(p)
    assert res.code == 1, res.output
    out = " ".join(res.output.split())
    for job, words in (("Case clash", "differ only in case"), ("Ext clash", "both are named"),
                       ("Not UTF-8", "not UTF-8"), ("Too big", "over the workspace"),
                       ("Escapes", "outside the notebook root"), ("Missing", "does not exist in the source"),
                       ("Secret", "line 3")):
        assert job in out and words in out, (job, words, res.output)
    assert "dapi0123" not in res.output  # the value is never printed
    names = files_of(p)
    assert not any(n.startswith(("case/", "ext/", "bin/", "big/", "sec/")) for n in names), names
    assert "sales/ingest.py" in names  # the good jobs still export
    state = {f.name for f in (p.root / "state" / "jobs").iterdir()}
    assert not any(k.startswith(("case-clash", "secret", "too-big")) for k in state), state


def test_validate_checks_state_files_offline(files_project: Project) -> None:
    p = files_project
    assert export(p).code == 0
    p.repo.git.checkout("export-1")
    files = p.root / "state" / "files"
    assert p.run("validate").code == 0
    (files / "lib" / "util.py").unlink()  # a state file deleted while its job still uses it
    (files / "stray.py").write_bytes(PY + b"print(1)\n")  # no job uses it
    (files / "sales" / "creds.py").write_bytes(PY + b"# MAGIC %run ./nothing\npassword = 'hunter22'\n")
    os.symlink("/etc/passwd", files / "sales" / "link.py")
    os.mkfifo(files / "sales" / "pipe.py")
    res = p.run("validate")
    assert res.code == 1, res.output
    out = " ".join(res.output.split())
    assert "/Workspace/dev/lib/util, which has no file in state/files/" in out and "Sales report" in out
    assert "stray.py" in out and "no job in state/ uses this file" in out
    assert "creds.py" in out and "line 3" in out and "hunter22" not in out
    assert "link.py" in out and "symbolic link" in out and "pipe.py" in out
    res = p.run("plan", "--target", "prod")  # plan refuses the same, before any workspace write
    assert res.code == 1 and "symbolic link" in res.output, res.output
