// Tests for agent/capabilities.h: the parsers on fixed text (nvidia-smi CSV, /proc/meminfo,
// cgroup files, /proc/self/mountinfo + /proc/self/cgroup), and the GPU probe against
// scripted answers of a FakeCommandRunner (and once a stand-in nvidia-smi on PATH).

#include <stdlib.h>
#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <string>

#include "agent/capabilities.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_command_runner.h"
#include "tests/unit/scoped_temp_dir.h"

namespace runyard::agent {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr int64_t kMiB = 1024 * 1024;

// ------------------------------------------------------------------ nvidia-smi

TEST(NvidiaSmiParseTest, ReadsEveryGpu) {
  absl::StatusOr<std::vector<runyard::v1::Gpu>> gpus = ParseNvidiaSmiGpus(
      "0, NVIDIA H100 80GB HBM3, 81559, GPU-5e2b1c3a-0000-1111-2222-333344445555\n"
      "1, NVIDIA H100 80GB HBM3, 81559, GPU-77aa1c3a-0000-1111-2222-333344445555\n");
  ASSERT_TRUE(gpus.ok()) << gpus.status();
  ASSERT_EQ(gpus->size(), 2u);
  EXPECT_EQ((*gpus)[0].index(), 0);
  EXPECT_EQ((*gpus)[0].name(), "NVIDIA H100 80GB HBM3");
  EXPECT_EQ((*gpus)[0].memory_bytes(), 81559 * kMiB);
  EXPECT_EQ((*gpus)[0].uuid(), "GPU-5e2b1c3a-0000-1111-2222-333344445555");
  EXPECT_EQ((*gpus)[1].index(), 1);
}

TEST(NvidiaSmiParseTest, EmptyOutputIsNoGpu) {
  absl::StatusOr<std::vector<runyard::v1::Gpu>> gpus = ParseNvidiaSmiGpus("\n");
  ASSERT_TRUE(gpus.ok()) << gpus.status();
  EXPECT_THAT(*gpus, IsEmpty());
}

TEST(NvidiaSmiParseTest, UnknownMemoryReadsAsZero) {
  absl::StatusOr<std::vector<runyard::v1::Gpu>> gpus =
      ParseNvidiaSmiGpus("0, Some GPU, [N/A], GPU-1\n");
  ASSERT_TRUE(gpus.ok()) << gpus.status();
  ASSERT_EQ(gpus->size(), 1u);
  EXPECT_EQ((*gpus)[0].memory_bytes(), 0);
}

TEST(NvidiaSmiParseTest, GarbledLinesAreRefusedNamingThem) {
  const absl::Status wrong_fields = ParseNvidiaSmiGpus("0, H100, 81559\n").status();
  EXPECT_EQ(wrong_fields.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(wrong_fields.message()), HasSubstr("'0, H100, 81559'"));
  EXPECT_THAT(std::string(wrong_fields.message()), HasSubstr("expected 4 fields"));

  const absl::Status bad_index = ParseNvidiaSmiGpus("zero, H100, 81559, GPU-1\n").status();
  EXPECT_THAT(std::string(bad_index.message()), HasSubstr("index"));
  const absl::Status bad_memory = ParseNvidiaSmiGpus("0, H100, lots, GPU-1\n").status();
  EXPECT_THAT(std::string(bad_memory.message()), HasSubstr("memory.total"));
  const absl::Status error_text =
      ParseNvidiaSmiGpus(
          "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\n")
          .status();
  EXPECT_FALSE(error_text.ok());
}

// ------------------------------------------------------------------ memory and CPUs

TEST(MemInfoParseTest, MemTotalInBytes) {
  absl::StatusOr<int64_t> total = ParseMemTotal(
      "MemTotal:       24683620 kB\nMemFree:        23213572 kB\nMemAvailable:   23000000 kB\n");
  ASSERT_TRUE(total.ok()) << total.status();
  EXPECT_EQ(*total, 24683620LL * 1024);
}

TEST(MemInfoParseTest, MissingOrGarbledMemTotalIsAnError) {
  EXPECT_THAT(std::string(ParseMemTotal("MemFree: 1 kB\n").status().message()),
              HasSubstr("no MemTotal"));
  EXPECT_THAT(std::string(ParseMemTotal("MemTotal: lots\n").status().message()),
              HasSubstr("MemTotal: lots"));
}

TEST(CgroupLimitParseTest, CpuMax) {
  EXPECT_EQ(CpuQuotaFromCpuMax("max 100000\n"), std::nullopt);
  EXPECT_EQ(CpuQuotaFromCpuMax("150000 100000\n"), 1.5);
  EXPECT_EQ(CpuQuotaFromCpuMax("400000 100000"), 4.0);
  EXPECT_EQ(CpuQuotaFromCpuMax("50000"), 0.5);  // the period defaults to 100000
  EXPECT_EQ(CpuQuotaFromCpuMax(""), std::nullopt);
  EXPECT_EQ(CpuQuotaFromCpuMax("garbage here too"), std::nullopt);
}

TEST(CgroupLimitParseTest, CfsQuota) {
  EXPECT_EQ(CpuQuotaFromCfs("-1\n", "100000\n"), std::nullopt);
  EXPECT_EQ(CpuQuotaFromCfs("200000\n", "100000\n"), 2.0);
  EXPECT_EQ(CpuQuotaFromCfs("", ""), std::nullopt);  // no such files
  EXPECT_EQ(CpuQuotaFromCfs("100000", "0"), std::nullopt);
}

TEST(CgroupLimitParseTest, MemoryLimit) {
  EXPECT_EQ(MemoryLimitFrom("max\n"), std::nullopt);
  EXPECT_EQ(MemoryLimitFrom("4294967296\n"), 4294967296LL);
  EXPECT_EQ(MemoryLimitFrom("9223372036854771712\n"),
            9223372036854771712LL);  // v1 "unlimited": min() drops it
  EXPECT_EQ(MemoryLimitFrom(""), std::nullopt);
}

TEST(UsableCpusTest, AffinityLoweredToTheQuotaRoundedUp) {
  EXPECT_EQ(UsableCpus(16, std::nullopt), 16);
  EXPECT_EQ(UsableCpus(16, 4.0), 4);
  EXPECT_EQ(UsableCpus(16, 1.5), 2);
  EXPECT_EQ(UsableCpus(16, 0.25), 1);
  EXPECT_EQ(UsableCpus(2, 8.0), 2);
  EXPECT_EQ(UsableCpus(0, std::nullopt), 1);
}

// ------------------------------------------------------------------ cgroup folders

constexpr char kHybridMountinfo[] =
    "30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n"
    "33 30 0:30 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset\n"
    "34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
constexpr char kHybridCgroup[] =
    "9:cpuset:/\n"
    "4:memory:/system.slice/runyard-agent.service\n"
    "2:cpu,cpuacct:/system.slice/runyard-agent.service\n"
    "0::/system.slice/runyard-agent.service\n";

TEST(CgroupFoldersTest, V2FromOwnFolderUpToTheMount) {
  const char mountinfo[] =
      "29 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw\n";
  EXPECT_THAT(CgroupFolders(mountinfo, "0::/system.slice/runyard-agent.service/agent\n", ""),
              ElementsAre(fs::path("/sys/fs/cgroup/system.slice/runyard-agent.service/agent"),
                          fs::path("/sys/fs/cgroup/system.slice/runyard-agent.service"),
                          fs::path("/sys/fs/cgroup/system.slice"), fs::path("/sys/fs/cgroup")));
}

TEST(CgroupFoldersTest, V1ControllerPicksItsOwnHierarchy) {
  EXPECT_THAT(CgroupFolders(kHybridMountinfo, kHybridCgroup, "cpu"),
              ElementsAre(fs::path("/sys/fs/cgroup/cpu,cpuacct/system.slice/runyard-agent.service"),
                          fs::path("/sys/fs/cgroup/cpu,cpuacct/system.slice"),
                          fs::path("/sys/fs/cgroup/cpu,cpuacct")));
  EXPECT_THAT(CgroupFolders(kHybridMountinfo, kHybridCgroup, "memory"),
              ElementsAre(fs::path("/sys/fs/cgroup/memory/system.slice/runyard-agent.service"),
                          fs::path("/sys/fs/cgroup/memory/system.slice"),
                          fs::path("/sys/fs/cgroup/memory")));
  // The hybrid layout's cgroup2 mount is found too.
  EXPECT_EQ(CgroupFolders(kHybridMountinfo, kHybridCgroup, "").back(),
            fs::path("/sys/fs/cgroup/unified"));
}

TEST(CgroupFoldersTest, RootCgroupIsJustTheMount) {
  EXPECT_THAT(CgroupFolders("29 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n", "0::/\n", ""),
              ElementsAre(fs::path("/sys/fs/cgroup")));
}

TEST(CgroupFoldersTest, ContainerMountShowsOnlyItsPart) {
  // The mount's root is the container's cgroup: folders below the mount, not the host path.
  const char mountinfo[] =
      "700 650 0:31 /docker/abc /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory\n";
  EXPECT_THAT(CgroupFolders(mountinfo, "4:memory:/docker/abc\n", "memory"),
              ElementsAre(fs::path("/sys/fs/cgroup/memory")));
  EXPECT_THAT(
      CgroupFolders(mountinfo, "4:memory:/docker/abc/inner\n", "memory"),
      ElementsAre(fs::path("/sys/fs/cgroup/memory/inner"), fs::path("/sys/fs/cgroup/memory")));
  // A cgroup outside of what the mount shows: only the mount itself is known.
  EXPECT_THAT(CgroupFolders(mountinfo, "4:memory:/elsewhere\n", "memory"),
              ElementsAre(fs::path("/sys/fs/cgroup/memory")));
}

TEST(CgroupFoldersTest, NoSuchHierarchyIsNoFolder) {
  EXPECT_THAT(CgroupFolders(kHybridMountinfo, kHybridCgroup, "pids"), IsEmpty());
  EXPECT_THAT(CgroupFolders("", "", ""), IsEmpty());
}

// ------------------------------------------------------------------ the GPU probe

using ::runyard::fakes::FakeCommandRunner;

TEST(GpuProbeTest, AsksNvidiaSmiForTheFourFieldsWithinTheTimeout) {
  FakeCommandRunner commands;
  commands.AnswerOutput("nvidia-smi", "");
  ProbeGpus(commands, std::chrono::milliseconds(1234));
  ASSERT_EQ(commands.commands().size(), 1u);
  const common::HelperCommand asked = commands.commands()[0];
  EXPECT_THAT(asked.argv, ElementsAre("nvidia-smi", "--query-gpu=index,name,memory.total,uuid",
                                      "--format=csv,noheader,nounits"));
  EXPECT_EQ(asked.timeout, std::chrono::milliseconds(1234));
}

TEST(GpuProbeTest, ReadsWhatNvidiaSmiPrints) {
  FakeCommandRunner commands;
  commands.AnswerOutput("nvidia-smi", "0, NVIDIA A100-SXM4-80GB, 81920, GPU-aaaa\n");
  const GpuProbe probe = ProbeGpus(commands);
  EXPECT_EQ(probe.warning, "");
  ASSERT_EQ(probe.gpus.size(), 1u);
  EXPECT_EQ(probe.gpus[0].name(), "NVIDIA A100-SXM4-80GB");
  EXPECT_EQ(probe.gpus[0].memory_bytes(), 81920 * kMiB);
}

TEST(GpuProbeTest, MissingNvidiaSmiIsNoGpuAndNoWarning) {
  FakeCommandRunner commands;  // answers NotFound for what nobody scripted
  const GpuProbe probe = ProbeGpus(commands);
  EXPECT_THAT(probe.gpus, IsEmpty());
  EXPECT_EQ(probe.warning, "");
}

TEST(GpuProbeTest, NvidiaSmiThatCannotRunIsNoGpuWithAWarning) {
  FakeCommandRunner commands;
  commands.Answer("nvidia-smi", absl::InternalError("posix_spawn: out of memory"));
  const GpuProbe probe = ProbeGpus(commands);
  EXPECT_THAT(probe.gpus, IsEmpty());
  EXPECT_THAT(probe.warning, HasSubstr("cannot run nvidia-smi: posix_spawn: out of memory"));
}

TEST(GpuProbeTest, FailingNvidiaSmiIsNoGpuWithItsWords) {
  FakeCommandRunner commands;
  commands.AnswerOutput(
      "nvidia-smi",
      "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\n", 9);
  const GpuProbe probe = ProbeGpus(commands);
  EXPECT_THAT(probe.gpus, IsEmpty());
  EXPECT_THAT(probe.warning, HasSubstr("exit code 9"));
  EXPECT_THAT(probe.warning, HasSubstr("couldn't communicate with the NVIDIA driver"));
}

TEST(GpuProbeTest, FailingNvidiaSmiIsQuotedFromStderrFirst) {
  FakeCommandRunner commands;
  common::HelperCommandResult failed;
  failed.exit_code = 6;
  failed.output = "some table\n";
  failed.errors = "No devices were found\nmore\n";
  commands.Answer("nvidia-smi", failed);
  EXPECT_THAT(ProbeGpus(commands).warning, HasSubstr("(exit code 6): No devices were found"));
}

TEST(GpuProbeTest, GarbledOutputIsNoGpuWithAWarning) {
  FakeCommandRunner commands;
  commands.AnswerOutput("nvidia-smi", "index, name\nsomething odd\n");
  const GpuProbe probe = ProbeGpus(commands);
  EXPECT_THAT(probe.gpus, IsEmpty());
  EXPECT_THAT(probe.warning, HasSubstr("nvidia-smi line"));
}

TEST(GpuProbeTest, HangingNvidiaSmiIsNoGpuWithAWarning) {
  FakeCommandRunner commands;
  common::HelperCommandResult hung;
  hung.timed_out = true;
  commands.Answer("nvidia-smi", hung);
  const GpuProbe probe = ProbeGpus(commands, std::chrono::milliseconds(300));
  EXPECT_THAT(probe.gpus, IsEmpty());
  EXPECT_THAT(probe.warning, HasSubstr("did not answer within 300 ms"));
}

// The real runner against a stand-in nvidia-smi (a shell script) first on PATH.
TEST(GpuProbeTest, StandInNvidiaSmiOnPathIsRunForReal) {
  testutil::ScopedTempDir dir;
  const fs::path file = dir.path() / "nvidia-smi";
  std::ofstream(file) << "#!/bin/sh\necho '0, NVIDIA A100-SXM4-80GB, 81920, GPU-aaaa'\n";
  fs::permissions(file, fs::perms::owner_all);
  const char* path = ::getenv("PATH");
  const std::string saved = path ? path : "";
  ::setenv("PATH", (dir.path().string() + ":" + saved).c_str(), 1);
  const GpuProbe probe = ProbeGpus(*common::CommandRunner::Real());
  ::setenv("PATH", saved.c_str(), 1);
  EXPECT_EQ(probe.warning, "");
  ASSERT_EQ(probe.gpus.size(), 1u);
  EXPECT_EQ(probe.gpus[0].uuid(), "GPU-aaaa");
}

// ------------------------------------------------------------------ this machine

TEST(CapabilitiesProbeTest, ThisMachineHasCpusMemoryAndTheLabels) {
  FakeCommandRunner commands;
  commands.AnswerOutput("nvidia-smi", "0, Tesla T4, 15360, GPU-bbbb\n");
  const runyard::v1::Capabilities capabilities =
      ProbeCapabilities({{"gpu", "none"}, {"zone", "a"}}, commands);
  EXPECT_GE(capabilities.cpus(), 1);
  EXPECT_GT(capabilities.memory_bytes(), 0);
  EXPECT_EQ(capabilities.labels().at("gpu"), "none");
  EXPECT_EQ(capabilities.labels().at("zone"), "a");
  ASSERT_EQ(capabilities.gpus_size(), 1);
  EXPECT_EQ(capabilities.gpus(0).name(), "Tesla T4");
}

}  // namespace
}  // namespace runyard::agent
