#pragma once

#include <filesystem>
#include <string>

#include "absl/status/statusor.h"

namespace runyard::runtime {

// The folders of one run on this machine:
//   <work_dir>/runs/<run_id>/wd/            the script's cwd (snapshot, outputs/, logs/)
//   <work_dir>/runs/<run_id>/user_logs/     std_log.txt
//   <work_dir>/runs/<run_id>/system_logs/   runtime.txt
struct Workspace {
  std::filesystem::path root;
  std::filesystem::path working_dir;
  std::filesystem::path user_logs;
  std::filesystem::path system_logs;

  std::filesystem::path outputs() const { return working_dir / "outputs"; }
  std::filesystem::path logs() const { return working_dir / "logs"; }
};

// Creates a fresh workspace; a left-over folder of the same run id is removed first.
absl::StatusOr<Workspace> CreateWorkspace(const std::filesystem::path& work_dir,
                                          const std::string& run_id);

}  // namespace runyard::runtime
