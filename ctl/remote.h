/* remote.h - qsctl against a remote qs-web: `qsctl --url URL --token-file FILE CMD …`.
 *
 * With --url (or QS_URL) qsctl needs no site home: it asks qs-web over HTTPS
 * (libcurl, certificate verification on; --cacert FILE or QS_CACERT for a
 * private CA) with the bearer token read from the token file (--token-file or
 * QS_TOKEN_FILE; refused unless 0600 or stricter, like the daemons' keys),
 * and prints the same output as the local command for the same document.
 * Commands: policy show|history|set, audit show|verify, compliance (also
 * --deployment ID), stats, lookup (needs --reason), forget, verify,
 * deployment list|show.
 */
#ifndef QS_CTL_REMOTE_H
#define QS_CTL_REMOTE_H

/* 1 when this run is remote: global options (--url, --token-file, --cacert)
 * come before the command, or QS_URL is set, the command is one of the
 * remote ones and no --home is given. */
int ctl_remote_wanted(int argc, char **argv);

/* Run the remote command; returns the exit code (0, 1, 2). */
int ctl_remote_main(int argc, char **argv);

#endif
