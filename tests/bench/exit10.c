/* exit10: a process that ends with 10 findings (ten sockets left open, each from its own
 * call site, so ten groups with distinct stacks), for `make bench`'s exit-cost row. */
#include <sys/socket.h>
#include <unistd.h>

#define SITE(n) \
    __attribute__((noinline)) static int site##n(void) { return socket(AF_INET, SOCK_STREAM, 0); }
SITE(0) SITE(1) SITE(2) SITE(3) SITE(4) SITE(5) SITE(6) SITE(7) SITE(8) SITE(9)

int main(void)
{
    int (*sites[])(void) = {site0, site1, site2, site3, site4,
                            site5, site6, site7, site8, site9};
    for (int i = 0; i < 10; i++)
        if (sites[i]() < 0)
            return 1;
    return 0;
}
