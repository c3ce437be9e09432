/* Memory-BIO TLS sessions (track/tls_bio.c): bound to the socket whose next send starts
 * with the ciphertext BIO_read handed out of the session's write BIO; nothing else binds
 * them, and nothing stays pending once matched. */
#include <criterion/criterion.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "track/model.h"
#include "track/tls.h"
#include "track/tls_bio.h"
#include "util/real.h"

static struct options opts;
static int session_obj, wbio_obj, other_bio;

static int tracked_socket(void)
{
	real_init();
	options_defaults(&opts);
	model_init(&opts);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0);
	model_new_socket(fd, AF_INET, SOCK_STREAM, ORIGIN_SOCKET);
	return fd;
}

Test(tls_bio, next_send_of_the_handed_out_ciphertext_binds)
{
	int fd = tracked_socket(), other = tracked_socket();
	tls_new(&session_obj, TLS_OPENSSL);
	tls_bio_note(&session_obj, &wbio_obj);
	cr_assert_not(tls_is_bound(&session_obj));
	unsigned char hello[300];
	for (unsigned i = 0; i < sizeof hello; i++)
		hello[i] = (unsigned char)(i * 7 + 3);
	/* another BIO's output is not this session's */
	tls_bio_out(&other_bio, hello, sizeof hello);
	cr_assert_eq(atomic_load(&tls_bio_pending), 0);
	tls_bio_out(&wbio_obj, hello, sizeof hello);
	cr_assert_eq(atomic_load(&tls_bio_pending), 1);
	/* other bytes on another socket: not it */
	unsigned char plain[300];
	memset(plain, 'x', sizeof plain);
	tls_bio_match(other, plain, sizeof plain);
	cr_assert_not(tls_is_bound(&session_obj));
	/* the same first bytes, shorter than the hashed prefix: not it either */
	tls_bio_match(other, hello, 16);
	cr_assert_not(tls_is_bound(&session_obj));
	/* the ciphertext itself */
	tls_bio_match(fd, hello, sizeof hello);
	cr_assert(tls_is_bound(&session_obj));
	cr_assert_eq(atomic_load(&tls_bio_pending), 0);
	/* bound: its later output is not looked for */
	tls_bio_out(&wbio_obj, hello, sizeof hello);
	cr_assert_eq(atomic_load(&tls_bio_pending), 0);
	close(fd);
	close(other);
}

Test(tls_bio, renoted_session_forgets_the_old_bio)
{
	tracked_socket();
	tls_new(&session_obj, TLS_OPENSSL);
	tls_bio_note(&session_obj, &wbio_obj);
	tls_bio_note(&session_obj, &other_bio); /* SSL_set0_wbio with a new BIO */
	unsigned char rec[64] = {0x16, 0x03, 0x01};
	tls_bio_out(&wbio_obj, rec, sizeof rec);
	cr_assert_eq(atomic_load(&tls_bio_pending), 0);
	tls_bio_out(&other_bio, rec, sizeof rec);
	cr_assert_eq(atomic_load(&tls_bio_pending), 1);
}

static int direct_calls;

static void go_direct(void *arg)
{
	(void)arg;
	direct_calls++;
}

/* BIO_read's hook goes straight to the real function (tls_bio_when_empty) only while no
 * session waits for its ciphertext, so a noted session's handshake output is looked at. */
Test(tls_bio, direct_read_path_only_while_nothing_waits)
{
	int fd = tracked_socket();
	tls_bio_when_empty(go_direct, NULL);
	cr_assert_eq(direct_calls, 1, "empty table: the direct path");
	tls_new(&session_obj, TLS_OPENSSL);
	tls_bio_note(&session_obj, &wbio_obj);
	tls_bio_when_empty(go_direct, NULL);
	cr_assert_eq(direct_calls, 1, "a session waits: BIO_read must keep looking");
	unsigned char hello[64];
	memset(hello, 0x16, sizeof hello);
	tls_bio_out(&wbio_obj, hello, sizeof hello);
	tls_bio_match(fd, hello, sizeof hello);
	cr_assert(tls_is_bound(&session_obj));
	tls_bio_when_empty(go_direct, NULL);
	cr_assert_eq(direct_calls, 2, "matched: nothing waits, the direct path again");
	tls_free(&session_obj);
	close(fd);
}
