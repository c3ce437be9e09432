/* Human words for the model's values: kind names, addresses, TCP states, one-sentence
 * messages. Shared by the JSON and text writers so they always say the same thing. */
#ifndef CONNLEAK_DESCRIBE_H
#define CONNLEAK_DESCRIBE_H

#include <stddef.h>
#include <sys/socket.h>

#include "../track/findings.h"

const char *kind_name(int kind);
const char *family_name(int family);
const char *type_name(int type);
const char *origin_name(int origin);
const char *tcp_state_name(int state); /* NULL when unknown */
/* "127.0.0.1:80", "[::1]:80", "unix:/path", "unix:@abstract"; empty when unknown. */
void format_addr(const struct sockaddr_storage *a, socklen_t len, char *buf, size_t n);
/* snapshot: the process is still running, so what is open is open now, not at exit. */
void finding_message(const struct finding *f, int snapshot, char *buf, size_t n);

#endif
