"""A database client for fault tests and benchmarks: it writes through a VIP while
nodes fail, and remembers which writes were acknowledged (the ones that must survive).
No Molecule dependency, so bench/ scripts use it too."""

import threading
import time


class Writer(threading.Thread):
    """A client inserting increasing ids, one transaction each, through `connect()` (a
    DB-API connection factory); it reconnects after any error and never reuses an id
    whose commit had no answer. `acked` holds the ids whose COMMIT returned (the ones
    that must survive a fault), `ack_times` when, `errors` what the client saw."""

    def __init__(self, connect, table, errors=(OSError,), name="writer", first_id=1):
        super().__init__(daemon=True, name=name)
        self.first_id = first_id
        self.connect, self.table, self.error_types = connect, table, tuple(errors) + (OSError,)
        self.acked, self.ack_times, self.errors = [], [], []
        self.stop = threading.Event()
        self.ended_at = None

    def run(self):
        try:
            self._write_until_stopped()
        finally:
            self.ended_at = time.monotonic()

    def _write_until_stopped(self):
        conn, next_id = None, self.first_id
        while not self.stop.is_set():
            try:
                if conn is None:
                    conn = self.connect()
                with conn.cursor() as cur:
                    cur.execute(f"INSERT INTO {self.table} (id, at) VALUES (%s, %s)", (next_id, time.time()))
                conn.commit()
                self.acked.append(next_id)
                self.ack_times.append(time.monotonic())
            except self.error_types as exc:
                self.errors.append(f"{time.monotonic():.1f} {type(exc).__name__}: {str(exc).strip()[:120]}")
                try:
                    if conn is not None:
                        conn.close()
                except Exception:  # pylint: disable=broad-except
                    pass
                conn = None
                time.sleep(0.2)
            next_id += 1
            time.sleep(0.05)
        if conn is not None:
            try:
                conn.close()
            except Exception:  # pylint: disable=broad-except
                pass

    def longest_gap(self, since):
        """Longest time without an acknowledged write after `since` (monotonic), up to
        the last acknowledgement or, once the writer ended, up to its end: writes that
        never resumed count as one gap as long as the rest of the run."""
        end = [self.ended_at] if self.ended_at is not None else []
        times = [since] + [t for t in self.ack_times if t > since] + end
        return max((b - a for a, b in zip(times, times[1:])), default=float("inf"))


def fresh_table(connect, table):
    """Drop and create `table (id, at)`, the table a Writer fills."""
    conn = connect()
    with conn.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {table}")
        cur.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, at DOUBLE PRECISION NOT NULL)")
    conn.commit()
    conn.close()


def insert_rows(connect, table, ids, deadlock_retries=0):
    """Insert the given ids in one transaction (committed when this returns). Writing
    to several Galera members at once, a commit may fail certification with a deadlock
    (1213): the transaction was rolled back whole, so it is safe to run it again, as
    Galera's documentation asks of multi-master clients. Returns the retries used."""
    for attempt in range(deadlock_retries + 1):
        conn = connect()
        try:
            with conn.cursor() as cur:
                cur.executemany(f"INSERT INTO {table} (id, at) VALUES (%s, %s)", [(i, time.time()) for i in ids])
            conn.commit()
            return attempt
        except Exception as exc:  # pylint: disable=broad-except
            if attempt == deadlock_retries or not exc.args or exc.args[0] != 1213:
                raise
            time.sleep(0.2)
        finally:
            conn.close()
    raise AssertionError("unreachable")
