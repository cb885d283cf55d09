#ifndef POSTERN_STATUS_CMD_H
#define POSTERN_STATUS_CMD_H

#include "common/conf.h"

/* Views of the scoreboard in state_dir, read without disturbing any
 * session. "postern status": the master and every worker. */
int status_cmd(const struct config *cfg, int argc, char **argv);
/* "postern metrics": the counters of daemon/metrics.h and the workers by
 * state, in the OpenMetrics text format. */
int metrics_cmd(const struct config *cfg, int argc, char **argv);

#endif
