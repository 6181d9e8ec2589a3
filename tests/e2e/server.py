"""Run `meterbell` as real processes: a server on a free port, and one-shot CLI commands.

Not a test module: end-to-end tests (and later the crash tests, which `kill()` a server
mid-flight) build on it.

    with MeterbellServer(tmp_path / "data", database_url=url) as server:
        creds = server.initial_credentials()
        httpx.get(server.url("/ready"))
        server.cli("orgs", "list", "--json")

Every wait polls with a deadline; nothing relies on a fixed sleep. When the server does not
come up, the assertion message carries the tail of its output.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Self, TypeVar

import httpx

MB_EXE = Path(sys.executable).parent / "meterbell"
E2E_SECRET_KEY = "e2e-secret-key-for-meterbell-tests"
INITIAL_CREDENTIALS_FILE = "initial-credentials.json"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
CLI_TIMEOUT_S = 60.0
POLL_INTERVAL_S = 0.05
BIND_RETRIES = 3
PR_SET_PDEATHSIG = 1  # <sys/prctl.h>
CONSOLE_USER_KEYS = {"consoleEmail", "consolePassword"}
T = TypeVar("T")


@dataclass(frozen=True)
class Credentials:
    """What `orgs create --json`, `credentials create --json` and the first start print."""

    org_id: str
    client_id: str
    client_secret: str

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Credentials:
        """From the API keys of `data` (the first start also saves a console user's)."""
        assert set(data) - CONSOLE_USER_KEYS == {"orgId", "clientId", "clientSecret"}, (
            f"unexpected keys: {data}"
        )
        values = [data["orgId"], data["clientId"], data["clientSecret"]]
        assert all(isinstance(v, str) and v for v in values), f"empty or non-string: {data}"
        return cls(str(values[0]), str(values[1]), str(values[2]))


def free_port() -> int:
    """A port nobody listens on right now (the OS picks it, so parallel workers differ)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def meterbell_env(
    data_dir: Path,
    *,
    database_url: str | None = None,
    port: int | None = None,
    secret_key: str = E2E_SECRET_KEY,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The parent's environment without any `MB_*` variable, plus the given settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MB_")}
    env.update(
        {
            "MB_DATA_DIR": str(data_dir),
            "MB_SECRET_KEY": secret_key,
            "MB_LOG_LEVEL": "info",  # MeterbellServer waits for uvicorn's "running on" line
            "PYTHONUNBUFFERED": "1",
            "_TYPER_STANDARD_TRACEBACK": "1",  # plain tracebacks in logs and assertion messages
        }
    )
    if database_url:
        env["MB_DATABASE_URL"] = database_url
    if port is not None:
        env["MB_PORT"] = str(port)
    env.update(extra or {})
    return env


def run_cli(
    *args: str, env: Mapping[str, str], timeout: float = CLI_TIMEOUT_S, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """Run `meterbell ARGS...` to completion, `stdin` as its input; the caller checks the
    exit code."""
    return subprocess.run(
        [str(MB_EXE), *args],
        env=dict(env),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def describe(result: subprocess.CompletedProcess[str]) -> str:
    """A finished command, for assertion messages."""
    return (
        f"`meterbell {' '.join(result.args[1:])}` exited {result.returncode}\n"
        f"--- stdout ---\n{result.stdout}--- stderr ---\n{result.stderr}"
    )


def run_cli_ok(*args: str, env: Mapping[str, str], stdin: str = "") -> str:
    """Run `meterbell ARGS...`, assert it succeeded, return its stdout."""
    result = run_cli(*args, env=env, stdin=stdin)
    assert result.returncode == 0, describe(result)
    return result.stdout


def _die_with_parent() -> None:
    """In the child, before exec: on Linux, get SIGTERM when the test process dies, so a
    killed test run leaves no server behind."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(
    args: Sequence[str], env: Mapping[str, str], output: IO[bytes]
) -> subprocess.Popen[bytes]:
    """Start `meterbell ARGS...` in the background, stdout and stderr into `output`."""
    return subprocess.Popen(
        [str(MB_EXE), *args],
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # a ^C in the test run does not hit the process first
        preexec_fn=_die_with_parent,
    )


