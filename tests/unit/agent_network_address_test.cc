// Tests for agent/network_address.h and the agent's distributed-run keys (network_interface,
// advertise_address): loading, validation, and the address sent at registration.

#include "agent/network_address.h"

#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/scoped_temp_dir.h"

namespace runyard::agent {
namespace {

using ::testing::HasSubstr;

TEST(AgentNetworkAddressTest, LoopbackHasItsIpv4Address) {
  EXPECT_EQ(Ipv4OfInterface("lo"), "127.0.0.1");
  EXPECT_EQ(Ipv4OfInterface("no-such-if0"), std::nullopt);
}

TEST(AgentNetworkAddressTest, AdvertiseAddressWinsThenTheInterfaceThenNothing) {
  AgentConfig config;
  EXPECT_EQ(AdvertisedAddress(config), "");
  config.network_interface = "lo";
  EXPECT_EQ(AdvertisedAddress(config), "127.0.0.1");
  config.advertise_address = "10.0.0.5";
  EXPECT_EQ(AdvertisedAddress(config), "10.0.0.5");
}

TEST(AgentNetworkAddressTest, InterfaceWithoutAddressSaysSo) {
  AgentConfig config;
  config.network_interface = "no-such-if0";
  std::string problem;
  EXPECT_EQ(AdvertisedAddress(config, &problem), "");
  EXPECT_THAT(problem, HasSubstr("network_interface no-such-if0 has no IPv4 address"));
}

TEST(AgentNetworkAddressTest, KeysLoadFromTheConfigFileAndAreValidated) {
  testutil::ScopedTempDir dir;
  const std::filesystem::path file = dir.path() / "agent.yaml";
  std::ofstream(file) << "network_interface: eth1\nadvertise_address: 192.168.7.2\n";
  AgentConfig config;
  ASSERT_TRUE(LoadAgentConfigFile(file, &config).ok());
  EXPECT_EQ(config.network_interface, "eth1");
  EXPECT_EQ(config.advertise_address, "192.168.7.2");
  EXPECT_TRUE(ValidateAgentConfig(config).ok());
  config.network_interface = "eth0/../x";
  EXPECT_THAT(std::string(ValidateAgentConfig(config).message()), HasSubstr("network_interface"));
  config.network_interface = "";
  config.advertise_address = "a b";
  EXPECT_THAT(std::string(ValidateAgentConfig(config).message()), HasSubstr("advertise_address"));
}

}  // namespace
}  // namespace runyard::agent
