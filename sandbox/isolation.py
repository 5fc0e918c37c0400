"""Wall 2, the process: the OS layers a freshly forked worker puts around itself.

`confine(spec)` applies, in this order (research notes, section 6.3): rlimits, close inherited
descriptors, new net/mount/IPC/UTS namespaces, chroot into an empty 0555 directory, drop to a
per-slot uid with no groups, RLIMIT_NPROC 0 (only effective once not root), not dumpable,
die with the zygote, and last a seccomp allow-list. A layer the kernel refuses is recorded as
"failed: ..." and the rest still apply; the supervisor refuses to run code unless the operator
allowed that layer to be missing (fail closed, docs/sandbox.md). It must run before any
untrusted input is read, and everything the worker needs must already be imported.

Unprivileged service user (production gunicorn does not run as root): the namespaces are made
inside a new user namespace, whose uid map sends the slot's uid (60000 + slot, inside) to the
service user (outside); chroot then works with the namespace's own CAP_SYS_CHROOT, and the uid
layer drops every capability explicitly (a uid change inside the namespace does not, since the
mapped uid was never 0). Such layers report "active (user namespace)". What differs from root:
outside the namespace the worker *is* the service user, so signals and ptrace between it and
the portal are stopped by the seccomp filter and the not-dumpable flag, not by the uid.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
from collections.abc import Callable
from dataclasses import dataclass

from sandbox import syscalls

LAYERS = ("rlimits", "close_fds", "namespaces", "chroot", "uid", "nproc", "no_dumpable",
          "seccomp")
CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
NAMESPACES = CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
CAPABILITY_VERSION_3 = 0x20080522
IN_USER_NAMESPACE = "active (user namespace)"

_libc = ctypes.CDLL(None, use_errno=True)


@dataclass(frozen=True)
class Confinement:
    """What one worker needs to confine itself. `layers` may be a subset (tests, fallbacks)."""

    uid: int
    root: str
    cpu_seconds: int
    memory_bytes: int
    open_files: int
    keep_fds: tuple[int, ...]
    layers: frozenset[str] = frozenset(LAYERS)


def _libc_call(name: str, *args: int) -> None:
    if getattr(_libc, name)(*args) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))


def set_rlimits(spec: Confinement) -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_AS, (spec.memory_bytes, spec.memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (spec.cpu_seconds, spec.cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (spec.open_files, spec.open_files))


def close_fds(spec: Confinement) -> None:
    """Every descriptor but stdio and `keep_fds` is closed; then stdio becomes /dev/null.

    Closing first frees a low descriptor for /dev/null even when RLIMIT_NOFILE is already set
    and the parent held more descriptors than the limit.
    """
    low = 3
    for fd in sorted(spec.keep_fds):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 1 << 20)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    if null > 2:
        os.close(null)


class UserNamespaced(Exception):
    """A layer fully applied inside a user namespace (reported as IN_USER_NAMESPACE)."""


_mode = {"user_namespace": False}  # per worker process: set by unshare_namespaces


def _write_proc(name: str, text: str) -> None:
    fd = os.open(f"/proc/self/{name}", os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def unshare_namespaces(spec: Confinement) -> None:
    if os.geteuid() == 0:
        _libc_call("unshare", NAMESPACES)
        return
    # Not root: a user namespace makes the others (and chroot) possible unprivileged. Map only
    # the slot's uid and gid to ours (the one mapping an unprivileged process may write).
    outer_uid, outer_gid = os.geteuid(), os.getegid()
    _libc_call("unshare", CLONE_NEWUSER | NAMESPACES)
    _mode["user_namespace"] = True
    _write_proc("setgroups", "deny")
    _write_proc("uid_map", f"{spec.uid} {outer_uid} 1")
    _write_proc("gid_map", f"{spec.uid} {outer_gid} 1")
    raise UserNamespaced


def enter_chroot(spec: Confinement) -> None:
    os.chroot(spec.root)
    os.chdir("/")
    if _mode["user_namespace"]:
        raise UserNamespaced


class _CapHeader(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _CapData(ctypes.Structure):
    _fields_ = (("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32))


def drop_capabilities() -> None:
    """Clear the effective, permitted and inheritable sets (capset(2), version 3: two words)."""
    header = _CapHeader(CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    if _libc.capset(ctypes.byref(header), data) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))


def drop_uid(spec: Confinement) -> None:
    if _mode["user_namespace"]:
        # setgroups is denied in the namespace (and we hold no extra groups): ids, then caps.
        os.setresgid(spec.uid, spec.uid, spec.uid)
        os.setresuid(spec.uid, spec.uid, spec.uid)
        drop_capabilities()
        raise UserNamespaced
    os.setgroups([])
    os.setresgid(spec.uid, spec.uid, spec.uid)
    os.setresuid(spec.uid, spec.uid, spec.uid)


def forbid_processes(spec: Confinement) -> None:
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
    if os.geteuid() == 0:
        raise OSError("RLIMIT_NPROC is ignored for root")


def not_dumpable(spec: Confinement) -> None:
    _libc_call("prctl", PR_SET_DUMPABLE, 0, 0, 0, 0)
    # Die with the zygote. Set after the uid change, which clears the parent-death signal.
    _libc_call("prctl", PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)


def load_seccomp(spec: Confinement) -> None:
    syscalls.install()


_STEPS: dict[str, Callable[[Confinement], None]] = {
    "rlimits": set_rlimits, "close_fds": close_fds, "namespaces": unshare_namespaces,
    "chroot": enter_chroot, "uid": drop_uid, "nproc": forbid_processes,
    "no_dumpable": not_dumpable, "seccomp": load_seccomp,
}


def confine(spec: Confinement) -> dict[str, str]:
    """Apply the layers in order; return {layer: "active" | "off" | "failed: reason"}."""
    report = {}
    for layer in LAYERS:
        if layer not in spec.layers:
            report[layer] = "off"
            continue
        try:
            _STEPS[layer](spec)
        except UserNamespaced:
            report[layer] = IN_USER_NAMESPACE
        except (OSError, ValueError) as exc:
            report[layer] = f"failed: {exc}"
        else:
            report[layer] = "active"
    return report


def is_active(state: str | None) -> bool:
    return state in ("active", IN_USER_NAMESPACE)


def missing_layers(report: dict[str, str], required: frozenset[str] | set[str]) -> list[str]:
    """The required layers the report does not show active, as "layer (state)"."""
    return [f"{layer} ({report.get(layer, 'unknown')})" for layer in LAYERS
            if layer in required and not is_active(report.get(layer))]


def fully_confined(report: dict[str, str]) -> bool:
    return all(is_active(report.get(layer)) for layer in LAYERS)
