"""flush() waits for the runtime's `committed` offset; status records."""

import os
import threading
import unittest

from sdk_support import LiveRunTestCase, without_time, write_committed


class FlushTest(LiveRunTestCase):

    def test_flush_with_nothing_logged_returns_at_once(self):
        self.run.flush(timeout_seconds=0)

    def test_flush_returns_once_the_runtime_commits_what_was_logged(self):
        self.run.log("loss", 0.3)
        size = os.path.getsize(os.path.join(self.api, "records.jsonl"))
        polled = threading.Event()
        real_committed = self.run._channel.committed

        def committed():  # the test's runtime answers only after flush has polled once
            value = real_committed()
            polled.set()
            return value
        self.run._channel.committed = committed

        def runtime():
            polled.wait(timeout=60)
            write_committed(self.api, size - 1)  # not enough yet
            write_committed(self.api, size)
        thread = threading.Thread(target=runtime)
        thread.start()
        self.run.flush(timeout_seconds=60)
        thread.join()
        self.assertTrue(polled.is_set())
        with open(os.path.join(self.api, "committed"), "rb") as f:
            self.assertEqual(f.read(), b"%020d\n" % size)

    def test_flush_times_out_naming_what_is_not_committed(self):
        self.run.log("loss", 0.3)
        size = os.path.getsize(os.path.join(self.api, "records.jsonl"))
        with self.assertRaisesRegex(TimeoutError, "committed up to byte 0 of %d" % size):
            self.run.flush(timeout_seconds=0.05)


class StatusTest(LiveRunTestCase):

    def test_complete_fail_cancel_are_status_records(self):
        self.assertEqual(self.run.get_status(), "Running")
        self.run.complete()
        self.assertEqual(self.run.get_status(), "Completed")
        self.run.fail(error_details=ValueError("bad input"))
        self.run.fail()
        self.run.cancel()
        self.assertEqual(self.run.get_status(), "Canceled")
        self.assertEqual(without_time(self.records()), [
            {"k": "status", "s": "Completed"},
            {"k": "status", "s": "Failed",
             "error": {"code": "UserError", "message": "ValueError: bad input"}},
            {"k": "status", "s": "Failed", "error": {"code": "UserError", "message": ""}},
            {"k": "status", "s": "Canceled"},
        ])

    def test_details_come_from_the_context(self):
        details = self.run.get_details()
        self.assertEqual(details["runId"], "run-1")
        self.assertEqual(details["experiment"], "exp-1")
        self.assertEqual(details["displayName"], "first run")
        self.assertEqual(details["target"], "local")
        self.assertEqual(details["status"], "Running")
        self.assertNotIn("parentRunId", details)
        self.assertEqual(self.run.id, "run-1")
        self.assertEqual(self.run.experiment.name, "exp-1")
        self.assertIsNone(self.run.parent)

    def test_get_context_returns_the_same_run(self):
        import runyard
        self.assertIs(runyard.Run.get_context(), self.run)


if __name__ == "__main__":
    unittest.main()
