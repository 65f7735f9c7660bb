/* SPDX-License-Identifier: Apache-2.0 */
/*
 * group.h: the consumer-group coordinator's state machine (Kafka's classic group protocol:
 * JoinGroup, SyncGroup, Heartbeat, LeaveGroup, plus the group checks of OffsetCommit,
 * DescribeGroups, ListGroups and DeleteGroups), as a pure module.
 *
 * Pure: no I/O, no threads, no clock, no wire types. Inputs are the plain structs below;
 * time comes only from the now_ms arguments (any monotonic millisecond clock; tests use a
 * fake one). Answers that Kafka parks until a rebalance completes (JoinGroup, SyncGroup)
 * come back through a completion struct the caller owns and embeds in its request context
 * (SL_CONTAINER_OF finds the context); the others are returned at once.
 *
 * One table (struct sl_group_tab) holds every group of a coordinator. A table is not
 * thread-safe: one thread (the control plane's) makes every call. Allocates with malloc
 * (groups, members, copies of ids, metadata and assignments): this is the control plane,
 * not the hot path. Never blocks. The behaviour follows Kafka 3.9's GroupCoordinator
 * (kafka.coordinator.group); the places where sluice deliberately differs say so in
 * group.c.
 *
 * Return convention of the request functions: >= 0 is handled (for the synchronous ones, the
 * Kafka error code to answer with, enum sl_group_kerr), < 0 is -errno (-ENOMEM: no memory,
 * nothing changed; -EINVAL: malformed arguments such as a NULL pointer or a negative
 * length other than -1). The caller maps -errno to a Kafka code in its one mapping function
 * (e.g. -ENOMEM -> COORDINATOR_NOT_AVAILABLE so the client retries).
 *
 * Completions: sl_group_join / sl_group_sync returning 0 mean the completion's fn will be
 * called exactly once, maybe before the call returns, maybe from a later call (another
 * member's join, a tick, sl_group_tab_destroy). Returning < 0 means it will never be
 * called. Until it is called, the completion must stay valid. fn must not call into the
 * same table; everything the answer points to (strings, member lists, metadata) is
 * borrowed for the duration of fn only: encode or copy it there.
 */
#ifndef SL_CONTROL_GROUP_H
#define SL_CONTROL_GROUP_H

#include <stdbool.h>
#include <stdint.h>

#include "common/compiler.h"
#include "common/kbuf.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Kafka error codes (Errors.java) this module answers with. */
enum sl_group_kerr {
	SL_GROUP_KERR_UNKNOWN_SERVER_ERROR = -1,
	SL_GROUP_KERR_NONE = 0,
	SL_GROUP_KERR_COORDINATOR_NOT_AVAILABLE = 15,
	SL_GROUP_KERR_NOT_COORDINATOR = 16,
	SL_GROUP_KERR_ILLEGAL_GENERATION = 22,
	SL_GROUP_KERR_INCONSISTENT_GROUP_PROTOCOL = 23,
	SL_GROUP_KERR_INVALID_GROUP_ID = 24,
	SL_GROUP_KERR_UNKNOWN_MEMBER_ID = 25,
	SL_GROUP_KERR_INVALID_SESSION_TIMEOUT = 26,
	SL_GROUP_KERR_REBALANCE_IN_PROGRESS = 27,
	SL_GROUP_KERR_INVALID_REQUEST = 42,
	SL_GROUP_KERR_NON_EMPTY_GROUP = 68,
	SL_GROUP_KERR_GROUP_ID_NOT_FOUND = 69,
	SL_GROUP_KERR_MEMBER_ID_REQUIRED = 79,
	SL_GROUP_KERR_GROUP_MAX_SIZE_REACHED = 81,
	SL_GROUP_KERR_FENCED_INSTANCE_ID = 82,
};

/* Kafka's group states; sl_group_state_name gives the names DescribeGroups/ListGroups use. */
enum sl_group_state {
	SL_GROUP_EMPTY = 0,
	SL_GROUP_PREPARING_REBALANCE,
	SL_GROUP_COMPLETING_REBALANCE, /* AwaitingSync in older Kafka */
	SL_GROUP_STABLE,
	SL_GROUP_DEAD,
};

