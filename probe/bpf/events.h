/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/*
 * The records the probe writes to its ring buffer: a fixed header and one body per kind.
 * Mirrored byte for byte by probe/src/wire.rs (the Rust decoder); change both together.
 * Every field is naturally aligned so the layout is the same for clang -target bpf and
 * for rustc's reading of the bytes.
 */
#ifndef INITSCOPE_EVENTS_H
#define INITSCOPE_EVENTS_H

#define COMM_LEN 16
#define FILENAME_LEN 256
#define ARGS_LEN 512 /* argv bytes kept per exec, NUL-separated */
#define MAX_PREFIXES 4

enum ev_kind {
	EV_FORK = 1,
	EV_CLONE_EXIT = 2,
	EV_UNSHARE = 3,
	EV_SETNS = 4,
	EV_EXEC = 5,
	EV_EXIT = 6,
	EV_RENAME = 7,
};

/* Which syscall started a fork (what the inflight map remembers). */
enum ev_syscall {
	SC_UNKNOWN = 0,
	SC_CLONE = 1,
	SC_CLONE3 = 2,
	SC_FORK = 3,
	SC_VFORK = 4,
	SC_UNSHARE = 5,
	SC_SETNS = 6,
	SC_EXECVE = 7,
	SC_EXECVEAT = 8,
};

/* Indexes of the per-CPU counters the loader sums. */
enum ev_stat {
	STAT_LOST = 0,       /* records dropped because the ring buffer was full */
	STAT_TRACK_FULL = 1, /* children not tracked because the tracked map was full */
	STAT_COUNT = 2,
};

struct ev_ns { /* namespace inode numbers, 0 = unknown */
	__u32 pid, pid_for_children, mnt, net, uts, ipc, cgroup, user, time, _pad;
};

struct ev_hdr { /* 64 bytes */
	__u64 ts_ns;
	__u64 cgroup_id;
	__u32 kind;
	__s32 pid;  /* thread id */
	__s32 tgid; /* process id */
	__s32 ppid; /* real_parent's tgid */
	__u32 uid;
	__s32 ns_pid; /* tgid inside the task's own pid namespace */
	__u32 ns_level;
	__u32 _pad;
	char comm[COMM_LEN];
};

struct ev_fork {
	struct ev_hdr h;
	__s32 child_pid, child_tgid, parent_tgid, child_ns_pid;
	__u32 syscall;
	__u32 child_ns_level;
	__u64 flags;
	struct ev_ns child_ns;
};

struct ev_clone_exit {
	struct ev_hdr h;
	__u32 syscall;
	__u32 _pad;
	__u64 flags;
	__s64 ret;
};

struct ev_unshare {
	struct ev_hdr h;
	__u64 flags;
	__s64 ret;
	struct ev_ns ns;
};

struct ev_setns {
	struct ev_hdr h;
	__s32 fd;
	__u32 _pad;
	__u64 nstype;
	__s64 ret;
	struct ev_ns ns;
};

struct ev_exec {
	struct ev_hdr h;
	__s64 ret; /* 0, or -errno of a failed execve */
	__s32 old_pid;
	__u32 args_len;
	struct ev_ns ns;
	char filename[FILENAME_LEN];
	char args[ARGS_LEN];
};

struct ev_exit {
	struct ev_hdr h;
	__s32 exit_code; /* wait status: code << 8, or signal | 0x80 for a core */
	__u32 _pad;
};

struct ev_rename {
	struct ev_hdr h;
	char new_comm[COMM_LEN];
};

#endif
