"""Wall 2 for an unprivileged service user: production gunicorn does not run as root.

The test creates a system user (`kaifang-svc`), gives it a Python it may execute (a venv of the
system interpreter in a world-readable scratch folder, with copies of `sandbox/`,
RestrictedPython and pyseccomp: the project's own venv may live in a root-only home), and runs
a pool there with `runuser`. Every layer must come up active through a user namespace, a normal
run must succeed, and the probes an escaped analyst would try must all fail. Needs root to make
the user (skipped with the reason otherwise; required when CI=true, where the suite runs as root).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.conftest import IN_CI, ROOT

USER = "kaifang-svc"
SYSTEM_PYTHON = "/usr/bin/python3"

SCRIPT = r'''
import errno, json, os, socket, sys, tempfile
from sandbox import Sandbox, SandboxConfig, RunRequest
from sandbox.isolation import LAYERS, Confinement, confine

class NoData:
    def execute(self, plan):
        return {"status": "refused", "rule": "none", "reason": "no data"}

def in_child(layers, probe, root):
    # Fork, confine as a worker does, run plain (unrestricted) Python: an escaped analyst.
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)
            spec = Confinement(uid=60000, root=root, cpu_seconds=5, memory_bytes=512 << 20,
                               open_files=16, keep_fds=(write_end,), layers=frozenset(layers))
            report = confine(spec)
            try:
                outcome = probe()
            except OSError as exc:
                outcome = "OSError " + errno.errorcode.get(exc.errno, str(exc.errno))
            os.write(write_end, json.dumps({"report": report, "outcome": outcome}).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    message = json.loads(data) if data else {"report": None, "outcome": None}
    return [message["outcome"], os.WTERMSIG(status) if os.WIFSIGNALED(status) else None]

def chroot_escape():
    os.chmod("/", 0o755)
    os.mkdir("/x")
    os.chroot("/x")
    return "escaped"

root = tempfile.mkdtemp()
os.chmod(root, 0o555)
parent = os.getpid()
no_seccomp = [layer for layer in LAYERS if layer != "seccomp"]
probes = {
    "identity": in_child(LAYERS, lambda: [os.getuid(), os.getgid()], root),
    "list-root": in_child(no_seccomp, lambda: os.listdir("/"), root),
    "read-passwd": in_child(LAYERS, lambda: open("/etc/passwd").read(), root),
    "read-passwd-no-seccomp": in_child(no_seccomp, lambda: open("/etc/passwd").read(), root),
    "kill-parent": in_child(LAYERS, lambda: os.kill(parent, 0), root),
    "socket": in_child(LAYERS, lambda: socket.socket().fileno(), root),
    "chroot-escape": in_child(no_seccomp, chroot_escape, root),
    "fork": in_child(no_seccomp, lambda: os.fork(), root),
}
with Sandbox(SandboxConfig(workers=1)) as pool:
    layers = dict(pool.isolation)
    plain = pool.run(RunRequest(code="print(6 * 7)"), NoData())
print(json.dumps({"uid": os.geteuid(), "layers": layers, "unconfined": pool.unconfined(),
                  "plain": [plain.status, plain.stdout.strip()], "probes": probes}))
'''


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.origin is not None
    origin = Path(spec.origin)
    return origin.parent if origin.name == "__init__.py" else origin


def _ensure_user() -> None:
    if subprocess.run(["id", USER], capture_output=True, check=False).returncode != 0:
        subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                        "--shell", "/usr/sbin/nologin", USER], check=True)


@pytest.fixture(scope="module")
def service_env():
    if os.geteuid() != 0:
        if IN_CI:
            pytest.fail("the service-user test needs root under CI (to create the user)")
        pytest.skip("needs root to create a system user and run as it")
    if not Path(SYSTEM_PYTHON).exists() or shutil.which("runuser") is None:
        pytest.fail(f"{SYSTEM_PYTHON} and runuser are needed") if IN_CI else pytest.skip("no system python/runuser")
    _ensure_user()
    scratch = Path(tempfile.mkdtemp(prefix="kaifang-svc-"))
    scratch.chmod(0o755)
    subprocess.run([SYSTEM_PYTHON, "-m", "venv", "--without-pip", str(scratch / "venv")], check=True)
    site = Path(subprocess.run([str(scratch / "venv/bin/python"), "-c",
                                "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    for name in ("RestrictedPython", "pyseccomp"):
        source = _package_dir(name)
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, site / source.name)
    shutil.copytree(ROOT / "sandbox", scratch / "app" / "sandbox")
    (scratch / "app" / "check.py").write_text(SCRIPT, encoding="utf-8")
    subprocess.run(["chmod", "-R", "a+rX", str(scratch)], check=True)
    yield scratch
    shutil.rmtree(scratch, ignore_errors=True)


def test_every_layer_is_active_for_an_unprivileged_service_user(service_env):
    done = subprocess.run(["runuser", "-u", USER, "--", str(service_env / "venv/bin/python"), "-E", "-s",
                           str(service_env / "app/check.py")], capture_output=True, text=True,
                          cwd=service_env / "app", timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["uid"] != 0
    assert report["unconfined"] == []  # nothing missing: runs are not refused
    assert set(report["layers"].values()) <= {"active", "active (user namespace)"}, report["layers"]
    assert report["layers"]["namespaces"] == "active (user namespace)"
    assert report["layers"]["chroot"] == "active (user namespace)"
    assert report["layers"]["uid"] == "active (user namespace)"
    assert report["plain"] == ["ok", "42"]
    probes = report["probes"]
    assert probes["identity"] == [[60000, 60000], None], probes  # the slot's ids inside
    assert probes["list-root"] == [[], None]  # an empty chroot
    assert probes["read-passwd"] == ["OSError EPERM", None]  # seccomp
    assert probes["read-passwd-no-seccomp"] == ["OSError ENOENT", None]  # and the chroot alone
    assert probes["kill-parent"] == ["OSError EPERM", None]  # seccomp: same user outside
    assert probes["socket"][1] == 31  # SIGSYS: seccomp kills the worker
    # Without seccomp, the capability drop alone stops the classic chroot escape.
    assert probes["chroot-escape"] == ["OSError EPERM", None]
    assert probes["fork"] == ["OSError EAGAIN", None]  # RLIMIT_NPROC 0 holds in the namespace
