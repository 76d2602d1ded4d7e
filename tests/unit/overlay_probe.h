#pragma once

// Tests that need overlay mounts skip where they cannot work (not root, no overlayfs).

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <mutex>

#include "common/ids.h"
#include "runtime/overlay.h"

namespace runyard::testutil {

// Whether overlay mounts work here: tried once per process, in a scratch folder under
// `scratch_parent`.
inline bool OverlaySupported(const std::filesystem::path& scratch_parent) {
  static std::once_flag once;
  static bool supported = false;
  std::call_once(once, [&] {
    if (::geteuid() != 0) return;
    const std::filesystem::path scratch = scratch_parent / (".overlay-probe-" + common::RandomHex(4));
    std::error_code ec;
    for (const char* name : {"lower", "upper", "work", "merged"}) std::filesystem::create_directories(scratch / name, ec);
    {
      std::ofstream(scratch / "lower" / "probe") << "probe";
    }
    auto mount = runtime::OverlayMount::Mount(scratch / "lower", scratch / "upper", scratch / "work", scratch / "merged");
    if (mount.ok()) {
      supported = std::filesystem::exists(scratch / "merged" / "probe", ec);
      mount->reset();
    }
    std::filesystem::remove_all(scratch, ec);
  });
  return supported;
}

}  // namespace runyard::testutil
