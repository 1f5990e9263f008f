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
 * slot pins old pages until someone clears it.
 *
 *   uniq-corrupt --dup-code DATA_DIR
 *
 * copies the first code of the first sorted run of code streams into the
 * last run: a code recorded as issued twice.
 *
 *   uniq-corrupt --set-counter DATA_DIR POOL N
 *
 * sets pool POOL's counter to N, whatever its grants say.
 *
 *   uniq-corrupt --rewind-seq DATA_DIR POOL SHARD SEQ COUNT
 *
 * sets the next sequence number of shard SHARD of POOL back to SEQ and
 * grants COUNT indices to it: sequence numbers granted twice.
 *
 * Never used outside tests.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/parse.h"
#include "common/store.h"
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

static int dup_code(int argc, char **argv)
{
	struct ledger_opts lo = { .sync = true };
	MDB_cursor *cur = NULL;
	struct ledger lg;
	MDB_txn *txn;
	MDB_val k, v, lastk;
	unsigned char first_key[12];
	uint64_t code;
	int rc;

	if (argc != 3) {
		fprintf(stderr, "usage: uniq-corrupt --dup-code DATA_DIR\n");
		return 2;
	}
	{
		char path[1200];

		snprintf(path, sizeof(path), "%s/%s", argv[2], LEDGER_FILE);
		rc = ledger_open(&lg, path, &lo);
	}
	if (rc)
		return 1;
	rc = store_txn_begin(lg.env, NULL, 0, &txn);
	if (rc == 0)
		rc = mdb_cursor_open(txn, lg.coderuns, &cur);
	if (rc == 0)
		rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	if (rc == 0) {
		memcpy(first_key, k.mv_data, sizeof(first_key));
		memcpy(&code, v.mv_data, sizeof(code));
		rc = mdb_cursor_get(cur, &lastk, &v, MDB_LAST);
	}
	if (rc == 0 && !memcmp(lastk.mv_data, first_key, sizeof(first_key)))
		rc = MDB_NOTFOUND; /* one run only: nothing to copy into */
	if (rc == 0) {
		v.mv_size = sizeof(code);
		v.mv_data = &code;
		rc = mdb_cursor_put(cur, &lastk, &v, MDB_NODUPDATA);
	}
	if (cur)
		mdb_cursor_close(cur);
	if (rc == 0)
		rc = store_txn_commit(txn);
	else
		store_txn_abort(txn);
	ledger_release(&lg);
	if (rc)
		fprintf(stderr, "dup-code: %s\n", mdb_strerror(rc));
	return rc ? 1 : 0;
}

/* Opens DATA_DIR's ledger for writing. */
static int open_ledger(struct ledger *lg, const char *dir)
{
	struct ledger_opts lo = { .sync = true };
	char path[1200];

	snprintf(path, sizeof(path), "%s/%s", dir, LEDGER_FILE);
	return ledger_open(lg, path, &lo);
}

static int set_counter(int argc, char **argv)
{
	struct ledger_rec p;
	struct ledger lg;
	uint64_t n;
	MDB_txn *txn;
	int rc;

	if (argc != 5 || parse_u64(argv[4], 0, UINT64_MAX, &n)) {
		fprintf(stderr, "usage: uniq-corrupt --set-counter DATA_DIR "
				"POOL N\n");
		return 2;
	}
	rc = open_ledger(&lg, argv[2]);
	if (rc)
		goto out;
	rc = store_err(store_txn_begin(lg.env, NULL, 0, &txn));
	if (rc == 0) {
		rc = ledger_rec_get_txn(&lg, txn, argv[3], &p);
		p.counter = n;
		if (rc == 0)
			rc = ledger_rec_put_txn(&lg, txn, argv[3], &p);
		rc = store_finish(txn, rc);
	}
	ledger_release(&lg);
out:
	if (rc)
		fprintf(stderr, "set-counter: %s\n", log_strerror(rc));
	return rc ? 1 : 0;
}

static int rewind_seq(int argc, char **argv)
{
	struct ledger_grant g;
	struct ledger_rec p;
	struct ledger lg;
	unsigned char key[8];
	uint64_t shard, seq, count;
	MDB_txn *txn;
	MDB_val k, v;
	int rc;

	if (argc != 7 || parse_u64(argv[4], 0, 1000, &shard) ||
	    parse_u64(argv[5], 0, UINT64_MAX, &seq) ||
	    parse_u64(argv[6], 1, 1000000, &count)) {
		fprintf(stderr, "usage: uniq-corrupt --rewind-seq DATA_DIR "
				"POOL SHARD SEQ COUNT\n");
		return 2;
	}
	rc = open_ledger(&lg, argv[2]);
	if (rc)
		goto out;
	rc = ledger_rec_get(&lg, argv[3], &p);
	if (rc == 0)
		rc = store_err(store_txn_begin(lg.env, NULL, 0, &txn));
	if (rc == 0) {
		store_put_be32(key, p.id);
		store_put_be32(key + 4, (unsigned)shard);
		k = (MDB_val){ .mv_size = sizeof(key), .mv_data = key };
		v = (MDB_val){ .mv_size = sizeof(seq), .mv_data = &seq };
		rc = store_finish(txn, store_err(mdb_put(txn, lg.shards, &k,
							 &v, 0)));
	}
	if (rc == 0)
		rc = ledger_grant(&lg, argv[3], (uint32_t)shard, count, &g);
	ledger_release(&lg);
out:
	if (rc)
		fprintf(stderr, "rewind-seq: %s\n", log_strerror(rc));
	return rc ? 1 : 0;
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
	if (argc > 1 && !strcmp(argv[1], "--dup-code"))
		return dup_code(argc, argv);
	if (argc > 1 && !strcmp(argv[1], "--set-counter"))
		return set_counter(argc, argv);
	if (argc > 1 && !strcmp(argv[1], "--rewind-seq"))
		return rewind_seq(argc, argv);
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
