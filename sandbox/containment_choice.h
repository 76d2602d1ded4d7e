#pragma once

// Which containment mode a machine gets, decided apart from the probing (which creates
// folders and may move the agent between cgroups), so that the fallback can be tested.

#include <optional>
#include <string>

#include "sandbox/containment.h"

namespace runyard::sandbox {

// What ContainmentFactory::Create found on this machine.
struct CgroupProbe {
  bool v2_mounted = false;           // a cgroup2 filesystem holds the agent
  bool v2_writable = false;          // the agent can create run cgroups in it
  bool v2_controllers = false;       // with memory and pids for them (limits, accounting)
  bool v1_freezer_writable = false;  // the agent can create run cgroups in a v1 freezer
};

struct ModeChoice {
  std::optional<ContainmentMode> mode;  // nullopt: the mode asked for is unavailable
  // Why a stronger mode is not used, or what the chosen one lacks; when no mode: why not.
  std::string why;
};

// Auto: cgroup v2 with controllers, else cgroup v1 (its freezer holds a run together), else
// cgroup v2 without controllers (kill works, no limits), else the process group. An
// explicit cgroup v2 or v1 is that or nothing; an explicit process group always works.
ModeChoice ChooseContainmentMode(ContainmentFactory::Preference preference, const CgroupProbe& probe);

}  // namespace runyard::sandbox