def terminate(process: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT_S) -> int:
    """SIGTERM, wait for a graceful exit; SIGKILL if it takes longer. The exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)
    return process.returncode


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no output file)"
    return "\n".join(text.splitlines()[-lines:])


class MeterbellServer:
    """`meterbell serve` as a child process with its own data folder and a free port.

    Output (stdout and stderr together) goes to `<data_dir>/../<name>-<n>.log`, one file per
    start. The same object can be started again after `stop()` or `kill()` (same data folder
    and store, a new port). Readiness is recognised from uvicorn's "running on" log line, so
    do not lower MB_LOG_LEVEL below info through `extra_env`.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        database_url: str | None = None,
        secret_key: str = E2E_SECRET_KEY,
        extra_env: Mapping[str, str] | None = None,
        serve_args: tuple[str, ...] = (),
        name: str = "server",
    ) -> None:
        self.data_dir = data_dir
        self.database_url = database_url
        self.secret_key = secret_key
        self.extra_env = dict(extra_env or {})
        self.serve_args = serve_args
        self.name = name
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"{name}.log"
        self._starts = 0
        self._log_file: IO[bytes] | None = None

    # -- environment --------------------------------------------------------------------

    @property
    def env(self) -> dict[str, str]:
        """The environment the server runs with (CLI commands get the same store)."""
        return meterbell_env(
            self.data_dir,
            database_url=self.database_url,
            port=self.port or None,
            secret_key=self.secret_key,
            extra=self.extra_env,
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def cli(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        """Run a `meterbell` command against this server's store."""
        return run_cli(*args, env=self.env, stdin=stdin)

    def cli_ok(self, *args: str, stdin: str = "") -> str:
        return run_cli_ok(*args, env=self.env, stdin=stdin)

    # -- life cycle ---------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def output(self) -> str:
        """Everything the current (or last) process printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 40) -> str:
        return tail(self.log_path, lines)

    def start(self, timeout: float = START_TIMEOUT_S) -> Self:
        """Start the process and wait until `/ready` answers 200.

        If another process grabbed the port between `free_port()` and the bind, retry on a
        new port; any other early exit fails with the output's tail.
        """
        assert not self.running, "the server is already running"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        for _ in range(BIND_RETRIES):
            self._spawn()
            if self._wait_ready(timeout):
                return self
            if "address already in use" not in self.output().lower():
                break
        code = self.process.poll() if self.process else None
        raise AssertionError(
            f"meterbell serve exited with code {code} before answering /ready; "
            f"last output from {self.log_path}:\n{self.log_tail()}"
        )

    def _spawn(self) -> None:
        self._close_log()
        self.port = free_port()
        self._starts += 1
        self.log_path = self.data_dir.parent / f"{self.name}-{self._starts}.log"
        self._log_file = self.log_path.open("wb")
        self.process = spawn(("serve", *self.serve_args), self.env, self._log_file)

    def _wait_ready(self, timeout: float) -> bool:
        """True once our process has bound the port and `/ready` says 200; False if the
        process exits first. Fails on timeout.

        `/ready` alone is not proof: under xdist another worker's server may have won the
        same port a moment earlier, and would answer for us. uvicorn's "running on" line in
        our own output says the port is ours.
        """
        deadline = time.monotonic() + timeout
        assert self.process is not None
        bound = f"Uvicorn running on http://127.0.0.1:{self.port} "
        with httpx.Client(timeout=2.0) as http:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    return False
                if bound in self.output():
                    with contextlib.suppress(httpx.TransportError):
                        if http.get(self.url("/ready")).status_code == 200:
                            return True
                time.sleep(POLL_INTERVAL_S)
        self.kill()
        raise AssertionError(
            f"meterbell serve did not answer /ready within {timeout}s; "
            f"last output from {self.log_path}:\n{self.log_tail()}"
        )

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM, wait for a graceful exit; SIGKILL if it takes longer. The exit code."""
        code = terminate(self._require_process(), timeout)
        self._close_log()
        return code

    def send_sigterm(self) -> None:
        """SIGTERM, and return at once: watch the shutdown, then `wait_exit`."""
        self._require_process().send_signal(signal.SIGTERM)

    def wait_exit(self, timeout: float = STOP_TIMEOUT_S) -> int:
        """Wait for the process to exit on its own; fail (with the output's tail) if it is
        still running after `timeout`. The exit code."""
        process = self._require_process()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"meterbell serve still running {timeout}s later; "
                f"last output from {self.log_path}:\n{self.log_tail()}"
            ) from None
        self._close_log()
        return process.returncode

    def kill(self) -> int:
        """SIGKILL at once, like a crash: no shutdown code runs. The exit code (-9)."""
        process = self._require_process()
        if process.poll() is None:
            process.kill()
            process.wait(STOP_TIMEOUT_S)
        self._close_log()
        return process.returncode

    def _require_process(self) -> subprocess.Popen[bytes]:
        assert self.process is not None, "the server was never started"
        return self.process

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.process is not None:
            self.stop()

    # -- first-start credentials ---------------------------------------------------------

    @property
    def initial_credentials_path(self) -> Path:
        return self.data_dir / INITIAL_CREDENTIALS_FILE

    def initial_credentials(self) -> Credentials:
        """The default organization's credential written on the first start."""
        path = self.initial_credentials_path
        assert path.exists(), f"{path} is missing; server output:\n{self.log_tail()}"
        return Credentials.from_json(json.loads(path.read_text()))

    def initial_console_user(self) -> tuple[str, str]:
        """The e-mail and password of the console user made on the first start."""
        saved = json.loads(self.initial_credentials_path.read_text())
        return saved["consoleEmail"], saved["consolePassword"]

    # -- HTTP ---------------------------------------------------------------------------

    def token(self, credentials: Credentials) -> httpx.Response:
        """`POST /oauth/token` with HTTP Basic and a JSON body, as the m3ter SDK sends it."""
        return httpx.post(
            self.url("/oauth/token"),
            json={"grant_type": "client_credentials"},
            auth=(credentials.client_id, credentials.client_secret),
            timeout=10.0,
        )


class MeterbellWorker:
    """`meterbell worker ARGS...` as a child process on a server's store (cluster mode, beside
    `serve --no-workers`). Output goes to `<server data_dir>/../<name>.log`."""

    def __init__(
        self,
        server: MeterbellServer,
        extra_env: Mapping[str, str] | None = None,
        args: Sequence[str] = (),
        name: str = "worker",
    ):
        self.env = {**server.env, **(extra_env or {})}
        self.args = tuple(args)
        self.log_path = server.data_dir.parent / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    def start(self, ready_line: str, timeout: float = START_TIMEOUT_S) -> Self:
        """Start it and wait until its output says `ready_line`."""
        self._log_file = self.log_path.open("wb")
        self.process = spawn(("worker", *self.args), self.env, self._log_file)
        deadline = time.monotonic() + timeout
        while ready_line not in self.log_path.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(
                    f"meterbell worker never said {ready_line!r}; "
                    f"last output from {self.log_path}:\n{tail(self.log_path)}"
                )
            time.sleep(POLL_INTERVAL_S)
        return self

    def stop(self) -> int:
        assert self.process is not None, "the worker was never started"
        code = terminate(self.process)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        return code

    def log_tail(self) -> str:
        return tail(self.log_path)


def graceful_exit(code: int) -> bool:
    """A stopped server (SIGTERM, shut down gracefully) exits 0, as `meterbell worker` does."""
    return code == 0


def eventually(probe: Callable[[], T | None], deadline_s: float = START_TIMEOUT_S) -> T:
    """The first non-empty answer of `probe`, polled until a deadline."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if answer := probe():
            return answer
        time.sleep(POLL_INTERVAL_S)
    raise AssertionError(f"nothing within {deadline_s}s")
