// SPDX-License-Identifier: Apache-2.0
/*
 * group_test.c: unit tests of the consumer-group state machine (control/group.c), driven
 * with a fake clock (the now_ms arguments). Each simulated client keeps the member id and
 * generation its answers gave it, as a real consumer does.
 *
 * Built twice: group_test, and group_oom_test (-DSL_GROUP_TEST_OOM, linked with
 * --wrap=malloc,calloc,realloc around group.c), which also runs a scenario failing its Nth
 * allocation for every N, to check that -ENOMEM leaves the table as it was.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/compiler.h"
#include "control/group.h"

#define S(x) ((struct sl_str){(x), (int32_t)strlen(x)})
#define SNULL ((struct sl_str){NULL, -1})
#define GID "g1"
#define SESSION_MS 10000
#define REBALANCE_MS 30000
#define MAXM 8

struct cli {
	const char *client_id;
	const char *instance; /* NULL: dynamic */
	const char *protos;   /* "name=meta;name=meta" */
	const char *ptype;    /* NULL: "consumer" */
	int32_t session_ms;
	int32_t rebalance_ms;
	char member_id[256];
	int32_t gen;
	/* the last JoinGroup answer */
	struct sl_group_join_cpl jc;
	int jcalls;
	int16_t jerr;
	int32_t jgen;
	char jmember[256];
	char jleader[256];
	char jproto[64];
	bool jproto_null;
	int jnmembers;
	char jmembers[MAXM][256];
	char jmeta[MAXM][64];
	int jissued; /* requests that returned 0 (group_oom_test) */
	int sissued;
	/* the last SyncGroup answer */
	struct sl_group_sync_cpl sc;
	int scalls;
	int16_t serr;
	char sassign[128];
	int32_t salen;
	char sproto[64];
};

static bool
sstr_eq(struct sl_str a, struct sl_str b)
{
	return a.len == b.len && (a.len <= 0 || memcmp(a.p, b.p, (size_t)a.len) == 0);
}

static void
copy_str(char *dst, size_t cap, struct sl_str s)
{
	size_t n = s.len > 0 ? (size_t)s.len : 0;

	assert_true(n < cap);
	if (n)
		memcpy(dst, s.p, n);
	dst[n] = '\0';
}

static void
join_cb(struct sl_group_join_cpl *c, const struct sl_group_join_resp *r)
{
	struct cli *cl = SL_CONTAINER_OF(c, struct cli, jc);

	cl->jcalls++;
	cl->jerr = r->error_code;
	cl->jgen = r->generation_id;
	copy_str(cl->jmember, sizeof(cl->jmember), r->member_id);
	copy_str(cl->jleader, sizeof(cl->jleader), r->leader);
	cl->jproto_null = r->protocol_name.len < 0;
	copy_str(cl->jproto, sizeof(cl->jproto), r->protocol_name);
	assert_true(r->members_cnt <= MAXM);
	cl->jnmembers = r->members_cnt;
	for (int i = 0; i < r->members_cnt; i++) {
		copy_str(cl->jmembers[i], sizeof(cl->jmembers[i]), r->members[i].member_id);
		assert_true(r->members[i].metadata.len < 64);
		memcpy(cl->jmeta[i], r->members[i].metadata.p, (size_t)r->members[i].metadata.len);
		cl->jmeta[i][r->members[i].metadata.len] = '\0';
	}
	if (r->error_code == SL_GROUP_KERR_NONE) {
		copy_str(cl->member_id, sizeof(cl->member_id), r->member_id);
		cl->gen = r->generation_id;
	} else if (r->error_code == SL_GROUP_KERR_MEMBER_ID_REQUIRED) {
		copy_str(cl->member_id, sizeof(cl->member_id), r->member_id);
	}
}

static void
sync_cb(struct sl_group_sync_cpl *c, const struct sl_group_sync_resp *r)
{
	struct cli *cl = SL_CONTAINER_OF(c, struct cli, sc);

	cl->scalls++;
	cl->serr = r->error_code;
	assert_true(r->assignment.len < (int32_t)sizeof(cl->sassign));
	cl->salen = r->assignment.len;
	if (r->assignment.len)
		memcpy(cl->sassign, r->assignment.p, (size_t)r->assignment.len);
	cl->sassign[r->assignment.len] = '\0';
	copy_str(cl->sproto, sizeof(cl->sproto),
	         r->protocol_name.len < 0 ? S("") : r->protocol_name);
}

static void
cli_init(struct cli *c, const char *client_id, const char *instance, const char *protos)
{
	memset(c, 0, sizeof(*c));
	c->client_id = client_id;
	c->instance = instance;
	c->protos = protos;
	c->session_ms = SESSION_MS;
	c->rebalance_ms = REBALANCE_MS;
	c->gen = -1;
	c->jc.fn = join_cb;
	c->sc.fn = sync_cb;
}

struct protos {
	struct sl_group_protocol v[SL_GROUP_PROTOCOLS_MAX + 2];
	int n;
	char buf[1024];
};

