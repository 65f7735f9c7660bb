// SPDX-License-Identifier: Apache-2.0
/*
 * opts.c: the control plane's default options. Its own file because it is the only part of
 * control/ that needs the storage engine's defaults (sl_plog_cfg_default); callers that
 * fill struct sl_ctrl_opts themselves (tests) do not pull it in. Any thread; no state.
 */
#include <string.h>

#include "control/control.h"

void
sl_ctrl_opts_default(struct sl_ctrl_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->log_dir = "./data";
	o->nshards = 1;
	o->ring_slots = 1024;
	o->adv_host = "127.0.0.1";
	o->adv_port = 9092;
	o->num_partitions = 1;
	o->default_replication_factor = 1;
	o->auto_create_topics = true;
	sl_plog_cfg_default(&o->topic_defaults);
}
