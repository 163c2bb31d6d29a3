"""Private files, the home lock and the server's system user, for the embedded PostgreSQL.

Everything the embedded server keeps is reachable only by its owner: state files are created
0600, directories 0700, and nothing outside ``MILKBOT_HOME`` has its permissions changed. When
Milkbot runs as root, PostgreSQL (which refuses to run as root) runs as the system user
:data:`SERVER_USER` with that user's own group and no supplementary groups, and the home is
handed to that group for passage only (mode 0710).
"""

from __future__ import annotations

import errno
import fcntl
import os
import pwd
import stat
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

SERVER_USER = "embedded_postgres"
LOCK_TIMEOUT_S = 180.0


class PrivateError(RuntimeError):
    """The home or a file in it cannot be made private; the message says what to change."""


@dataclass(frozen=True, slots=True)
class RunAs:
    """Who the server's programs run as: None for the current user (not root), else a system
    user with its own primary group and no supplementary groups."""

    uid: int | None = None
    gid: int | None = None
    name: str | None = None

    @classmethod
    def for_current_user(cls) -> RunAs:
        """The current user unless it is root; then :data:`SERVER_USER`, created if missing."""
        if os.geteuid() != 0:
            return cls()
        entry = _ensure_system_user(SERVER_USER)
        return cls(entry.pw_uid, entry.pw_gid, SERVER_USER)

    def run(self, args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        """``subprocess.run(args, check=True, text=True, capture_output=True)`` as this user."""
        if self.uid is not None:
            kwargs.update(user=self.uid, group=self.gid, extra_groups=[])
        return subprocess.run(args, check=True, text=True, capture_output=True, **kwargs)  # type: ignore[call-overload, no-any-return]

    def chown(self, path: Path) -> None:
        """Give ``path`` (not following symlinks) to this user and group; no-op for oneself."""
        if self.uid is not None and self.gid is not None:
            os.chown(path, self.uid, self.gid, follow_symlinks=False)

    def can_enter(self, path: Path) -> bool:
        """Whether this user may pass through every directory down to ``path``."""
        if self.uid is None:
            return os.access(path, os.X_OK)
        try:
            self.run(["test", "-x", str(path)])
        except subprocess.CalledProcessError:
            return False
        return True

    def first_barrier(self, path: Path) -> Path | None:
        """The first directory on the way to ``path`` that this user cannot pass, or None."""
        for step in [*reversed(path.parents), path]:
            if not self.can_enter(step):
                return step
        return None


def _ensure_system_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    subprocess.run(
        [
            "useradd",
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            name,
        ],
        check=True,
        capture_output=True,
    )
    return pwd.getpwnam(name)


def prepare_home(home: Path, run_as: RunAs) -> None:
    """Create ``home`` (0700; as root, 0710 with the server's group so that user can pass
    through it and nothing more) and check the server user can reach it. An existing home keeps
    its mode unless the server user cannot enter it; a world-writable one is refused."""
    created = False
    try:
        home.mkdir(mode=0o700, parents=True)
        created = True
    except FileExistsError:
        pass
    info = home.stat()
    if not stat.S_ISDIR(info.st_mode):
        raise PrivateError(f"MILKBOT_HOME={home} is not a directory")
    if info.st_mode & stat.S_IWOTH:
        raise PrivateError(
            f"MILKBOT_HOME={home} is writable by every user (mode {stat.S_IMODE(info.st_mode):o});"
            " give Milkbot a directory of its own"
        )
    if run_as.uid is None:
        if created:
            home.chmod(0o700)
        return
    assert run_as.gid is not None
    if created or not run_as.can_enter(home):
        # The server's group may pass through the home, nothing more (it owns pgdata below).
        os.chown(home, -1, run_as.gid)
        home.chmod(0o710 if created else (stat.S_IMODE(info.st_mode) & ~0o070) | 0o010)
    barrier = run_as.first_barrier(home)
    if barrier is not None:
        mode = stat.S_IMODE(barrier.stat().st_mode)
        raise PrivateError(
            f"the database server runs as system user {run_as.name}, which cannot enter "
            f"{barrier} (mode {mode:o}); set MILKBOT_HOME to a directory it can reach, such as "
            f"/var/lib/milkbot, or let it pass: setfacl -m u:{run_as.name}:x {barrier}"
        )


def private_dir(path: Path, run_as: RunAs) -> Path:
    """``path`` as a 0700 directory owned by the server user (created if missing). An existing
    one that is a symlink or belongs to someone else is refused."""
    with suppress(FileExistsError):
        path.mkdir(mode=0o700)
    info = path.lstat()
    want_uid = os.geteuid() if run_as.uid is None else run_as.uid
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise PrivateError(f"{path} must be a directory, not a link or a file")
    if info.st_uid not in (want_uid, os.geteuid()):
        raise PrivateError(f"{path} belongs to another user (uid {info.st_uid}); remove it")
    run_as.chown(path)
    path.chmod(0o700)
    return path


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only (0600), replacing it atomically."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode())
    finally:
        os.close(fd)
    os.replace(tmp, path)


@contextmanager
def home_lock(home: Path, timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold ``home/.lock`` exclusively (an flock: released by the kernel if the holder dies).
    Every start, configuration, restart and stop of the embedded server happens under it."""
    path = home / ".lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() > deadline:
                    raise PrivateError(
                        f"another Milkbot process has held {path} for over {timeout_s:g} s"
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)