/* "Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead"; "Unknown" else. */
const char *sl_group_state_name(enum sl_group_state s);

/* More protocols than this in one JoinGroup is answered with INVALID_REQUEST (clients send
 * one per assignor: 1-3). Bounds the work of protocol selection. */
#define SL_GROUP_PROTOCOLS_MAX 64

/* A byte blob; len 0 = empty (p may be NULL then). */
struct sl_group_blob {
	const uint8_t *p;
	int32_t len;
};

struct sl_group_cfg {
	int32_t min_session_timeout_ms;     /* group.min.session.timeout.ms (6000) */
	int32_t max_session_timeout_ms;     /* group.max.session.timeout.ms (1800000) */
	int32_t initial_rebalance_delay_ms; /* group.initial.rebalance.delay.ms (3000) */
	int32_t max_size;                   /* group.max.size (INT32_MAX) */
	/* How long a new member may wait in its first JoinGroup before it is dropped (Kafka's
	 * fixed GroupCoordinator.NewMemberJoinTimeoutMs: 300000). */
	int32_t new_member_join_timeout_ms;
	/* Seeds the member-id generator (ids are "<client.id or group.instance.id>-<uuid>").
	 * The caller draws it from a real random source; tests fix it. */
	uint64_t seed;
};

/* Kafka's defaults, as noted above; seed 0. */
void sl_group_cfg_default(struct sl_group_cfg *c);

struct sl_group_tab;

/* Returns 0, -EINVAL (a timeout < 0, min > max, max_size < 1) or -ENOMEM. */
int sl_group_tab_create(struct sl_group_tab **out /* OUT */,
                        const struct sl_group_cfg *cfg) SL_MUST_CHECK;

/* Answers every parked JoinGroup and SyncGroup with NOT_COORDINATOR (what Kafka does when a
 * coordinator unloads its groups), then frees everything. NULL is a no-op. */
void sl_group_tab_destroy(struct sl_group_tab *t);

/* ---- JoinGroup ---- */

struct sl_group_protocol {
	struct sl_str name;
	struct sl_group_blob metadata;
};

struct sl_group_join_req {
	struct sl_str group_id;
	struct sl_str member_id;         /* "" (or null) on a first join */
	struct sl_str group_instance_id; /* static membership (v5+); len -1 = none */
	struct sl_str client_id;         /* from the request header; prefixes new member ids */
	struct sl_str client_host;       /* the peer's address, for DescribeGroups */
	int32_t session_timeout_ms;
	int32_t rebalance_timeout_ms; /* v1+; < 0 (v0) = session_timeout_ms, as Kafka */
	struct sl_str protocol_type;  /* "consumer", "connect", ... */
	const struct sl_group_protocol *protocols; /* in the member's order of preference */
	int32_t protocols_cnt;
	/* JoinGroup v4+ (KIP-394): a first join of a dynamic member is answered with a new
	 * member id and MEMBER_ID_REQUIRED, and the member joins again with it. */
	bool require_known_member_id;
};

/* One member as the leader's JoinGroup answer and DescribeGroups show it. Borrowed. */
struct sl_group_member_view {
	struct sl_str member_id;
	struct sl_str group_instance_id; /* len -1 = dynamic member */
	struct sl_str client_id;
	struct sl_str client_host;
	struct sl_group_blob metadata;   /* for the group's protocol */
	struct sl_group_blob assignment; /* DescribeGroups of a Stable group only */
};

struct sl_group_join_resp {
	int16_t error_code;
	int32_t generation_id;       /* -1 with an error */
	struct sl_str protocol_type; /* len -1 with an error (v0-6 encode null as "") */
	struct sl_str protocol_name; /* len -1 with an error (v0-6 encode null as "") */
	struct sl_str leader;        /* "" with an error */
	struct sl_str member_id;     /* the member's id (the new one with MEMBER_ID_REQUIRED) */
	const struct sl_group_member_view *members; /* the leader's answer only, else NULL */
	int32_t members_cnt;
};

