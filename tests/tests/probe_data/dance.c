/*
 * A miniature of runc's bootstrap, for the probe's tests (compiled with gcc at test time):
 *
 *   create --fork--> [0:PARENT] --clone(CLONE_PARENT)--> [1:CHILD] --clone3(CLONE_PARENT)--> [2:INIT]
 *
 * [1:CHILD] unshares a user namespace and waits while [0:PARENT] writes its uid/gid maps,
 * then unshares the other namespaces (pid only applies to children, hence the second
 * clone); [2:INIT] is pid 1 in the new pid namespace, joins a namespace with setns (once
 * successfully, once with a wrong type) and execs argv[1]. With CLONE_PARENT every stage
 * is a child of create, which reaps them all. Each stage prints "stageN PID" (host pids; create is stage9).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what)
{
	fprintf(stderr, "dance: %s: %s\n", what, strerror(errno));
	_exit(100);
}

static void say(int stage)
{
	printf("stage%d %d\n", stage, (int)syscall(SYS_getpid));
	fflush(stdout);
}

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY);

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		die(path);
	close(fd);
}

static int stage2(const char *exe)
{
	int fd;

	prctl(PR_SET_NAME, "mini:[2:INIT]");
	if (getpid() != 1)
		return 101;
	fd = open("/proc/self/ns/uts", O_RDONLY);
	if (fd < 0)
		die("open uts ns");
	if (setns(fd, CLONE_NEWUTS) != 0)
		die("setns uts");
	if (setns(fd, CLONE_NEWNET) == 0 || errno != EINVAL) /* wrong type: must fail */
		return 102;
	close(fd);
	execl(exe, exe, "from-init", (char *)NULL);
	die("exec");
	return 103;
}

static int stage1(int to_parent, int from_parent)
{
	/* clone3 refuses an exit signal with CLONE_PARENT: the child inherits ours */
	struct clone_args args = { .flags = CLONE_PARENT };
	char byte = 'm';
	long pid;

	prctl(PR_SET_NAME, "mini:[1:CHILD]");
	say(1);
	if (unshare(CLONE_NEWUSER) != 0)
		die("unshare user");
	/* like SYNC_USERMAP_PLS / _ACK: the parent, outside the namespace, writes the maps */
	if (write(to_parent, &byte, 1) != 1 || read(from_parent, &byte, 1) != 1)
		die("usermap sync");
	if (setresuid(0, 0, 0) != 0)
		die("setresuid");
	if (unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWPID |
		    CLONE_NEWCGROUP) != 0)
		die("unshare");
	pid = syscall(SYS_clone3, &args, sizeof(args));
	if (pid < 0)
		die("clone3");
	if (pid == 0)
		return -1; /* we are stage 2 */
	printf("stage2 %ld\n", pid); /* its host pid: it sees itself as 1 */
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	const char *exe = argc > 1 ? argv[1] : "/bin/true";
	int up[2], down[2], status, failed = 0;
	pid_t s0;

	say(9); /* create */
	s0 = fork();
	if (s0 < 0)
		die("fork");
	if (s0 == 0) {
		long s1;
		char path[64], byte;

		prctl(PR_SET_NAME, "mini:[0:PARENT]");
		say(0);
		if (pipe(up) || pipe(down))
			die("pipe");
		s1 = syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, NULL, NULL, 0);
		if (s1 < 0)
			die("clone");
		if (s1 == 0) {
			if (stage1(up[1], down[0]) == -1)
				_exit(stage2(exe));
			_exit(0);
		}
		if (read(up[0], &byte, 1) != 1)
			die("usermap wait");
		snprintf(path, sizeof(path), "/proc/%ld/uid_map", s1);
		write_file(path, "0 0 1\n");
		snprintf(path, sizeof(path), "/proc/%ld/gid_map", s1);
		write_file(path, "0 0 1\n");
		if (write(down[1], &byte, 1) != 1)
			die("usermap ack");
		_exit(0);
	}
	/* create reaps every stage: all are its children */
	while (wait(&status) > 0)
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failed = 1;
	return failed;
}