/* "range=ma;rr=mb" -> protocols range (metadata "ma") and rr ("mb"), in that order. */
static void
parse_protos(struct protos *p, const char *spec)
{
	char *tok, *save = NULL;

	assert_true(strlen(spec) < sizeof(p->buf));
	strcpy(p->buf, spec);
	p->n = 0;
	for (tok = strtok_r(p->buf, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
		char *eq = strchr(tok, '=');

		assert_non_null(eq);
		*eq = '\0';
		p->v[p->n].name = S(tok);
		p->v[p->n].metadata =
		        (struct sl_group_blob){(const uint8_t *)eq + 1, (int32_t)strlen(eq + 1)};
		p->n++;
	}
}

static struct sl_str
inst(const struct cli *c)
{
	return c->instance ? S(c->instance) : SNULL;
}

static int
do_join(struct sl_group_tab *t, struct cli *c, int64_t now, bool v4)
{
	struct protos p;
	struct sl_group_join_req req = {
	        .group_id = S(GID),
	        .member_id = S(c->member_id),
	        .group_instance_id = inst(c),
	        .client_id = S(c->client_id),
	        .client_host = S("/127.0.0.1"),
	        .session_timeout_ms = c->session_ms,
	        .rebalance_timeout_ms = c->rebalance_ms,
	        .protocol_type = S(c->ptype ? c->ptype : "consumer"),
	        .require_known_member_id = v4,
	};

	parse_protos(&p, c->protos);
	req.protocols = p.v;
	req.protocols_cnt = p.n;
	return sl_group_join(t, &req, now, &c->jc);
}

static void
join(struct sl_group_tab *t, struct cli *c, int64_t now)
{
	assert_int_equal(do_join(t, c, now, false), 0);
	assert_true(sl_group_tab_check(t));
}

/* The leader's SyncGroup: assignment i goes to members[i] ("" entries are left out). */
static void
sync_leader(struct sl_group_tab *t, struct cli *c, int64_t now, struct cli **members,
            const char **assign, int n)
{
	struct sl_group_assignment a[MAXM + 1];
	int k = 0;
	struct sl_group_sync_req req = {
	        .group_id = S(GID),
	        .member_id = S(c->member_id),
	        .group_instance_id = inst(c),
	        .generation_id = c->gen,
	        .protocol_type = SNULL,
	        .protocol_name = SNULL,
	};

	for (int i = 0; i < n; i++) {
		if (!assign[i][0])
			continue;
		a[k].member_id = S(members[i]->member_id);
		a[k].assignment = (struct sl_group_blob){(const uint8_t *)assign[i],
		                                         (int32_t)strlen(assign[i])};
		k++;
	}
	req.assignments = a;
	req.assignments_cnt = k;
	assert_int_equal(sl_group_sync(t, &req, now, &c->sc), 0);
	assert_true(sl_group_tab_check(t));
}

static void
sync_follower(struct sl_group_tab *t, struct cli *c, int64_t now)
{
	sync_leader(t, c, now, NULL, NULL, 0);
}

static int
hb(struct sl_group_tab *t, struct cli *c, int64_t now)
{
	struct sl_group_member_ref r = {
	        .group_id = S(GID),
	        .member_id = S(c->member_id),
	        .group_instance_id = inst(c),
	        .generation_id = c->gen,
	};
	int rc = sl_group_heartbeat(t, &r, now);

	assert_true(sl_group_tab_check(t));
	return rc;
}

static int16_t
leave(struct sl_group_tab *t, struct cli *c, int64_t now)
{
	struct sl_group_leave_member m = {.member_id = S(c->member_id),
	                                  .group_instance_id = inst(c)};

	assert_int_equal(sl_group_leave(t, S(GID), &m, 1, now), SL_GROUP_KERR_NONE);
	assert_true(sl_group_tab_check(t));
	return m.error_code;
}

static enum sl_group_state
state(struct sl_group_tab *t)
{
	struct sl_group_desc d;

	sl_group_describe(t, S(GID), &d);
	return d.state;
}

static struct sl_group_tab *
tab_new(int32_t initial_delay_ms, int32_t max_size)
{
	struct sl_group_cfg cfg;
	struct sl_group_tab *t;

	sl_group_cfg_default(&cfg);
	cfg.initial_rebalance_delay_ms = initial_delay_ms;
	cfg.max_size = max_size;
	cfg.seed = 42;
	assert_int_equal(sl_group_tab_create(&t, &cfg), 0);
	return t;
}

/* Forms a Stable group of a (leader) and b at the time *now, with assignments "a1"/"b1". */
static void
form_two(struct sl_group_tab *t, struct cli *a, struct cli *b, int64_t now)
{
	struct cli *mv[2] = {a, b};
	const char *as[2] = {"a1", "b1"};

	join(t, a, now);
	assert_int_equal(a->jcalls, 1); /* no initial delay: generation 1 at once */
	sync_leader(t, a, now, mv, as, 1);
	join(t, b, now);
	assert_int_equal(hb(t, a, now), SL_GROUP_KERR_REBALANCE_IN_PROGRESS);
	join(t, a, now);
	assert_int_equal(a->jcalls, 2);
	assert_int_equal(b->jcalls, 1);
	assert_int_equal(a->jerr, 0);
	assert_int_equal(b->jerr, 0);
	sync_follower(t, b, now);
	sync_leader(t, a, now, mv, as, 2);
	assert_int_equal(state(t), SL_GROUP_STABLE);
}

/* ---- tests ---- */

static void
test_group_join_sync_heartbeat_leave_flow_ok(void **st)
{
	struct sl_group_tab *t = tab_new(0, INT32_MAX);
	struct cli a, b;
	struct sl_group_desc d;
	struct cli *mv[2] = {&a, &b};
	const char *as[2] = {"pa", "pb"};
	int64_t now = 1000;

	(void)st;
	cli_init(&a, "ca", NULL, "range=ma");
	cli_init(&b, "cb", NULL, "range=mb");

	join(t, &a, now);
	assert_int_equal(a.jcalls, 1);
	assert_int_equal(a.jerr, SL_GROUP_KERR_NONE);
	assert_int_equal(a.jgen, 1);
	assert_string_equal(a.jleader, a.member_id);
	assert_string_equal(a.jproto, "range");
	assert_int_equal(a.jnmembers, 1);
	assert_string_equal(a.jmeta[0], "ma");
	assert_true(strncmp(a.member_id, "ca-", 3) == 0);
	assert_int_equal(strlen(a.member_id), 3 + 36);
	assert_int_equal(state(t), SL_GROUP_COMPLETING_REBALANCE);
	assert_int_equal(hb(t, &a, now), SL_GROUP_KERR_NONE);

	sync_leader(t, &a, now, mv, as, 1);
	assert_int_equal(a.scalls, 1);
	assert_int_equal(a.serr, 0);
	assert_string_equal(a.sassign, "pa");
	assert_string_equal(a.sproto, "range");
	assert_int_equal(state(t), SL_GROUP_STABLE);

	/* a second member: a rebalance that waits for a to rejoin */
	join(t, &b, now + 10);
	assert_int_equal(b.jcalls, 0);
	assert_int_equal(state(t), SL_GROUP_PREPARING_REBALANCE);
	assert_int_equal(hb(t, &a, now + 20), SL_GROUP_KERR_REBALANCE_IN_PROGRESS);
	join(t, &a, now + 30);
	assert_int_equal(a.jcalls, 2);
	assert_int_equal(b.jcalls, 1);
	assert_int_equal(a.jgen, 2);
	assert_int_equal(b.jgen, 2);
	assert_int_equal(a.jnmembers, 2); /* the leader sees every member */
	assert_string_equal(a.jmembers[0], a.member_id);
	assert_string_equal(a.jmembers[1], b.member_id);
	assert_string_equal(a.jmeta[1], "mb");
	assert_int_equal(b.jnmembers, 0); /* followers see none */
	assert_string_equal(b.jleader, a.member_id);

	sync_follower(t, &b, now + 40);
	assert_int_equal(b.scalls, 0);
	sync_leader(t, &a, now + 50, mv, as, 2);
	assert_int_equal(b.scalls, 1);
	assert_string_equal(b.sassign, "pb");
	assert_string_equal(a.sassign, "pa");
	assert_int_equal(hb(t, &a, now + 60), SL_GROUP_KERR_NONE);
	assert_int_equal(hb(t, &b, now + 60), SL_GROUP_KERR_NONE);

	sl_group_describe(t, S(GID), &d);
	assert_string_equal(d.state_name, "Stable");
	assert_int_equal(d.members_cnt, 2);
	assert_int_equal(d.members[1].assignment.len, 2);
	assert_memory_equal(d.members[1].assignment.p, "pb", 2);

	/* b leaves: a rebalance for a alone */
	assert_int_equal(leave(t, &b, now + 70), SL_GROUP_KERR_NONE);
	assert_int_equal(state(t), SL_GROUP_PREPARING_REBALANCE);
	assert_int_equal(hb(t, &a, now + 80), SL_GROUP_KERR_REBALANCE_IN_PROGRESS);
	join(t, &a, now + 90);
	assert_int_equal(a.jgen, 3);
	assert_int_equal(a.jnmembers, 1);
	assert_int_equal(hb(t, &b, now + 90), SL_GROUP_KERR_UNKNOWN_MEMBER_ID);
	sl_group_tab_destroy(t);
}

static void
test_group_session_expiry_removes_member_and_rebalances(void **st)
{
	struct sl_group_tab *t = tab_new(0, INT32_MAX);
	struct cli a, b;
	int64_t now = 0;

	(void)st;
	cli_init(&a, "ca", NULL, "range=ma");
	cli_init(&b, "cb", NULL, "range=mb");
	form_two(t, &a, &b, now);
	assert_int_equal(sl_group_next_deadline(t), now + SESSION_MS);

	/* a keeps beating, b falls silent after its last answer at 0 */
	assert_int_equal(hb(t, &a, 6000), 0);
	sl_group_tick(t, SESSION_MS - 1);
	assert_int_equal(state(t), SL_GROUP_STABLE);
	assert_int_equal(hb(t, &a, SESSION_MS - 1), 0);
	sl_group_tick(t, SESSION_MS);
	assert_true(sl_group_tab_check(t));
	assert_int_equal(state(t), SL_GROUP_PREPARING_REBALANCE);
	assert_int_equal(hb(t, &b, SESSION_MS + 1), SL_GROUP_KERR_UNKNOWN_MEMBER_ID);
	assert_int_equal(hb(t, &a, SESSION_MS + 1), SL_GROUP_KERR_REBALANCE_IN_PROGRESS);
	join(t, &a, SESSION_MS + 2);
	assert_int_equal(a.jgen, 3);
	assert_int_equal(a.jnmembers, 1);
	sl_group_tab_destroy(t);
}

static void
test_group_rebalance_timeout_removes_members_not_rejoined(void **st)
{
	struct sl_group_tab *t = tab_new(0, INT32_MAX);
	struct cli a, b;
	int64_t t0 = 100;

	(void)st;
	cli_init(&a, "ca", NULL, "range=ma");
	cli_init(&b, "cb", NULL, "range=mb");
	form_two(t, &a, &b, 0);

	join(t, &a, t0); /* the leader rejoins: a rebalance */
	assert_int_equal(state(t), SL_GROUP_PREPARING_REBALANCE);
	/* b keeps its session alive but never rejoins */
	for (int64_t now = t0 + 5000; now < t0 + REBALANCE_MS; now += 5000) {
		assert_int_equal(hb(t, &b, now), SL_GROUP_KERR_REBALANCE_IN_PROGRESS);
		sl_group_tick(t, now);
	}
	sl_group_tick(t, t0 + REBALANCE_MS - 1);
	assert_int_equal(a.jcalls, 2);
	sl_group_tick(t, t0 + REBALANCE_MS);
	assert_true(sl_group_tab_check(t));
	assert_int_equal(a.jcalls, 3);
	assert_int_equal(a.jerr, 0);
	assert_int_equal(a.jgen, 3);
	assert_int_equal(a.jnmembers, 1);
	assert_int_equal(hb(t, &b, t0 + REBALANCE_MS), SL_GROUP_KERR_UNKNOWN_MEMBER_ID);
	sl_group_tab_destroy(t);
}

static void
test_group_parked_join_is_not_session_expired(void **st)
{
	struct sl_group_tab *t = tab_new(0, INT32_MAX);
	struct sl_group_desc d;
	struct cli a, b;

	(void)st;
	cli_init(&a, "ca", NULL, "range=ma");
	cli_init(&b, "cb", NULL, "range=mb");
	form_two(t, &a, &b, 0); /* both sessions run from 0 */
	join(t, &b, 100);       /* a follower's rejoin, same metadata: answered, no rebalance */
	assert_int_equal(b.jcalls, 2);
	assert_int_equal(state(t), SL_GROUP_STABLE);
	b.protos = "range=mb2";
	join(t, &b, 200); /* new metadata: a rebalance; b waits in its JoinGroup */
	assert_int_equal(b.jcalls, 2);
	/* a beats but rejoins late; b's session (due at 10000) passes while it waits */
	for (int64_t now = 5000; now <= 15000; now += 5000) {
		assert_int_equal(hb(t, &a, now), SL_GROUP_KERR_REBALANCE_IN_PROGRESS);
		sl_group_tick(t, now);
	}
	sl_group_describe(t, S(GID), &d);
	assert_int_equal(d.members_cnt, 2);
	assert_int_equal(b.jcalls, 2);
	join(t, &a, 16000);
	assert_int_equal(b.jcalls, 3);
	assert_int_equal(b.jerr, 0);
	assert_int_equal(a.jnmembers, 2);
	assert_string_equal(a.jmeta[1], "mb2");
	sl_group_tab_destroy(t);
}

static void
test_group_static_member_rejoin_stable_no_rebalance(void **st)
{
	struct sl_group_tab *t = tab_new(0, INT32_MAX);
	struct cli a, b, a2;
	char old_id[256];
	int32_t gen;

	(void)st;
	cli_init(&a, "ca", "inst-a", "range=ma");
	cli_init(&b, "cb", NULL, "range=mb");
	form_two(t, &a, &b, 0);
	assert_true(strncmp(a.member_id, "inst-a-", 7) == 0);
	strcpy(old_id, a.member_id);
	gen = a.gen;

	/* a restarts: same instance id, no member id, same metadata */
	cli_init(&a2, "ca", "inst-a", "range=ma");
	join(t, &a2, 500);
	assert_int_equal(a2.jcalls, 1);
	assert_int_equal(a2.jerr, 0);
	assert_int_equal(a2.jgen, gen);
	assert_string_not_equal(a2.member_id, old_id);
	assert_string_equal(a2.jleader, old_id); /* the old leader id: no assignment to do */
	assert_int_equal(a2.jnmembers, 0);
	assert_int_equal(state(t), SL_GROUP_STABLE);
	assert_int_equal(hb(t, &b, 600), SL_GROUP_KERR_NONE);

	/* the new id gets the stored assignment; the old id is fenced */
	sync_follower(t, &a2, 700);
	assert_int_equal(a2.scalls, 1);
	assert_int_equal(a2.serr, 0);
	assert_string_equal(a2.sassign, "a1");
	assert_int_equal(hb(t, &a2, 800), SL_GROUP_KERR_NONE);
	assert_int_equal(hb(t, &a, 800), SL_GROUP_KERR_FENCED_INSTANCE_ID);
	assert_int_equal(do_join(t, &a, 900, false), 0);
	assert_int_equal(a.jerr, SL_GROUP_KERR_FENCED_INSTANCE_ID);
	assert_int_equal(leave(t, &a, 900), SL_GROUP_KERR_FENCED_INSTANCE_ID);
	assert_int_equal(state(t), SL_GROUP_STABLE);
	sl_group_tab_destroy(t);
}

static void
test_group_static_member_rejoin_changed_metadata_rebalances(void **st)
{
	struct sl_group_tab *t = tab_new(0, INT32_MAX);
	struct cli a, b, b2;

	(void)st;
	cli_init(&a, "ca", NULL, "range=ma");
	cli_init(&b, "cb", "inst-b", "range=mb");
	form_two(t, &a, &b, 0);
	cli_init(&b2, "cb", "inst-b", "range=mb-new");
	join(t, &b2, 100);
	assert_int_equal(b2.jcalls, 0);
	assert_int_equal(state(t), SL_GROUP_PREPARING_REBALANCE);
	join(t, &a, 200);
	assert_int_equal(b2.jcalls, 1);
	assert_int_equal(a.jnmembers, 2);
	assert_string_equal(a.jmembers[1], b2.member_id);
	assert_string_equal(a.jmeta[1], "mb-new");
	sl_group_tab_destroy(t);
}

static void
test_group_static_member_parked_join_fenced_by_replacement(void **st)
{
	struct sl_group_tab *t = tab_new(0, INT32_MAX);
	struct cli a, b, b2, b3;

	(void)st;
	cli_init(&a, "ca", NULL, "range=ma");
	cli_init(&b, "cb", "inst-b", "range=mb");
	form_two(t, &a, &b, 0);
	join(t, &a, 100); /* the leader rejoins: Preparing */
	join(t, &b, 110); /* all rejoined: generation 3, CompletingRebalance */
	assert_int_equal(b.jcalls, 2);
	assert_int_equal(state(t), SL_GROUP_COMPLETING_REBALANCE);
	sync_follower(t, &b, 120); /* parks, waiting for the leader */
	assert_int_equal(b.scalls, 1);

	/* b's instance restarts during CompletingRebalance: the parked SyncGroup is fenced
	 * and the group starts over, since the leader may assign to the old id */
	cli_init(&b2, "cb", "inst-b", "range=mb");
	join(t, &b2, 130);
	assert_int_equal(b.scalls, 2);
	assert_int_equal(b.serr, SL_GROUP_KERR_FENCED_INSTANCE_ID);
	assert_int_equal(state(t), SL_GROUP_PREPARING_REBALANCE);
	assert_int_equal(b2.jcalls, 0);

	/* a second restart while the first waits in its JoinGroup fences that JoinGroup */
	cli_init(&b3, "cb", "inst-b", "range=mb");
	join(t, &b3, 140);
	assert_int_equal(b2.jcalls, 1);
	assert_int_equal(b2.jerr, SL_GROUP_KERR_FENCED_INSTANCE_ID);
	join(t, &a, 150);
	assert_int_equal(b3.jcalls, 1);
	assert_int_equal(b3.jerr, 0);
	assert_int_equal(a.jnmembers, 2);
	assert_string_equal(a.jmembers[1], b3.member_id);
	sl_group_tab_destroy(t);
}

static void
test_group_stale_generation_illegal_generation(void **st)
{
	struct sl_group_tab *t = tab_new(0, INT32_MAX);
	struct cli a, b;
	struct sl_group_member_ref r;
	int32_t gen;

	(void)st;
	cli_init(&a, "ca", NULL, "range=ma");
	cli_init(&b, "cb", NULL, "range=mb");
	form_two(t, &a, &b, 0);
	gen = a.gen;
	assert_int_equal(gen, 2);

	a.gen = gen - 1;
	assert_int_equal(hb(t, &a, 10), SL_GROUP_KERR_ILLEGAL_GENERATION);
	sync_follower(t, &a, 10);
	assert_int_equal(a.serr, SL_GROUP_KERR_ILLEGAL_GENERATION);
	r = (struct sl_group_member_ref){S(GID), S(a.member_id), SNULL, gen - 1};
	assert_int_equal(sl_group_commit_check(t, &r, false, 10), SL_GROUP_KERR_ILLEGAL_GENERATION);
	r.generation_id = gen + 5;
	assert_int_equal(sl_group_commit_check(t, &r, false, 10), SL_GROUP_KERR_ILLEGAL_GENERATION);
	r.generation_id = gen;
	assert_int_equal(sl_group_commit_check(t, &r, false, 10), SL_GROUP_KERR_NONE);
	a.gen = gen;
	assert_int_equal(hb(t, &a, 10), SL_GROUP_KERR_NONE);
	sl_group_tab_destroy(t);
}

static void
test_group_member_id_required_then_rejoin_ok(void **st)
{
	struct sl_group_tab *t = tab_new(0, INT32_MAX);
	struct cli a, x;
	struct sl_group_desc d;
	char pending_id[256];

	(void)st;
	cli_init(&a, "ca", NULL, "range=ma");
	assert_int_equal(do_join(t, &a, 0, true), 0);
	assert_int_equal(a.jcalls, 1);
	assert_int_equal(a.jerr, SL_GROUP_KERR_MEMBER_ID_REQUIRED);
	assert_int_equal(a.jgen, -1);
	assert_true(a.jproto_null);
	assert_true(strncmp(a.member_id, "ca-", 3) == 0);
	assert_true(sl_group_tab_check(t));
	sl_group_describe(t, S(GID), &d);
	assert_int_equal(d.state, SL_GROUP_EMPTY);
	assert_int_equal(d.members_cnt, 0);

	strcpy(pending_id, a.member_id);
	assert_int_equal(do_join(t, &a, 10, true), 0);
	assert_int_equal(a.jcalls, 2);
	assert_int_equal(a.jerr, 0);
	assert_string_equal(a.member_id, pending_id);
	assert_int_equal(a.jgen, 1);

	/* a pending id used with a group.instance.id: start over as a static member */
	{
		struct cli y;

		cli_init(&y, "cy", NULL, "range=my");
		assert_int_equal(do_join(t, &y, 15, true), 0);
		assert_int_equal(y.jerr, SL_GROUP_KERR_MEMBER_ID_REQUIRED);
		y.instance = "inst-y";
		assert_int_equal(do_join(t, &y, 16, true), 0);
		assert_int_equal(y.jerr, SL_GROUP_KERR_UNKNOWN_MEMBER_ID);
	}
	/* a member id the group never gave out */
	cli_init(&x, "cx", NULL, "range=mx");
	strcpy(x.member_id, "cx-made-up");
	assert_int_equal(do_join(t, &x, 20, true), 0);
	assert_int_equal(x.jerr, SL_GROUP_KERR_UNKNOWN_MEMBER_ID);
	/* ... nor for a group that does not exist */
	{
		struct sl_group_join_req req = {.group_id = S("nope"),
		                                .member_id = S("m-1"),
		                                .group_instance_id = SNULL,
		                                .session_timeout_ms = SESSION_MS,
		                                .rebalance_timeout_ms = REBALANCE_MS,
		                                .protocol_type = S("consumer")};
		struct sl_group_protocol p = {S("range"), {NULL, 0}};

		req.protocols = &p;
		req.protocols_cnt = 1;
		assert_int_equal(sl_group_join(t, &req, 20, &x.jc), 0);
		assert_int_equal(x.jerr, SL_GROUP_KERR_UNKNOWN_MEMBER_ID);
		sl_group_describe(t, S("nope"), &d);
		assert_int_equal(d.state, SL_GROUP_DEAD);
	}
	sl_group_tab_destroy(t);
}

static void
test_group_member_id_required_unused_id_expires(void **st)
{
	struct sl_group_tab *t = tab_new(0, INT32_MAX);
	struct cli a, b, c;

	(void)st;
	cli_init(&a, "ca", NULL, "range=ma");
	cli_init(&b, "cb", NULL, "range=mb");
	cli_init(&c, "cc", NULL, "range=mc");
	form_two(t, &a, &b, 0);
	join(t, &a, 100); /* the leader rejoins: a rebalance */
	/* c asks for an id during the rebalance: the rebalance now waits for c too */
	assert_int_equal(do_join(t, &c, 200, true), 0);
	assert_int_equal(c.jerr, SL_GROUP_KERR_MEMBER_ID_REQUIRED);
	join(t, &b, 300);
	assert_int_equal(a.jcalls, 2);
	/* held up by the outstanding id until it expires (c's session timeout) */
	sl_group_tick(t, 200 + SESSION_MS - 1);
	assert_int_equal(a.jcalls, 2);
	sl_group_tick(t, 200 + SESSION_MS);
	assert_true(sl_group_tab_check(t));
	assert_int_equal(a.jcalls, 3);
	assert_int_equal(a.jgen, 3);
	assert_int_equal(a.jnmembers, 2);
	/* the expired id is unknown now */
	assert_int_equal(do_join(t, &c, 200 + SESSION_MS + 1, true), 0);
	assert_int_equal(c.jerr, SL_GROUP_KERR_UNKNOWN_MEMBER_ID);
	sl_group_tab_destroy(t);
}

static void
test_group_protocol_selection_by_votes(void **st)
{
	struct sl_group_tab *t = tab_new(3000, INT32_MAX);
	struct cli a, b, c;

	(void)st;
	/* range: a's first choice; roundrobin: b's and c's; sticky: not supported by all */
	cli_init(&a, "ca", NULL, "range=a-range;roundrobin=a-rr;sticky=a-st");
	cli_init(&b, "cb", NULL, "sticky=b-st;roundrobin=b-rr;range=b-range");
	cli_init(&c, "cc", NULL, "roundrobin=c-rr;range=c-range");
	join(t, &a, 0);
	join(t, &b, 0);
	join(t, &c, 0);
	sl_group_tick(t, 3000);
	sl_group_tick(t, 6000);
	assert_int_equal(a.jcalls, 1);
	assert_string_equal(a.jproto, "roundrobin");
	assert_string_equal(c.jproto, "roundrobin");
	assert_int_equal(a.jnmembers, 3);
	assert_string_equal(a.jmeta[0], "a-rr");
	assert_string_equal(a.jmeta[1], "b-rr");
	assert_string_equal(a.jmeta[2], "c-rr");
	sl_group_tab_destroy(t);

	/* a tie goes to the first member's preference */
	t = tab_new(0, INT32_MAX);
	cli_init(&a, "ca", NULL, "range=a1;sticky=a2");
	cli_init(&b, "cb", NULL, "sticky=b2;range=b1");
	form_two(t, &a, &b, 0);
	assert_string_equal(a.jproto, "range");
	assert_string_equal(b.jproto, "range");
	sl_group_tab_destroy(t);
}

static void
test_group_inconsistent_protocol_rejected(void **st)
{
	struct sl_group_tab *t = tab_new(0, INT32_MAX);
	struct cli a, b, c, d, e;
	struct sl_group_desc dd;

	(void)st;
	cli_init(&a, "ca", NULL, "range=ma;sticky=ms");
	join(t, &a, 0);
	cli_init(&b, "cb", NULL, "roundrobin=mb");
	join(t, &b, 10);
	assert_int_equal(b.jcalls, 1);
	assert_int_equal(b.jerr, SL_GROUP_KERR_INCONSISTENT_GROUP_PROTOCOL);
	assert_string_equal(b.jmember, "");
	cli_init(&c, "cc", NULL, "range=mc");
	c.ptype = "connect";
	join(t, &c, 10);
	assert_int_equal(c.jerr, SL_GROUP_KERR_INCONSISTENT_GROUP_PROTOCOL);
	/* an existing member that drops every common protocol */
	a.protos = "roundrobin=ma";
	join(t, &a, 20);
	assert_int_equal(a.jerr, SL_GROUP_KERR_INCONSISTENT_GROUP_PROTOCOL);
	assert_int_equal(state(t), SL_GROUP_COMPLETING_REBALANCE);

	/* a new group: an empty protocol type or no protocols at all; no group is left */
	cli_init(&d, "cd", NULL, "range=md");
	d.ptype = "";
	{
		struct protos p;
		struct sl_group_join_req req = {.group_id = S("g2"),
		                                .member_id = S(""),
		                                .group_instance_id = SNULL,
		                                .client_id = S("cd"),
		                                .session_timeout_ms = SESSION_MS,
		                                .rebalance_timeout_ms = REBALANCE_MS,
		                                .protocol_type = S("")};

		parse_protos(&p, d.protos);
		req.protocols = p.v;
		req.protocols_cnt = p.n;
		assert_int_equal(sl_group_join(t, &req, 30, &d.jc), 0);
		assert_int_equal(d.jerr, SL_GROUP_KERR_INCONSISTENT_GROUP_PROTOCOL);
		req.protocol_type = S("consumer");
		req.protocols_cnt = 0;
		cli_init(&e, "ce", NULL, "x=y");
		assert_int_equal(sl_group_join(t, &req, 30, &e.jc), 0);
		assert_int_equal(e.jerr, SL_GROUP_KERR_INCONSISTENT_GROUP_PROTOCOL);
		sl_group_describe(t, S("g2"), &dd);
		assert_int_equal(dd.state, SL_GROUP_DEAD);
	}
	sl_group_tab_destroy(t);
}

static void
test_group_followers_wait_for_leader_sync(void **st)
{
	struct sl_group_tab *t = tab_new(3000, INT32_MAX);
	struct cli a, b, c;
	struct cli *mv[4] = {&a, &b, &c, NULL};
	struct cli ghost;
	const char *as[4] = {"A", "B", "", "ghost"};

	(void)st;
	cli_init(&a, "ca", NULL, "range=ma");
	cli_init(&b, "cb", NULL, "range=mb");
	cli_init(&c, "cc", NULL, "range=mc");
	cli_init(&ghost, "cg", NULL, "range=mg");
	strcpy(ghost.member_id, "not-a-member");
	mv[3] = &ghost;
	join(t, &a, 0);
	join(t, &b, 1);
	join(t, &c, 2);
	sl_group_tick(t, 3000); /* b and c came during the delay: it restarts */
	assert_int_equal(c.jcalls, 0);
	sl_group_tick(t, 6000);
	assert_int_equal(c.jcalls, 1);
	assert_string_equal(b.jleader, a.member_id);

	sync_follower(t, &b, 6001);
	sync_follower(t, &c, 6002);
	assert_int_equal(b.scalls, 0);
	assert_int_equal(c.scalls, 0);
	/* heartbeats while waiting for the leader are fine */
	assert_int_equal(hb(t, &b, 6003), SL_GROUP_KERR_NONE);
	sync_leader(t, &a, 6004, mv, as, 4);
	assert_int_equal(a.scalls, 1);
	assert_int_equal(b.scalls, 1);
	assert_int_equal(c.scalls, 1);
	assert_string_equal(a.sassign, "A");
	assert_string_equal(b.sassign, "B");
	assert_int_equal(c.serr, 0);
	assert_int_equal(c.salen, 0); /* left out by the leader: empty */
	assert_int_equal(state(t), SL_GROUP_STABLE);
	/* a late follower SyncGroup in Stable gets the stored assignment */
	sync_follower(t, &b, 6005);
	assert_int_equal(b.scalls, 2);
	assert_string_equal(b.sassign, "B");
	sl_group_tab_destroy(t);
}

static void
test_group_initial_rebalance_delay_waits_and_extends(void **st)
{
	static const char *const ids[5] = {"c0", "c1", "c2", "c3", "c4"};
	struct sl_group_tab *t = tab_new(3000, INT32_MAX);
	struct cli c[5];
	/* joins and ticks, in time order: a tick at each timer */
	static const struct {
		int64_t at;
		int who; /* -1: tick */
		int64_t next;
	} script[] = {
	        {0, 0, 3000},      {2000, 1, 3000},  {3000, -1, 6000},
	        {4000, 2, 6000},   {6000, -1, 9000}, {7000, 3, 9000},
	        {9000, -1, 10000}, {9500, 4, 10000}, {9999, -1, 10000},
	};

	(void)st;
	/* one member: answered exactly when the delay ends */
	cli_init(&c[0], "c0", NULL, "range=m");
	join(t, &c[0], 0);
	assert_int_equal(state(t), SL_GROUP_PREPARING_REBALANCE);
	assert_int_equal(sl_group_next_deadline(t), 3000);
	sl_group_tick(t, 2999);
	assert_int_equal(c[0].jcalls, 0);
	sl_group_tick(t, 3000);
	assert_int_equal(c[0].jcalls, 1);
	assert_int_equal(c[0].jgen, 1);
	sl_group_tab_destroy(t);

	/* members keep arriving: the delay restarts, bounded by the rebalance timeout (10 s):
	 * 3000 (+3000, 4000 left) 6000 (+3000, 1000 left) 9000 (+1000, 0 left) 10000 */
	t = tab_new(3000, INT32_MAX);
	for (int i = 0; i < 5; i++) {
		cli_init(&c[i], ids[i], NULL, "range=m");
		c[i].rebalance_ms = 10000;
	}
	for (size_t k = 0; k < SL_ARRAY_SIZE(script); k++) {
		if (script[k].who < 0)
			sl_group_tick(t, script[k].at);
		else
			join(t, &c[script[k].who], script[k].at);
		assert_int_equal(sl_group_next_deadline(t), script[k].next);
		for (int i = 0; i < 5; i++)
			assert_int_equal(c[i].jcalls, 0);
	}
	sl_group_tick(t, 10000);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(c[i].jcalls, 1);
		assert_int_equal(c[i].jgen, 1);
	}
	assert_int_equal(c[0].jnmembers, 5);
	sl_group_tab_destroy(t);
}

