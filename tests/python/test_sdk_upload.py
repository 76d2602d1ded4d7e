"""upload_file / upload_files / upload_folder put files where the runtime mirrors them."""

import io
import os
import unittest

from sdk_support import LiveRunTestCase


class UploadTest(LiveRunTestCase):

    def source(self, name, content=b"data"):
        path = os.path.join(self.root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(content)
        return path

    def read(self, rel):
        with open(os.path.join(self.wd, rel), "rb") as f:
            return f.read()

    def test_names_under_outputs_logs_or_else_outputs(self):
        self.assertEqual(self.run.upload_file("outputs/model/weights.pt",
                                              self.source("w.pt", b"w")),
                         "outputs/model/weights.pt")
        self.assertEqual(self.run.upload_file("logs/extra.txt", self.source("l.txt", b"l")),
                         "logs/extra.txt")
        self.assertEqual(self.run.upload_file("report.html", self.source("r.html", b"r")),
                         "outputs/report.html")
        self.assertEqual(self.read("outputs/model/weights.pt"), b"w")
        self.assertEqual(self.read("logs/extra.txt"), b"l")
        self.assertEqual(self.read("outputs/report.html"), b"r")
        self.assertEqual(self.records(), [])  # files travel as outputs, not records

    def test_streams_are_written_out(self):
        self.run.upload_file("bytes.bin", io.BytesIO(b"\x00\x01"))
        self.run.upload_file("outputs/text.txt", io.StringIO("h\u00e9"))
        self.assertEqual(self.read("outputs/bytes.bin"), b"\x00\x01")
        self.assertEqual(self.read("outputs/text.txt"), "h\u00e9".encode())

    def test_unsafe_names_are_refused(self):
        source = self.source("x")
        for name in ("../escape", "outputs/../../x", "/etc/passwd", "", "a/../../b"):
            with self.subTest(name=name), self.assertRaises(ValueError):
                self.run.upload_file(name, source)
        with self.assertRaisesRegex(FileNotFoundError, "no such file"):
            self.run.upload_file("x", os.path.join(self.root, "missing"))

    def test_upload_files_and_folder(self):
        self.run.upload_files(["a.txt", "logs/b.txt"], [self.source("a"), self.source("b")])
        self.assertTrue(os.path.isfile(os.path.join(self.wd, "outputs", "a.txt")))
        self.assertTrue(os.path.isfile(os.path.join(self.wd, "logs", "b.txt")))
        with self.assertRaisesRegex(ValueError, "2 names but 1 paths"):
            self.run.upload_files(["a", "b"], [self.source("a")])
        self.source("tree/top.txt", b"t")
        self.source("tree/sub/deep.txt", b"d")
        paths = self.run.upload_folder("outputs/tree", os.path.join(self.root, "tree"))
        self.assertEqual(paths, ["outputs/tree/top.txt", "outputs/tree/sub/deep.txt"])
        self.assertEqual(self.read("outputs/tree/sub/deep.txt"), b"d")

    def test_a_child_uploads_under_its_id(self):
        child = self.run.child_run()
        self.assertEqual(child.upload_file("model.pt", self.source("m")),
                         "outputs/run-1_0/model.pt")
        self.assertTrue(os.path.isfile(os.path.join(self.wd, "outputs", "run-1_0", "model.pt")))

    def test_uploading_a_file_already_in_place(self):
        path = os.path.join(self.wd, "outputs", "already.txt")
        with open(path, "wb") as f:
            f.write(b"here")
        self.run.upload_file("outputs/already.txt", path)
        self.assertEqual(self.read("outputs/already.txt"), b"here")


if __name__ == "__main__":
    unittest.main()
