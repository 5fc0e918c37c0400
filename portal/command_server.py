"""The command server: `kaifang sandbox-run` forked from a process that has already imported it.

`kaifang sandbox-run print(1)` spent most of its ~1 s importing (SQLAlchemy alone 0.45 s of
CPU on the slower 2-core class, its ORM and the models another 0.3 s, decision 0030v); a run
path without them would have to duplicate the services' data access. Instead, once a command
has run in its own process, it starts this server in the background: an interpreter that
imports the command's modules and configures the mappers, and then only forks. The next
`kaifang sandbox-run` from the same environment hands its arguments, working folder and
standard streams to it over a Unix socket, and the forked copy runs `portal.cli.main` exactly
as the command's own process would: the same configuration read, grant check, audit record,
budgets, broker and sandbox pool, each made anew in the copy. The client only waits for its
status.

What it holds, and who may use it:
- it reads no configuration, key or database before forking (like the sandbox zygote), and is
  started without the `KAIFANG_` variables: each command reads them in its own copy, from its
  client's environment, so a changed setting counts at the next command;
- its socket is in a 0700 folder of the user's (`XDG_RUNTIME_DIR`, else `TMPDIR`, else /tmp),
  and a connection from another user id (`SO_PEERCRED`) is closed unanswered;
- its socket's name is a digest of the interpreter, the installed packages' folder, every
  source file of `portal` and `sandbox` (path, size, modification time) and the environment
  (but the shell's own `_`, `PWD`, `OLDPWD`, `SHLVL`): an edited source, an upgraded package or another `KAIFANG_INSTANCE` makes another
  name, so a server never runs code or settings other than the client's own. A server with no
  command for `KAIFANG_COMMAND_SERVER_IDLE` seconds (600) exits; `KAIFANG_COMMAND_SERVER=off`
  turns it off (the tests do).

A command never runs twice: the client runs it in its own process only when no server
answered or before it has sent the go that the copy waits for (after the copy's process id).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import select
import signal
import socket
import stat
import struct
import sys
import sysconfig
from pathlib import Path

IDLE_SECONDS = 600
SPARE_DELAY = 0.5
PR_SET_PDEATHSIG = 1
SOCKET_PATH_MAX = 108  # sun_path, with its closing zero byte
START_SECONDS = 10.0  # a server that has not started the command by then is not waited for
PACKAGES = ("portal", "sandbox")
# What `kaifang sandbox-run` imports, up to the run's own lazy imports (the SQLite dialect,
# the sealing of the code): imported once here instead of in every command.
WARM = ("portal.cli", "portal.analysis.runtime", "portal.analysis.cli", "sqlalchemy.dialects.sqlite",
        "cryptography.fernet")
# Set by the shell for every command it starts; the copy takes the client's values of them anyway.
SHELL_ONLY = frozenset({"_", "OLDPWD", "PWD", "SHLVL"})
_ROOT = Path(__file__).resolve().parent.parent
_STARTED = "started"  # the copy's first message: its process id
IN_SERVER = False  # True in a command forked by the server: it never forwards or starts one


def enabled() -> bool:
    return os.environ.get("KAIFANG_COMMAND_SERVER", "on").strip().lower() not in {"off", "0", "false", "no"}


def runtime_dir() -> Path | None:
    """The user's own folder for sockets, or None when it is not private (then no server)."""
    # (not `tempfile.gettempdir`: its import, with `random` and `shutil`, is ~10 ms of the client)
    base = Path(os.environ.get("XDG_RUNTIME_DIR") or os.environ.get("TMPDIR") or "/tmp")  # noqa: S108
    folder = base / f"kaifang-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        info = folder.lstat()
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        return None
    return folder


def fingerprint(environ: dict[str, str]) -> str:
    """A digest of everything a forked command would otherwise differ from the client in."""
    digest = hashlib.sha256()
    purelib = sysconfig.get_paths()["purelib"]
    for part in (os.path.realpath(sys.executable), sys.prefix, purelib, str(os.stat(purelib).st_mtime_ns)):
        digest.update(part.encode() + b"\0")
    for package in PACKAGES:
        for folder, dirs, files in os.walk(_ROOT / package):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(files):
                if name.endswith(".py"):
                    info = os.stat(os.path.join(folder, name))
                    digest.update(f"{folder}/{name}\0{info.st_size}\0{info.st_mtime_ns}\0".encode())
    digest.update(json.dumps(sorted((k, v) for k, v in environ.items() if k not in SHELL_ONLY)).encode())
    return digest.hexdigest()[:32]