static void
test_group_sync_during_rebalance_rebalance_in_progress(void **st)
{
	struct sl_group_tab *t = tab_new(0, INT32_MAX);
	struct cli a, b, c;

	(void)st;
	cli_init(&a, "ca", NULL, "range=ma");
	cli_init(&b, "cb", NULL, "range=mb");
	cli_init(&c, "cc", NULL, "range=mc");
	form_two(t, &a, &b, 0);
	join(t, &c, 10); /* Preparing */
	sync_follower(t, &b, 20);
	assert_int_equal(b.scalls, 2);
	assert_int_equal(b.serr, SL_GROUP_KERR_REBALANCE_IN_PROGRESS);

	join(t, &a, 30);
	join(t, &b, 30); /* generation 3: CompletingRebalance */
	assert_int_equal(c.jcalls, 1);
	sync_follower(t, &b, 40); /* parks */
	assert_int_equal(b.scalls, 2);
	/* a member leaves before the leader's SyncGroup: the parked one is told to rejoin */
	assert_int_equal(leave(t, &c, 50), 0);
	assert_int_equal(b.scalls, 3);
	assert_int_equal(b.serr, SL_GROUP_KERR_REBALANCE_IN_PROGRESS);
	assert_int_equal(b.salen, 0);
	assert_int_equal(state(t), SL_GROUP_PREPARING_REBALANCE);
	sl_group_tab_destroy(t);
}

