"""Tags (mutable) and properties (immutable) of a live run."""

import unittest

from sdk_support import LiveRunTestCase, without_time

import runyard


class TagsTest(LiveRunTestCase):
    tags = {"team": "vision"}

    def test_tags_are_records_and_mutable(self):
        self.run.tag("stage", "train")
        self.run.tag("flag")
        self.run.tag("stage", "eval")
        self.run.set_tags({"lr": 0.1, "owner": "ana"})
        self.run.set_tags(["bare"])
        self.assertEqual(without_time(self.records()), [
            {"k": "tag", "tags": {"stage": "train"}},
            {"k": "tag", "tags": {"flag": ""}},
            {"k": "tag", "tags": {"stage": "eval"}},
            {"k": "tag", "tags": {"lr": "0.1", "owner": "ana"}},
            {"k": "tag", "tags": {"bare": ""}},
        ])
        self.assertEqual(self.run.get_tags(), {"team": "vision", "stage": "eval", "flag": "",
                                               "lr": "0.1", "owner": "ana", "bare": ""})


class TagLimitTest(LiveRunTestCase):
    limits = {"max_tags": 3}
    tags = {"from": "spec"}

    def test_past_max_tags_raises_naming_it(self):
        self.run.set_tags({"a": "1", "b": "2"})
        self.run.tag("a", "changed")  # an existing key does not count again
        with self.assertRaisesRegex(runyard.RunLimitError, r"max_tags \(3\)"):
            self.run.tag("c", "3")
        self.assertEqual(len(self.records()), 2)


class PropertiesTest(LiveRunTestCase):
    properties = {"git.commit": "abc123"}

    def test_new_properties_are_one_record(self):
        self.run.add_properties({"dataset": "v2", "seed": 7})
        self.assertEqual(without_time(self.records()),
                         [{"k": "props", "props": {"dataset": "v2", "seed": "7"}}])
        self.assertEqual(self.run.get_properties(),
                         {"git.commit": "abc123", "dataset": "v2", "seed": "7"})

    def test_changing_a_property_raises_naming_the_key(self):
        self.run.add_properties({"seed": "7"})
        with self.assertRaisesRegex(runyard.ImmutablePropertyError, "'seed'"):
            self.run.add_properties({"other": "1", "seed": "8"})
        with self.assertRaisesRegex(runyard.ImmutablePropertyError, "'git.commit'"):
            self.run.add_properties({"git.commit": "def456"})
        self.assertEqual(len(self.records()), 1)  # the refused calls recorded nothing
        self.assertNotIn("other", self.run.get_properties())

    def test_setting_the_same_value_again_is_a_no_op(self):
        self.run.add_properties({"git.commit": "abc123"})
        self.assertEqual(self.records(), [])


if __name__ == "__main__":
    unittest.main()
