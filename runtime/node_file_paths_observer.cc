#include "runtime/node_file_paths_observer.h"

#include "common/distributed_config.h"

namespace runyard::runtime {

void NodeFilePathsObserver::OnFileBytes(const std::string& path, int64_t offset,
                                        std::string_view data, bool truncate) {
  inner_->OnFileBytes(common::NodeFilePath(node_rank_, path), offset, data, truncate);
}

bool NodeFilePathsObserver::OnFileRange(const std::string& path,
                                        const std::filesystem::path& source, int64_t offset,
                                        int64_t length) {
  return inner_->OnFileRange(common::NodeFilePath(node_rank_, path), source, offset, length);
}

}  // namespace runyard::runtime