static void
test_group_sync_deadline_removes_members_without_sync(void **st)
{
	struct sl_group_tab *t = tab_new(0, INT32_MAX);
	struct cli a, b;
	struct cli *mv[2] = {&a, &b};
	const char *as[2] = {"x", "y"};

	(void)st;
	cli_init(&a, "ca", NULL, "range=ma");
	cli_init(&b, "cb", NULL, "range=mb");
	form_two(t, &a, &b, 0);
	join(t, &a, 100);
	join(t, &b, 100); /* generation 3 at 100 */
	sync_leader(t, &a, 200, mv, as, 2);
	assert_int_equal(state(t), SL_GROUP_STABLE);
	/* b heartbeats but never sends SyncGroup */
	for (int64_t now = 5000; now < 100 + REBALANCE_MS; now += 5000) {
		assert_int_equal(hb(t, &b, now), 0);
		assert_int_equal(hb(t, &a, now), 0);
		sl_group_tick(t, now);
	}
	sl_group_tick(t, 100 + REBALANCE_MS);
	assert_true(sl_group_tab_check(t));
	assert_int_equal(hb(t, &b, 100 + REBALANCE_MS), SL_GROUP_KERR_UNKNOWN_MEMBER_ID);
	assert_int_equal(hb(t, &a, 100 + REBALANCE_MS), SL_GROUP_KERR_REBALANCE_IN_PROGRESS);
	sl_group_tab_destroy(t);
}

static void
test_group_leave_batch_mixed_results(void **st)
{
	struct sl_group_tab *t = tab_new(3000, INT32_MAX);
	struct cli s, d1, d2;
	struct sl_group_leave_member lm[5];
	struct sl_group_desc d;

	(void)st;
	cli_init(&s, "cs", "inst-s", "range=ms");
	cli_init(&d1, "c1", NULL, "range=m1");
	cli_init(&d2, "c2", NULL, "range=m2");
	join(t, &s, 0);
	join(t, &d1, 0);
	join(t, &d2, 0);
	sl_group_tick(t, 3000);
	sl_group_tick(t, 6000);
	assert_int_equal(d2.jcalls, 1);

	lm[0] = (struct sl_group_leave_member){S(d1.member_id), SNULL, -7};
	lm[1] = (struct sl_group_leave_member){S("nobody"), SNULL, -7};
	lm[2] = (struct sl_group_leave_member){S(""), S("inst-s"), -7};
	lm[3] = (struct sl_group_leave_member){S(d2.member_id), S("inst-unknown"), -7};
	lm[4] = (struct sl_group_leave_member){S(""), S("inst-unknown"), -7};
	assert_int_equal(sl_group_leave(t, S(GID), lm, 5, 6100), SL_GROUP_KERR_NONE);
	assert_true(sl_group_tab_check(t));
	assert_int_equal(lm[0].error_code, SL_GROUP_KERR_NONE);
	assert_int_equal(lm[1].error_code, SL_GROUP_KERR_UNKNOWN_MEMBER_ID);
	assert_int_equal(lm[2].error_code, SL_GROUP_KERR_NONE);
	assert_int_equal(lm[3].error_code, SL_GROUP_KERR_UNKNOWN_MEMBER_ID);
	assert_int_equal(lm[4].error_code, SL_GROUP_KERR_UNKNOWN_MEMBER_ID);
	sl_group_describe(t, S(GID), &d);
	assert_int_equal(d.members_cnt, 1);
	assert_memory_equal(d.members[0].member_id.p, d2.member_id, strlen(d2.member_id));
	assert_int_equal(d.state, SL_GROUP_PREPARING_REBALANCE);

	join(t, &d2, 6200); /* alone now: the rebalance completes at once */
	assert_int_equal(d2.jcalls, 2);
	assert_int_equal(d2.jgen, 2);
	assert_int_equal(d2.jnmembers, 1);
	join(t, &d2, 6300); /* the same JoinGroup again in CompletingRebalance: repeated */
	assert_int_equal(d2.jcalls, 3);
	assert_int_equal(d2.jgen, 2);
	assert_int_equal(d2.jnmembers, 1);
	assert_int_equal(state(t), SL_GROUP_COMPLETING_REBALANCE);

	/* a group nobody knows: every member is unknown */
	lm[0] = (struct sl_group_leave_member){S("x"), SNULL, -7};
	assert_int_equal(sl_group_leave(t, S("other"), lm, 1, 6400), SL_GROUP_KERR_NONE);
	assert_int_equal(lm[0].error_code, SL_GROUP_KERR_UNKNOWN_MEMBER_ID);
	assert_int_equal(sl_group_leave(t, S(""), lm, 1, 6400), SL_GROUP_KERR_INVALID_GROUP_ID);
	sl_group_tab_destroy(t);
}

static void
test_group_leave_while_parked_answers_join(void **st)
{
	struct sl_group_tab *t = tab_new(0, INT32_MAX);
	struct cli a, b, c;

	(void)st;
	cli_init(&a, "ca", NULL, "range=ma");
	cli_init(&b, "cb", NULL, "range=mb");
	cli_init(&c, "cc", NULL, "range=mc");
	form_two(t, &a, &b, 0);
	join(t, &c, 10);
	assert_int_equal(c.jcalls, 0);
	/* c's id is only known through its parked JoinGroup: the leader's view has it later,
	 * so leave through the group.instance.id-less path needs the id the group gave it */
	{
		struct sl_group_desc d;
		struct sl_group_leave_member lm;

		sl_group_describe(t, S(GID), &d);
		assert_int_equal(d.members_cnt, 3);
		lm = (struct sl_group_leave_member){d.members[2].member_id, SNULL, -7};
		assert_int_equal(sl_group_leave(t, S(GID), &lm, 1, 20), 0);
		assert_int_equal(lm.error_code, 0);
	}
	assert_int_equal(c.jcalls, 1);
	assert_int_equal(c.jerr, SL_GROUP_KERR_UNKNOWN_MEMBER_ID);
	assert_true(sl_group_tab_check(t));
	sl_group_tab_destroy(t);
}

static void
test_group_commit_check_manual_and_member_commits(void **st)
{
	struct sl_group_tab *t = tab_new(0, INT32_MAX);
	struct sl_group_member_ref manual = {S("manual"), S(""), SNULL, -1};
	struct sl_group_member_ref r;
	struct sl_group_desc d;
	struct cli a, b;

	(void)st;
	/* a group that does not use group management: allowed, and remembered */
	assert_int_equal(sl_group_commit_check(t, &manual, false, 0), SL_GROUP_KERR_NONE);
	sl_group_describe(t, S("manual"), &d);
	assert_int_equal(d.state, SL_GROUP_EMPTY);
	assert_int_equal(sl_group_commit_check(t, &manual, false, 0), SL_GROUP_KERR_NONE);
	r = (struct sl_group_member_ref){S("unknown"), S(""), SNULL, 3};
	assert_int_equal(sl_group_commit_check(t, &r, false, 0), SL_GROUP_KERR_ILLEGAL_GENERATION);
	r = (struct sl_group_member_ref){S("unknown"), S("m"), SNULL, -1};
	assert_int_equal(sl_group_commit_check(t, &r, false, 0), SL_GROUP_KERR_UNKNOWN_MEMBER_ID);
	sl_group_describe(t, S("unknown"), &d);
	assert_int_equal(d.state, SL_GROUP_DEAD);

	cli_init(&a, "ca", NULL, "range=ma");
	cli_init(&b, "cb", NULL, "range=mb");
	join(t, &a, 0); /* generation 1, CompletingRebalance */
	r = (struct sl_group_member_ref){S(GID), S(a.member_id), SNULL, a.gen};
	assert_int_equal(sl_group_commit_check(t, &r, false, 0),
	                 SL_GROUP_KERR_REBALANCE_IN_PROGRESS);
	sync_follower(t, &a, 0);
	assert_int_equal(sl_group_commit_check(t, &r, false, 0), SL_GROUP_KERR_NONE);
	/* a group with members refuses the manual form, except transactionally */
	manual.group_id = S(GID);
	assert_int_equal(sl_group_commit_check(t, &manual, false, 0),
	                 SL_GROUP_KERR_UNKNOWN_MEMBER_ID);
	assert_int_equal(sl_group_commit_check(t, &manual, true, 0), SL_GROUP_KERR_NONE);
	/* during PreparingRebalance a member may still commit */
	join(t, &b, 10);
	assert_int_equal(sl_group_commit_check(t, &r, false, 20), SL_GROUP_KERR_NONE);
	r.member_id = S("stranger");
	assert_int_equal(sl_group_commit_check(t, &r, false, 20), SL_GROUP_KERR_UNKNOWN_MEMBER_ID);
	r.member_id = S(a.member_id);
	r.group_instance_id = S("inst-x");
	assert_int_equal(sl_group_commit_check(t, &r, false, 20), SL_GROUP_KERR_UNKNOWN_MEMBER_ID);
	/* a commit resets the session timer */
	for (int64_t now = 5000; now <= 25000; now += 5000) {
		r.group_instance_id = SNULL;
		assert_int_equal(sl_group_commit_check(t, &r, false, now), SL_GROUP_KERR_NONE);
		sl_group_tick(t, now);
	}
	assert_int_equal(hb(t, &a, 25000), SL_GROUP_KERR_REBALANCE_IN_PROGRESS);
	assert_true(sl_group_tab_check(t));
	sl_group_tab_destroy(t);
}

