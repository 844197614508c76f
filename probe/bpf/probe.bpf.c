// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/*
 * initscope's probe: watch one process subtree clone, unshare, setns, exec, rename and exit.
 *
 * Filtering happens here, in the kernel: `tracked` holds the tgids we follow. It is seeded
 * by userspace (a root pid) or by a comm prefix matched at exec/rename (so `runc` started
 * by someone else is caught from its first exec), grows on fork (processes, not threads)
 * and shrinks on exit. Every other process costs one hash lookup and emits nothing.
 *
 * Records go to one ring buffer (layouts in events.h). A record that does not fit is
 * counted in `stats[STAT_LOST]` and the loader reports the count in the stream.
 */
#include "kernel_types.h"
#include <stdbool.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "events.h"

#define CLONE_THREAD 0x00010000ULL

char LICENSE[] SEC("license") = "GPL";

/* Set by the loader before load (aya override_global); constants to the verifier. */
const volatile __u32 n_prefixes = 0;
const volatile char prefixes[MAX_PREFIXES][COMM_LEN] = {};
const volatile __u32 prefix_lens[MAX_PREFIXES] = {};
/* 0: the kernel's own wakeup (only when the reader has caught up). Otherwise submit
 * without a wakeup until this many bytes wait, so a busy stream wakes the reader once
 * per batch instead of once per record. */
const volatile __u64 wakeup_bytes = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22); /* the loader sets ProbeOptions::ring_bytes */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32); /* tgid */
	__type(value, __u8);
} tracked SEC(".maps");

/* A syscall of a tracked thread between sys_enter and sys_exit. LRU: a thread that dies
 * inside the syscall cannot leak its entry for long. */
struct inflight {
	__u32 syscall;
	__s32 fd;
	__u64 arg; /* clone flags, unshare flags, setns nstype */
	__u64 ptr; /* execve filename (user pointer) */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32); /* tid */
	__type(value, struct inflight);
} inflight SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STAT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

static __always_inline void count(__u32 stat)
{
	__u64 *c = bpf_map_lookup_elem(&stats, &stat);

	if (c)
		__sync_fetch_and_add(c, 1);
}

static __always_inline bool is_tracked(__u32 tgid)
{
	return bpf_map_lookup_elem(&tracked, &tgid) != NULL;
}

static __always_inline void track(__u32 tgid)
{
	__u8 one = 1;

	if (bpf_map_update_elem(&tracked, &tgid, &one, BPF_ANY))
		count(STAT_TRACK_FULL);
}

/* Does a comm start with one of the prefixes? Bounded loops; no unrolling needed. */
static __always_inline bool comm_matches(const char *comm)
{
	for (__u32 i = 0; i < MAX_PREFIXES && i < n_prefixes; i++) {
		__u32 len = prefix_lens[i];
		bool ok = true;

		for (__u32 j = 0; j < COMM_LEN && j < len; j++) {
			if (comm[j] != prefixes[i][j]) {
				ok = false;
				break;
			}
		}
		if (ok)
			return true;
	}
	return false;
}

static __always_inline void *reserve(__u64 size)
{
	void *rec = bpf_ringbuf_reserve(&events, size, 0);

	if (!rec)
		count(STAT_LOST);
	return rec;
}

static __always_inline void submit(void *rec)
{
	__u64 flags = 0;

	if (wakeup_bytes)
		flags = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes
				? BPF_RB_FORCE_WAKEUP
				: BPF_RB_NO_WAKEUP;
	bpf_ringbuf_submit(rec, flags);
}

/* The task's number in its own pid namespace (task->thread_pid->numbers[level]). */
static __always_inline void pid_in_ns(struct task_struct *t, __s32 *nr, __u32 *level,
				      __u32 *ns_inum)
{
	struct pid *pid = BPF_CORE_READ(t, thread_pid);
	__u32 lvl = BPF_CORE_READ(pid, level);
	struct upid up = {};

	/* level is at most 32 (MAX_PID_NS_LEVEL); the mask keeps the read in bounds */
	bpf_core_read(&up, sizeof(up), &pid->numbers[lvl & 63]);
	*nr = up.nr;
	*level = lvl;
	if (ns_inum)
		*ns_inum = BPF_CORE_READ(up.ns, ns.inum);
}

