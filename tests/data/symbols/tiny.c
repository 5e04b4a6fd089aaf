/* A shared library the test program loads while running (see chain.c). */
__attribute__((noinline)) int tiny_function(int x) { return x * 3 + 1; }