struct list_acc {
	int n;
	int stable;
	int empty;
	char seen[8][32];
};

static void
list_cb(void *arg, const struct sl_group_list_entry *e)
{
	struct list_acc *acc = arg;

	assert_true(acc->n < 8);
	copy_str(acc->seen[acc->n], sizeof(acc->seen[0]), e->group_id);
	acc->n++;
	acc->stable += e->state == SL_GROUP_STABLE;
	acc->empty += e->state == SL_GROUP_EMPTY;
	assert_string_equal(e->state_name, sl_group_state_name(e->state));
	if (e->state == SL_GROUP_STABLE)
		assert_memory_equal(e->protocol_type.p, "consumer", 8);
	else
		assert_int_equal(e->protocol_type.len, 0);
}

static void
count_cb(void *arg, const struct sl_group_list_entry *e)
{
	struct list_acc *acc = arg;

	assert_int_equal(e->state, SL_GROUP_EMPTY);
	acc->n++;
}

static void
test_group_describe_and_list(void **st)
{
	struct sl_group_tab *t = tab_new(0, INT32_MAX);
	struct sl_group_member_ref manual = {S("offsets-only"), S(""), SNULL, -1};
	struct sl_group_desc d;
	struct list_acc acc = {0};
	struct cli a, b, c;

	(void)st;
	cli_init(&a, "ca", NULL, "range=ma");
	cli_init(&b, "cb", NULL, "range=mb");
	form_two(t, &a, &b, 0);
	sl_group_describe(t, S(GID), &d);
	assert_int_equal(d.state, SL_GROUP_STABLE);
	assert_string_equal(d.state_name, "Stable");
	assert_int_equal(d.protocol_type.len, 8);
	assert_memory_equal(d.protocol_name.p, "range", 5);
	assert_int_equal(d.members_cnt, 2);
	assert_memory_equal(d.members[0].client_id.p, "ca", 2);
	assert_memory_equal(d.members[0].client_host.p, "/127.0.0.1", 10);
	assert_memory_equal(d.members[0].metadata.p, "ma", 2);
	assert_memory_equal(d.members[0].assignment.p, "a1", 2);
	assert_int_equal(d.members[0].group_instance_id.len, -1);

	/* not Stable: no protocol, no metadata, no assignment */
	cli_init(&c, "cc", NULL, "range=mc");
	join(t, &c, 10);
	sl_group_describe(t, S(GID), &d);
	assert_string_equal(d.state_name, "PreparingRebalance");
	assert_int_equal(d.protocol_name.len, 0);
	assert_int_equal(d.members_cnt, 3);
	assert_int_equal(d.members[0].metadata.len, 0);
	assert_int_equal(d.members[0].assignment.len, 0);

	sl_group_describe(t, S("absent"), &d);
	assert_string_equal(d.state_name, "Dead");
	assert_int_equal(d.members_cnt, 0);

	join(t, &a, 20);
	join(t, &b, 20);
	sync_follower(t, &a, 30);
	assert_int_equal(sl_group_commit_check(t, &manual, false, 40), 0);
	sl_group_list(t, list_cb, &acc);
	assert_int_equal(acc.n, 2);
	assert_int_equal(acc.stable, 1);
	assert_int_equal(acc.empty, 1);
	sl_group_tab_destroy(t);
}

static void
test_group_delete_only_empty(void **st)
{
	struct sl_group_tab *t = tab_new(0, INT32_MAX);
	struct cli a;
	struct sl_group_desc d;

	(void)st;
	cli_init(&a, "ca", NULL, "range=ma");
	join(t, &a, 0);
	assert_int_equal(sl_group_delete(t, S(GID)), SL_GROUP_KERR_NON_EMPTY_GROUP);
	assert_int_equal(sl_group_delete(t, S("absent")), SL_GROUP_KERR_GROUP_ID_NOT_FOUND);
	assert_int_equal(leave(t, &a, 10), 0);
	/* the last member left: Empty, with the generation bumped */
	sl_group_describe(t, S(GID), &d);
	assert_int_equal(d.state, SL_GROUP_EMPTY);
	assert_int_equal(d.protocol_type.len, 8); /* kept, as Kafka lists it */
	assert_int_equal(sl_group_delete(t, S(GID)), SL_GROUP_KERR_NONE);
	sl_group_describe(t, S(GID), &d);
	assert_int_equal(d.state, SL_GROUP_DEAD);
	assert_true(sl_group_tab_check(t));
	/* a fresh group with the same id starts at generation 1 again */
	cli_init(&a, "ca", NULL, "range=ma");
	join(t, &a, 20);
	assert_int_equal(a.jgen, 1);
	sl_group_tab_destroy(t);
}

static void
test_group_last_member_expiry_empties_group(void **st)
{
	struct sl_group_tab *t = tab_new(0, INT32_MAX);
	struct cli a;
	struct sl_group_member_ref r;

	(void)st;
	cli_init(&a, "ca", NULL, "range=ma");
	join(t, &a, 0);
	sync_follower(t, &a, 0);
	sl_group_tick(t, SESSION_MS);
	assert_int_equal(state(t), SL_GROUP_EMPTY);
	assert_int_equal(sl_group_next_deadline(t), INT64_MAX);
	r = (struct sl_group_member_ref){S(GID), S(a.member_id), SNULL, 1};
	assert_int_equal(sl_group_commit_check(t, &r, false, SESSION_MS),
	                 SL_GROUP_KERR_UNKNOWN_MEMBER_ID);
	r = (struct sl_group_member_ref){S(GID), S(""), SNULL, -1};
	assert_int_equal(sl_group_commit_check(t, &r, false, SESSION_MS), SL_GROUP_KERR_NONE);
	sl_group_tab_destroy(t);
}

static void
test_group_destroy_answers_parked_not_coordinator(void **st)
{
	struct sl_group_tab *t = tab_new(3000, INT32_MAX);
	struct sl_group_tab *t2 = tab_new(0, INT32_MAX);
	struct cli a, b;

	(void)st;
	cli_init(&a, "ca", NULL, "range=ma");
	join(t, &a, 0); /* parked in the initial delay */
	sl_group_tab_destroy(t);
	assert_int_equal(a.jcalls, 1);
	assert_int_equal(a.jerr, SL_GROUP_KERR_NOT_COORDINATOR);

	cli_init(&a, "ca", NULL, "range=ma");
	cli_init(&b, "cb", NULL, "range=mb");
	form_two(t2, &a, &b, 0);
	join(t2, &a, 10);
	join(t2, &b, 10);
	sync_follower(t2, &b, 20); /* parked SyncGroup */
	sl_group_tab_destroy(t2);
	assert_int_equal(b.scalls, 2);
	assert_int_equal(b.serr, SL_GROUP_KERR_NOT_COORDINATOR);
	sl_group_tab_destroy(NULL);
}

static void
test_group_superseded_join_told_to_retry(void **st)
{
	struct sl_group_tab *t = tab_new(3000, INT32_MAX);
	struct cli a, a_again;

	(void)st;
	cli_init(&a, "ca", NULL, "range=ma");
	assert_int_equal(do_join(t, &a, 0, true), 0);
	join(t, &a, 10); /* parked in the delay */
	cli_init(&a_again, "ca", NULL, "range=ma");
	strcpy(a_again.member_id, a.member_id);
	join(t, &a_again, 20);
	assert_int_equal(a.jcalls, 2);
	assert_int_equal(a.jerr, SL_GROUP_KERR_REBALANCE_IN_PROGRESS);
	sl_group_tick(t, 3010);
	assert_int_equal(a_again.jcalls, 1);
	assert_int_equal(a_again.jerr, 0);
	assert_int_equal(a.jcalls, 2);
	sl_group_tab_destroy(t);
}

static void
test_group_max_size_reached(void **st)
{
	struct sl_group_tab *t = tab_new(0, 2);
	struct cli a, b, c, b2;

	(void)st;
	cli_init(&a, "ca", NULL, "range=ma");
	cli_init(&b, "cb", "inst-b", "range=mb");
	cli_init(&c, "cc", NULL, "range=mc");
	form_two(t, &a, &b, 0);
	join(t, &c, 10);
	assert_int_equal(c.jerr, SL_GROUP_KERR_GROUP_MAX_SIZE_REACHED);
	assert_string_equal(c.jmember, "");
	assert_int_equal(state(t), SL_GROUP_STABLE);
	/* a static member replacing itself does not grow the group */
	cli_init(&b2, "cb", "inst-b", "range=mb");
	join(t, &b2, 20);
	assert_int_equal(b2.jerr, SL_GROUP_KERR_NONE);
	sl_group_tab_destroy(t);
}

