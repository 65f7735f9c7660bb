// SPDX-License-Identifier: Apache-2.0
/*
 * pid.c: InitProducerId 0-4 for idempotent producers: hands out producer ids (epoch 0)
 * that are never reused, even across restarts.
 *
 * Ids come from blocks of PID_BLOCK. Before the first id of a block is handed out, the end
 * of the block is written to <log_dir>/producer-id-block (one decimal line, written to a
 * temporary file, fsynced, renamed over the old one, directory fsynced), so a restart
 * starts after every id that may have been given: at worst the rest of a block is skipped.
 * (Kafka's ProducerIdManager reserves blocks of 1000 in ZooKeeper the same way.)
 *
 * Non-idempotent requests only: a transactional_id asks for a transaction coordinator,
 * which sluice does not have (answered TRANSACTIONAL_ID_AUTHORIZATION_FAILED). For an
 * idempotent producer Kafka ignores v3+'s producer_id/epoch and always gives a new id with
 * epoch 0 (KafkaApis.handleInitProducerIdRequest with a null transactional id); so do we.
 *
 * Control thread only; the reservation blocks on an fsync about once per PID_BLOCK ids.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/kproto/api.h"
#include "common/kproto/init_producer_id.h"
#include "common/log.h"
#include "control/ctrl_int.h"

#define PID_BLOCK 1000
#define PID_FILE "producer-id-block"

enum {
	KERR_COORDINATOR_NOT_AVAILABLE = 15,
	KERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53,
};

/* The end of the last reserved block, 0 when no file (-errno when unreadable). */
static int64_t
block_load(const char *dir)
{
	char path[4096], buf[64];
	int64_t v;
	char *end;
	ssize_t n;
	int fd;

	if (snprintf(path, sizeof(path), "%s/%s", dir, PID_FILE) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	errno = 0;
	v = strtoll(buf, &end, 10);
	if (errno || end == buf || (*end && *end != '\n') || v < 0) {
		SL_ERR("control: %s/%s is malformed; refusing to hand out producer ids", dir,
		       PID_FILE);
		return -EBADMSG;
	}
	return v;
}

/* Writes the new block end durably (temp file, fsync, rename, directory fsync). */
static int
block_store(const char *dir, int64_t end_id)
{
	char path[4096], tmp[4096], buf[32];
	int fd, dfd, len, rc = 0;

	if (snprintf(path, sizeof(path), "%s/%s", dir, PID_FILE) >= (int)sizeof(path) ||
	    snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dir, PID_FILE) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	len = snprintf(buf, sizeof(buf), "%" PRId64 "\n", end_id);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, buf, (size_t)len) != len || fsync(fd) < 0)
		rc = errno ? -errno : -EIO;
	close(fd);
	if (!rc && rename(tmp, path) < 0)
		rc = -errno;
	if (rc) {
		(void)unlink(tmp);
		return rc;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	if (fsync(dfd) < 0)
		rc = -errno;
	close(dfd);
	return rc;
}

int
ctl_pid_alloc(struct sl_ctrl *c, int64_t *out)
{
	int rc;

	if (c->pid_end == 0) {
		int64_t v = block_load(c->log_dir);

		if (v < 0)
			return (int)v;
		c->pid_next = c->pid_end = v;
	}
	if (c->pid_next >= c->pid_end) {
		int64_t end_id;

		if (c->pid_next > INT64_MAX - PID_BLOCK)
			return -EOVERFLOW;
		end_id = c->pid_next + PID_BLOCK;
		rc = block_store(c->log_dir, end_id);
		if (rc < 0) {
			SL_LOG_RATELIMIT(SL_LOG_ERROR, "control: cannot reserve producer ids: %s",
			                 strerror(-rc));
			return rc;
		}
		c->pid_end = end_id;
	}
	*out = c->pid_next++;
	return 0;
}

int
ctl_init_producer_id(struct sl_ctrl *c, uint16_t shard, struct sl_ctrl_req *req,
                     struct sl_crd *rd)
{
	struct sl_init_producer_id_req in;
	struct sl_init_producer_id_resp out;
	int64_t pid;

	sl_init_producer_id_req_init(&in);
	if (sl_init_producer_id_req_decode(rd, req->api_version, &in) < 0)
		return -EBADMSG;
	sl_init_producer_id_resp_init(&out);
	out.throttle_time_ms = 0;
	out.producer_id = -1;
	out.producer_epoch = -1;
	if (in.transactional_id.len >= 0) {
		/* No transaction coordinator: Kafka answers a transactional producer whose
		 * coordinator is missing with COORDINATOR_NOT_AVAILABLE, which clients retry
		 * forever; refuse it plainly instead. */
		out.error_code = KERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
	} else if (ctl_pid_alloc(c, &pid) < 0) {
		/* retriable for the client: the disk may come back */
		out.error_code = KERR_COORDINATOR_NOT_AVAILABLE;
	} else {
		out.error_code = KERR_NONE;
		out.producer_id = pid;
		out.producer_epoch = 0;
	}
	ctl_answer_req(c, shard, req, &out);
	return 0;
}
