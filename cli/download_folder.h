#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace runyard::cli {

// A file being downloaded: written under a temporary name next to its final place, and
// renamed into it by Commit(); dropped without Commit() it is removed.
class PartialFile {
 public:
  PartialFile(int folder_fd, int file_fd, std::string temp_name, std::string final_name, std::string shown_path);
  ~PartialFile();
  PartialFile(const PartialFile&) = delete;
  PartialFile& operator=(const PartialFile&) = delete;

  absl::Status Write(std::string_view bytes);
  // Empties the file, to read it again from its start.
  absl::Status Restart();
  absl::Status Commit();
  int64_t size() const { return size_; }

 private:
  int folder_fd_;  // owned: the folder the file lives in
  int file_fd_;    // owned; -1 once committed
  std::string temp_name_;
  std::string final_name_;
  std::string shown_path_;  // for errors
  int64_t size_ = 0;
  bool committed_ = false;
};

// The folder a download writes into, and nothing outside it. Each folder on the way to a
// file is opened relative to the one above it with O_NOFOLLOW, so neither a ".." nor a
// symbolic link (one that was there before, or one planted during the download) can lead
// a write elsewhere: such a path is refused, naming it.
class DownloadFolder {
 public:
  // Creates `root` (and its parents) when missing.
  static absl::StatusOr<DownloadFolder> Open(const std::filesystem::path& root);
  ~DownloadFolder();
  DownloadFolder(DownloadFolder&& other) noexcept;
  DownloadFolder& operator=(DownloadFolder&&) = delete;
  DownloadFolder(const DownloadFolder&) = delete;

  // A new partial file for the path made of `parts` (checked by SplitDownloadPath), its
  // folders created as needed.
  absl::StatusOr<std::unique_ptr<PartialFile>> Create(const std::vector<std::string>& parts);
  const std::filesystem::path& root() const { return root_; }

 private:
  DownloadFolder(std::filesystem::path root, int fd) : root_(std::move(root)), fd_(fd) {}

  std::filesystem::path root_;
  int fd_;
};

}  // namespace runyard::cli
