"""Metrics of a live run: the exact record lines the runtime will follow."""

import json
import os
import time
import unittest

from sdk_support import LiveRunTestCase, without_time

import runyard


class LogTest(LiveRunTestCase):

    def test_scalars_are_one_line_each_in_order(self):
        before = time.time()
        self.run.log("loss", 0.3)
        self.run.log(name="loss", value=0.25, description="training loss", step=2)
        self.run.log("epoch", 3)
        self.run.log("phase", "warm-up")
        self.run.log("converged", True)
        records = self.records()
        self.assertEqual(without_time(records), [
            {"k": "metric", "n": "loss", "type": "scalar", "v": [0.3]},
            {"k": "metric", "n": "loss", "type": "scalar", "v": [0.25], "s": 2,
             "d": "training loss"},
            {"k": "metric", "n": "epoch", "type": "scalar", "v": [3]},
            {"k": "metric", "n": "phase", "type": "scalar", "v": ["warm-up"]},
            {"k": "metric", "n": "converged", "type": "scalar", "v": [True]},
        ])
        for record in records:
            self.assertIsInstance(record["t"], float)
            self.assertGreaterEqual(record["t"], before - 1)
            self.assertLessEqual(record["t"], time.time() + 1)

    def test_a_series_keeps_its_order(self):
        for i in range(1000):
            self.run.log("acc", i / 1000)
        values = [r["v"][0] for r in self.records()]
        self.assertEqual(values, [i / 1000 for i in range(1000)])
        self.assertEqual(self.run.get_metrics("acc"), {"acc": [i / 1000 for i in range(1000)]})

    def test_names_and_strings_needing_escapes_stay_valid_json(self):
        self.run.log('a "quoted"\nname \u00e9', 'tab\there "and" \\ \u2603 \U0001F600')
        [record] = self.records()
        self.assertEqual(record["n"], 'a "quoted"\nname \u00e9')
        self.assertEqual(record["v"], ['tab\there "and" \\ \u2603 \U0001F600'])

    def test_non_finite_numbers_travel_as_strings(self):
        self.run.log("x", float("nan"))
        self.run.log("x", float("inf"))
        self.run.log_list("y", [1.0, float("-inf")])
        self.assertEqual([r["v"] for r in self.records()],
                         [["NaN"], ["Infinity"], [1.0, "-Infinity"]])

    def test_number_like_values_are_accepted(self):
        class FakeTensor:  # like a 0-d torch tensor: item() gives the number
            def item(self):
                return 1.5
        self.run.log("t", FakeTensor())
        self.assertEqual(self.records()[0]["v"], [1.5])

    def test_other_values_are_refused_naming_the_type(self):
        with self.assertRaisesRegex(TypeError, "metric 'x'.*dict"):
            self.run.log("x", {"a": 1})
        with self.assertRaisesRegex(TypeError, "str"):
            self.run.log(3, 1.0)
        with self.assertRaisesRegex(TypeError, "step"):
            self.run.log("x", 1.0, step="one")
        self.assertEqual(self.records(), [])
        self.assertEqual(self.run.get_metrics(), {})

    def test_get_metrics_has_azures_shape(self):
        self.run.log("single", 1)
        self.run.log("series", 1)
        self.run.log("series", 2)
        self.run.log_list("list", [1, 2, 3])
        self.run.log_row("rows", a=1, b="x")
        self.run.log_row("rows", a=2, b="y")
        self.run.log_table("table", {"a": [1, 2], "b": [3, 4]})
        self.assertEqual(self.run.get_metrics(), {
            "single": 1, "series": [1, 2], "list": [1, 2, 3],
            "rows": {"a": [1, 2], "b": ["x", "y"]}, "table": {"a": [1, 2], "b": [3, 4]}})


