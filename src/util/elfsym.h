/* Function names from a module's ELF symbol tables (.symtab, else .dynsym), read from the
 * file through a read-only mapping: no DWARF, no decompression, no allocation. The
 * in-process symbolizer at exit uses this; file:line is `connleak report`'s job. */
#ifndef CONNLEAK_ELFSYM_H
#define CONNLEAK_ELFSYM_H

#include <stddef.h>
#include <stdint.h>

/* The function of `module` containing the address `vaddr` (ELF virtual address: the pc
 * minus the module's load base). Copies its name and returns 0 with *off = vaddr - start;
 * 1 when the module's tables name no function there; -1 when they could not be read. */
int elfsym_lookup(const char *module, uintptr_t vaddr, char *name, size_t n, uintptr_t *off);

/* Unmaps what was mapped. */
void elfsym_release(void);

#endif
