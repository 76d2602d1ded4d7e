"""A record is written whole (a short write is finished), and never past max_records_bytes."""

import unittest
from unittest import mock

from sdk_support import LiveRunTestCase


class ShortWriteTest(LiveRunTestCase):

    def test_a_short_write_is_finished_so_the_next_line_stays_whole(self):
        import os
        real_write = os.write
        calls = []

        def short_then_real(fd, data):
            calls.append(len(data))
            if len(calls) == 1:
                return real_write(fd, data[:5])  # as a full disk or a signal would
            return real_write(fd, data)

        from runyard import run as run_module
        with mock.patch.object(run_module, "_write", short_then_real), \
                mock.patch("os.write", short_then_real):
            self.run.log("loss", 0.5)
        self.run.log("loss", 0.25)
        self.assertGreater(len(calls), 1, "the tail of the short write was not written")
        self.assertEqual([r["v"] for r in self.records()], [[0.5], [0.25]])


class RecordsBytesLimitTest(LiveRunTestCase):
    limits = {"max_records_bytes": 300}

    def test_past_the_limit_the_script_gets_an_error_naming_it_and_nothing_is_written(self):
        from runyard import RunLimitError
        logged = 0
        with self.assertRaises(RunLimitError) as refused:
            for i in range(100):
                self.run.log("loss", i)
                logged += 1
        self.assertIn("max_records_bytes (300)", str(refused.exception))
        with self.assertRaises(RunLimitError):
            self.run.log_list("many", list(range(100)))
        self.assertEqual(len(self.records()), logged)
        self.assertGreater(logged, 0)


if __name__ == "__main__":
    unittest.main()
