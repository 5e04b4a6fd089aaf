"""The C workloads of the real-kernel and compat tests: tiny programs whose system calls are
known exactly, so a test can assert an exact count. Their names start with ``tk_`` so that a
``comm == "tk_..."`` predicate does not match some other program on the machine.
"""

# The structs tk_struct hands to tk_take(), written as both C and a bpftrace script define them:
# bitfields (a signed one among them), a char array, a pointer to another struct, and an
# anonymous union.
TK_STRUCT_TYPES = """
struct tk_inner { long weight; int tag; };
struct tk_bits {
    unsigned int low : 3;
    int delta : 5;
    unsigned int wide : 12;
    char name[8];
    struct tk_inner *inner;
    union { int as_int; unsigned short halves[2]; };
};
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
    # tk_chain N: main -> outer -> middle -> inner, and inner makes the getppid system call N
    # times itself (no libc wrapper, whose missing frame would hide inner from a frame-pointer
    # unwinder). Frame pointers are kept so that a user stack walks the whole chain.
    "tk_chain": r"""
#pragma GCC optimize ("no-omit-frame-pointer")
#include <stdlib.h>
#include <sys/syscall.h>
__attribute__((noinline)) void inner(long n) {
    for (long i = 0; i < n; i++) {
        long ret;
        __asm__ volatile ("syscall" : "=a"(ret) : "0"((long)SYS_getppid) : "rcx", "r11", "memory");
    }
}
__attribute__((noinline)) void middle(long n) { inner(n); __asm__ volatile (""); }
__attribute__((noinline)) void outer(long n) { middle(n); __asm__ volatile (""); }
int main(int argc, char **argv) {
    outer(argc > 1 ? atol(argv[1]) : 1);
    return 0;
}
""",
    # tk_funcs N: calls tk_add(i, 2) and tk_square(i) for i in 0..N-1 (functions a uprobe can
    # name, kept out of line), then getppid() once; returns 0. tk_add returns i + 2 and
    # tk_square i * i, so their sums are known: N(N+3)/2 and (N-1)N(2N-1)/6.
    "tk_funcs": r"""
#include <stdlib.h>
#include <unistd.h>
__attribute__((noinline)) int tk_add(int a, int b) { __asm__ volatile(""); return a + b; }
__attribute__((noinline)) long tk_square(long x) { __asm__ volatile(""); return x * x; }
int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1, total = 0;
    for (long i = 0; i < n; i++) { total += tk_add((int)i, 2); total += tk_square(i); }
    getppid();
    return total < 0;
}
""",
    # tk_watch N: maps a page at the fixed address 0x10000000 and writes the long there N
    # times (reading it never): a watchpoint's exact count.
    "tk_watch": r"""
#include <stdlib.h>
#include <sys/mman.h>
int main(int argc, char **argv) {
    long n = atol(argv[1]);
    volatile long *p = mmap((void *)0x10000000, 4096, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (p == MAP_FAILED) return 1;
    for (long i = 0; i < n; i++) p[0] = i;
    return 0;
}
""",
    # tk_faults N: maps N fresh pages (no huge pages), then between two getppid() calls writes
    # one byte to each: exactly N minor page faults between the markers.
    "tk_faults": r"""
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
int main(int argc, char **argv) {
    long n = atol(argv[1]), page = sysconf(_SC_PAGESIZE);
    char *p = mmap(NULL, n * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return 1;
    madvise(p, n * page, MADV_NOHUGEPAGE);
    getppid();
    for (long i = 0; i < n; i++) p[i * page] = 1;
    getppid();
    return 0;
}
""",
    # tk_cpus: two children, one on CPU 0 and one on CPU 1, close(fd) at the same time for
    # fds -1000..-1 (CPU 0) and 5000..7999 (CPU 1), all failing with EBADF: values made on two
    # CPUs at once, with known minimum, maximum, sum and count.
    "tk_cpus": r"""
#define _GNU_SOURCE
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>
static void run_on(int cpu, int first, int last, int go) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set) != 0) _exit(2);
    char c;
    if (read(go, &c, 1) != 1) _exit(3);
    for (int fd = first; fd <= last; fd++) close(fd);
    _exit(0);
}
int main(void) {
    int go[2];
    if (pipe(go) != 0) return 1;
    if (fork() == 0) run_on(0, -1000, -1, go[0]);
    if (fork() == 0) run_on(1, 5000, 7999, go[0]);
    if (write(go[1], "xx", 2) != 2) return 1;
    int status, failed = 0;
    while (wait(&status) > 0) failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    return failed;
}
""",
    # tk_usdt N [wait]: USDT probes (<sys/sdt.h>) with known arguments. With a second argument
    # it first waits for one byte on stdin. Then: tk:loop(i, total) for i in 0..N-1, total
    # being 0+1+...+i; tk:negative(-N), an int; tk:words(word, N as an unsigned char), word a
    # stack copy of "usdt-hello" (a string in .rodata may not be paged in when the probe
    # reads it); tk:widths(-N as a signed char, 65000+N as an unsigned short, 4000000000+N as
    # an unsigned int, -N * 10^12); tk:stacked(3N, 5N) read from memory; tk:constant(5, -3);
    # tk:guarded(7N) only if its semaphore is set, which only a tracer attached to it does;
    # and tk:twice, one probe at two sites (an inlined function), with N+100 and then N+200.
    # Built with -DTK_NO_SEMAPHORES, no probe has a semaphore and tk:guarded always fires.
    "tk_usdt": r"""
