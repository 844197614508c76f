/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/*
 * The few kernel types the probe reads, declared by hand instead of a generated vmlinux.h.
 *
 * Why not `bpftool btf dump ... format c`: that header is 3+ MB, is specific to the build
 * machine's kernel and needs /sys/kernel/btf at *build* time. With CO-RE only field names
 * matter: every struct below carries preserve_access_index, so clang records "field X of
 * struct Y" and the loader (aya) rewrites each offset against the running kernel's BTF.
 * Field order, padding and the fields we leave out are irrelevant; names and kinds must
 * match the kernel's. Anonymous wrappers (mm_struct's) are found by the relocator.
 */
#ifndef INITSCOPE_KERNEL_TYPES_H
#define INITSCOPE_KERNEL_TYPES_H

#include <linux/types.h>

typedef __u8 u8;
typedef __u32 u32;
typedef __s32 s32;
typedef __u64 u64;
typedef __s64 s64;
typedef int pid_t;

#define CORE __attribute__((preserve_access_index))

struct ns_common { unsigned int inum; } CORE;

struct uts_namespace { struct ns_common ns; } CORE;
struct ipc_namespace { struct ns_common ns; } CORE;
struct mnt_namespace { struct ns_common ns; } CORE;
struct net { struct ns_common ns; } CORE;
struct time_namespace { struct ns_common ns; } CORE;
struct cgroup_namespace { struct ns_common ns; } CORE;
struct pid_namespace { struct ns_common ns; } CORE;
struct user_namespace { struct ns_common ns; } CORE;

struct nsproxy {
	struct uts_namespace *uts_ns;
	struct ipc_namespace *ipc_ns;
	struct mnt_namespace *mnt_ns;
	struct pid_namespace *pid_ns_for_children;
	struct net *net_ns;
	struct time_namespace *time_ns;
	struct cgroup_namespace *cgroup_ns;
} CORE;

struct upid {
	int nr;
	struct pid_namespace *ns;
} CORE;

struct pid {
	unsigned int level;
	struct upid numbers[1];
} CORE;

typedef struct { unsigned int val; } kuid_t;

struct cred {
	kuid_t uid;
	struct user_namespace *user_ns;
} CORE;

typedef struct { int counter; } atomic_t;

struct signal_struct { atomic_t live; } CORE;

struct mm_struct {
	unsigned long arg_start;
	unsigned long arg_end;
} CORE;

struct task_struct {
	pid_t pid;
	pid_t tgid;
	struct task_struct *real_parent;
	struct task_struct *group_leader;
	struct pid *thread_pid;
	const struct cred *cred;
	struct nsproxy *nsproxy;
	struct signal_struct *signal;
	struct mm_struct *mm;
	int exit_code;
	char comm[16];
	unsigned int in_execve : 1;
} CORE;

struct linux_binprm { const char *filename; } CORE;

/* The context of a syscall tracepoint (syscalls:sys_enter_* / sys_exit_*). */
struct trace_entry { unsigned short type; } CORE;

struct trace_event_raw_sys_enter {
	struct trace_entry ent;
	long id;
	unsigned long args[6];
} CORE;

struct trace_event_raw_sys_exit {
	struct trace_entry ent;
	long id;
	long ret;
} CORE;

#endif
