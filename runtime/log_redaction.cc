#include "runtime/log_redaction.h"

#include <algorithm>

#include "runtime/file_range.h"

namespace runyard::runtime {
namespace {

bool IsRecords(std::string_view path) {
  return path.starts_with("system_logs/") && path.ends_with("/run_records.jsonl");
}

// [from, to) as records of at most `piece` bytes each; `make` builds one.
template <typename Make>
void Split(int64_t from, int64_t to, int64_t piece, std::vector<SpoolRecord>& out, Make make) {
  for (int64_t at = from; at < to; at += piece) out.push_back(make(at, std::min(piece, to - at)));
}

}  // namespace

LogRedaction::LogRedaction(std::vector<std::string> secrets) : redactor_(std::move(secrets)) {}

bool LogRedaction::IsLog(std::string_view path) {
  return path.starts_with("user_logs/") || path.starts_with("logs/") ||
         path.starts_with("system_logs/");
}

std::vector<SpoolRecord> LogRedaction::TakeBytes(const std::string& path, int64_t offset,
                                                 std::string_view data, bool truncate) {
  std::lock_guard lock(mutex_);
  ByteStream& stream = bytes_[path];
  std::vector<SpoolRecord> out;
  if (truncate) {
    stream = ByteStream{offset, offset, {}};  // what was held belongs to the old file
  } else if (offset != stream.end) {
    // Not where the last bytes ended (a writer that skipped ahead): what was held goes as
    // it is, and the file's context starts over.
    out = HandOnBytes(path, stream, /*final=*/true, false);
    stream = ByteStream{offset, offset, {}};
  }
  stream.tail.append(data);
  stream.end += static_cast<int64_t>(data.size());
  std::vector<SpoolRecord> now = HandOnBytes(path, stream, /*final=*/IsRecords(path), truncate);
  out.insert(out.end(), std::make_move_iterator(now.begin()), std::make_move_iterator(now.end()));
  return out;
}

std::vector<SpoolRecord> LogRedaction::HandOnBytes(const std::string& path, ByteStream& stream,
                                                   bool final, bool truncate) {
  const int64_t window_offset = stream.end - static_cast<int64_t>(stream.tail.size());
  const int64_t to =
      final ? stream.end : redactor_.HoldBackFrom(stream.tail, window_offset, stream.handed_on);
  const std::string masked = redactor_.Mask(stream.tail, window_offset, stream.handed_on, to);
  std::vector<SpoolRecord> out;
  auto piece = [&](int64_t at, int64_t size) {
    SpoolRecord record;
    record.kind = SpoolRecord::Kind::kFileBytes;
    record.path = path;
    record.offset = at;
    record.payload = masked.substr(static_cast<size_t>(at - stream.handed_on), static_cast<size_t>(size));
    return record;
  };
  Split(stream.handed_on, to, kMaxPieceBytes, out, piece);
  if (truncate) {
    if (out.empty()) out.push_back(piece(stream.handed_on, 0));  // the file starts over, even empty
    out.front().truncate = true;
  }
  stream.handed_on = to;
  // Context for what comes next: an occurrence overlapping it starts at most
  // context_bytes() before it.
  const int64_t keep_from = std::max(window_offset, to - redactor_.context_bytes());
  stream.tail.erase(0, static_cast<size_t>(keep_from - window_offset));
  return out;
}

std::vector<SpoolRecord> LogRedaction::TakeRange(const std::string& path,
                                                 const std::filesystem::path& source, int64_t offset,
                                                 int64_t length) {
  std::vector<SpoolRecord> out;
  if (IsRecords(path)) {  // never held back (see the class comment)
    RangeStream whole{source, offset + length, offset};
    return HandOnRange(path, whole, whole.end);
  }
  std::lock_guard lock(mutex_);
  RangeStream& stream = ranges_[path];
  if (stream.source != source || offset != stream.end) {
    out = HandOnRange(path, stream, stream.end);  // see TakeBytes
    stream = RangeStream{source, offset, offset};
  }
  stream.end = offset + length;
  // Where to stop is decided by the bytes there now, up to the file's end.
  const int64_t context = redactor_.context_bytes();
  const int64_t window_offset = std::max(stream.handed_on, stream.end - context);
  int64_t missing = 0;
  std::string window = ReadFileRange(source, window_offset, stream.end + context - window_offset, &missing);
  window.resize(window.size() - static_cast<size_t>(missing));
  int64_t until = stream.end;
  // A file shorter than the range (it shrank under us) holds nothing back: there is no end
  // of it to wait for.
  if (window_offset + static_cast<int64_t>(window.size()) >= stream.end) {
    until = std::min(until, redactor_.HoldBackFrom(window, window_offset, stream.handed_on));
  }
  std::vector<SpoolRecord> now = HandOnRange(path, stream, until);
  out.insert(out.end(), std::make_move_iterator(now.begin()), std::make_move_iterator(now.end()));
  return out;
}

std::vector<SpoolRecord> LogRedaction::HandOnRange(const std::string& path, RangeStream& stream,
                                                   int64_t until) const {
  std::vector<SpoolRecord> out;
  Split(stream.handed_on, until, kMaxPieceBytes, out, [&](int64_t at, int64_t size) {
    SpoolRecord record;
    record.kind = SpoolRecord::Kind::kFileRange;
    record.path = path;
    record.offset = at;
    record.source = stream.source;
    record.length = size;
    return record;
  });
  stream.handed_on = std::max(stream.handed_on, until);
  return out;
}

std::vector<SpoolRecord> LogRedaction::Flush() {
  std::lock_guard lock(mutex_);
  std::vector<SpoolRecord> out;
  for (auto& [path, stream] : bytes_) {
    std::vector<SpoolRecord> held = HandOnBytes(path, stream, /*final=*/true, false);
    out.insert(out.end(), std::make_move_iterator(held.begin()), std::make_move_iterator(held.end()));
  }
  for (auto& [path, stream] : ranges_) {
    std::vector<SpoolRecord> held = HandOnRange(path, stream, stream.end);
    out.insert(out.end(), std::make_move_iterator(held.begin()), std::make_move_iterator(held.end()));
  }
  return out;
}

std::string LogRedaction::ReadMasked(const std::filesystem::path& source, int64_t offset,
                                     int64_t length, int64_t* short_by) const {
  const int64_t context = redactor_.context_bytes();
  const int64_t window_offset = std::max<int64_t>(0, offset - context);
  int64_t missing = 0;
  std::string window =
      ReadFileRange(source, window_offset, offset + length + context - window_offset, &missing);
  window.resize(window.size() - static_cast<size_t>(missing));
  std::string bytes = redactor_.Mask(window, window_offset, offset, offset + length);
  if (short_by != nullptr) *short_by = length - static_cast<int64_t>(bytes.size());
  bytes.resize(static_cast<size_t>(length), '\0');  // as ReadFileRange does
  return bytes;
}

}  // namespace runyard::runtime
