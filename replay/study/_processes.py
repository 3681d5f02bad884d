"""Processes for sweeps: a worker pool that leaves nothing behind, one writer per output
file, and SIGTERM turned into an interruption.

The pool is plain subprocesses fed pickled jobs through pipes, not ``multiprocessing``:
a ``ProcessPoolExecutor`` of spawned workers keeps named semaphores that a killed
(SIGKILL) or terminated (SIGTERM) parent leaves to ``multiprocessing``'s resource
tracker, which then prints "leaked semaphore objects" warnings. Pipes are closed by the
kernel with the processes; a worker exits when its job pipe ends (the parent finished,
or died: on Linux the kernel also kills it with the parent, PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import errno
import json
import os
import pickle
import selectors
import signal
import struct
import subprocess
import sys
import threading
import time
import traceback
from collections import deque
from contextlib import contextmanager
from importlib import import_module
from pathlib import Path

from traces.errors import TraceError

_LEN = struct.Struct("<Q")


def _send(f, obj) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    f.write(_LEN.pack(len(data)) + data)
    f.flush()


def _read_exactly(f, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = f.read(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def _recv(f):
    """The next pickled object from ``f``, or None at the end of the pipe."""
    head = _read_exactly(f, _LEN.size)
    if head is None:
        return None
    data = _read_exactly(f, _LEN.unpack(head)[0])
    return None if data is None else pickle.loads(data)


def _function(path: str):
    mod, name = path.split(":")
    return getattr(import_module(mod), name)


def _die_with_parent(parent: int) -> None:
    """Exit when the parent process dies, even while busy in a job: the kernel's
    PR_SET_PDEATHSIG on Linux, else a thread watching the parent id."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the parent died before the call above
        os._exit(1)

    def watch():
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def worker_main() -> None:
    """A worker: ``python -c '...worker_main()' JOB_FD RESULT_FD PARENT_PID SPEC`` where
    SPEC is JSON {"job": "module:function", "init": "module:function" or null,
    "init_args": [...]}. Runs ``init(*init_args)`` once, then each job's arguments read
    from JOB_FD, answering ("ok", result) or ("error", exception, traceback text)."""
    job_fd, res_fd, parent = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    spec = json.loads(sys.argv[4])
    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent decides
    jobs, results = os.fdopen(job_fd, "rb"), os.fdopen(res_fd, "wb")
    fn = _function(spec["job"])
    if spec.get("init"):
        try:
            _function(spec["init"])(*spec.get("init_args", []))
        except Exception:  # a failure here shows up again, with its message, in the first job
            pass
    while True:
        args = _recv(jobs)
        if args is None:
            return
        try:
            out = ("ok", fn(*args))
        except BaseException as e:
            text = traceback.format_exc()
            try:
                pickle.dumps(e)
            except Exception:
                e = RuntimeError(f"{type(e).__name__}: {e}")
            out = ("error", e, text)
        try:
            _send(results, out)
        except BrokenPipeError:
            return


class _Worker:
    def __init__(self, spec: dict):
        r_job, w_job = os.pipe()
        r_res, w_res = os.pipe()
        env = dict(os.environ)
        # the parent's import path (a source tree, a script's folder), as multiprocessing's spawn passes it
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        cmd = [sys.executable, "-c", "from replay.study._processes import worker_main; worker_main()",
               str(r_job), str(w_res), str(os.getpid()), json.dumps(spec)]
        try:
            self.proc = subprocess.Popen(cmd, pass_fds=(r_job, w_res), stdin=subprocess.DEVNULL, env=env)
        finally:
            os.close(r_job)
            os.close(w_res)
        self.jobs = os.fdopen(w_job, "wb")
        self.results = os.fdopen(r_res, "rb", buffering=0)  # unbuffered: select() sees every byte not read
        self.pending: deque = deque()

    def stop(self, kill: bool) -> None:
        try:
            self.jobs.close()  # the end of its job pipe: an idle worker exits
        except OSError:
            pass
        if kill and self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=None if kill else 30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.results.close()


def run_pool(n: int, job: str, items, on_result, init: str | None = None, init_args=(), queued: int = 2) -> None:
    """Run ``job`` ("module:function") on each argument tuple of ``items`` in ``n`` worker
    processes, calling ``on_result(result)`` in this process as results arrive. At most
    ``queued`` jobs wait per worker (an interruption loses only those). A job's exception
    is raised here; a worker that dies is a TraceError. However this ends (an exception,
    Ctrl-C, SIGTERM), the workers are gone when it returns."""
    spec = {"job": job, "init": init, "init_args": list(init_args)}
    workers = [_Worker(spec) for _ in range(n)]
    it = iter(items)
    sel = selectors.DefaultSelector()
    ok = False
    try:
        for w in workers:
            sel.register(w.results, selectors.EVENT_READ, w)

        def feed(w: _Worker) -> None:
            while len(w.pending) < queued:
                args = next(it, None)
                if args is None:
                    return
                _send(w.jobs, args)
                w.pending.append(args)

        for w in workers:
            feed(w)
        while any(w.pending for w in workers):
            for key, _ in sel.select():
                w = key.data
                msg = _recv(w.results)
                if msg is None:
                    code = w.proc.wait()
                    how = f"signal {-code}" if code < 0 else f"exit code {code}"
                    raise TraceError(f"a sweep worker process died ({how}; out of memory?); the rows finished "
                                     "so far are kept: rerun the same command to resume")
                if msg[0] == "error":
                    exc = msg[1]
                    if isinstance(exc, TraceError):
                        raise exc
                    raise RuntimeError(f"a sweep job failed in its worker:\n{msg[2]}") from exc
                w.pending.popleft()
                on_result(msg[1])
                feed(w)
        ok = True
    finally:
        sel.close()
        for w in workers:
            w.stop(kill=not ok)


# -- one writer per output ---------------------------------------------------------------

@contextmanager
def output_lock(path: Path | None, notice):
    """Hold ``PATH.lock`` (an exclusive ``flock``) while a sweep reads and writes ``path``:
    a second sweep on the same output waits for the first (``notice`` says so once) and
    then resumes from everything it wrote. The kernel releases the lock when its holder
    dies, whatever the signal, so a stale lock file never blocks anyone; the file is
    removed by the holder (safely: a waiter checks it still locks the file on disk)."""
    if path is None:
        yield
        return
    import fcntl

    lock = Path(str(path) + ".lock")
    told = False
    while True:
        try:
            lock.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise TraceError(f"cannot create the lock file of the output: {e.strerror or e}", str(lock)) from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise
                if not told:
                    holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
                    notice(f"another sweep (pid {holder}) is writing {path}; waiting for it to finish "
                           "(this sweep then resumes from its rows)")
                    told = True
                fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                same = os.fstat(fd).st_ino == os.stat(lock).st_ino
            except FileNotFoundError:
                same = False
        except BaseException:
            os.close(fd)
            raise
        if same:
            break
        os.close(fd)  # the holder removed the file as we waited: lock the new one
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        try:
            os.unlink(lock)
        except OSError:
            pass
        os.close(fd)


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP during a sweep: handled as Ctrl-C is (finished rows kept, workers
    stopped), instead of the process vanishing with its workers and pipes."""


@contextmanager
def terminate_as_interrupt():
    """While inside, SIGTERM and SIGHUP raise :class:`Terminated` in the main thread (where
    the handlers can only be installed; elsewhere this does nothing)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise Terminated(f"signal {signum}")

    saved = {}
    for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if sig is not None:
            saved[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, h in saved.items():
            signal.signal(sig, h)
