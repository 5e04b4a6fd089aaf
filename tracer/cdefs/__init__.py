"""C types and C text that programs carry: the kernel's types from BTF, struct definitions
and macros written in scripts, the preprocessor that reads `#include`/`#define`/`#if`."""
