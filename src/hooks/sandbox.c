/* Seccomp sandboxes (sshd's pre-auth child): a filter may kill the process for any system
 * call it does not expect, so before the filter is installed connleak writes the report
 * (it says tracking stopped at the sandbox), stops its snapshot thread, gives the signals
 * it handled back to the default action and switches itself off: every hook is then a
 * straight pass-through that makes no system call of its own. */
#include <linux/seccomp.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "../report/report.h"
#include "../report/snapshot.h"
#include "hook.h"

void hook_before_sandbox(void)
{
	if (!hook_active())
		return;
	hook_busy++;
	snapshot_stop();
	hook_sandbox_report();
	signals_release();
	hook_enabled = 0;
	hook_busy--;
}

HOOK int prctl(int option, ...)
{
	va_list ap;
	va_start(ap, option);
	unsigned long a2 = va_arg(ap, unsigned long), a3 = va_arg(ap, unsigned long),
		      a4 = va_arg(ap, unsigned long), a5 = va_arg(ap, unsigned long);
	va_end(ap);
	if (option == PR_SET_SECCOMP && (a2 == SECCOMP_MODE_FILTER || a2 == SECCOMP_MODE_STRICT))
		hook_before_sandbox();
	return REAL(prctl)(option, a2, a3, a4, a5);
}