static void
test_group_bad_input_rejected(void **st)
{
	struct sl_group_tab *t = tab_new(0, INT32_MAX);
	struct sl_group_cfg cfg;
	struct sl_group_tab *bad;
	struct cli a;
	struct protos p;
	struct sl_group_join_req req;
	struct sl_group_sync_req sreq = {.group_id = S(GID),
	                                 .member_id = S("m"),
	                                 .group_instance_id = SNULL,
	                                 .protocol_type = SNULL,
	                                 .protocol_name = SNULL};
	struct sl_group_member_ref r = {S(GID), S("m"), SNULL, 1};
	struct sl_group_leave_member lm = {{NULL, 5}, SNULL, 0};
	char many[SL_GROUP_PROTOCOLS_MAX * 8 + 16] = "";

	(void)st;
	sl_group_cfg_default(&cfg);
	cfg.min_session_timeout_ms = 10;
	cfg.max_session_timeout_ms = 5;
	assert_int_equal(sl_group_tab_create(&bad, &cfg), -EINVAL);
	sl_group_cfg_default(&cfg);
	cfg.max_size = 0;
	assert_int_equal(sl_group_tab_create(&bad, &cfg), -EINVAL);
	assert_int_equal(sl_group_tab_create(&bad, NULL), -EINVAL);

	cli_init(&a, "ca", NULL, "range=ma");
	parse_protos(&p, a.protos);
	req = (struct sl_group_join_req){.group_id = S(GID),
	                                 .member_id = S(""),
	                                 .group_instance_id = SNULL,
	                                 .client_id = S("ca"),
	                                 .client_host = SNULL,
	                                 .session_timeout_ms = SESSION_MS,
	                                 .rebalance_timeout_ms = -1,
	                                 .protocol_type = S("consumer"),
	                                 .protocols = p.v,
	                                 .protocols_cnt = p.n};
	assert_int_equal(sl_group_join(NULL, &req, 0, &a.jc), -EINVAL);
	assert_int_equal(sl_group_join(t, NULL, 0, &a.jc), -EINVAL);
	assert_int_equal(sl_group_join(t, &req, 0, NULL), -EINVAL);
	req.member_id = (struct sl_str){NULL, 3};
	assert_int_equal(sl_group_join(t, &req, 0, &a.jc), -EINVAL);
	req.member_id = (struct sl_str){"x", -2};
	assert_int_equal(sl_group_join(t, &req, 0, &a.jc), -EINVAL);
	req.member_id = S("");
	req.protocols_cnt = -1;
	assert_int_equal(sl_group_join(t, &req, 0, &a.jc), -EINVAL);
	req.protocols_cnt = p.n;
	p.v[0].metadata.len = -1;
	assert_int_equal(sl_group_join(t, &req, 0, &a.jc), -EINVAL);
	p.v[0].metadata.len = 2;
	assert_int_equal(a.jcalls, 0); /* -EINVAL never answers */

	req.session_timeout_ms = 10;
	assert_int_equal(sl_group_join(t, &req, 0, &a.jc), 0);
	assert_int_equal(a.jerr, SL_GROUP_KERR_INVALID_SESSION_TIMEOUT);
	req.session_timeout_ms = 1800001;
	assert_int_equal(sl_group_join(t, &req, 0, &a.jc), 0);
	assert_int_equal(a.jerr, SL_GROUP_KERR_INVALID_SESSION_TIMEOUT);
	req.session_timeout_ms = SESSION_MS;
	req.group_id = S("");
	assert_int_equal(sl_group_join(t, &req, 0, &a.jc), 0);
	assert_int_equal(a.jerr, SL_GROUP_KERR_INVALID_GROUP_ID);
	req.group_id = SNULL;
	assert_int_equal(sl_group_join(t, &req, 0, &a.jc), 0);
	assert_int_equal(a.jerr, SL_GROUP_KERR_INVALID_GROUP_ID);
	req.group_id = S(GID);
	for (int i = 0; i <= SL_GROUP_PROTOCOLS_MAX; i++) {
		char one[16];

		snprintf(one, sizeof(one), "%sp%d=m", i ? ";" : "", i);
		strcat(many, one);
	}
	parse_protos(&p, many);
	req.protocols = p.v;
	req.protocols_cnt = p.n;
	assert_int_equal(sl_group_join(t, &req, 0, &a.jc), 0);
	assert_int_equal(a.jerr, SL_GROUP_KERR_INVALID_REQUEST);
	/* rebalance_timeout_ms -1 (v0) works like the session timeout */
	req.protocols_cnt = SL_GROUP_PROTOCOLS_MAX;
	assert_int_equal(sl_group_join(t, &req, 0, &a.jc), 0);
	assert_int_equal(a.jerr, SL_GROUP_KERR_NONE);
	assert_true(sl_group_tab_check(t));

	sreq.assignments_cnt = -1;
	assert_int_equal(sl_group_sync(t, &sreq, 0, &a.sc), -EINVAL);
	sreq.assignments_cnt = 1;
	assert_int_equal(sl_group_sync(t, &sreq, 0, &a.sc), -EINVAL);
	sreq.assignments_cnt = 0;
	sreq.group_id = S("absent");
	assert_int_equal(sl_group_sync(t, &sreq, 0, &a.sc), 0);
	assert_int_equal(a.serr, SL_GROUP_KERR_UNKNOWN_MEMBER_ID);
	sreq.group_id = S("");
	assert_int_equal(sl_group_sync(t, &sreq, 0, &a.sc), 0);
	assert_int_equal(a.serr, SL_GROUP_KERR_INVALID_GROUP_ID);
	sreq.group_id = S(GID);
	sreq.member_id = S(a.member_id);
	sreq.generation_id = 1;
	sreq.protocol_name = S("other");
	assert_int_equal(sl_group_sync(t, &sreq, 0, &a.sc), 0);
	assert_int_equal(a.serr, SL_GROUP_KERR_INCONSISTENT_GROUP_PROTOCOL);
	sreq.protocol_name = SNULL;
	sreq.protocol_type = S("connect");
	assert_int_equal(sl_group_sync(t, &sreq, 0, &a.sc), 0);
	assert_int_equal(a.serr, SL_GROUP_KERR_INCONSISTENT_GROUP_PROTOCOL);

	{
		struct sl_group_assignment bad_a = {{NULL, 4}, {NULL, 0}};
		struct sl_group_member_ref bad_r = {S(GID), {"x", -3}, SNULL, 1};

		sreq.assignments = &bad_a;
		sreq.assignments_cnt = 1;
		assert_int_equal(sl_group_sync(t, &sreq, 0, &a.sc), -EINVAL);
		sreq.assignments_cnt = 0;
		assert_int_equal(sl_group_commit_check(t, &bad_r, false, 0), -EINVAL);
		assert_int_equal(sl_group_heartbeat(t, &bad_r, 0), -EINVAL);
	}
	{
		struct sl_group_desc d;

		sl_group_describe(t, SNULL, &d);
		assert_int_equal(d.state, SL_GROUP_DEAD);
		assert_int_equal(sl_group_delete(t, SNULL), SL_GROUP_KERR_GROUP_ID_NOT_FOUND);
	}
	assert_int_equal(sl_group_heartbeat(t, NULL, 0), -EINVAL);
	r.group_id = S("absent");
	assert_int_equal(sl_group_heartbeat(t, &r, 0), SL_GROUP_KERR_UNKNOWN_MEMBER_ID);
	r.group_id = S("");
	assert_int_equal(sl_group_heartbeat(t, &r, 0), SL_GROUP_KERR_INVALID_GROUP_ID);
	r.group_id = SNULL;
	assert_int_equal(sl_group_commit_check(t, &r, false, 0), SL_GROUP_KERR_INVALID_GROUP_ID);
	assert_int_equal(sl_group_leave(t, S(GID), &lm, 1, 0), -EINVAL);
	assert_int_equal(sl_group_leave(t, S(GID), NULL, 1, 0), -EINVAL);
	assert_int_equal(sl_group_leave(t, S(GID), NULL, 0, 0), SL_GROUP_KERR_NONE);
	assert_string_equal(sl_group_state_name((enum sl_group_state)99), "Unknown");
	assert_true(sl_group_tab_check(t));
	sl_group_tab_destroy(t);
}

static void
test_group_static_leader_not_rejoined_new_leader_elected(void **st)
{
	struct sl_group_tab *t = tab_new(0, INT32_MAX);
	struct cli a, b, c;

	(void)st;
	cli_init(&a, "ca", "inst-a", "range=ma");
	cli_init(&b, "cb", NULL, "range=mb");
	cli_init(&c, "cc", NULL, "range=mc");
	form_two(t, &a, &b, 0); /* a (static) leads */
	join(t, &c, 100);       /* a rebalance */
	join(t, &b, 200);
	/* a keeps its session but never rejoins: at the rebalance timeout a static member
	 * stays, and a member that rejoined leads */
	for (int64_t now = 5000; now < 100 + REBALANCE_MS; now += 5000)
		assert_int_equal(hb(t, &a, now), SL_GROUP_KERR_REBALANCE_IN_PROGRESS);
	sl_group_tick(t, 100 + REBALANCE_MS);
	assert_true(sl_group_tab_check(t));
	assert_int_equal(b.jcalls, 2);
	assert_int_equal(b.jerr, 0);
	assert_string_equal(b.jleader, b.member_id);
	assert_int_equal(b.jnmembers, 3); /* a is still listed, with its old metadata */
	assert_string_equal(c.jleader, b.member_id);
	assert_int_equal(a.jcalls, 2);
	assert_int_equal(hb(t, &a, 100 + REBALANCE_MS), SL_GROUP_KERR_ILLEGAL_GENERATION);
	/* a rejoins with its id and the same metadata: it gets the generation, as a follower */
	join(t, &a, 100 + REBALANCE_MS + 1);
	assert_int_equal(a.jcalls, 3);
	assert_int_equal(a.jerr, 0);
	assert_int_equal(a.jgen, b.jgen);
	assert_string_equal(a.jleader, b.member_id);
	assert_int_equal(a.jnmembers, 0);
	assert_int_equal(state(t), SL_GROUP_COMPLETING_REBALANCE);
	/* but new metadata during CompletingRebalance starts over */
	a.protos = "range=ma2";
	join(t, &a, 100 + REBALANCE_MS + 2);
	assert_int_equal(a.jcalls, 3);
	assert_int_equal(state(t), SL_GROUP_PREPARING_REBALANCE);
	sl_group_tab_destroy(t);
}

static void
test_group_static_members_none_rejoined_wait(void **st)
{
	struct sl_group_tab *t = tab_new(0, INT32_MAX);
	struct cli a, b;
	int64_t t1 = 100 + REBALANCE_MS;

	(void)st;
	cli_init(&a, "ca", "inst-a", "range=ma");
	cli_init(&b, "cb", "inst-b", "range=mb");
	a.session_ms = 3 * REBALANCE_MS; /* outlives two rebalance timeouts */
	form_two(t, &a, &b, 0);
	assert_int_equal(leave(t, &b, 100), 0);
	assert_int_equal(state(t), SL_GROUP_PREPARING_REBALANCE);
	/* nobody rejoins: the static member stays and the rebalance waits another timeout */
	sl_group_tick(t, t1);
	assert_true(sl_group_tab_check(t));
	assert_int_equal(state(t), SL_GROUP_PREPARING_REBALANCE);
	assert_int_equal(sl_group_next_deadline(t), t1 + REBALANCE_MS);
	assert_int_equal(hb(t, &a, t1 + 1), SL_GROUP_KERR_REBALANCE_IN_PROGRESS);
	join(t, &a, t1 + 2); /* all (one) rejoined */
	assert_int_equal(a.jerr, 0);
	assert_int_equal(a.jgen, 3);
	assert_int_equal(state(t), SL_GROUP_COMPLETING_REBALANCE);
	sl_group_tab_destroy(t);
}

static void
test_group_leave_with_parked_sync_answers_it(void **st)
{
	struct sl_group_tab *t = tab_new(0, INT32_MAX);
	struct cli a, b;

	(void)st;
	cli_init(&a, "ca", NULL, "range=ma");
	cli_init(&b, "cb", NULL, "range=mb");
	form_two(t, &a, &b, 0);
	join(t, &a, 10);
	join(t, &b, 10);
	sync_follower(t, &b, 20);
	sync_follower(t, &b, 21); /* a repeated SyncGroup replaces the parked one */
	assert_int_equal(b.scalls, 2);
	assert_int_equal(b.serr, SL_GROUP_KERR_REBALANCE_IN_PROGRESS);
	assert_int_equal(leave(t, &b, 30), 0);
	assert_int_equal(b.scalls, 3);
	assert_int_equal(b.serr, SL_GROUP_KERR_UNKNOWN_MEMBER_ID);
	assert_int_equal(state(t), SL_GROUP_PREPARING_REBALANCE);
	sl_group_tab_destroy(t);
}

static void
test_group_max_size_kicks_out_late_rejoiner(void **st)
{
	struct sl_group_tab *t = tab_new(0, 2);
	struct cli a, b, c;
	struct sl_group_desc d;

	(void)st;
	cli_init(&a, "ca", NULL, "range=ma");
	cli_init(&b, "cb", NULL, "range=mb");
	cli_init(&c, "cc", NULL, "range=mc");
	form_two(t, &a, &b, 0);
	join(t, &a, 10); /* Preparing, 1 of 2 rejoined */
	join(t, &c, 20); /* counted by rejoined members: accepted, 3 members now */
	assert_int_equal(c.jcalls, 0);
	join(t, &b, 30); /* the last to rejoin is over the limit and removed */
	assert_int_equal(b.jerr, SL_GROUP_KERR_GROUP_MAX_SIZE_REACHED);
	assert_string_equal(b.jmember, "");
	/* and with it gone, everybody left has rejoined */
	assert_int_equal(c.jcalls, 1);
	assert_int_equal(a.jnmembers, 2);
	sl_group_describe(t, S(GID), &d);
	assert_int_equal(d.members_cnt, 2);
	sl_group_tab_destroy(t);
}

