/*
 * uniq_corrupt.c: a test tool that damages a data directory on purpose, so
 * that the tests can show `uniqctl verify` catching what it claims to
 * catch. It writes straight into a shard, bypassing the ledger:
 *
 *   uniq-corrupt DATA_DIR POOL SHARD SEQ VALUE_INDEX
 *
 * adds the entry (SEQ -> VALUE_INDEX) to shard SHARD of pool POOL.
 *
 *   uniq-corrupt --hold-reader DATA_DIR POOL SHARD
 *
 * opens the shard, starts a read transaction, prints "holding", and waits
 * to be killed: a uniqctl killed in the middle of a read, whose reader
 * slot pins old pages until someone clears it. Never used outside tests.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/parse.h"
#include "ledger/ledger.h"
#include "shard/shard.h"
#include "common/banned.h"

static int hold_reader(int argc, char **argv)
{
	struct ledger_opts lo = { .sync = true, .readonly = true };
	struct shard_opts so = { .sync = true, .readonly = true,
				 .shard_size = 1000 };
	struct shard_reader r;
	struct ledger lg;
	struct shard s;
	uint64_t shard;
	char path[1200];
	int rc;

	if (argc != 5 || parse_u64(argv[4], 0, 1000, &shard)) {
		fprintf(stderr, "usage: uniq-corrupt --hold-reader DATA_DIR "
				"POOL SHARD\n");
		return 2;
	}
	snprintf(path, sizeof(path), "%s/%s", argv[2], LEDGER_FILE);
	rc = ledger_open(&lg, path, &lo);
	if (rc == 0)
		rc = shard_path(path, sizeof(path), argv[2], argv[3],
				(uint32_t)shard);
	if (rc == 0)
		rc = shard_open(&s, path, argv[3], (uint32_t)shard, lg.instance,
				&so);
	if (rc == 0)
		rc = shard_reader_begin(&s, &r);
	if (rc) {
		fprintf(stderr, "hold: %s\n", log_strerror(rc));
		return 1;
	}
	printf("holding\n");
	fflush(stdout);
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	struct ledger_opts lo = { .sync = true, .create = false };
	struct shard_opts so = { .sync = true, .create = false,
				 .shard_size = 1000 };
	struct ledger lg;
	struct shard s;
	uint64_t shard, seq, value;
	char path[1200];
	int rc;

	if (argc > 1 && !strcmp(argv[1], "--hold-reader"))
		return hold_reader(argc, argv);
	if (argc != 6 || parse_u64(argv[3], 0, 1000, &shard) ||
	    parse_u64(argv[4], 0, UINT64_MAX, &seq) ||
	    parse_u64(argv[5], 0, UINT64_MAX, &value)) {
		fprintf(stderr, "usage: uniq-corrupt DATA_DIR POOL SHARD SEQ "
				"VALUE_INDEX\n");
		return 2;
	}
	snprintf(path, sizeof(path), "%s/%s", argv[1], LEDGER_FILE);
	rc = ledger_open(&lg, path, &lo);
	if (rc) {
		fprintf(stderr, "ledger: %s\n", log_strerror(rc));
		return 1;
	}
	rc = shard_path(path, sizeof(path), argv[1], argv[2], (uint32_t)shard);
	if (rc == 0)
		rc = shard_open(&s, path, argv[2], (uint32_t)shard, lg.instance,
				&so);
	if (rc == 0) {
		rc = shard_append(&s, seq, &value, 1);
		shard_release(&s);
	}
	ledger_release(&lg);
	if (rc)
		fprintf(stderr, "shard: %s\n", log_strerror(rc));
	return rc ? 1 : 0;
}
