/*
 * test_fdlimit.c: common/fdlimit.c raises the soft limit on open files
 * toward what is asked, up to the hard limit, and never lowers it.
 */
#include <stdint.h>
#include <sys/resource.h>

#include "common/fdlimit.h"
#include "tests/unit/t.h"
#include "common/banned.h"

static rlim_t soft_now(void)
{
	struct rlimit rl;

	CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
	return rl.rlim_cur;
}

static void set_soft(rlim_t soft)
{
	struct rlimit rl;

	CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
	rl.rlim_cur = soft;
	CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
}

int main(void)
{
	struct rlimit start;
	uint64_t now = 0;

	CHECK(getrlimit(RLIMIT_NOFILE, &start) == 0);
	if (start.rlim_max < 512) {
		fprintf(stderr, "hard limit %llu: too low to test raising\n",
			(unsigned long long)start.rlim_max);
		return 77;
	}
	/* raised to what is asked */
	set_soft(100);
	CHECK(fdlimit_raise(200, &now) == 0);
	CHECK_EQ_U64(now, 200);
	CHECK_EQ_U64(soft_now(), 200);
	/* never lowered */
	now = 0;
	CHECK(fdlimit_raise(150, &now) == 0);
	CHECK_EQ_U64(now, 200);
	CHECK_EQ_U64(soft_now(), 200);
	/* no further than the hard limit, which stays */
	if (start.rlim_max != RLIM_INFINITY) {
		CHECK(fdlimit_raise((uint64_t)start.rlim_max + 1000, &now) ==
		      0);
		CHECK_EQ_U64(now, start.rlim_max);
		CHECK_EQ_U64(soft_now(), start.rlim_max);
	}
	{
		struct rlimit rl;

		CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
		CHECK_EQ_U64(rl.rlim_max, start.rlim_max);
	}
	CHECK(setrlimit(RLIMIT_NOFILE, &start) == 0);
	return t_done("fdlimit");
}