static void
test_group_many_groups_and_pending_ids(void **st)
{
	struct sl_group_tab *t = tab_new(0, INT32_MAX);
	struct list_acc acc;
	struct cli c[300];
	struct sl_group_leave_member lm;
	char ids[300][16];
	int counted = 0;

	(void)st;
	for (int i = 0; i < 300; i++) {
		struct protos p;
		struct sl_group_join_req req;

		snprintf(ids[i], sizeof(ids[i]), "grp-%d", i);
		cli_init(&c[i], "cm", NULL, "range=m");
		parse_protos(&p, c[i].protos);
		req = (struct sl_group_join_req){.group_id = S(ids[i]),
		                                 .member_id = S(""),
		                                 .group_instance_id = SNULL,
		                                 .client_id = S("cm"),
		                                 .session_timeout_ms = SESSION_MS,
		                                 .rebalance_timeout_ms = REBALANCE_MS,
		                                 .protocol_type = S("consumer"),
		                                 .protocols = p.v,
		                                 .protocols_cnt = p.n,
		                                 .require_known_member_id = true};
		assert_int_equal(sl_group_join(t, &req, 0, &c[i].jc), 0);
		assert_int_equal(c[i].jerr, SL_GROUP_KERR_MEMBER_ID_REQUIRED);
	}
	assert_true(sl_group_tab_check(t));
	for (int i = 0; i < 300; i += 7) {
		struct sl_group_desc d;

		sl_group_describe(t, S(ids[i]), &d);
		assert_int_equal(d.state, SL_GROUP_EMPTY);
		counted++;
	}
	assert_int_equal(counted, 43);
	/* a pending id may leave */
	lm = (struct sl_group_leave_member){S(c[5].member_id), SNULL, -7};
	assert_int_equal(sl_group_leave(t, S(ids[5]), &lm, 1, 1), 0);
	assert_int_equal(lm.error_code, 0);
	assert_int_equal(sl_group_delete(t, S(ids[5])), 0);
	assert_int_equal(sl_group_delete(t, S(ids[6])), 0); /* Empty, despite its pending id */
	memset(&acc, 0, sizeof(acc));
	sl_group_list(t, count_cb, &acc);
	assert_int_equal(acc.n, 298);
	assert_true(sl_group_tab_check(t));
	sl_group_tab_destroy(t); /* frees the pending ids (ASan checks) */
}

/* ---- a random walk over every operation, checking the invariants at each step ---- */

#define RW_CLIENTS 6
#define RW_STEPS 30000
#define RW_CPLS (RW_STEPS * 2)

struct rw_cpl {
	struct sl_group_join_cpl jc;
	struct sl_group_sync_cpl sc;
	int calls;
	int owner;
};

struct rw_cli {
	char member_id[256];
	int32_t gen;
	const char *instance;
	const char *protos;
};

static struct rw_cpl rw_cpls[RW_CPLS];
static struct rw_cli rw_clis[RW_CLIENTS];
static int rw_ncpl;
static int rw_join_err[128]; /* answers by error code (index code + 1) */
static int rw_sync_err[128];
static int rw_sync_assigned;  /* SyncGroup answers that carried an assignment */
static int rw_leader_answers; /* JoinGroup answers that listed the members */

static uint64_t rw_state;

