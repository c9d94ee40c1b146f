/*
 * pause: the process a pod sandbox holds its namespaces with, written for the kubedr lab.
 *
 * It waits for signals: SIGCHLD reaps every exited child (it may run as PID 1 of the pod's
 * PID namespace, where orphans end up), SIGINT and SIGTERM end it with status 0.
 * The signals are blocked and taken with sigwaitinfo(): blocked signals are queued even for
 * PID 1 of a namespace, which would otherwise drop signals it has no handler for.
 *
 * Build: gcc -static -Os -o pause pause.c
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#define LAB_PAUSE_VERSION "kubedr-lab-1"

static void reap_children(void)
{
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

int main(int argc, char **argv)
{
	sigset_t wanted;
	int sig;

	if (argc == 2 && strcmp(argv[1], "-v") == 0) {
		printf("pause %s\n", LAB_PAUSE_VERSION);
		return 0;
	}
	if (argc != 1) {
		fprintf(stderr, "usage: %s [-v]\n", argv[0]);
		return 2;
	}

	sigemptyset(&wanted);
	sigaddset(&wanted, SIGCHLD);
	sigaddset(&wanted, SIGINT);
	sigaddset(&wanted, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &wanted, NULL) != 0) {
		perror("pause: sigprocmask");
		return 1;
	}
	/* children that exited before the mask was set sent their SIGCHLD to nobody */
	reap_children();

	for (;;) {
		sig = sigwaitinfo(&wanted, NULL);
		if (sig < 0) {
			if (errno == EINTR)
				continue;
			perror("pause: sigwaitinfo");
			return 1;
		}
		if (sig == SIGCHLD) {
			reap_children();
			continue;
		}
		return 0;
	}
}
