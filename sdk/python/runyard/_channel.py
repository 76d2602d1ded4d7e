"""The channel from the script to the runtime: lines appended to records.jsonl.

Each call writes its whole record with one os.write on an O_APPEND descriptor: no
buffer in this process, so a record survives the script being killed right after the
call, and lines of several processes of one run never interleave. The runtime follows
the file and writes into `committed` the offset up to which the server has
acknowledged everything.
"""

import fcntl
import os
import time

from .errors import RunError, RunLimitError


class RecordChannel:
    """Appends record lines for one run (and the child runs it creates)."""

    def __init__(self, context):
        self.context = context
        try:
            self.fd = os.open(context.records, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        except OSError as e:
            raise RunError("cannot open the run's records file %s: %s" %
                           (context.records, e.strerror)) from e
        # The file's size as this process sees it: what was there at open, plus what this
        # process wrote (an fstat per call would double the cost of run.log).
        self.size = os.fstat(self.fd).st_size
        self.max_bytes = context.limits["max_records_bytes"]

    def write(self, data):
        """Appends `data` (bytes of whole lines), within max_records_bytes."""
        self.check_room(len(data))
        self.size += len(data)
        self.finish(data, os.write(self.fd, data))

    def check_room(self, count):
        if self.size + count > self.max_bytes:
            raise RunLimitError(
                "max_records_bytes (%d) reached: the run's records file %s holds %d bytes; "
                "a record of %d bytes refused" % (self.max_bytes, self.context.records,
                                                 self.size, count))

    def finish(self, data, written):
        """A short write only happens when the disk is full or a signal interrupts:
        finish it rather than lose the tail (the next line would glue onto it)."""
        while written < len(data):
            written += os.write(self.fd, data[written:])

    def committed(self):
        """The offset of records.jsonl the server has acknowledged (0 until the file
        says otherwise). The file is reopened each time in case the runtime replaced
        it instead of rewriting it in place."""
        try:
            with open(self.context.committed, "rb") as f:
                text = f.read(64)
        except FileNotFoundError:
            return 0
        try:
            return int(text.strip() or b"0")
        except ValueError:
            return 0  # a half-written number: read again on the next poll

    def flush(self, timeout_seconds):
        """Waits until everything in records.jsonl when the call began is committed."""
        target = os.fstat(self.fd).st_size
        deadline = time.monotonic() + timeout_seconds
        pause = 0.001
        while True:
            done = self.committed()
            if done >= target:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(
                    "flush: %s is committed up to byte %d of %d after %gs; %d bytes of "
                    "records were not acknowledged by the server" %
                    (self.context.records, done, target, timeout_seconds, target - done))
            time.sleep(min(pause, remaining))
            pause = min(pause * 2, 0.020)

    def reserve_child_numbers(self, count):
        """Reserves `count` consecutive child numbers for this run and returns the
        first. A counter file under flock keeps several processes of one run (say,
        one per GPU) from ever handing out the same child id."""
        limit = self.context.limits["max_children"]
        try:
            fd = os.open(self.context.children_count,
                         os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o660)
        except OSError as e:
            raise RunError("cannot open the run's child counter %s: %s" %
                           (self.context.children_count, e.strerror)) from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            text = os.pread(fd, 64, 0).strip()
            first = int(text) if text else 0
            if first + count > limit:
                raise RunLimitError(
                    "max_children (%d) reached: run %s has %d child runs, %d more asked" %
                    (limit, self.context.run_id, first, count))
            data = b"%020d\n" % (first + count)
            os.pwrite(fd, data, 0)
            return first
        finally:
            os.close(fd)  # closing drops the lock
