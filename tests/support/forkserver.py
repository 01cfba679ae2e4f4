"""``python -m authserver ...`` and ``python -c SCRIPT`` without paying the imports on every command.

Importing the authorization server (Flask, SQLAlchemy, authlib, cryptography...) costs ~1.5 s of CPU per process,
and the end-to-end suites run the real CLI hundreds of times. ``run_python`` hands each command to a zygote: a
Python process that imported ``authserver.cli`` once and forks a child per command. The child is a new process (its
own pid, working directory, environment, file descriptors 0-2 on the command's input and output files, exit code
and atexit handlers) whose only difference from ``subprocess.run`` is that the imports are done; what the command
changes dies with the child, so the next fork starts clean again. The zygote has no threads when it forks.

One zygote serves one environment, so anything read from the environment at import time is what a fresh process
would read; the server's own settings (AUTHSERVER_*, DATABASE_URL, REDIS_URL) are the exception, as
``authserver.config`` reads them only when a command runs, and the child sets them before the command starts.
"""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

_ZYGOTE = r"""
import atexit, json, os, runpy, signal, sys, time, traceback
import authserver.cli  # noqa: F401  (the imports every command needs, done once)

protocol_in, protocol_out = os.fdopen(int(sys.argv[1]), "r"), os.fdopen(int(sys.argv[2]), "w")
for line in protocol_in:
    request = json.loads(line)
    sys.stdout.flush(), sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            protocol_in.close(), protocol_out.close()
            os.chdir(request["cwd"])
            os.environ.clear()
            os.environ.update(request["env"])
            for fd, (path, flags) in enumerate(
                [(request["stdin"], os.O_RDONLY), (request["stdout"], os.O_WRONLY), (request["stderr"], os.O_WRONLY)]
            ):
                opened = os.open(path, flags)
                os.dup2(opened, fd)
                os.close(opened)
            sys.stdin = open(0, closefd=False)
            sys.stdout = open(1, "w", closefd=False)
            sys.stderr = open(2, "w", closefd=False)
            sys.__stdin__, sys.__stdout__, sys.__stderr__ = sys.stdin, sys.stdout, sys.stderr
            try:
                if request["module"] is not None:
                    sys.argv = [request["module"], *request["args"]]
                    runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
                else:
                    sys.argv = ["-c", *request["args"]]
                    exec(compile(request["code"], "<string>", "exec"), {"__name__": "__main__"})
                code = 0
            except SystemExit as exc:
                if exc.code is None:
                    code = 0
                elif isinstance(exc.code, int):
                    code = exc.code
                else:
                    print(exc.code, file=sys.stderr)
                    code = 1
            except BaseException:
                traceback.print_exc()
                code = 1
            atexit._run_exitfuncs()
            sys.stdout.flush(), sys.stderr.flush()
        finally:
            os._exit(code)
    deadline = time.monotonic() + request["timeout"]
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            reply = {"returncode": os.waitstatus_to_exitcode(status)}
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            reply = {"timeout": True}
            break
        time.sleep(0.005)
    protocol_out.write(json.dumps(reply) + "\n")
    protocol_out.flush()
"""


class _Zygote:
    def __init__(self, env: dict[str, str]) -> None:
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()
        self._log = tempfile.NamedTemporaryFile(prefix="cli-zygote-", suffix=".log")  # noqa: SIM115
        self.proc = subprocess.Popen(  # noqa: S603 (our own interpreter and script)
            [sys.executable, "-c", _ZYGOTE, str(to_child_r), str(from_child_w)],
            env=env,
            cwd=tempfile.gettempdir(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            pass_fds=(to_child_r, from_child_w),
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self._writer = os.fdopen(self._to_child, "w")
        self._reader = os.fdopen(self._from_child, "r")
        self.lock = threading.Lock()

    def run(self, request: dict) -> dict:
        try:
            self._writer.write(json.dumps(request) + "\n")
            self._writer.flush()
            line = self._reader.readline()
        except BrokenPipeError:
            line = ""
        if not line:
            self._log.seek(0)
            said = self._log.read().decode(errors="replace")[-3000:]
            raise RuntimeError(f"the CLI zygote exited with {self.proc.wait()}:\n{said}")
        return json.loads(line)

    def close(self) -> None:
        self._writer.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.close()
        self._log.close()


_zygotes: dict[tuple, _Zygote] = {}
_zygotes_lock = threading.Lock()


@atexit.register
def _close_all() -> None:
    for zygote in _zygotes.values():
        zygote.close()
    _zygotes.clear()


# The server's own settings: authserver.config reads them when a command runs, never at import (it is the one module
# that reads os.environ), so a zygote can serve every value of them; the child sets them before the command starts.
# PYTEST_CURRENT_TEST changes with every test and is read by nothing the server imports.
_READ_AT_RUN_TIME = ("AUTHSERVER_", "DATABASE_URL", "REDIS_URL", "PYTEST_CURRENT_TEST")


def _zygote(env: dict[str, str]) -> _Zygote:
    env = {name: value for name, value in env.items() if not name.startswith(_READ_AT_RUN_TIME)}
    key = tuple(sorted(env.items()))
    with _zygotes_lock:
        zygote = _zygotes.get(key)
        if zygote is None or zygote.proc.poll() is not None:
            zygote = _zygotes[key] = _Zygote(env)
        return zygote


def run_python(
    args: list[str], *, env: dict[str, str], cwd: Path | str, input: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess:
    """Like ``subprocess.run([sys.executable, *args], env=env, cwd=cwd, input=input, capture_output=True,
    text=True, timeout=timeout)`` for ``args`` of ``-m MODULE ...`` or ``-c SCRIPT ...``. Commands with the same
    environment run one after another (one zygote each): a test about CLI processes racing must start them itself."""
    if len(args) < 2 or args[0] not in ("-m", "-c"):
        raise ValueError(f"run_python runs -m MODULE or -c SCRIPT, not {args!r}")
    cwd = str(cwd)
    with tempfile.TemporaryDirectory(prefix="cli-") as tmp:
        stdin, stdout, stderr = (Path(tmp) / name for name in ("stdin", "stdout", "stderr"))
        stdin.write_text(input or "")
        stdout.touch()
        stderr.touch()
        request = {
            "module": args[1] if args[0] == "-m" else None,
            "code": args[1] if args[0] == "-c" else None,
            "args": args[2:],
            "stdin": str(stdin),
            "stdout": str(stdout),
            "stderr": str(stderr),
            "timeout": timeout,
            "env": env,
            "cwd": cwd,
        }
        zygote = _zygote(env)
        with zygote.lock:
            reply = zygote.run(request)
        command = [sys.executable, *args]
        if reply.get("timeout"):
            raise subprocess.TimeoutExpired(command, timeout, stdout.read_text(), stderr.read_text())
        return subprocess.CompletedProcess(command, reply["returncode"], stdout.read_text(), stderr.read_text())