def socket_path() -> Path | None:
    """None without a private folder, or when the folder's path is too long for a socket's."""
    folder = runtime_dir()
    if folder is None:
        return None
    path = folder / f"cmd-{fingerprint(dict(os.environ))}.sock"
    return path if len(os.fsencode(path)) < SOCKET_PATH_MAX else None


# The client ---------------------------------------------------------------------------------


def forward(argv: list[str]) -> int | None:
    """Run `argv` in the server's copy and return its status; None when no server took it
    (the caller runs the command itself)."""
    path = socket_path() if enabled() else None
    if path is None:
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.settimeout(START_SECONDS)
        conn.connect(str(path))
        request = json.dumps({"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ),
                              "umask": _umask()}).encode()
        socket.send_fds(conn, [struct.pack("!I", len(request)) + request], [0, 1, 2])
        replies = conn.makefile("rb")
        first = replies.readline()
    except OSError:
        conn.close()
        return None
    if not first:
        return None  # the copy never started: nothing ran
    pid = json.loads(first)[_STARTED]
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda number, _frame: os.kill(pid, number))
    try:
        conn.sendall(b"1")  # the go: from here on the command is the copy's, never run here
    except OSError:
        return None
    conn.settimeout(None)
    last = replies.readline()
    if not last:
        sys.stderr.write("kaifang: the command server's copy ended without a status\n")
        return 1
    return json.loads(last)["exit"]


def start_in_background() -> None:
    """Start a server for this environment after a command that ran in its own process."""
    path = socket_path() if enabled() and not IN_SERVER else None
    if path is None:
        return
    import subprocess  # noqa: PLC0415 - not for a command the server takes

    idle = os.environ.get("KAIFANG_COMMAND_SERVER_IDLE") or str(IDLE_SECONDS)
    # The portal reads its KAIFANG_ variables (a secret key, a database URL) when a command
    # runs, from the copy's environment, which is its client's: the server needs none of them.
    env = {name: value for name, value in os.environ.items() if not name.startswith("KAIFANG_")}
    with contextlib.suppress(OSError, ValueError):
        subprocess.Popen([sys.executable, "-m", "portal.command_server", str(path), str(float(idle))],  # noqa: S603
                         env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True, close_fds=True)


def _umask() -> int:
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


# The server ---------------------------------------------------------------------------------


def serve(path: Path, idle: float) -> None:
    """Import, then keep one spare copy forked and waiting on the socket; fork the next when it
    takes a command, and leave (its spare with it) after `idle` seconds without one. One
    server per socket: the lock beside it is held for the server's life."""
    lock = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return  # another server has this socket
    try:
        if os.stat(f"{path}.lock").st_ino != os.fstat(lock).st_ino:
            return  # locked the file of a server that has just left (it unlinks it): a newer one has its own
    except FileNotFoundError:
        return
    os.ftruncate(lock, 0)
    os.write(lock, str(os.getpid()).encode())
    import importlib

    for module in WARM:
        importlib.import_module(module)
    from sqlalchemy.orm import configure_mappers

    from portal import import_models

    import_models()
    configure_mappers()
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(16)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the spares are reaped by the system
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # through `finally`: the spare ends too
    taken_read, taken_write = os.pipe()
    spare = None
    try:
        while True:
            spare = _fork_spare(listener, taken_read, taken_write, lock)
            ready, _, _ = select.select([taken_read, spare], [], [], idle)
            if taken_read not in ready:
                return  # idle, or the spare ended without a command (it could not start)
            os.read(taken_read, 1)
            os.close(spare)
            spare = None
    finally:
        # The socket, then the lock's file (each change of code or settings names a new pair, so
        # they would pile up): a server started meanwhile finds no file, makes its own and takes
        # its lock only now, after this one's socket is gone, so it cannot lose its own socket.
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{path}.lock")
        if spare is not None:
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(spare, signal.SIGTERM)