static __always_inline void read_ns(struct task_struct *t, struct ev_ns *ns)
{
	struct nsproxy *nsp = BPF_CORE_READ(t, nsproxy);
	__s32 nr;
	__u32 level;

	pid_in_ns(t, &nr, &level, &ns->pid);
	ns->pid_for_children = BPF_CORE_READ(nsp, pid_ns_for_children, ns.inum);
	ns->mnt = BPF_CORE_READ(nsp, mnt_ns, ns.inum);
	ns->net = BPF_CORE_READ(nsp, net_ns, ns.inum);
	ns->uts = BPF_CORE_READ(nsp, uts_ns, ns.inum);
	ns->ipc = BPF_CORE_READ(nsp, ipc_ns, ns.inum);
	ns->cgroup = BPF_CORE_READ(nsp, cgroup_ns, ns.inum);
	ns->time = BPF_CORE_READ(nsp, time_ns, ns.inum);
	ns->user = BPF_CORE_READ(t, cred, user_ns, ns.inum);
	ns->_pad = 0;
}

/* The envelope, for the current task (every hook here runs in the acting task). */
static __always_inline void fill_hdr(struct ev_hdr *h, __u32 kind)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	__u64 id = bpf_get_current_pid_tgid();

	h->ts_ns = bpf_ktime_get_ns();
	h->cgroup_id = bpf_get_current_cgroup_id();
	h->kind = kind;
	h->_pad = 0;
	h->pid = (__u32)id;
	h->tgid = id >> 32;
	h->ppid = BPF_CORE_READ(t, real_parent, tgid);
	h->uid = (__u32)bpf_get_current_uid_gid();
	pid_in_ns(BPF_CORE_READ(t, group_leader), &h->ns_pid, &h->ns_level, NULL);
	bpf_get_current_comm(h->comm, sizeof(h->comm));
}

/* ---- syscall entry: remember what a tracked thread asked for ---- */