class LogListTest(LiveRunTestCase):

    def test_a_short_list_is_one_line(self):
        self.run.log_list("accuracies", [0.5, 0.6, 0.7], description="per fold")
        self.assertEqual(without_time(self.records()), [
            {"k": "metric", "n": "accuracies", "type": "list", "v": [0.5, 0.6, 0.7],
             "d": "per fold"}])

    def test_a_million_values_are_chunked_in_order(self):
        values = [i * 0.5 for i in range(1000000)]
        started = time.monotonic()
        self.run.log_list("big", values)
        elapsed = time.monotonic() - started
        records = self.records()
        self.assertEqual(len(records), 100)
        self.assertTrue(all(len(r["v"]) == 10000 and r["type"] == "list" for r in records))
        self.assertEqual([v for r in records for v in r["v"]], values)
        self.assertLess(elapsed, 30, "log_list of 1,000,000 values took %.1fs" % elapsed)

    def test_long_strings_split_a_chunk_below_one_mebibyte(self):
        values = ["%05d" % i + "x" * 60000 for i in range(100)]
        self.run.log_list("texts", values)
        records = self.records()  # read_records checks each line is <= 1 MiB
        self.assertGreater(len(records), 1)
        self.assertEqual([v for r in records for v in r["v"]], values)

    def test_a_bad_value_refuses_the_whole_list(self):
        with self.assertRaisesRegex(TypeError, r"log_list 'x' value \[2\]"):
            self.run.log_list("x", [1, 2, None])
        with self.assertRaisesRegex(TypeError, "list of values"):
            self.run.log_list("x", "abc")
        self.assertEqual(self.records(), [])


class DocumentMetricsTest(LiveRunTestCase):

    def test_row_table_and_json_kinds(self):
        self.run.log_row("metrics by class", description="rows", cls="cat", precision=0.9)
        self.run.log_table("table", {"epoch": [1, 2], "loss": [0.5, 0.4]})
        matrix = {"schema_type": "confusion_matrix", "data": {"matrix": [[1, 0], [0, 1]]}}
        self.run.log_confusion_matrix("cm", matrix)
        self.run.log_accuracy_table("acc", json.dumps({"data": [1]}))
        self.run.log_predictions("pred", {"bins": [1, 2]})
        self.run.log_residuals("res", {"edges": [0.1]}, description="r")
        self.assertEqual(without_time(self.records()), [
            {"k": "metric", "n": "metrics by class", "type": "row",
             "v": [{"cls": "cat", "precision": 0.9}], "d": "rows"},
            {"k": "metric", "n": "table", "type": "table",
             "v": [{"epoch": [1, 2], "loss": [0.5, 0.4]}]},
            {"k": "metric", "n": "cm", "type": "confusion_matrix", "v": [matrix]},
            {"k": "metric", "n": "acc", "type": "accuracy_table", "v": [{"data": [1]}]},
            {"k": "metric", "n": "pred", "type": "predictions", "v": [{"bins": [1, 2]}]},
            {"k": "metric", "n": "res", "type": "residuals", "v": [{"edges": [0.1]}],
             "d": "r"},
        ])

    def test_a_large_table_is_split_by_rows(self):
        rows = 200000
        self.run.log_table("big", {"i": list(range(rows)), "x": [i / 7 for i in range(rows)]})
        records = self.records()
        self.assertGreater(len(records), 1)
        self.assertEqual([i for r in records for i in r["v"][0]["i"]], list(range(rows)))

    def test_invalid_json_text_is_refused(self):
        with self.assertRaisesRegex(ValueError, "confusion_matrix 'cm'.*not valid JSON"):
            self.run.log_confusion_matrix("cm", "{not json")
        with self.assertRaisesRegex(TypeError, "must be a dict"):
            self.run.log_predictions("p", 3)


class FakeFigure:
    """Stands in for a matplotlib figure: savefig writes PNG bytes to a file object."""
    png = b"\x89PNG\r\n\x1a\nfake"

    def savefig(self, fname, format=None):
        assert format == "png"
        fname.write(self.png)


