#ifndef POSTERN_UIDL_CMD_H
#define POSTERN_UIDL_CMD_H

#include "admin/user_cmd.h"

/* "postern uidl import ...": argv[0] is "uidl"; an ADMIN_EXIT_* status. */
int uidl_cmd(const struct admin_ctx *ctx, int argc, char **argv);
/* Its lines for postern --help. */
extern const char uidl_cmd_usage[];

#endif
