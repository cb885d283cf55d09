#ifndef POSTERN_STATUS_CMD_H
#define POSTERN_STATUS_CMD_H

#include "common/conf.h"

/* "postern status": the master and every worker, read from the
 * scoreboard in state_dir without disturbing any session. */
int status_cmd(const struct config *cfg, int argc, char **argv);

#endif