class LogImageTest(LiveRunTestCase):

    def test_both_or_neither_is_an_error(self):
        with self.assertRaisesRegex(ValueError, "log_image 'img'.*neither"):
            self.run.log_image("img")
        with self.assertRaisesRegex(ValueError, "log_image 'img'.*both"):
            self.run.log_image("img", path="a.png", plot=FakeFigure())
        self.assertEqual(self.records(), [])

    def test_a_plot_is_saved_as_png_in_logs_images(self):
        self.run.log_image("loss curve", plot=FakeFigure())
        self.run.log_image("loss curve", plot=FakeFigure(), description="again")
        records = without_time(self.records())
        self.assertEqual(records, [
            {"k": "metric", "n": "loss curve", "type": "image",
             "v": ["logs/images/loss_curve-0.png"]},
            {"k": "metric", "n": "loss curve", "type": "image",
             "v": ["logs/images/loss_curve-1.png"], "d": "again"}])
        with open(os.path.join(self.wd, "logs", "images", "loss_curve-1.png"), "rb") as f:
            self.assertEqual(f.read(), FakeFigure.png)

    def test_an_existing_file_number_is_skipped(self):
        images = os.path.join(self.wd, "logs", "images")
        os.makedirs(images)
        open(os.path.join(images, "img-0.png"), "wb").close()  # another process's
        self.assertEqual(self.run.log_image("img", plot=FakeFigure()), "logs/images/img-1.png")

    def test_a_file_is_copied(self):
        source = os.path.join(self.root, "picture.jpg")
        with open(source, "wb") as f:
            f.write(b"jpeg bytes")
        self.run.log_image("pic", path=source)
        self.assertEqual(self.records()[0]["v"], ["logs/images/pic-0.jpg"])
        with open(os.path.join(self.wd, "logs", "images", "pic-0.jpg"), "rb") as f:
            self.assertEqual(f.read(), b"jpeg bytes")
        with self.assertRaisesRegex(FileNotFoundError, "no such file"):
            self.run.log_image("pic", path=os.path.join(self.root, "missing.png"))

    def test_matplotlib_pyplot(self):
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            self.skipTest("matplotlib is not installed (python3-matplotlib)")
        plt.plot([1, 2, 3], [3, 1, 2])
        self.run.log_image("curve", plot=plt)
        with open(os.path.join(self.wd, "logs", "images", "curve-0.png"), "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")


class LimitsTest(LiveRunTestCase):
    limits = {"max_metric_values": 5, "max_name_chars": 10, "max_text_value_chars": 8}

    def test_the_value_limit_names_itself_and_records_nothing_more(self):
        for i in range(5):
            self.run.log("x", i)
        with self.assertRaisesRegex(runyard.RunLimitError, r"max_metric_values \(5\)"):
            self.run.log("x", 5)
        with self.assertRaisesRegex(runyard.RunLimitError, r"max_metric_values \(5\)"):
            self.run.log_list("y", [1])
        self.assertEqual(len(self.records()), 5)

    def test_a_list_past_the_limit_is_refused_whole(self):
        self.run.log_list("y", [1, 2, 3])
        with self.assertRaisesRegex(runyard.RunLimitError, "max_metric_values"):
            self.run.log_list("y", [1, 2, 3])
        self.assertEqual(len(self.records()), 1)

    def test_name_and_text_limits(self):
        with self.assertRaisesRegex(runyard.RunLimitError, r"max_name_chars \(10\)"):
            self.run.log("n" * 11, 1)
        with self.assertRaisesRegex(runyard.RunLimitError, r"max_text_value_chars \(8\)"):
            self.run.log("s", "x" * 9)
        with self.assertRaisesRegex(runyard.RunLimitError, r"max_text_value_chars \(8\)"):
            self.run.log_list("s", ["ok", "x" * 9])
        self.assertEqual(self.records(), [])


if __name__ == "__main__":
    unittest.main()
