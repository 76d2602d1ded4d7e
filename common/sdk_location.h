#pragma once

#include <filesystem>

namespace runyard::common {

// Where runyard's Python SDK (the folder holding runyard/ and azureml/, put on a run's
// PYTHONPATH) lies for a runyard binary at `executable`: <exe dir>/../share/runyard/python
// when it holds runyard/__init__.py (an installed runyard), else <exe dir>/../sdk/python
// when that does (the build tree: build/agent/runyard-agent, build/cli/runyard →
// build/sdk/python). Empty when neither does.
std::filesystem::path FindSdkPythonDir(const std::filesystem::path& executable);

// The same for the running process's own binary (/proc/self/exe).
std::filesystem::path FindSdkPythonDirOfThisProcess();

}  // namespace runyard::common
