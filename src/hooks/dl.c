/* dlsym: when a program looks up a TLS function we follow in a library it dlopen()ed, we
 * keep the real pointer and hand back our hook, so sessions are followed even when libssl
 * is only reached through function pointers. Every other lookup goes straight to the real
 * dlsym as a tail call, so glibc still sees the program as the caller (RTLD_NEXT depends
 * on it). */
#include <dlfcn.h>
#include <string.h>

#include "../util/self.h"
#include "hook.h"
#include "tlsreal.h"

static void *(*dlsym_fn)(void *, const char *);

SANITIZER_EARLY static void *(*get_real_dlsym(void))(void *, const char *)
{
	if (!dlsym_fn) {
		dlsym_fn = dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.34");
		if (!dlsym_fn)
			dlsym_fn = dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.2.5");
	}
	return dlsym_fn;
}

void *real_dlsym(void *handle, const char *name)
{
	return get_real_dlsym()(handle, name);
}

SANITIZER_EARLY static const struct tls_hook *find_hook(const char *name)
{
	const struct tls_hook *tables[] = {openssl_hooks, gnutls_hooks, openssl_bio_hooks};
	if (strncmp(name, "SSL_", 4) != 0 && strncmp(name, "gnutls_", 7) != 0 &&
	    strncmp(name, "BIO_", 4) != 0)
		return NULL;
	for (size_t t = 0; t < 3; t++)
		for (const struct tls_hook *h = tables[t]; h->name; h++)
			if (!strcmp(h->name, name))
				return h;
	return NULL;
}

static void *dlsym_tls(void *handle, const char *name, const struct tls_hook *h)
{
	void *p = get_real_dlsym()(handle, name);
	if (!p)
		return NULL;
	if (p == h->hook)
		return p;
	if (!*h->real)
		*h->real = p;
	/* One real pointer per name: a second TLS library (libssl 1.1 beside 3) is left
	 * alone rather than called through a pointer into the other one. */
	return *h->real == p ? h->hook : p;
}

static void *in_module_of(const void *addr, const char *name);

/* A TLS name looked up in the global scope (RTLD_DEFAULT, RTLD_NEXT): our exported hook
 * would answer even in a process without libssl, where the program must get NULL, as it
 * does bare (it probes before calling). The answer is NULL unless a real function exists
 * after us in the global scope or in the scope of the module that asked; then our hook
 * (which calls it), or the real one when connleak is off. Enabled or not. */
static void *dlsym_global_tls(const char *name, const struct tls_hook *h, const void *caller)
{
	void *p = get_real_dlsym()(RTLD_NEXT, name);
	if (!p)
		p = in_module_of(caller, name);
	if (!p || p == h->hook)
		return NULL;
	if (!hook_enabled)
		return p;
	if (!*h->real)
		*h->real = p;
	return *h->real == p ? h->hook : p;
}

/* The pass-through path must stay a tail call whatever the build's flags. */
HOOK TAIL_FN SANITIZER_EARLY void *dlsym(void *handle, const char *name)
{
	const struct tls_hook *h;
	if (!(h = find_hook(name)))
		TAIL_RETURN get_real_dlsym()(handle, name);
	if (handle == RTLD_NEXT || handle == RTLD_DEFAULT)
		return dlsym_global_tls(name, h, __builtin_return_address(0));
	if (!hook_enabled)
		TAIL_RETURN get_real_dlsym()(handle, name);
	return dlsym_tls(handle, name, h);
}

/* `name` in the libraries the module holding `addr` was linked with: a dlsym on its handle
 * searches the module and its dependencies, which is where its own calls would go. */
static void *in_module_of(const void *addr, const char *name)
{
	Dl_info info;
	void *p = NULL;
	if (!addr || !dladdr(addr, &info) || !info.dli_fname)
		return NULL;
	void *lib = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
	if (lib) {
		p = get_real_dlsym()(lib, name);
		dlclose(lib);
	}
	uintptr_t lo, hi;
	self_range(&lo, &hi);
	/* The main program's scope starts with us: that answer is our own hook. */
	return p && !self_contains((uintptr_t)p, lo, hi) ? p : NULL;
}

void *tls_real(void **slot, const char *name, void *anchor, const void *caller)
{
	if (*slot)
		return *slot;
	/* Linked into the program: next after us in the global scope. Loaded by dlopen with
	 * RTLD_LOCAL (Python's _ssl module): in the scope of the module calling us, or of
	 * the library a real pointer we already hold came from. */
	void *p = get_real_dlsym()(RTLD_NEXT, name);
	if (!p)
		p = in_module_of(caller, name);
	if (!p)
		p = in_module_of(anchor, name);
	if (p)
		*slot = p;
	return p;
}
