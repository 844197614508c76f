/*
 * A fork storm for the probe's loss test: fork N children that exit at once, reap them,
 * and print how many forks succeeded and failed, so the test can count independently
 * what the kernel produced (per child: fork + clone return + exit).
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000, ok = 0, failed = 0;

	for (long i = 0; i < n; i++) {
		pid_t p = fork();

		if (p == 0)
			_exit(0);
		if (p < 0) {
			failed++;
			continue;
		}
		ok++;
		/* reap as we go, so the storm never hits the pid limit */
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
	}
	while (wait(NULL) > 0)
		;
	printf("ok=%ld failed=%ld\n", ok, failed);
	return 0;
}
