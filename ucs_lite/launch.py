"""Start ``N`` local worker processes of ``python -m ucs_lite.stream`` as ``torchrun --standalone`` would (issue 37),
from a process that imports neither torch nor numpy.

    python -m ucs_lite.launch --workers 2 -- --input-dir IN --output-dir OUT ...   # what --workers 2 becomes

Each worker gets the ``torch.distributed`` environment of the ``env://`` rendezvous (``MASTER_ADDR`` 127.0.0.1, a
free ``MASTER_PORT``, ``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``, ``GROUP_RANK``) and, unless set
already, ``OMP_NUM_THREADS`` (torchrun sets 1) and ``MALLOC_ARENA_MAX`` (:data:`WORKER_ENV`). The launcher waits for
every worker; when one fails (or is killed), it stops the others (SIGTERM, then SIGKILL after
:data:`GRACE_S` seconds) and returns the failed worker's exit code, as torchrun does; SIGINT / SIGTERM sent to the
launcher are passed on to the workers. Rerunning the command resumes (:mod:`ucs_lite.stream`).

Why not torchrun on one machine: torchrun's agent is a Python process that imports torch (about 0.6–0.8 GB of
resident memory for a process that only waits); this one holds about 10 MB. Several machines still need torchrun
(its rendezvous spans hosts): ``torchrun --nnodes M --nproc-per-node N ... -m ucs_lite.stream ...``, or
``--launcher torchrun`` on one machine.

Standard library only: keep it so (the point of this module is what it does not import).
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time

__all__ = ["launch_local", "worker_env", "free_port", "exec_launcher", "WORKER_ENV", "GRACE_S", "main"]

#: environment defaults of every worker (a value already in the launcher's environment wins):
#: ``MALLOC_ARENA_MAX`` caps glibc's per-thread malloc arenas (each torch / OpenMP thread may otherwise get its own
#: and keep freed memory in it).
WORKER_ENV = {"MALLOC_ARENA_MAX": "2"}
#: seconds a worker gets between SIGTERM and SIGKILL when the launcher stops the job
GRACE_S = 10.0


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` now (the OS picks it; rank 0 binds it a moment later, as torchrun --standalone
    does)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def worker_env(rank: int, workers: int, port: int, threads: int | None = None, base: dict | None = None) -> dict:
    """The environment of local worker ``rank`` of ``workers`` (one machine, rendezvous on 127.0.0.1:``port``)."""
    env = dict(os.environ if base is None else base)
    for k, v in WORKER_ENV.items():
        env.setdefault(k, v)
    if threads:
        env.setdefault("OMP_NUM_THREADS", str(threads))
    env.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "WORLD_SIZE": str(workers),
                "RANK": str(rank), "LOCAL_RANK": str(rank), "LOCAL_WORLD_SIZE": str(workers), "GROUP_RANK": "0",
                "ROLE_RANK": str(rank), "ROLE_WORLD_SIZE": str(workers), "TORCHELASTIC_RESTART_COUNT": "0",
                "UCS_LITE_LAUNCHER": "local"})
    return env


def _stop(procs: list[subprocess.Popen], grace: float = GRACE_S) -> None:
    """SIGTERM to every worker still running, SIGKILL to those still there after ``grace`` seconds."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    end = time.time() + grace
    for p in procs:
        try:
            p.wait(timeout=max(0.0, end - time.time()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def launch_local(argv: list[str], workers: int, threads: int | None = None, module: str = "ucs_lite.stream",
                 poll_s: float = 0.2, prepare: bool = True) -> int:
    """Run ``python -m module *argv`` on ``workers`` local processes joined by ``torch.distributed`` (env://) and
    wait for them. Returns 0 when every worker succeeded, else the first failure's exit code (a worker killed by a
    signal: 128 + the signal number); the other workers are stopped then. ``prepare``: first run
    ``python -m module *argv --prepare-only`` as one process and wait for it (for ucs_lite.stream: it makes the
    TorchScript copy of the surrogate, so that no worker imports the libraries that build it)."""
    if workers < 1:
        raise ValueError(f"workers = {workers} must be at least 1")
    if prepare:
        env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
        code = subprocess.call([sys.executable, "-m", module, *argv, "--prepare-only"], env=env)
        if code != 0:
            return 128 - code if code < 0 else code
    port = free_port()
    procs: list[subprocess.Popen] = []

    def forward(signum, _frame):
        for p in procs:
            if p.poll() is None:
                p.send_signal(signum)

    handlers = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        for rank in range(workers):
            procs.append(subprocess.Popen([sys.executable, "-m", module, *argv],
                                          env=worker_env(rank, workers, port, threads)))
        while True:
            codes = [p.poll() for p in procs]
            failed = [c for c in codes if c not in (None, 0)]
            if failed:
                _stop(procs)
                c = failed[0]
                return 128 - c if c < 0 else c
            if all(c == 0 for c in codes):
                return 0
            time.sleep(poll_s)
    finally:
        if any(p.poll() is None for p in procs):
            _stop(procs)
        for s, h in handlers.items():
            signal.signal(s, h)


def exec_launcher(argv: list[str], workers: int, threads: int | None = None) -> None:
    """Replace this process by ``python -m ucs_lite.launch`` (a fresh interpreter holding only the standard library):
    what ``python -m ucs_lite.stream --workers N`` and ``ucs-lite protect-stream --workers N`` do."""
    cmd = [sys.executable, "-m", "ucs_lite.launch", "--workers", str(workers)]
    if threads:
        cmd += ["--threads", str(threads)]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [*cmd, "--", *argv])


def main(argv: list[str] | None = None) -> int:
    """``python -m ucs_lite.launch --workers N [--threads T] [--module M] -- ARGS...``"""
    ap = argparse.ArgumentParser(prog="python -m ucs_lite.launch", description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, required=True)
    ap.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS of each worker (unless set)")
    ap.add_argument("--module", default="ucs_lite.stream")
    ap.add_argument("--no-prepare", action="store_true", help="start the workers without the --prepare-only run")
    ap.add_argument("args", nargs=argparse.REMAINDER, help="the worker's flags, after --")
    a = ap.parse_args(argv)
    args = a.args[1:] if a.args[:1] == ["--"] else a.args
    return launch_local(args, a.workers, a.threads, a.module, prepare=not a.no_prepare)


if __name__ == "__main__":
    sys.exit(main())