#ifndef TK_NO_SEMAPHORES
#define _SDT_HAS_SEMAPHORES 1
#endif
#include <stdlib.h>
#include <string.h>
#include <sys/sdt.h>
#include <unistd.h>
#ifdef _SDT_HAS_SEMAPHORES
/* With _SDT_HAS_SEMAPHORES every probe's note names a semaphore, so each needs one. */
#define TK_SEMAPHORE(name) \
    __attribute__((section(".probes"))) volatile unsigned short tk_##name##_semaphore
TK_SEMAPHORE(loop); TK_SEMAPHORE(negative); TK_SEMAPHORE(words); TK_SEMAPHORE(widths);
TK_SEMAPHORE(stacked); TK_SEMAPHORE(constant); TK_SEMAPHORE(guarded); TK_SEMAPHORE(twice);
#define TK_ENABLED(name) (tk_##name##_semaphore != 0)
#else
#define TK_ENABLED(name) 1
#endif
/* Makes the compiler keep *p in memory, where a probe's argument can point. */
__attribute__((noinline)) static void tk_escape(volatile void *p) {
    __asm__ volatile("" :: "r"(p) : "memory");
}
static inline __attribute__((always_inline)) void tk_twice(long v) {
    DTRACE_PROBE1(tk, twice, v);
}
int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1, total = 0;
    char c;
    if (argc > 2 && read(0, &c, 1) != 1) return 1;
    for (long i = 0; i < n; i++) {
        total += i;
        DTRACE_PROBE2(tk, loop, i, total);
    }
    int negative = -(int)n;
    DTRACE_PROBE1(tk, negative, negative);
    char word[16];
    strcpy(word, "usdt-hello");
    tk_escape(word);
    DTRACE_PROBE2(tk, words, word, (unsigned char)n);
    DTRACE_PROBE4(tk, widths, (signed char)-n, (unsigned short)(65000 + n),
                  (unsigned int)(4000000000u + n), -n * 1000000000000L);
    volatile long slot[2] = {n * 3, n * 5};
    tk_escape(slot);
    DTRACE_PROBE2(tk, stacked, slot[0], slot[1]);
    DTRACE_PROBE2(tk, constant, 5, -3);
    if (TK_ENABLED(guarded)) DTRACE_PROBE1(tk, guarded, n * 7);
    tk_twice(n + 100);
    tk_twice(n + 200);
    return 0;
}
""",
    # tk_ids N: prints "ids PID PPID" (its own pid and its parent's, as user space sees
    # them), then getppid() N times: what curtask's members must equal.
    "tk_ids": r"""
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/syscall.h>
int main(int argc, char **argv) {
    long n = atol(argv[1]);
    printf("ids %d %d\n", (int)getpid(), (int)getppid());
    fflush(stdout);
    for (long i = 0; i < n; i++) syscall(SYS_getppid);
    return 0;
}
""",
    # tk_sleep N NSEC: the nanosleep system call (not glibc's nanosleep(), which makes
    # clock_nanosleep calls) N times, each with the struct timespec {0, NSEC}.
    "tk_sleep": r"""
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
int main(int argc, char **argv) {
    long n = atol(argv[1]);
    struct timespec ts = {0, atol(argv[2])};
    for (long i = 0; i < n; i++) syscall(SYS_nanosleep, &ts, NULL);
    return 0;
}
""",
    # tk_struct N: calls tk_take(&s) N times with s a struct of bitfields, a char array and a
    # pointer to a second struct, their values set from the loop counter i (below), so that a
    # uprobe reading the struct through the script's own definition has exact answers.
    "tk_struct": r"""
#include <stdio.h>
#include <stdlib.h>
""" + TK_STRUCT_TYPES + r"""
__attribute__((noinline)) void tk_take(struct tk_bits *s) { __asm__ volatile("" :: "r"(s) : "memory"); }
int main(int argc, char **argv) {
    long n = atol(argv[1]);
    struct tk_inner inner = {1000, 7};
    for (long i = 0; i < n; i++) {
        struct tk_bits s = {0};
        s.low = i & 7; s.delta = -(int)i; s.wide = 100 + i;
        snprintf(s.name, sizeof s.name, "n%ld", i);
        inner.weight = 1000 + i;
        s.inner = &inner;
        s.as_int = 0x04030201;
        tk_take(&s);
    }
    return 0;
}
""",
}
