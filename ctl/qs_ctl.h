/* qs_ctl.h - qsctl sub-commands: one function per command, one file each.
 *
 * Every command parses its own flags (getopt_long), prints --help and exits
 * 0 ok, 1 failure, 2 usage error. Helpers shared by commands (opening the
 * site, output formats) are declared in ctl_common.h.
 */
#ifndef QS_CTL_H
#define QS_CTL_H

int cmd_init(int argc, char **argv);
int cmd_enroll(int argc, char **argv);
int cmd_revoke(int argc, char **argv);
int cmd_policy(int argc, char **argv);
int cmd_compliance(int argc, char **argv);
int cmd_lookup(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_forget(int argc, char **argv);
int cmd_resync(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_user(int argc, char **argv);
int cmd_migrate(int argc, char **argv);
int cmd_deployment(int argc, char **argv);

#endif
