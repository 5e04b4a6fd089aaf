/* A known call chain for tests/unit/test_symbols.py.
 *
 * It prints, on one line, its pid and the addresses the test checks names against: the
 * functions main, outer, middle, inner, the C++-named function, getppid in libc, a return
 * address inside inner, middle and outer each, and the global variable counter. Then it
 * obeys lines on stdin: "load PATH" dlopens PATH and prints the address of its tiny_function;
 * end of input ends the program.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int counter = 7;
static void *inside[3];

/* A C function under a C++ mangled name: foo::bar(int). */
__attribute__((noinline)) int mangled(int x) __asm__("_ZN3foo3barEi");
__attribute__((noinline)) int mangled(int x) { return x + counter; }

/* Keeps the address this was called from: a point inside the caller. */
__attribute__((noinline)) void note(int depth) { inside[depth] = __builtin_return_address(0); }

__attribute__((noinline)) void inner(void) { note(0); }
__attribute__((noinline)) void middle(void) { inner(); note(1); }
__attribute__((noinline)) void outer(void) { middle(); note(2); }

int main(void)
{
    outer();
    printf("%d %p %p %p %p %p %p %p %p %p %p\n", (int)getpid(), (void *)main, (void *)outer,
           (void *)middle, (void *)inner, (void *)mangled, dlsym(RTLD_DEFAULT, "getppid"),
           inside[0], inside[1], inside[2], (void *)&counter);
    fflush(stdout);

    char line[4096];
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "load ", 5) == 0) {
            void *library = dlopen(line + 5, RTLD_NOW);
            printf("%p\n", library ? dlsym(library, "tiny_function") : NULL);
            fflush(stdout);
        }
    }
    return mangled(0) == 7 ? 0 : 1;
}
