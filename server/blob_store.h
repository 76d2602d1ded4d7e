#pragma once

#include "common/cas_directory.h"

namespace runyard::server {

// The server's blob store: snapshots' manifests and file contents, by SHA-256.
using BlobStore = common::CasDirectory;

}  // namespace runyard::server
