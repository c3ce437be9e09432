/* Symbol-table lookups over mmap'ed module files, a few modules cached for one report. */
#include "elfsym.h"

#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "real.h"

#define MODULES 32

static struct mod {
	char path[512];
	const unsigned char *map;
	size_t size;
	const ElfW(Sym) *syms;
	size_t nsyms;
	const char *strs;
	size_t strsize;
} mods[MODULES];
static int nmods;

static int in_file(const struct mod *m, uint64_t off, uint64_t len)
{
	return off <= m->size && len <= m->size - off;
}

static int find_table(struct mod *m, uint32_t type)
{
	const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)m->map;
	if (!in_file(m, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(ElfW(Shdr))) ||
	    eh->e_shentsize != sizeof(ElfW(Shdr)))
		return -1;
	const ElfW(Shdr) *sh = (const ElfW(Shdr) *)(m->map + eh->e_shoff);
	for (int i = 0; i < eh->e_shnum; i++) {
		if (sh[i].sh_type != type || sh[i].sh_link >= eh->e_shnum)
			continue;
		const ElfW(Shdr) *st = &sh[sh[i].sh_link];
		if (!in_file(m, sh[i].sh_offset, sh[i].sh_size) ||
		    !in_file(m, st->sh_offset, st->sh_size))
			return -1;
		m->syms = (const ElfW(Sym) *)(m->map + sh[i].sh_offset);
		m->nsyms = sh[i].sh_size / sizeof(ElfW(Sym));
		m->strs = (const char *)(m->map + st->sh_offset);
		m->strsize = st->sh_size;
		return 0;
	}
	return -1;
}

static struct mod *open_module(const char *path)
{
	for (int i = 0; i < nmods; i++)
		if (!strcmp(mods[i].path, path))
			return mods[i].map ? &mods[i] : NULL;
	if (nmods == MODULES)
		return NULL;
	struct mod *m = &mods[nmods++];
	memset(m, 0, sizeof *m);
	size_t len = strlen(path);
	if (len >= sizeof m->path)
		return NULL;
	memcpy(m->path, path, len + 1);
	int fd = real.open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	struct stat st;
	void *map = MAP_FAILED;
	if (fstat(fd, &st) == 0 && st.st_size >= (off_t)sizeof(ElfW(Ehdr)))
		map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	real.close(fd);
	if (map == MAP_FAILED)
		return NULL;
	m->map = map;
	m->size = (size_t)st.st_size;
	const ElfW(Ehdr) *eh = map;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
	    (find_table(m, SHT_SYMTAB) != 0 && find_table(m, SHT_DYNSYM) != 0)) {
		munmap(map, m->size);
		m->map = NULL;
		return NULL;
	}
	return m;
}

int elfsym_lookup(const char *module, uintptr_t vaddr, char *name, size_t n, uintptr_t *off)
{
	struct mod *m = open_module(module);
	if (!m)
		return -1;
	const ElfW(Sym) *best = NULL;
	for (size_t i = 0; i < m->nsyms; i++) {
		const ElfW(Sym) *s = &m->syms[i];
		if (ELF64_ST_TYPE(s->st_info) != STT_FUNC || !s->st_value || s->st_name >= m->strsize)
			continue;
		if (vaddr < s->st_value)
			continue;
		if (vaddr - s->st_value < (s->st_size ? s->st_size : 1) &&
		    (!best || s->st_value > best->st_value))
			best = s;
	}
	if (!best)
		return 1;
	const char *nm = m->strs + best->st_name;
	size_t len = strnlen(nm, m->strsize - best->st_name);
	if (len >= n)
		len = n - 1;
	memcpy(name, nm, len);
	name[len] = '\0';
	*off = vaddr - best->st_value;
	return 0;
}

void elfsym_release(void)
{
	for (int i = 0; i < nmods; i++)
		if (mods[i].map)
			munmap((void *)mods[i].map, mods[i].size);
	nmods = 0;
}
