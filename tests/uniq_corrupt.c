/*
 * uniq_corrupt.c: a test tool that damages a data directory on purpose, so
 * that the tests can show `uniqctl verify` catching what it claims to
 * catch. It writes straight into a shard, bypassing the ledger:
 *
 *   uniq-corrupt DATA_DIR POOL SHARD SEQ VALUE_INDEX
 *
 * adds the entry (SEQ -> VALUE_INDEX) to shard SHARD of pool POOL. Never
 * used outside tests.
 */
#include <errno.h>
#include <stdio.h>

#include "common/log.h"
#include "common/parse.h"
#include "ledger/ledger.h"
#include "shard/shard.h"
#include "common/banned.h"

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
