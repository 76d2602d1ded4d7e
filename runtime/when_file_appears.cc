#include "runtime/when_file_appears.h"

namespace runyard::runtime {
namespace fs = std::filesystem;
namespace {
constexpr auto kLookEvery = std::chrono::milliseconds(200);
}

WhenFileAppears::WhenFileAppears(fs::path file, std::function<void()> then)
    : file_(std::move(file)), then_(std::move(then)), watcher_({file_.parent_path()}) {
  thread_ = std::thread([this] {
    while (!watcher_.stopped()) {
      CallIfThere();
      {
        std::lock_guard lock(mutex_);
        if (called_) return;
      }
      watcher_.WaitForChange(kLookEvery);
    }
  });
}

WhenFileAppears::~WhenFileAppears() { Stop(); }

void WhenFileAppears::Stop() {
  watcher_.Stop();
  if (thread_.joinable()) thread_.join();
  CallIfThere();
}

void WhenFileAppears::CallIfThere() {
  std::lock_guard lock(mutex_);
  if (called_) return;
  std::error_code ec;
  if (!fs::exists(file_, ec)) return;
  called_ = true;
  then_();
}

}  // namespace runyard::runtime
