"""The command given with -c: started before tracing, held until the probes are attached.

The child is forked at once (so its pid, ``cpid``, is known when the program is compiled) but
waits on a pipe before it execs; if compiling or attaching fails it is killed before the
command has run at all. The command is split into words and executed directly, and only goes
through /bin/sh when it uses shell syntax.

The child is ptraced for one reason: to stop it as it exits, while its memory map still exists,
so that user stacks and symbols recorded from it can be named after it is gone (tracer prints
maps only once the command has ended). ``on_exit`` is called at that moment; every other stop
(a signal for the child) is passed on at once.
"""

from __future__ import annotations

import ctypes
import os
import re
import shlex
import shutil
import signal
import time
from typing import Callable, Optional

from ..diagnostics import CommandNotRun

TERM_GRACE_SECONDS = 2.0  # after SIGTERM, before SIGKILL

PTRACE_TRACEME, PTRACE_CONT, PTRACE_DETACH, PTRACE_SETOPTIONS = 0, 7, 17, 0x4200
PTRACE_O_TRACEEXIT = 0x40
PTRACE_EVENT_EXIT = 6


def _ptrace(request: int, pid: int, data: int = 0) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    return libc.ptrace(request, pid, None, ctypes.c_void_p(data))


PR_SET_PDEATHSIG = 1


def _prctl():
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                      ctypes.c_ulong]
    return prctl


def _die_with(parent: int, prctl) -> None:
    """In the child, at once after fork: be killed when tracer dies, however it dies. SIGKILL
    of tracer leaves it no chance to stop the command, which would run on, orphaned; the
    kernel's parent-death signal does it instead (SIGKILL: nobody is left to insist if the
    command ignores SIGTERM). The kernel sends it when the *thread* that forked exits: spawn()
    runs on the thread that runs the whole trace (the CLI's main thread), which outlives the
    command. Had tracer died before the request, nothing would send it: a parent other than
    the one that forked says so. An exec of a set-user-ID program clears the request."""
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(0)


SHELL_SYNTAX = re.compile(r"[|&;<>()$`*?\[\]{}~\n]|^\s*\w+=")


def command_argv(command: str) -> list[str]:
    """The argv to exec for ``command``: its words, or /bin/sh -c when it needs a shell."""
    if not SHELL_SYNTAX.search(command):
        try:
            words = shlex.split(command)
        except ValueError:
            words = []
        if words:
            return words
    return ["/bin/sh", "-c", command]


def resolve(program: str) -> str:
    found = program if "/" in program else shutil.which(program)
    if not found or not os.path.isfile(found) or not os.access(found, os.X_OK):
        raise CommandNotRun(f"-c: cannot run '{program}': no such executable",
                            hint="give a path, or a command on PATH")
    return found


class Child:
    def __init__(self, command: str, on_exit: Optional[Callable[[int], None]] = None):
        self.on_exit = on_exit  # (pid) -> None, while the exiting child's memory still exists
        self.argv = command_argv(command)
        self.path = resolve(self.argv[0])
        self.pid: Optional[int] = None
        self.exit_status: Optional[int] = None
        self._go: Optional[int] = None

    def spawn(self) -> int:
        read_end, write_end = os.pipe()
        parent, prctl = os.getpid(), _prctl()  # looked up before fork: the child only calls
        pid = os.fork()
        if pid == 0:  # the child: wait for the word, then become the command
            try:
                _die_with(parent, prctl)
                os.close(write_end)
                if os.read(read_end, 1) != b"g":
                    os._exit(0)  # tracer gave up before tracing started
                os.close(read_end)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                _ptrace(PTRACE_TRACEME, 0)  # it stops after exec, for release() to set up
                os.execv(self.path, self.argv)
            except OSError as err:
                os.write(2, f"tracer: -c: cannot run {self.argv[0]}: {err.strerror}\n".encode())
            finally:
                os._exit(127)
        os.close(read_end)
        self.pid, self._go = pid, write_end
        return pid

    def release(self) -> None:
        """Let the command run: the probes are attached."""
        if self._go is not None:
            os.write(self._go, b"g")
            os.close(self._go)
            self._go = None
            self._after_exec()

    def _after_exec(self) -> None:
        """The child stops once it has exec'd (it asked to be traced): ask to be told when it
        exits, and let it go on."""
        _, status = os.waitpid(self.pid, 0)
        if not os.WIFSTOPPED(status):  # exec failed and it has exited already
            self.exit_status = os.waitstatus_to_exitcode(status)
            return
        _ptrace(PTRACE_SETOPTIONS, self.pid, PTRACE_O_TRACEEXIT)
        _ptrace(PTRACE_CONT, self.pid, 0)

    def exited(self) -> bool:
        while self.exit_status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid == 0:
                return False
            if not os.WIFSTOPPED(status):
                self.exit_status = os.waitstatus_to_exitcode(status)
            elif status >> 16 == PTRACE_EVENT_EXIT:
                if self.on_exit is not None:
                    self.on_exit(self.pid)
                _ptrace(PTRACE_DETACH, self.pid, 0)
            else:  # a signal for the child: deliver it
                _ptrace(PTRACE_CONT, self.pid, os.WSTOPSIG(status))
        return True

    def stop(self) -> None:
        """Make sure the child is gone: never started, or terminated if still running."""
        if self.pid is None or self.exit_status is not None:
            return
        if self._go is not None:  # never released: it has not run the command
            os.close(self._go)
            self._go = None
        elif not self.exited():
            self._signal(signal.SIGTERM)
            # A command that ignores SIGTERM must not keep tracer from exiting.
            deadline = time.monotonic() + TERM_GRACE_SECONDS
            while not self.exited() and time.monotonic() < deadline:
                time.sleep(0.02)
            if not self.exited():
                self._signal(signal.SIGKILL)
        # Killed, it still stops once more as it exits (it is traced): exited() lets it go.
        while not self.exited():
            time.sleep(0.01)

    def _signal(self, signum: int) -> None:
        try:
            os.kill(self.pid, signum)
        except ProcessLookupError:
            pass
