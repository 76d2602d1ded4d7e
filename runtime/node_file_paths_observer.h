#pragma once

#include <string>

#include "runtime/observer.h"

namespace runyard::runtime {

// Node k > 0 of a distributed run: every run file it reports lands at
// common::NodeFilePath(k, path) (outputs/node_<k>/..., user_logs/std_log_node_<k>.txt, ...)
// so that the nodes' files do not overwrite each other; everything else passes through.
class NodeFilePathsObserver : public RunObserver {
 public:
  NodeFilePathsObserver(int node_rank, RunObserver* inner) : node_rank_(node_rank), inner_(inner) {}

  void OnSecrets(const std::vector<std::string>& secrets) override { inner_->OnSecrets(secrets); }
  void OnStatus(runyard::v1::RunStatus status) override { inner_->OnStatus(status); }
  void OnFileBytes(const std::string& path, int64_t offset, std::string_view data,
                   bool truncate) override;
  bool OnFileRange(const std::string& path, const std::filesystem::path& source, int64_t offset,
                   int64_t length) override;
  void WhenAcknowledged(std::function<void()> acknowledged) override {
    inner_->WhenAcknowledged(std::move(acknowledged));
  }
  void OnFinished(const RunOutcome& outcome) override { inner_->OnFinished(outcome); }

 private:
  const int node_rank_;
  RunObserver* const inner_;
};

}  // namespace runyard::runtime