struct sl_group_join_cpl;
typedef void (*sl_group_join_fn)(struct sl_group_join_cpl *c, const struct sl_group_join_resp *r);

struct sl_group_join_cpl {
	sl_group_join_fn fn; /* set by the caller */
};

/*
 * JoinGroup. Creates the group when it does not exist and member_id is empty. Answers (maybe
 * much later, see the top of this file) with the new generation, or with one of
 * INVALID_GROUP_ID, INVALID_SESSION_TIMEOUT, UNKNOWN_MEMBER_ID, MEMBER_ID_REQUIRED,
 * INCONSISTENT_GROUP_PROTOCOL, FENCED_INSTANCE_ID, GROUP_MAX_SIZE_REACHED, INVALID_REQUEST,
 * REBALANCE_IN_PROGRESS (a newer JoinGroup of the same member replaced this one),
 * NOT_COORDINATOR (table destroyed). Returns 0, -EINVAL or -ENOMEM.
 */
int sl_group_join(struct sl_group_tab *t, const struct sl_group_join_req *req, int64_t now_ms,
                  struct sl_group_join_cpl *cpl) SL_MUST_CHECK;

/* ---- SyncGroup ---- */

struct sl_group_assignment {
	struct sl_str member_id;
	struct sl_group_blob assignment;
};

struct sl_group_sync_req {
	struct sl_str group_id;
	struct sl_str member_id;
	struct sl_str group_instance_id; /* len -1 = none */
	int32_t generation_id;
	struct sl_str protocol_type; /* v5+; len -1 = not checked */
	struct sl_str protocol_name; /* v5+; len -1 = not checked */
	/* The leader's assignment (ignored from followers). Members left out get an empty
	 * one; entries for ids that are not members are ignored; a repeated id: the last wins. */
	const struct sl_group_assignment *assignments;
	int32_t assignments_cnt;
};

struct sl_group_sync_resp {
	int16_t error_code;
	struct sl_str protocol_type;     /* len -1 with an error */
	struct sl_str protocol_name;     /* len -1 with an error */
	struct sl_group_blob assignment; /* empty with an error */
};

struct sl_group_sync_cpl;
typedef void (*sl_group_sync_fn)(struct sl_group_sync_cpl *c, const struct sl_group_sync_resp *r);

struct sl_group_sync_cpl {
	sl_group_sync_fn fn; /* set by the caller */
};

/*
 * SyncGroup. A follower that arrives before the leader waits for the leader's assignment;
 * the leader's assignment is stored and delivered to every waiting member, and the group
 * becomes Stable. Errors: INVALID_GROUP_ID, UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID,
 * ILLEGAL_GENERATION, INCONSISTENT_GROUP_PROTOCOL, REBALANCE_IN_PROGRESS (a rebalance
 * started before or while it waited, or a newer SyncGroup of the member replaced it),
 * NOT_COORDINATOR. Returns 0, -EINVAL or -ENOMEM.
 */
int sl_group_sync(struct sl_group_tab *t, const struct sl_group_sync_req *req, int64_t now_ms,
                  struct sl_group_sync_cpl *cpl) SL_MUST_CHECK;

/* ---- Heartbeat, LeaveGroup, OffsetCommit checks ---- */

struct sl_group_member_ref {
	struct sl_str group_id;
	struct sl_str member_id;
	struct sl_str group_instance_id; /* len -1 = none */
	int32_t generation_id;
};

/*
 * Heartbeat: resets the member's session timer. Returns NONE, REBALANCE_IN_PROGRESS (rejoin),
 * INVALID_GROUP_ID, UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID, ILLEGAL_GENERATION; or -EINVAL.
 */
int sl_group_heartbeat(struct sl_group_tab *t, const struct sl_group_member_ref *req,
                       int64_t now_ms) SL_MUST_CHECK;