static uint64_t
rw_rand(void)
{
	uint64_t z = (rw_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint32_t
rw_pick(uint32_t n)
{
	return (uint32_t)(rw_rand() % n);
}

static void
rw_join_cb(struct sl_group_join_cpl *c, const struct sl_group_join_resp *r)
{
	struct rw_cpl *x = SL_CONTAINER_OF(c, struct rw_cpl, jc);
	struct rw_cli *cl = &rw_clis[x->owner];

	assert_int_equal(x->calls, 0); /* exactly once */
	x->calls++;
	assert_true(r->error_code >= -1 && r->error_code < 127);
	rw_join_err[r->error_code + 1]++;
	/* group.max.size bounds the members that rejoined; static members that did not
	 * rejoin stay (2 clients are static) */
	{
		int statics = 0;

		for (int i = 0; i < r->members_cnt; i++) {
			assert_true(r->members[i].member_id.len > 0);
			statics += r->members[i].group_instance_id.len >= 0;
		}
		assert_true(r->members_cnt - statics <= 5);
	}
	if (r->error_code == SL_GROUP_KERR_NONE) {
		assert_true(r->generation_id > 0);
		assert_true(r->protocol_name.len > 0);
		assert_true(r->leader.len > 0);
		/* the leader, and only the leader, gets the member list */
		assert_int_equal(r->members_cnt > 0, sstr_eq(r->leader, r->member_id));
		rw_leader_answers += r->members_cnt > 0;
		copy_str(cl->member_id, sizeof(cl->member_id), r->member_id);
		cl->gen = r->generation_id;
	} else if (r->error_code == SL_GROUP_KERR_MEMBER_ID_REQUIRED) {
		copy_str(cl->member_id, sizeof(cl->member_id), r->member_id);
	} else if (r->error_code == SL_GROUP_KERR_UNKNOWN_MEMBER_ID ||
	           r->error_code == SL_GROUP_KERR_FENCED_INSTANCE_ID) {
		cl->member_id[0] = '\0';
		cl->gen = -1;
	}
}

static void
rw_sync_cb(struct sl_group_sync_cpl *c, const struct sl_group_sync_resp *r)
{
	struct rw_cpl *x = SL_CONTAINER_OF(c, struct rw_cpl, sc);

	assert_int_equal(x->calls, 0);
	x->calls++;
	assert_true(r->error_code >= -1 && r->error_code < 127);
	rw_sync_err[r->error_code + 1]++;
	assert_true(r->assignment.len >= 0);
	if (r->error_code)
		assert_int_equal(r->assignment.len, 0);
	if (r->assignment.len) {
		assert_memory_equal(r->assignment.p, "assign", 6);
		rw_sync_assigned++;
	}
}

static struct rw_cpl *
rw_new(int owner)
{
	struct rw_cpl *x = &rw_cpls[rw_ncpl++];

	assert_true(rw_ncpl <= RW_CPLS);
	x->jc.fn = rw_join_cb;
	x->sc.fn = rw_sync_cb;
	x->owner = owner;
	return x;
}

static void
test_group_random_walk_keeps_invariants(void **st)
{
	static const char *const protos[] = {"range=r;roundrobin=rr", "roundrobin=rr2;range=r2",
	                                     "sticky=s;range=r3", "range=r4"};
	struct sl_group_cfg cfg;
	struct sl_group_tab *t;
	int64_t now = 0;
	int stable_seen = 0;

	(void)st;
	sl_group_cfg_default(&cfg);
	cfg.initial_rebalance_delay_ms = 500;
	cfg.max_size = 5;
	cfg.seed = 7;
	assert_int_equal(sl_group_tab_create(&t, &cfg), 0);
	memset(rw_clis, 0, sizeof(rw_clis));
	memset(rw_join_err, 0, sizeof(rw_join_err));
	memset(rw_sync_err, 0, sizeof(rw_sync_err));
	rw_ncpl = rw_sync_assigned = rw_leader_answers = 0;
	rw_state = 0x5eed;
	for (int i = 0; i < RW_CLIENTS; i++) {
		rw_clis[i].gen = -1;
		rw_clis[i].instance = i == 0 ? "static-0" : i == 1 ? "static-1" : NULL;
		rw_clis[i].protos = protos[i % 4];
	}
	for (int step = 0; step < RW_STEPS; step++) {
		int who = (int)rw_pick(RW_CLIENTS);
		struct rw_cli *cl = &rw_clis[who];
		struct sl_str gid = rw_pick(16) ? S("rw") : S("rw2");
		struct sl_str instance = cl->instance ? S(cl->instance) : SNULL;
		struct sl_group_member_ref ref = {gid, S(cl->member_id), instance, cl->gen};
		uint32_t op = rw_pick(12);

		if (rw_pick(10) == 0) /* a stale or odd generation now and then */
			ref.generation_id = (int32_t)rw_pick(6) - 1;
		switch (op) {
		case 0:
		case 1: {
			struct protos p;
			struct rw_cpl *x = rw_new(who);
			struct sl_group_join_req req = {
			        .group_id = gid,
			        .member_id = S(cl->member_id),
			        .group_instance_id = instance,
			        .client_id = S("rw"),
			        .client_host = S("h"),
			        .session_timeout_ms = 6000 + (int32_t)rw_pick(3) * 2000,
			        .rebalance_timeout_ms = 2000 + (int32_t)rw_pick(4) * 3000,
			        .protocol_type = rw_pick(40) ? S("consumer") : S("connect"),
			        .require_known_member_id = rw_pick(2),
			};

			if (rw_pick(8) == 0) /* a new subscription or assignor */
				cl->protos = protos[rw_pick(4)];
			if (rw_pick(30) == 0) /* a restart: the member id is forgotten */
				cl->member_id[0] = '\0';
			parse_protos(&p, cl->protos);
			req.protocols = p.v;
			req.protocols_cnt = p.n;
			assert_int_equal(sl_group_join(t, &req, now, &x->jc), 0);
			break;
		}
		case 2:
		case 3:
		case 4: {
			struct rw_cpl *x = rw_new(who);
			struct sl_group_assignment as[RW_CLIENTS];
			struct sl_group_sync_req req = {
			        .group_id = gid,
			        .member_id = S(cl->member_id),
			        .group_instance_id = instance,
			        .generation_id = ref.generation_id,
			        .protocol_type = rw_pick(2) ? S("consumer") : SNULL,
			        .protocol_name = SNULL,
			        .assignments = as,
			        .assignments_cnt = 0,
			};

			for (int i = 0; i < RW_CLIENTS; i++) {
				if (!rw_clis[i].member_id[0] || rw_pick(5) == 0)
					continue;
				as[req.assignments_cnt].member_id = S(rw_clis[i].member_id);
				as[req.assignments_cnt].assignment =
				        (struct sl_group_blob){(const uint8_t *)"assign", 6};
				req.assignments_cnt++;
			}
			assert_int_equal(sl_group_sync(t, &req, now, &x->sc), 0);
			break;
		}
		case 5:
		case 6:
			assert_true(sl_group_heartbeat(t, &ref, now) >= 0);
			break;
		case 7: {
			struct sl_group_leave_member lm = {rw_pick(3) ? S(cl->member_id) : S(""),
			                                   instance, -7};

			if (rw_pick(4)) /* leaving is rarer than the other requests */
				break;
			assert_int_equal(sl_group_leave(t, gid, &lm, 1, now), 0);
			assert_true(lm.error_code >= 0);
			if (lm.error_code == 0) {
				cl->member_id[0] = '\0';
				cl->gen = -1;
			}
			break;
		}
		case 8:
			assert_true(sl_group_commit_check(t, &ref, rw_pick(2), now) >= 0);
			break;
		case 9: {
			struct sl_group_desc d;

			sl_group_describe(t, gid, &d);
			/* during a rebalance: the last generation (<= 5 + 2 static) plus up to
			 * 5 rejoined or new members */
			assert_true(d.members_cnt >= 0 && d.members_cnt <= 12);
			stable_seen += d.state == SL_GROUP_STABLE;
			if (rw_pick(200) == 0)
				(void)sl_group_delete(t, gid);
			break;
		}
		default: {
			int64_t next = sl_group_next_deadline(t);

			/* a small step, or straight to the next timer */
			if (rw_pick(3) == 0 && next != INT64_MAX && next > now)
				now = next;
			else
				now += rw_pick(1500);
			sl_group_tick(t, now);
			assert_true(sl_group_next_deadline(t) > now);
			break;
		}
		}
		assert_true(sl_group_tab_check(t));
	}
	sl_group_tab_destroy(t);
	for (int i = 0; i < rw_ncpl; i++)
		assert_int_equal(rw_cpls[i].calls, 1); /* every completion answered once */
	if (getenv("RW_STATS")) {
		for (int i = 0; i < 128; i++)
			if (rw_join_err[i] || rw_sync_err[i])
				fprintf(stderr, "code %d: join %d sync %d\n", i - 1, rw_join_err[i],
				        rw_sync_err[i]);
		fprintf(stderr, "stable %d leader %d assigned %d\n", stable_seen, rw_leader_answers,
		        rw_sync_assigned);
	}
	/* the walk went where it should (so the checks above meant something) */
	assert_true(stable_seen > 100);
	assert_true(rw_leader_answers > 100);
	assert_true(rw_sync_assigned > 100);
	assert_true(rw_join_err[SL_GROUP_KERR_NONE + 1] > 500);
	assert_true(rw_join_err[SL_GROUP_KERR_MEMBER_ID_REQUIRED + 1] > 10);
	assert_true(rw_join_err[SL_GROUP_KERR_UNKNOWN_MEMBER_ID + 1] > 10);
	assert_true(rw_join_err[SL_GROUP_KERR_FENCED_INSTANCE_ID + 1] > 0);
	assert_true(rw_join_err[SL_GROUP_KERR_INCONSISTENT_GROUP_PROTOCOL + 1] > 10);
	assert_true(rw_join_err[SL_GROUP_KERR_GROUP_MAX_SIZE_REACHED + 1] > 0);
	assert_true(rw_join_err[SL_GROUP_KERR_REBALANCE_IN_PROGRESS + 1] > 0);
	assert_true(rw_sync_err[SL_GROUP_KERR_REBALANCE_IN_PROGRESS + 1] > 100);
	assert_true(rw_sync_err[SL_GROUP_KERR_ILLEGAL_GENERATION + 1] > 10);
	assert_true(rw_sync_err[SL_GROUP_KERR_NONE + 1] > 100);
}

#ifdef SL_GROUP_TEST_OOM
/* ---- allocation failures ---- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t sz);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t sz);
void *__wrap_realloc(void *p, size_t n);

static long oom_countdown; /* 0: off; else the allocation that brings it to 0 fails */
static long oom_failed;

static bool
oom_fail(void)
{
	if (oom_countdown > 0 && --oom_countdown == 0) {
		oom_failed++;
		return true;
	}
	return false;
}

void *
__wrap_malloc(size_t n)
{
	return oom_fail() ? NULL : __real_malloc(n);
}

void *
__wrap_calloc(size_t n, size_t sz)
{
	return oom_fail() ? NULL : __real_calloc(n, sz);
}

void *
__wrap_realloc(void *p, size_t n)
{
	return oom_fail() ? NULL : __real_realloc(p, n);
}

struct fp {
	char s[4096];
};

static void
fp_add_group(struct fp *f, struct sl_group_tab *t, const char *gid)
{
	struct sl_group_desc d;
	size_t len = strlen(f->s);

	sl_group_describe(t, S(gid), &d);
	len += (size_t)snprintf(f->s + len, sizeof(f->s) - len, "[%s %s %d", gid, d.state_name,
	                        d.members_cnt);
	for (int i = 0; i < d.members_cnt; i++)
		len += (size_t)snprintf(f->s + len, sizeof(f->s) - len, " %.*s/%d",
		                        d.members[i].member_id.len, d.members[i].member_id.p,
		                        d.members[i].assignment.len);
	snprintf(f->s + len, sizeof(f->s) - len, "]");
}

static void
fp_count_cb(void *arg, const struct sl_group_list_entry *e)
{
	(void)e;
	(*(int *)arg)++;
}

/* What a failed request must leave unchanged. */
static void
fingerprint(struct fp *f, struct sl_group_tab *t)
{
	int n = 0;

	sl_group_list(t, fp_count_cb, &n);
	snprintf(f->s, sizeof(f->s), "%d %lld ", n, (long long)sl_group_next_deadline(t));
	fp_add_group(f, t, GID);
	fp_add_group(f, t, "manual");
	assert_true(sl_group_tab_check(t));
}

static void
oom_join(struct sl_group_tab *t, struct cli *c, int64_t now, bool v4)
{
	struct fp before, after;
	int calls = c->jcalls;
	int rc;

	fingerprint(&before, t);
	rc = do_join(t, c, now, v4);
	if (rc == 0) {
		c->jissued++;
		return;
	}
	assert_int_equal(rc, -ENOMEM);
	assert_int_equal(c->jcalls, calls);
	fingerprint(&after, t);
	assert_string_equal(before.s, after.s);
}

static void
oom_sync(struct sl_group_tab *t, struct cli *c, int64_t now, struct cli **mv, const char **as,
         int n)
{
	struct sl_group_assignment a[MAXM];
	struct sl_group_sync_req req = {
	        .group_id = S(GID),
	        .member_id = S(c->member_id),
	        .group_instance_id = inst(c),
	        .generation_id = c->gen,
	        .protocol_type = SNULL,
	        .protocol_name = SNULL,
	        .assignments = a,
	        .assignments_cnt = n,
	};
	struct fp before, after;
	int calls = c->scalls;
	int rc;

	for (int i = 0; i < n; i++) {
		a[i].member_id = S(mv[i]->member_id);
		a[i].assignment =
		        (struct sl_group_blob){(const uint8_t *)as[i], (int32_t)strlen(as[i])};
	}
	fingerprint(&before, t);
	rc = sl_group_sync(t, &req, now, &c->sc);
	if (rc == 0) {
		c->sissued++;
		return;
	}
	assert_int_equal(rc, -ENOMEM);
	assert_int_equal(c->scalls, calls);
	fingerprint(&after, t);
	assert_string_equal(before.s, after.s);
}

/* Every allocating path once: pending ids, new members, static replacement (same and new
 * metadata), assignments, a group created by a commit, table growth. */
static void
oom_scenario(void)
{
	struct sl_group_tab *t;
	struct sl_group_cfg cfg;
	struct sl_group_member_ref manual = {S("manual"), S(""), SNULL, -1};
	struct cli a, b, b2, b3;
	struct cli *mv[2] = {&a, &b};
	const char *as[2] = {"a-assign", "b-assign"};
	struct fp before, after;
	int rc;

	sl_group_cfg_default(&cfg);
	cfg.initial_rebalance_delay_ms = 0;
	cfg.seed = 1;
	rc = sl_group_tab_create(&t, &cfg);
	if (rc) {
		assert_int_equal(rc, -ENOMEM);
		assert_null(t);
		return;
	}
	cli_init(&a, "ca", NULL, "range=ma;rr=mr");
	cli_init(&b, "cb", "inst-b", "range=mb");
	oom_join(t, &a, 0, true); /* MEMBER_ID_REQUIRED */
	oom_join(t, &a, 1, true); /* joins with its id */
	oom_sync(t, &a, 2, mv, as, 1);
	oom_join(t, &b, 3, false); /* a rebalance */
	oom_join(t, &a, 4, false);
	oom_sync(t, &b, 5, mv, as, 0);
	oom_sync(t, &a, 6, mv, as, 2);
	cli_init(&b2, "cb", "inst-b", "range=mb");
	oom_join(t, &b2, 7, false); /* static replacement, no rebalance */
	cli_init(&b3, "cb", "inst-b", "range=mb3");
	oom_join(t, &b3, 8, false); /* static replacement, new metadata */
	a.protos = "rr=mr2";
	oom_join(t, &a, 9, false); /* new metadata */
	oom_sync(t, &a, 10, mv, as, 2);
	fingerprint(&before, t);
	rc = sl_group_commit_check(t, &manual, false, 11);
	if (rc < 0) {
		assert_int_equal(rc, -ENOMEM);
		fingerprint(&after, t);
		assert_string_equal(before.s, after.s);
	}
	for (int i = 0; i < 80; i++) { /* past the first table growth */
		char id[16];
		struct cli c;
		struct protos p;
		struct sl_group_join_req req;

		snprintf(id, sizeof(id), "grow-%d", i);
		cli_init(&c, "cg", NULL, "range=m");
		parse_protos(&p, c.protos);
		req = (struct sl_group_join_req){.group_id = S(id),
		                                 .member_id = S(""),
		                                 .group_instance_id = SNULL,
		                                 .client_id = S("cg"),
		                                 .session_timeout_ms = SESSION_MS,
		                                 .rebalance_timeout_ms = REBALANCE_MS,
		                                 .protocol_type = S("consumer"),
		                                 .protocols = p.v,
		                                 .protocols_cnt = p.n,
		                                 .require_known_member_id = true};
		rc = sl_group_join(t, &req, 12, &c.jc);
		assert_true(rc == 0 || rc == -ENOMEM);
		assert_int_equal(c.jcalls, rc == 0);
	}
	sl_group_tick(t, 100000);
	assert_true(sl_group_tab_check(t));
	sl_group_tab_destroy(t);
	/* every request that returned 0 was answered exactly once */
	assert_int_equal(a.jcalls, a.jissued);
	assert_int_equal(a.scalls, a.sissued);
	assert_int_equal(b.jcalls, b.jissued);
	assert_int_equal(b.scalls, b.sissued);
	assert_int_equal(b2.jcalls, b2.jissued);
	assert_int_equal(b3.jcalls, b3.jissued);
}

static void
test_group_allocation_failures_change_nothing(void **st)
{
	long n;

	(void)st;
	for (n = 1;; n++) {
		oom_failed = 0;
		oom_countdown = n;
		oom_scenario();
		oom_countdown = 0;
		if (!oom_failed)
			break; /* the scenario needs fewer than n allocations: all failed once */
	}
	assert_true(n > 100);
}
#endif

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_group_join_sync_heartbeat_leave_flow_ok),
	        cmocka_unit_test(test_group_session_expiry_removes_member_and_rebalances),
	        cmocka_unit_test(test_group_rebalance_timeout_removes_members_not_rejoined),
	        cmocka_unit_test(test_group_parked_join_is_not_session_expired),
	        cmocka_unit_test(test_group_static_member_rejoin_stable_no_rebalance),
	        cmocka_unit_test(test_group_static_member_rejoin_changed_metadata_rebalances),
	        cmocka_unit_test(test_group_static_member_parked_join_fenced_by_replacement),
	        cmocka_unit_test(test_group_stale_generation_illegal_generation),
	        cmocka_unit_test(test_group_member_id_required_then_rejoin_ok),
	        cmocka_unit_test(test_group_member_id_required_unused_id_expires),
	        cmocka_unit_test(test_group_protocol_selection_by_votes),
	        cmocka_unit_test(test_group_inconsistent_protocol_rejected),
	        cmocka_unit_test(test_group_followers_wait_for_leader_sync),
	        cmocka_unit_test(test_group_initial_rebalance_delay_waits_and_extends),
	        cmocka_unit_test(test_group_sync_during_rebalance_rebalance_in_progress),
	        cmocka_unit_test(test_group_sync_deadline_removes_members_without_sync),
	        cmocka_unit_test(test_group_leave_batch_mixed_results),
	        cmocka_unit_test(test_group_leave_while_parked_answers_join),
	        cmocka_unit_test(test_group_commit_check_manual_and_member_commits),
	        cmocka_unit_test(test_group_describe_and_list),
	        cmocka_unit_test(test_group_delete_only_empty),
	        cmocka_unit_test(test_group_last_member_expiry_empties_group),
	        cmocka_unit_test(test_group_destroy_answers_parked_not_coordinator),
	        cmocka_unit_test(test_group_superseded_join_told_to_retry),
	        cmocka_unit_test(test_group_max_size_reached),
	        cmocka_unit_test(test_group_bad_input_rejected),
	        cmocka_unit_test(test_group_static_leader_not_rejoined_new_leader_elected),
	        cmocka_unit_test(test_group_static_members_none_rejoined_wait),
	        cmocka_unit_test(test_group_leave_with_parked_sync_answers_it),
	        cmocka_unit_test(test_group_max_size_kicks_out_late_rejoiner),
	        cmocka_unit_test(test_group_many_groups_and_pending_ids),
	        cmocka_unit_test(test_group_random_walk_keeps_invariants),
#ifdef SL_GROUP_TEST_OOM
	        cmocka_unit_test(test_group_allocation_failures_change_nothing),
#endif
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
