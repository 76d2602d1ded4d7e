#pragma once

#include <filesystem>

namespace runyard::runtime {

// Where runyard-ranks (the supervisor of a node's ranks, runtime/ranks_supervisor.h) lies
// for a runyard binary at `executable`: <exe dir>/../lib/<its name>/runyard-ranks (installed:
// /usr/lib/runyard-agent/ for runyard-agent, /usr/lib/runyard/ for runyard), else
// <exe dir>/../lib/runyard/runyard-ranks, else <exe dir>/../runtime/runyard-ranks (the
// build tree: build/agent/runyard-agent, build/cli/runyard, build/tests/... →
// build/runtime/runyard-ranks). Empty when none is an executable file.
std::filesystem::path FindRanksBinary(const std::filesystem::path& executable);

// The same for the running process's own binary (/proc/self/exe).
std::filesystem::path FindRanksBinaryOfThisProcess();

}  // namespace runyard::runtime
