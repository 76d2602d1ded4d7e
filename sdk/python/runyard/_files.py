"""Files a script hands to its run: uploads into outputs/ or logs/, and images."""

import os
import posixpath
import re
import shutil

_UNSAFE_FILE_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")


def split_upload_name(name):
    """(top folder, path parts under it) of an upload name: a name under "outputs/"
    or "logs/" lands at that place in the run's folders (which the runtime mirrors to
    the server); any other name lands under outputs/. Absolute names and names with
    ".." are refused."""
    if not isinstance(name, str) or not name:
        raise ValueError("upload name must be a non-empty string, got %r" % (name,))
    if name.startswith("/") or os.path.isabs(name):
        raise ValueError("upload name %r must be relative (outputs/..., logs/... or a "
                         "name under outputs/)" % name)
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise ValueError("upload name %r must not contain '..'" % name)
    if not parts:
        raise ValueError("upload name %r names no file" % name)
    if parts[0] in ("outputs", "logs") and len(parts) > 1:
        return parts[0], parts[1:]
    return "outputs", parts


def resolve_upload(context, name, child_id=None):
    """(absolute destination, run file path) of an upload named `name` (see
    split_upload_name). A child run has no folders of its own: its files go under
    <folder>/<child id>/ of the run that created it."""
    top, rest = split_upload_name(name)
    if child_id:
        rest = [child_id] + rest
    base = context.outputs_dir if top == "outputs" else context.logs_dir
    return os.path.join(base, *rest), posixpath.join(top, *rest)


def write_file(destination, path_or_stream):
    """Copies a file (a path) or writes out a stream (an object with read()) to
    `destination`, creating its folders."""
    os.makedirs(os.path.dirname(destination), exist_ok=True)
    read = getattr(path_or_stream, "read", None)
    if read is not None:
        with open(destination, "wb") as out:
            while True:
                chunk = read(1 << 20)
                if not chunk:
                    break
                out.write(chunk.encode("utf-8") if isinstance(chunk, str) else chunk)
        return
    source = os.fspath(path_or_stream)
    if not os.path.isfile(source):
        raise FileNotFoundError("cannot upload %s: no such file" % source)
    if os.path.exists(destination) and os.path.samefile(source, destination):
        return  # already where the runtime mirrors it from
    shutil.copyfile(source, destination)


def run_path_of(context, absolute):
    """The run file path ("logs/...", "outputs/...") of a file in the run's folders."""
    for top, base in (("logs", context.logs_dir), ("outputs", context.outputs_dir)):
        rel = os.path.relpath(absolute, base)
        if not rel.startswith(".."):
            return posixpath.join(top, *rel.split(os.sep))
    return posixpath.join("logs", "images", os.path.basename(absolute))


class ImageNamer:
    """Hands out image files <name>-<n><ext> in the images folder, n unique across the
    processes of a run: each file is created with O_EXCL, retrying on the next n."""

    def __init__(self, images_dir):
        self.images_dir = images_dir
        self._next = {}

    def create(self, name, ext):
        """(open binary file, absolute path) of a new image file for metric `name`."""
        os.makedirs(self.images_dir, exist_ok=True)
        stem = _UNSAFE_FILE_CHARS.sub("_", name).strip(".") or "image"
        n = self._next.get((stem, ext), 0)
        while True:
            path = os.path.join(self.images_dir, "%s-%d%s" % (stem, n, ext))
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
            except FileExistsError:
                n += 1
                continue
            self._next[(stem, ext)] = n + 1
            return os.fdopen(fd, "wb"), path
