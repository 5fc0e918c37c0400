"""`kaifang sandbox-run` through the command server (decision 0030v), as an operator runs it: a
subprocess of the console's program, whose first run starts the server and whose next runs are
forked from it. Checked by what happened (outputs, statuses, audit records, which modules the
client imported), never by a timing."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from portal import command_server
from portal.accounts import service as accounts
from portal.analysis.keys import create_key_file
from portal.analysis.models import AnalysisRun
from portal.auth import SYSTEM
from portal.db import session_scope
from tests.conftest import ROOT, make_app

ANALYST = "server-analyst@example.org"
HEAVY = ("flask", "opendp", "numpy", "duckdb", "pyarrow")


@pytest.fixture
def operator(tmp_path):
    """An instance with one analyst, and a runner of `python -m portal.cli sandbox-run` in a
    private runtime folder; every server started in it is stopped afterwards."""
    app = make_app(tmp_path / "instance")
    create_key_file(Path(app.config["INSTANCE_PATH"]))
    with app.app_context(), session_scope(app) as session:
        accounts.create_user(session, SYSTEM, email=ANALYST, password="analyst-password", role="developer")
    runtime = Path(tempfile.mkdtemp(prefix="kf-", dir="/tmp"))  # a socket's path has at most 107 bytes
    env = {**os.environ, "KAIFANG_INSTANCE": app.instance_path, "KAIFANG_SECRET_KEY": app.config["SECRET_KEY"],
           "XDG_RUNTIME_DIR": str(runtime), "KAIFANG_COMMAND_SERVER": "on", "KAIFANG_COMMAND_SERVER_IDLE": "120"}

    def run(code: str, *, user: str = ANALYST, python_flags: tuple[str, ...] = (), **extra: str):
        source = tmp_path / "analysis.py"
        source.write_text(code, encoding="utf-8")
        return subprocess.run([sys.executable, *python_flags, "-m", "portal.cli", "sandbox-run", str(source),
                               "--user", user], env={**env, **extra}, cwd=ROOT, capture_output=True, text=True,
                              timeout=120, check=False)

    run.app, run.runtime = app, runtime
    yield run
    for lock in (runtime / f"kaifang-{os.getuid()}").glob("*.lock"):
        if (pid := lock.read_text().strip()).isdigit():
            _stop(int(pid))
    shutil.rmtree(runtime, ignore_errors=True)


def _stop(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(200):
        if not Path(f"/proc/{pid}").exists() or "Z" in _state(pid):
            return
        time.sleep(0.05)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return "Z"


def _server_processes(socket_path: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if str(socket_path) in cmdline and "Z" not in _state(int(entry.name)):
                found.append(int(entry.name))
    return found


def _imported(stderr: str) -> set[str]:
    return {line.split("|")[-1].strip() for line in stderr.splitlines() if line.startswith("import time:")}


def _runs(app) -> int:
    with app.app_context(), session_scope(app) as session:
        return session.scalar(select(func.count()).select_from(AnalysisRun))


def _wait_for_socket(runtime: Path) -> Path:
    folder = runtime / f"kaifang-{os.getuid()}"
    for _ in range(1200):
        sockets = list(folder.glob("*.sock")) if folder.exists() else []
        if sockets:
            return sockets[0]
        time.sleep(0.05)
    raise AssertionError("no command server started")


def test_the_next_runs_are_forked_from_the_server_with_the_same_checks_and_records(operator):
    first = operator("print(1)\n")
    assert first.returncode == 0 and first.stdout.splitlines()[-1] == "1", first.stdout + first.stderr
    socket_path = _wait_for_socket(operator.runtime)

    forwarded = operator("print(1)\n", python_flags=("-X", "importtime"))
    assert forwarded.returncode == 0 and forwarded.stdout.splitlines()[-1] == "1", forwarded.stderr[-2000:]
    client = _imported(forwarded.stderr)
    assert "portal.command_server" in client
    # the run happened in the server's copy: this process imported no database layer
    assert not {"sqlalchemy", "portal.analysis.cli", "portal.db", *HEAVY} & client

    failed = operator("x = 1 / 0\n")
    assert failed.returncode == 1 and "ZeroDivisionError" in failed.stdout
    refused = operator("print(1)\n", user="nobody@example.org")
    assert refused.returncode == 2 and "nobody@example.org" in refused.stderr
    # each run's audit record written once, by whichever process ran it; the refused one none
    assert _runs(operator.app) == 3

    pid = int(Path(f"{socket_path}.lock").read_text())
    assert _server_processes(socket_path)
    _stop(pid)
    for _ in range(100):  # the spare copy (and its sandbox zygote) end with the server
        if not _server_processes(socket_path):
            break
        time.sleep(0.05)
    assert _server_processes(socket_path) == []
    assert not socket_path.exists() and not Path(f"{socket_path}.lock").exists()  # nothing left to pile up


def test_without_the_server_print_1_loads_neither_flask_nor_the_numeric_packages(operator):
    """The command's own process (KAIFANG_COMMAND_SERVER=off, and every first run) imports what
    the run needs: no Flask, OpenDP, NumPy, DuckDB or pyarrow for code that reads no data."""
    done = operator("print(1)\n", python_flags=("-X", "importtime"), KAIFANG_COMMAND_SERVER="off")
    assert done.returncode == 0 and done.stdout.splitlines()[-1] == "1"
    imported = _imported(done.stderr)
    assert "sqlalchemy" in imported and "portal.analysis.cli" in imported
    assert not set(HEAVY) & imported
    assert not (operator.runtime / f"kaifang-{os.getuid()}").exists()  # and started no server


def test_the_socket_names_the_code_and_the_environment(tmp_path, monkeypatch):
    for package in command_server.PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "module.py").write_text("x = 1\n")
    monkeypatch.setattr(command_server, "_ROOT", tmp_path)
    env = {"KAIFANG_INSTANCE": "/srv/a", "_": "/usr/bin/kaifang", "PWD": "/home"}
    base = command_server.fingerprint(env)
    assert command_server.fingerprint({**env, "_": "/other", "PWD": "/tmp", "SHLVL": "3"}) == base
    assert command_server.fingerprint({**env, "KAIFANG_INSTANCE": "/srv/b"}) != base
    source = tmp_path / "sandbox" / "module.py"
    os.utime(source, ns=(source.stat().st_atime_ns, source.stat().st_mtime_ns + 1_000_000))
    assert command_server.fingerprint(env) != base


def test_no_server_in_a_folder_others_can_enter(tmp_path, monkeypatch):
    shared = tmp_path / f"kaifang-{os.getuid()}"
    shared.mkdir()
    shared.chmod(0o755)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    monkeypatch.setenv("KAIFANG_COMMAND_SERVER", "on")
    assert command_server.runtime_dir() is None
    assert command_server.forward(["kaifang", "sandbox-run", "x.py"]) is None
    shared.chmod(0o700)
    assert command_server.runtime_dir() == shared
    assert command_server.forward(["kaifang", "sandbox-run", "x.py"]) is None  # nobody listens there


SPARE_PROBE = """
import json, os, socket, struct, sys
from pathlib import Path
from portal import command_server as cs
cs.SPARE_DELAY = 60  # no sandbox zygote for this probe
folder = Path(sys.argv[1])
listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
listener.bind(str(folder / "probe.sock"))
listener.listen(4)
taken_read, taken_write = os.pipe()
report = {}
for go in (False, True):
    out = folder / f"out-{go}.txt"
    spare = cs._fork_spare(listener, taken_read, taken_write)
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.connect(str(folder / "probe.sock"))
    with open(out, "w") as stream:
        request = json.dumps({"argv": ["kaifang", "--help"], "cwd": "/", "env": dict(os.environ),
                              "umask": 0o022}).encode()
        socket.send_fds(client, [struct.pack("!I", len(request)) + request], [0, stream.fileno(), 2])
    replies = client.makefile("rb")
    started = json.loads(replies.readline())
    if go:
        client.sendall(b"1")
        status = json.loads(replies.readline())
    else:
        client.close()
        status = None
    os.waitid(os.P_PIDFD, spare, os.WEXITED)
    report[str(go)] = {"taken": os.read(taken_read, 1).decode(), "started": "started" in started,
                       "status": status, "ran": "Commands" in out.read_text()}
print(json.dumps(report))
"""


def test_a_spare_copy_runs_the_command_only_after_the_client_s_go(tmp_path):
    """A client that leaves between the copy's start message and its go runs the command itself
    (nothing ran in the copy), so a command never runs twice; with the go, the copy runs it on
    the client's streams and reports its status."""
    done = subprocess.run([sys.executable, "-c", SPARE_PROBE, str(tmp_path)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=True)
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["False"] == {"taken": "1", "started": True, "status": None, "ran": False}
    assert report["True"] == {"taken": "1", "started": True, "status": {"exit": 0}, "ran": True}
