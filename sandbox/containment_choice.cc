#include "sandbox/containment_choice.h"

#include "absl/strings/str_cat.h"

namespace runyard::sandbox {
namespace {

constexpr const char* kNoFreezer = "no writable cgroup v1 freezer";
constexpr const char* kNoLimits = "memory/pids controllers not delegated: no limits, no accounting";

std::string WhyNotV2(const CgroupProbe& probe) {
  if (!probe.v2_mounted) return "no cgroup v2 mount";
  if (!probe.v2_writable) return "cgroup v2 is not writable here";
  return "cgroup v2 has no memory/pids controllers for the agent";
}

}  // namespace

ModeChoice ChooseContainmentMode(ContainmentFactory::Preference preference, const CgroupProbe& probe) {
  using Preference = ContainmentFactory::Preference;
  // Each answer of the probe counts only where the one before it holds.
  const bool v2_writable = probe.v2_mounted && probe.v2_writable;
  const bool v2_controllers = v2_writable && probe.v2_controllers;
  switch (preference) {
    case Preference::kProcessGroup:
      return {ContainmentMode::kProcessGroup, "asked for"};
    case Preference::kCgroupV2:
      if (!v2_writable) return {std::nullopt, WhyNotV2(probe)};
      return {ContainmentMode::kCgroupV2, v2_controllers ? "" : kNoLimits};
    case Preference::kCgroupV1:
      if (!probe.v1_freezer_writable) return {std::nullopt, kNoFreezer};
      return {ContainmentMode::kCgroupV1, "asked for"};
    case Preference::kAuto:
      break;
  }
  if (v2_controllers) return {ContainmentMode::kCgroupV2, ""};
  if (probe.v1_freezer_writable) return {ContainmentMode::kCgroupV1, WhyNotV2(probe)};
  if (v2_writable) return {ContainmentMode::kCgroupV2, absl::StrCat(kNoFreezer, "; ", kNoLimits)};
  return {ContainmentMode::kProcessGroup, absl::StrCat(WhyNotV2(probe), "; ", kNoFreezer)};
}

}  // namespace runyard::sandbox
