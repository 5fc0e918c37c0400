"""Wall 2, one layer at a time: a forked child applies a single layer, then probes it.

Each probe is plain (unrestricted) Python in the child, the way code would behave after a
RestrictedPython escape. The child reports over a pipe; the parent checks the answer and the
exit status. Tests need root (they run as root here and in CI) and skip otherwise.
"""

import errno
import json
import os
import resource
import signal
import socket

import pytest

from sandbox.isolation import LAYERS, Confinement, confine

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the isolation layers need root")
UID = 60150


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    path = tmp_path_factory.mktemp("chroot")
    path.chmod(0o555)
    yield str(path)
    path.chmod(0o755)


def in_child(layers, probe, root):
    """Fork, confine with `layers`, run `probe()`; return (report, outcome, exit signal)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        try:
            os.close(read_end)
            spec = Confinement(uid=UID, root=root, cpu_seconds=5, memory_bytes=512 << 20,
                               open_files=16, keep_fds=(write_end,), layers=frozenset(layers))
            report = confine(spec)
            try:
                outcome = probe()
            except OSError as exc:
                outcome = f"OSError {errno.errorcode.get(exc.errno, exc.errno)}"
            os.write(write_end, json.dumps({"report": report, "outcome": outcome}).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    signum = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    message = json.loads(data) if data else {"report": None, "outcome": None}
    return message["report"], message["outcome"], signum


def test_without_layers_the_probes_succeed(root):
    report, outcome, _ = in_child([], lambda: [os.getuid(), len(os.listdir("/etc")) > 0], root)
    assert set(report.values()) == {"off"}
    assert outcome == [0, True]


def test_rlimits(root):
    def probe():
        limits = [resource.getrlimit(r) for r in (resource.RLIMIT_AS, resource.RLIMIT_CPU,
                                                  resource.RLIMIT_FSIZE, resource.RLIMIT_CORE,
                                                  resource.RLIMIT_NOFILE)]
        try:
            bytearray(600 << 20)
        except MemoryError:
            limits.append("MemoryError")
        return limits

    report, outcome, _ = in_child(["rlimits"], probe, root)
    assert report["rlimits"] == "active"
    assert outcome == [[512 << 20, 512 << 20], [5, 6], [0, 0], [0, 0], [16, 16], "MemoryError"]


def test_fsize_zero_makes_file_writes_fail(root, tmp_path):
    target = str(tmp_path / "out.txt")

    def probe():
        with open(target, "w") as handle:
            handle.write("x" * 10)
        return "written"

    # close_fds too: a test worker may hold more descriptors than the NOFILE limit allows.
    _, outcome, _ = in_child(["rlimits", "close_fds"], probe, root)
    assert outcome == "OSError EFBIG"


def test_close_fds_closes_inherited_descriptors(root, tmp_path):
    inherited = os.open(str(tmp_path), os.O_RDONLY)
    try:
        def probe():
            os.fstat(inherited)
            return "open"

        _, before, _ = in_child([], probe, root)
        _, after, _ = in_child(["close_fds"], probe, root)
    finally:
        os.close(inherited)
    assert before == "open"
    assert after == "OSError EBADF"


def test_network_namespace_cuts_loopback(root):
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]

        def probe():
            with socket.create_connection(("127.0.0.1", port), timeout=2):
                return "connected"

        _, before, _ = in_child([], probe, root)
        report, after, _ = in_child(["namespaces"], probe, root)
    assert before == "connected"
    assert report["namespaces"] == "active"
    assert after == "OSError ENETUNREACH"


def test_chroot_leaves_an_empty_root(root):
    def probe():
        listing = os.listdir("/")
        try:
            open("/etc/passwd").close()
        except FileNotFoundError:
            return [listing, "no /etc/passwd"]
        return [listing, "read /etc/passwd"]

    report, outcome, _ = in_child(["chroot"], probe, root)
    assert report["chroot"] == "active"
    assert outcome == [[], "no /etc/passwd"]


def test_uid_drop(root, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s")
    secret.chmod(0o600)

    def probe():
        ids = [os.getuid(), os.geteuid(), os.getgid(), os.getgroups()]
        try:
            os.setuid(0)
        except PermissionError:
            ids.append("setuid EPERM")
        try:
            os.kill(os.getppid(), 0)
        except PermissionError:
            ids.append("kill EPERM")
        open(str(secret)).close()
        return ids

    report, outcome, _ = in_child(["uid"], probe, root)
    assert report["uid"] == "active"
    assert outcome == "OSError EACCES"
    _, ids, _ = in_child(["uid"], lambda: [os.getuid(), os.geteuid(), os.getgid(), os.getgroups()],
                         root)
    assert ids == [UID, UID, UID, []]


def test_nproc_zero_after_the_uid_drop_stops_fork(root):
    def probe():
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        return "forked"

    report, outcome, _ = in_child(["uid", "nproc"], probe, root)
    assert report["nproc"] == "active"
    assert outcome == "OSError EAGAIN"
    report, outcome, _ = in_child(["nproc"], probe, root)
    assert report["nproc"].startswith("failed")  # ignored for root: reported, not hidden
    assert outcome == "forked"


def test_not_dumpable(root):
    import ctypes

    libc = ctypes.CDLL(None)
    report, outcome, _ = in_child(["no_dumpable"], lambda: libc.prctl(3, 0, 0, 0, 0), root)
    assert report["no_dumpable"] == "active"
    assert outcome == 0


def test_seccomp_denies_files_with_eperm(root, tmp_path):
    target = str(tmp_path / "x")
    report, outcome, _ = in_child(["seccomp"], lambda: os.open(target, os.O_WRONLY | os.O_CREAT),
                                  root)
    assert report["seccomp"] == "active"
    assert outcome == "OSError EPERM"


@pytest.mark.parametrize("attack", ["socket", "fork", "exec"])
def test_seccomp_kills_hostile_calls_with_sigsys(root, attack):
    def probe():
        if attack == "socket":
            socket.socket()
        elif attack == "fork":
            os.fork()
        else:
            os.execv("/bin/true", ["true"])
        return "survived"

    _, outcome, signum = in_child(["seccomp"], probe, root)
    assert outcome is None
    assert signum == signal.SIGSYS


def test_full_recipe_blocks_every_probe(root):
    def probe():
        results = [os.getuid()]
        for attempt in (lambda: open("/etc/passwd"), lambda: os.kill(1, 0),
                        lambda: os.open("/x", os.O_WRONLY | os.O_CREAT)):
            try:
                attempt()
                results.append("allowed")
            except OSError as exc:
                results.append(errno.errorcode[exc.errno])
        return results

    report, outcome, _ = in_child(LAYERS, probe, root)
    assert report == {layer: "active" for layer in LAYERS}
    assert outcome == [UID, "EPERM", "EPERM", "EPERM"]
    # A socket is a hostile call: the whole worker dies before it can report.
    _, outcome, signum = in_child(LAYERS, lambda: socket.socket(), root)
    assert outcome is None and signum == signal.SIGSYS


def test_seccomp_allows_rlimit_reads_of_itself_only(root):
    def probe():
        own = resource.getrlimit(resource.RLIMIT_NOFILE)
        try:
            resource.prlimit(os.getppid(), resource.RLIMIT_NOFILE)
        except OSError as exc:
            return [list(own), errno.errorcode[exc.errno]]
        return [list(own), "read the parent's limits"]

    _, outcome, _ = in_child(["rlimits", "seccomp"], probe, root)
    assert outcome == [[16, 16], "EPERM"]