static __always_inline int enter(__u32 syscall, __u64 arg, __u64 ptr, __s32 fd)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct inflight f = { .syscall = syscall, .fd = fd, .arg = arg, .ptr = ptr };

	if (!is_tracked(id >> 32))
		return 0;
	bpf_map_update_elem(&inflight, &tid, &f, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_clone")
int sys_enter_clone(struct trace_event_raw_sys_enter *ctx)
{
	return enter(SC_CLONE, ctx->args[0], 0, 0);
}

SEC("tracepoint/syscalls/sys_enter_clone3")
int sys_enter_clone3(struct trace_event_raw_sys_enter *ctx)
{
	__u64 flags = 0;

	if (!is_tracked(bpf_get_current_pid_tgid() >> 32))
		return 0;
	/* clone3's flags live in user memory: the first u64 of struct clone_args */
	bpf_probe_read_user(&flags, sizeof(flags), (void *)ctx->args[0]);
	return enter(SC_CLONE3, flags, 0, 0);
}

SEC("tracepoint/syscalls/sys_enter_fork")
int sys_enter_fork(void *ctx __attribute__((unused)))
{
	return enter(SC_FORK, 17 /* SIGCHLD */, 0, 0);
}

SEC("tracepoint/syscalls/sys_enter_vfork")
int sys_enter_vfork(void *ctx __attribute__((unused)))
{
	return enter(SC_VFORK, 0x4000 | 0x100 | 17 /* CLONE_VFORK|CLONE_VM|SIGCHLD */, 0, 0);
}

SEC("tracepoint/syscalls/sys_enter_unshare")
int sys_enter_unshare(struct trace_event_raw_sys_enter *ctx)
{
	return enter(SC_UNSHARE, ctx->args[0], 0, 0);
}

SEC("tracepoint/syscalls/sys_enter_setns")
int sys_enter_setns(struct trace_event_raw_sys_enter *ctx)
{
	return enter(SC_SETNS, ctx->args[1], 0, (__s32)ctx->args[0]);
}

SEC("tracepoint/syscalls/sys_enter_execve")
int sys_enter_execve(struct trace_event_raw_sys_enter *ctx)
{
	return enter(SC_EXECVE, 0, ctx->args[0], 0);
}

SEC("tracepoint/syscalls/sys_enter_execveat")
int sys_enter_execveat(struct trace_event_raw_sys_enter *ctx)
{
	return enter(SC_EXECVEAT, 0, ctx->args[1], (__s32)ctx->args[0]);
}

/* ---- syscall exit: one program attached to every sys_exit_* above ---- */

static __always_inline void emit_clone_exit(struct inflight *f, long ret)
{
	struct ev_clone_exit *e;

	if (f->arg & CLONE_THREAD) /* a new thread, not a process: not followed */
		return;
	e = reserve(sizeof(*e));
	if (!e)
		return;
	fill_hdr(&e->h, EV_CLONE_EXIT);
	e->syscall = f->syscall;
	e->_pad = 0;
	e->flags = f->arg;
	e->ret = ret;
	submit(e);
}

static __always_inline void emit_unshare(struct inflight *f, long ret)
{
	struct ev_unshare *e = reserve(sizeof(*e));

	if (!e)
		return;
	fill_hdr(&e->h, EV_UNSHARE);
	e->flags = f->arg;
	e->ret = ret;
	read_ns((struct task_struct *)bpf_get_current_task(), &e->ns);
	submit(e);
}

static __always_inline void emit_setns(struct inflight *f, long ret)
{
	struct ev_setns *e = reserve(sizeof(*e));

	if (!e)
		return;
	fill_hdr(&e->h, EV_SETNS);
	e->fd = f->fd;
	e->_pad = 0;
	e->nstype = f->arg;
	e->ret = ret;
	read_ns((struct task_struct *)bpf_get_current_task(), &e->ns);
	submit(e);
}

/* A failed exec: a successful one is reported by sched_process_exec. */
static __always_inline void emit_exec_failed(struct inflight *f, long ret)
{
	struct ev_exec *e = reserve(sizeof(*e));

	if (!e)
		return;
	fill_hdr(&e->h, EV_EXEC);
	e->ret = ret;
	e->old_pid = e->h.pid;
	e->args_len = 0;
	__builtin_memset(&e->ns, 0, sizeof(e->ns));
	if (bpf_probe_read_user_str(e->filename, sizeof(e->filename), (void *)f->ptr) < 0)
		e->filename[0] = 0;
	submit(e);
}

SEC("tracepoint/syscalls/sys_exit")
int sys_exit(struct trace_event_raw_sys_exit *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct inflight *p = bpf_map_lookup_elem(&inflight, &tid);
	struct inflight f;
	long ret = ctx->ret;

	if (!p)
		return 0;
	f = *p;
	bpf_map_delete_elem(&inflight, &tid);
	switch (f.syscall) {
	case SC_CLONE:
	case SC_CLONE3:
	case SC_FORK:
	case SC_VFORK:
		emit_clone_exit(&f, ret);
		break;
	case SC_UNSHARE:
		emit_unshare(&f, ret);
		break;
	case SC_SETNS:
		emit_setns(&f, ret);
		break;
	case SC_EXECVE:
	case SC_EXECVEAT:
		if (ret < 0)
			emit_exec_failed(&f, ret);
		break;
	}
	return 0;
}

/* ---- scheduler and task tracepoints (BTF-typed: ctx holds the raw arguments) ---- */

/* copy_process() in the creator's context: the creator, the new task, the clone flags.
 * The creator is *who called clone*; under CLONE_PARENT the new task's parent differs. */
SEC("tp_btf/task_newtask")
int task_newtask(__u64 *ctx)
{
	struct task_struct *child = (struct task_struct *)ctx[0];
	__u64 clone_flags = ctx[1];
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct inflight *f;
	struct ev_fork *e;
	__u32 child_tgid;

	if (clone_flags & CLONE_THREAD)
		return 0;
	if (!is_tracked(bpf_get_current_pid_tgid() >> 32))
		return 0;
	child_tgid = BPF_CORE_READ(child, tgid);
	track(child_tgid);

	e = reserve(sizeof(*e));
	if (!e)
		return 0;
	fill_hdr(&e->h, EV_FORK);
	e->child_pid = BPF_CORE_READ(child, pid);
	e->child_tgid = child_tgid;
	e->parent_tgid = BPF_CORE_READ(child, real_parent, tgid);
	pid_in_ns(child, &e->child_ns_pid, &e->child_ns_level, NULL);
	f = bpf_map_lookup_elem(&inflight, &tid);
	e->syscall = f ? f->syscall : SC_UNKNOWN;
	e->flags = clone_flags;
	read_ns(child, &e->child_ns);
	submit(e);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int sched_process_exec(__u64 *ctx)
{
	struct task_struct *t = (struct task_struct *)ctx[0];
	struct linux_binprm *bprm = (struct linux_binprm *)ctx[2];
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	unsigned long start, end, len;
	struct ev_exec *e;

	if (!is_tracked(tgid)) {
		char comm[COMM_LEN];

		if (!n_prefixes)
			return 0;
		bpf_get_current_comm(comm, sizeof(comm));
		if (!comm_matches(comm))
			return 0;
		track(tgid);
	}
	e = reserve(sizeof(*e));
	if (!e)
		return 0;
	fill_hdr(&e->h, EV_EXEC);
	e->ret = 0;
	e->old_pid = (__s32)ctx[1];
	read_ns(t, &e->ns);
	if (bpf_probe_read_kernel_str(e->filename, sizeof(e->filename),
				      BPF_CORE_READ(bprm, filename)) < 0)
		e->filename[0] = 0;
	/* argv, NUL-separated, from the new image's stack (already copied there) */
	start = BPF_CORE_READ(t, mm, arg_start);
	end = BPF_CORE_READ(t, mm, arg_end);
	len = end > start ? end - start : 0;
	if (len > ARGS_LEN)
		len = ARGS_LEN;
	if (bpf_probe_read_user(e->args, len & (2 * ARGS_LEN - 1), (void *)start) < 0)
		len = 0;
	e->args_len = len;
	submit(e);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int sched_process_exit(__u64 *ctx)
{
	struct task_struct *t = (struct task_struct *)ctx[0];
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id, tgid = id >> 32;
	struct ev_exit *e;

	if (!is_tracked(tgid))
		return 0;
	bpf_map_delete_elem(&inflight, &tid);
	/* a thread leaving is not the process leaving; the last one out reports. The
	 * delete also makes sure only one thread does. */
	if (BPF_CORE_READ(t, signal, live.counter) != 0)
		return 0;
	if (bpf_map_delete_elem(&tracked, &tgid))
		return 0;
	e = reserve(sizeof(*e));
	if (!e)
		return 0;
	fill_hdr(&e->h, EV_EXIT);
	e->exit_code = BPF_CORE_READ(t, exit_code);
	e->_pad = 0;
	submit(e);
	return 0;
}

/* prctl(PR_SET_NAME) and writes to /proc/PID/comm; how runc names its stages. */
SEC("tp_btf/task_rename")
int task_rename(__u64 *ctx)
{
	struct task_struct *t = (struct task_struct *)ctx[0];
	const char *new_comm = (const char *)ctx[1];
	struct ev_rename *e;
	char comm[COMM_LEN] = {};
	__u32 tgid;

	/* exec renames too; sched_process_exec reports that one */
	if (BPF_CORE_READ_BITFIELD_PROBED(t, in_execve))
		return 0;
	tgid = BPF_CORE_READ(t, tgid);
	bpf_probe_read_kernel_str(comm, sizeof(comm), new_comm);
	if (!is_tracked(tgid)) {
		if (!n_prefixes || !comm_matches(comm))
			return 0;
		track(tgid);
	}
	e = reserve(sizeof(*e));
	if (!e)
		return 0;
	fill_hdr(&e->h, EV_RENAME);
	/* a write to another task's /proc/PID/comm: the envelope is the renamed task */
	e->h.pid = BPF_CORE_READ(t, pid);
	e->h.tgid = tgid;
	BPF_CORE_READ_STR_INTO(&e->h.comm, t, comm);
	__builtin_memcpy(e->new_comm, comm, sizeof(comm));
	submit(e);
	return 0;
}
