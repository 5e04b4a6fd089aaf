"""The C workloads of the real-kernel and compat tests: tiny programs whose system calls are
known exactly, so a test can assert an exact count. Their names start with ``tk_`` so that a
``comm == "tk_..."`` predicate does not match some other program on the machine.
"""

WORKLOAD_SOURCES = {
    # tk_loop N: getppid() N times.
    "tk_loop": r"""
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1;
    for (long i = 0; i < n; i++) getppid();
    return 0;
}
""",
    # tk_kill N: kill(getpid(), 0) N times (signal 0 only checks that the process exists).
    "tk_kill": r"""
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1;
    for (long i = 0; i < n; i++) kill(getpid(), 0);
    return 0;
}
""",
    # tk_close FD...: close(FD) for each argument, in order (negative and unopened fds fail
    # with EBADF, which is all we want: the syscall is entered with that fd).
    "tk_close": r"""
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) close(atoi(argv[i]));
    return 0;
}
""",
    # tk_both N M: getppid() N times, then kill(getpid(), 0) M times.
    "tk_both": r"""
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv) {
    long n = atol(argv[1]), m = atol(argv[2]);
    for (long i = 0; i < n; i++) getppid();
    for (long i = 0; i < m; i++) kill(getpid(), 0);
    return 0;
}
""",
    # tk_forever: getppid() every millisecond, never exits by itself.
    "tk_forever": r"""
#include <unistd.h>
int main(void) {
    for (;;) { getppid(); usleep(1000); }
}
""",
    # tk_paused N US: waits for one byte on stdin, then getppid() N times, sleeping US
    # microseconds after each call; then exits.
    "tk_paused": r"""
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv) {
    long n = atol(argv[1]), us = atol(argv[2]);
    char c;
    if (read(0, &c, 1) != 1) return 1;
    for (long i = 0; i < n; i++) { getppid(); usleep(us); }
    return 0;
}
""",
    # tk_open PATH...: open(PATH, O_RDONLY) (an openat(AT_FDCWD, PATH, ...)) for each argument,
    # in order, closing what opened.
    "tk_open": r"""
#include <fcntl.h>
#include <unistd.h>
int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        int fd = open(argv[i], O_RDONLY);
        if (fd >= 0) close(fd);
    }
    return 0;
}
""",
}
