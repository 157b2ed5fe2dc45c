"""Where the judge's child processes run: a bubblewrap sandbox (no network, an empty private
/tmp, no home, no data, the repository reduced to the runner's side of harness/ and, for the
builder only, the one candidate file, read-only), or a plain child process when the sandbox cannot be had and the
user accepts that."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ISOLATIONS = ("auto", "sandbox", "process")
ROOT_INSIDE = "/mnist8k"  # where the reduced repository appears inside the sandbox
REPO_ROOT = Path(__file__).resolve().parents[2]
# Read-only system folders Python, torch and their shared libraries need; none holds MNIST.
SYSTEM_PATHS = (
    "/usr",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/alternatives",
    "/sys/devices/system/cpu",
    "/sys/fs/cgroup",
)
MERGED_USR = ("/bin", "/lib", "/lib32", "/lib64", "/sbin")


class SandboxError(RuntimeError):
    """The sandbox was asked for and cannot be set up here; the message says what to install."""


@dataclass(frozen=True)
class Isolation:
    """How runners are started in this session, and why."""

    mode: str  # "sandbox" or "process"
    reason: str  # one line: what was chosen and why

    @property
    def sandboxed(self) -> bool:
        return self.mode == "sandbox"


@functools.cache
def probe() -> str | None:
    """None when bubblewrap can start a sandbox here, else why not (one line)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    cmd = [bwrap, *_namespace_flags(), *_system_binds(), "--", "/bin/true"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as e:
        return f"bubblewrap could not be started ({e})"
    if done.returncode != 0:
        said = " ".join(done.stderr.split())[:200]
        return (
            f"bubblewrap cannot create namespaces here ({said}); on Ubuntu 24.04 run "
            f"`sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`, in a container allow user namespaces"
        )
    return None


def choose(asked: str = "auto", *, ci: bool | None = None) -> Isolation:
    """auto: the sandbox where it works; else a plain process, except in CI, where that is an error."""
    if asked not in ISOLATIONS:
        raise SandboxError(f"isolation {asked!r} is not one of {', '.join(ISOLATIONS)}")
    ci = os.environ.get("CI", "").lower() in ("1", "true", "yes") if ci is None else ci
    if asked == "process":
        if ci:
            raise SandboxError(
                "isolation 'process' was asked for with CI=true: a gate in CI judges "
                "untrusted candidates and must sandbox them; drop --isolation=process"
            )
        return Isolation(
            "process",
            "plain child process, as asked (--isolation=process): candidate code "
            "runs with your rights and could read the test labels",
        )
    why_not = probe()
    if why_not is None:
        return Isolation("sandbox", "bubblewrap sandbox: no network, no data, read-only harness and candidate")
    if asked == "sandbox" or ci:
        raise SandboxError(
            f"the runner sandbox cannot be set up: {why_not}"
            + ("; with CI=true the gate does not run unsandboxed" if ci else "")
        )
    return Isolation(
        "process",
        f"NOT SANDBOXED: {why_not}; candidate code runs with your rights (--isolation=sandbox makes this an error)",
    )


def _namespace_flags() -> list[str]:
    # A new session: the runner cannot push keystrokes into the judge's terminal.
    return [
        "--unshare-all",
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--tmpfs",
        "/tmp",
        "--dir",
        "/home",
        "--chdir",
        "/tmp",
    ]


def _system_binds() -> list[str]:
    args = []
    for path in SYSTEM_PATHS:
        if os.path.exists(path):
            args += ["--ro-bind", path, path]
    for path in MERGED_USR:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    return args


def _python_binds() -> list[str]:
    """The interpreter and its packages, at their own paths, so compiled extensions find theirs."""
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable))}
    roots |= {p for p in sys.path if p.endswith(("site-packages", "dist-packages")) and os.path.isdir(p)}
    args = []
    for root in sorted(r for r in roots if not r.startswith("/usr")):
        args += ["--ro-bind", root, root]
    return args


def _device_binds(device: str) -> list[str]:
    if not device.startswith("cuda"):
        return []
    nodes = [f"/dev/{n}" for n in sorted(os.listdir("/dev")) if n.startswith("nvidia")]
    args = []
    for node in nodes + (["/dev/dri"] if os.path.exists("/dev/dri") else []):
        args += ["--dev-bind", node, node]
    # The driver's libraries live under /usr on most systems; /proc/driver names the GPUs.
    return args


ROLES = {"builder": "harness.runner.builder", "trainer": "harness.runner.trainer"}
# What of harness/ a runner sees: its own side and what it imports (tests/test_layout.py keeps the
# runner's imports inside these); the judge, the reports and the CLI stay outside the sandbox.
RUNNER_PARTS = ("__init__.py", "runner", "engine", "records")


def runner_command(
    role: str,
    isolation: Isolation,
    *,
    candidate_file: Path | None = None,
    device: str = "cpu",
    env: dict[str, str] | None = None,
) -> tuple[list[str], dict[str, str], str]:
    """(argv, environment, the candidate file's path as the process sees it, or "").

    The builder runs the candidate's code: it sees RUNNER_PARTS of harness/ and the one candidate
    file, and no device (it traces on the CPU). The trainer runs no candidate code and sees
    RUNNER_PARTS only, and the device it trains on."""
    # USER and LOGNAME: the sandbox has no passwd entry, and torch.export (2.9) asks getpass for a name.
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": "/home",
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "USER": "mnist8k",
        "LOGNAME": "mnist8k",
        **(env or {}),
    }
    if role not in ROLES:
        raise ValueError(f"unknown process role {role!r}")
    root = ROOT_INSIDE if isolation.sandboxed else str(REPO_ROOT)
    inside_file = ""
    if candidate_file is not None:
        candidate_file = Path(candidate_file).resolve()
        inside_file = f"{ROOT_INSIDE}/models/{candidate_file.name}" if isolation.sandboxed else str(candidate_file)
    python = [
        sys.executable,
        "-I",
        "-c",
        f"import sys; sys.path.insert(0, {root!r}); from {ROLES[role]} import main; sys.exit(main())",
    ]
    if not isolation.sandboxed:
        return python, {**os.environ, **env}, inside_file
    mounts = []
    for part in RUNNER_PARTS:
        mounts += ["--ro-bind", str(REPO_ROOT / "harness" / part), f"{ROOT_INSIDE}/harness/{part}"]
    if role == "builder":
        if candidate_file is not None:
            mounts += ["--ro-bind", str(candidate_file), inside_file]
    else:
        mounts += _device_binds(device)
    argv = [
        "bwrap",
        *_namespace_flags(),
        *_system_binds(),
        *_python_binds(),
        *mounts,
        "--clearenv",
        *[a for k, v in env.items() for a in ("--setenv", k, v)],
        "--",
        *python,
    ]
    return argv, env, inside_file