struct sl_group_leave_member {
	struct sl_str member_id;         /* "" with an instance id: remove that static member */
	struct sl_str group_instance_id; /* len -1 = none */
	int16_t error_code;              /* OUT: NONE, UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID */
};

/*
 * LeaveGroup (v3+ batches members; older versions send one, and their top-level error is
 * that member's). Each member leaving triggers a rebalance. Returns the top-level error
 * (NONE or INVALID_GROUP_ID) and fills each member's error_code; or -EINVAL.
 */
int sl_group_leave(struct sl_group_tab *t, struct sl_str group_id,
                   struct sl_group_leave_member *members, int32_t members_cnt,
                   int64_t now_ms) SL_MUST_CHECK;

/*
 * Whether an OffsetCommit (or, with transactional, a TxnOffsetCommit) from
 * (generation_id, member_id, group_instance_id) may be written. Generation -1 with an empty
 * member id and no instance id is the manual-assignment case: allowed when the group has no
 * members (a missing group is then created, Empty, as Kafka does). Otherwise the member must
 * be current and the generation the group's. A commit from a member resets its session
 * timer. Returns NONE, INVALID_GROUP_ID (null group id), UNKNOWN_MEMBER_ID,
 * FENCED_INSTANCE_ID, ILLEGAL_GENERATION, REBALANCE_IN_PROGRESS (CompletingRebalance);
 * -EINVAL or -ENOMEM.
 */
int sl_group_commit_check(struct sl_group_tab *t, const struct sl_group_member_ref *req,
                          bool transactional, int64_t now_ms) SL_MUST_CHECK;

/* ---- DescribeGroups, ListGroups, DeleteGroups ---- */

struct sl_group_desc {
	enum sl_group_state state;
	const char *state_name;
	struct sl_str protocol_type; /* "" when none */
	struct sl_str
	        protocol_name; /* the protocol in Stable, "" otherwise (Kafka's protocol_data) */
	const struct sl_group_member_view *members; /* metadata+assignment only when Stable */
	int32_t members_cnt;
};

/* Fills out; an unknown group is described as Dead with no members, as Kafka does. What out
 * points to is valid until the next call into the table. */
void sl_group_describe(struct sl_group_tab *t, struct sl_str group_id,
                       struct sl_group_desc *out /* OUT */);

struct sl_group_list_entry {
	struct sl_str group_id;
	struct sl_str protocol_type; /* "" when none */
	enum sl_group_state state;
	const char *state_name;
};

typedef void (*sl_group_list_fn)(void *arg, const struct sl_group_list_entry *e);

/* Calls fn once per group (in no particular order); e is borrowed for the call. fn must not
 * call into the table. */
void sl_group_list(const struct sl_group_tab *t, sl_group_list_fn fn, void *arg);

/* DeleteGroups: an Empty group becomes Dead and is freed. Returns NONE, GROUP_ID_NOT_FOUND,
 * NON_EMPTY_GROUP. Its committed offsets are the caller's to delete. */
int sl_group_delete(struct sl_group_tab *t, struct sl_str group_id);

/* ---- time ---- */

/*
 * Fires every timer due at now_ms, in due order: expiry of members whose session passed
 * without a heartbeat (and of MEMBER_ID_REQUIRED ids never used), the rebalance timeout
 * (members that did not rejoin are removed and the JoinGroup answers go out), the delayed
 * initial rebalance, and the SyncGroup deadline (members that never sent SyncGroup after a
 * rebalance are removed). Timers re-armed here count from now_ms.
 */
void sl_group_tick(struct sl_group_tab *t, int64_t now_ms);

/* The earliest armed timer of any group (INT64_MAX: none); sl_group_tick is due then. */
int64_t sl_group_next_deadline(const struct sl_group_tab *t);

/* Checks every invariant listed in group.c; true when they hold. For tests and SL_ASSERT. */
bool sl_group_tab_check(const struct sl_group_tab *t);

#ifdef __cplusplus
}
#endif

#endif
