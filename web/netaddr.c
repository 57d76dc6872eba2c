/* netaddr.c - qs-web's addresses: the listen address and who is on loopback (see netaddr.h). */
#include "netaddr.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "qs_limits.h"

/* Resolve "host:port" ("[v6]:port" for IPv6) into *addr. 0 or -1 with errmsg. */
int
qs_web_listen_addr(struct sockaddr_storage *addr, socklen_t *addr_len, const char *listen,
                   char *errmsg, size_t errmsg_len)
{
    char host[QS_MAX_ENDPOINT_BYTES];
    const char *colon = strrchr(listen, ':');
    struct addrinfo hints, *res = NULL;
    size_t hlen;
    int rc;

    if (colon == NULL || colon[1] == '\0' || (size_t)(colon - listen) >= sizeof host) {
        snprintf(errmsg, errmsg_len, "[web] listen '%s' is not host:port", listen);
        return -1;
    }
    hlen = (size_t)(colon - listen);
    memcpy(host, listen, hlen);
    host[hlen] = '\0';
    if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
        memmove(host, host + 1, hlen - 2);
        host[hlen - 2] = '\0';
    }
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    rc = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &res);
    if (rc != 0 || res == NULL || res->ai_addrlen > sizeof *addr) {
        snprintf(errmsg, errmsg_len, "[web] listen '%s': %s", listen,
                 rc != 0 ? gai_strerror(rc) : "no address");
        if (res != NULL)
            freeaddrinfo(res);
        return -1;
    }
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    *addr_len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

int
qs_web_is_loopback(const struct sockaddr_storage *addr)
{
    if (addr->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)addr)->sin_addr.s_addr) >> 24) == 127;
    if (addr->ss_family == AF_INET6)
        return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)addr)->sin6_addr);
    return 0;
}

int
qs_web_client_is_loopback(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    struct sockaddr_storage ss;

    if (ci == NULL || ci->client_addr == NULL)
        return 0;
    memset(&ss, 0, sizeof ss);
    memcpy(&ss, ci->client_addr, ci->client_addr->sa_family == AF_INET6
                                     ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
    return qs_web_is_loopback(&ss);
}
