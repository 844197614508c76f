/*
 * Workloads for the probe's benchmark (compiled with gcc by benches/probe.rs):
 *
 *   load unshare N RATE   N unshare(0) calls (each one probe event), paced to RATE/s;
 *                         prints the rate achieved
 *   load forkexec N       N times: fork, exec /bin/true, wait (the 20,000-process loop)
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	long n = argc > 2 ? atol(argv[2]) : 0;

	if (argc > 3 && strcmp(argv[1], "unshare") == 0) {
		double rate = atof(argv[3]), t0 = now();

		for (long i = 0; i < n; i++) {
			unshare(0);
			if (i % 256 == 255) { /* pace in small steps */
				double ahead = (i + 1) / rate - (now() - t0);

				if (ahead > 0) {
					struct timespec ts = { 0, (long)(ahead * 1e9) };

					nanosleep(&ts, NULL);
				}
			}
		}
		printf("%.0f\n", n / (now() - t0));
		return 0;
	}
	if (argc > 2 && strcmp(argv[1], "forkexec") == 0) {
		for (long i = 0; i < n; i++) {
			pid_t p = fork();

			if (p == 0) {
				execl("/bin/true", "true", (char *)NULL);
				_exit(127);
			}
			if (p < 0 || waitpid(p, NULL, 0) != p)
				return 1;
		}
		return 0;
	}
	fprintf(stderr, "usage: load unshare N RATE | load forkexec N\n");
	return 2;
}
