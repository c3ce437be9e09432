/* What a socket still open at exit is: the connection equivalent of LeakSanitizer's
 * "still reachable" versus "definitely lost".
 *
 *   not a connection  a non-stream socket with no peer (ping's ICMP socket, an unconnected
 *                     UDP socket): never a finding
 *   open-at-exit      held ready for reuse: idle after a complete exchange (a client whose
 *                     last request got its reply, a server whose last reply went out), or
 *                     one of a pool of connections from one call site to one peer all in
 *                     use up to the exit; peer still there, and not abandoned: counted in
 *                     stats.reusable_at_exit, a finding only with show_open_at_exit=1
 *   leaked-socket     everything else: never used, in CLOSE_WAIT or past the peer's EOF,
 *                     left alone in the middle of an exchange, or abandoned: idle since a newer
 *                     socket was made from the same call site to the same peer (the
 *                     program opened a new connection instead of reusing or closing it)
 * Model lock held. */
#ifndef CONNLEAK_ATEXIT_H
#define CONNLEAK_ATEXIT_H

#include "sock.h"

enum atexit_class { AX_NOT_CONNECTION, AX_OPEN_AT_EXIT, AX_LEAKED };

/* Once before classifying: notes the newest socket of each (call site, peer). */
void atexit_begin(void);
enum atexit_class atexit_classify(const struct sock *s, int tcp_state);
void atexit_end(void);

#endif