def _fork_spare(listener: socket.socket, taken_read: int, taken_write: int, lock: int | None = None) -> int:
    """Fork a spare copy; its pidfd, readable once it has ended. The spare does not keep the
    server's lock, which would outlive the server while the spare's command runs."""
    pid = os.fork()
    if pid == 0:
        os.close(taken_read)
        if lock is not None:
            os.close(lock)
        try:
            _spare(listener, taken_write)
        finally:
            os._exit(1)  # `_spare` leaves by os._exit itself; only an error gets here
    try:
        return os.pidfd_open(pid)
    except ProcessLookupError:  # the spare ended (and was reaped) at once: the server leaves
        raise SystemExit(1) from None


def _spare(listener: socket.socket, taken_write: int) -> None:
    """A copy waiting for a command. Its sandbox zygote boots while it waits, unless a command
    comes within SPARE_DELAY seconds (commands one after the other, the copy forked as the
    previous one started): then the command starts the zygote itself, as without a server."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _end_with_parent()
    waiting, _, _ = select.select([listener], [], [], SPARE_DELAY)
    if not waiting:
        from portal.analysis.runtime import prepare_zygote

        # A zygote that cannot start here is the command's to start and report, as without a
        # server; a spare that died of it would make every command start a server again.
        with contextlib.suppress(Exception):
            prepare_zygote()
    while True:
        conn, _ = listener.accept()
        if _peer_uid(conn) == os.getuid():
            break
        conn.close()
    listener.close()
    os.write(taken_write, b"1")
    os.close(taken_write)
    conn.settimeout(10)
    request, fds = _receive(conn)
    conn.sendall(json.dumps({_STARTED: os.getpid()}).encode() + b"\n")
    if conn.recv(1) != b"1":
        os._exit(0)  # the client went away before the command started: nothing ran
    conn.settimeout(None)
    _run(request, fds, conn)


def _end_with_parent() -> None:
    """A spare dies with its server, however the server ended (`PR_SET_PDEATHSIG`); one forked
    just as the server died ends at once."""
    import ctypes

    parent = os.getppid()
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    if os.getppid() != parent:
        os._exit(0)


def _peer_uid(conn: socket.socket) -> int:
    _, uid, _ = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
    return uid


def _receive(conn: socket.socket) -> tuple[dict, list[int]]:
    head, fds, _, _ = socket.recv_fds(conn, 4 + 65536, 3)
    if len(fds) != 3 or len(head) < 4:
        raise OSError("a request is its length, its JSON and three descriptors")
    size = struct.unpack("!I", head[:4])[0]
    body = bytearray(head[4:])
    while len(body) < size:
        chunk = conn.recv(size - len(body))
        if not chunk:
            raise OSError("the request ended early")
        body += chunk
    return json.loads(body), list(fds)


_connection: socket.socket | None = None  # the client of the command this copy runs


def report(code: int) -> None:
    """The command's status to its client, as the copy ends (`portal.cli._leave`, `_run`)."""
    global _connection
    if _connection is not None:
        with contextlib.suppress(OSError):
            _connection.sendall(json.dumps({"exit": code}).encode() + b"\n")
        _connection = None


def _run(request: dict, fds: list[int], conn: socket.socket) -> None:
    """The command: the client's streams, folder, umask, environment and arguments, then
    `kaifang` as its own program would run (`portal.cli.main`, which leaves by `os._exit`
    after `report`)."""
    global IN_SERVER, _connection
    IN_SERVER, _connection = True, conn
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    sys.stdout.reconfigure(line_buffering=os.isatty(1))
    os.chdir(request["cwd"])
    os.umask(request["umask"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = list(request["argv"])
    code = 1
    try:
        from portal.cli import main

        main()
        code = 0
    except SystemExit as exc:  # what the interpreter does with it at the end of a program
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if exc.code is not None and not isinstance(exc.code, int):
            sys.stderr.write(f"{exc.code}\n")
    except BaseException:  # noqa: BLE001 - reported as the interpreter would, then the status
        import traceback

        traceback.print_exc()
    finally:
        import atexit

        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
        report(code)
        os._exit(code)


if __name__ == "__main__":  # through the imported module, whose IN_SERVER `portal.cli` reads
    from portal.command_server import serve as _serve

    _serve(Path(sys.argv[1]), float(sys.argv[2]))
