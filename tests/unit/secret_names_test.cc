// Tests for common/secret_names.h: which variables are secret, their values for the log
// redactor, and the mask a stored spec shows.

#include "common/secret_names.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace runyard::common {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

runyard::v1::Environment NoList() { return {}; }

TEST(SecretNamesTest, DefaultSuffixesAreSecretInAnyCase) {
  for (const char* name : {"GITHUB_TOKEN", "aws_secret", "Db_Password", "API_KEY",
                           "STORAGE_CONNECTION_STRING", "x_token"}) {
    EXPECT_TRUE(IsSecretVariable(name, NoList())) << name;
  }
}

TEST(SecretNamesTest, BareWordsAreSecret) {
  for (const char* name : {"TOKEN", "secret", "PASSWORD", "KEY", "CONNECTION_STRING"}) {
    EXPECT_TRUE(IsSecretVariable(name, NoList())) << name;
  }
}

TEST(SecretNamesTest, NamesMerelyContainingAWordAreNot) {
  for (const char* name : {"MONKEY", "TOKENIZER_PATH", "KEYBOARD", "PASSWORDLESS", "HOME",
                           "MYTOKEN", "_", ""}) {
    EXPECT_FALSE(IsSecretVariable(name, NoList())) << name;
  }
}

TEST(SecretNamesTest, ListedNamesAreSecretExactly) {
  runyard::v1::Environment environment;
  environment.add_secret_variables("HF_HOME_AUTH");
  EXPECT_TRUE(IsSecretVariable("HF_HOME_AUTH", environment));
  EXPECT_FALSE(IsSecretVariable("hf_home_auth", environment));
  EXPECT_FALSE(IsSecretVariable("HF_HOME", environment));
}

runyard::v1::RunSpec SpecWith(std::initializer_list<std::pair<const char*, const char*>> vars) {
  runyard::v1::RunSpec spec;
  auto* env = spec.mutable_environment()->mutable_environment_variables();
  for (const auto& [name, value] : vars) (*env)[name] = value;
  return spec;
}

TEST(SecretNamesTest, SecretValuesAreLongestFirstAndDeduplicated) {
  runyard::v1::RunSpec spec = SpecWith({{"A_TOKEN", "abcd"},
                                        {"B_TOKEN", "abcdefgh"},
                                        {"C_TOKEN", "abcd"},
                                        {"PLAIN", "notsecret"},
                                        {"LISTED", "listed-value"}});
  spec.mutable_environment()->add_secret_variables("LISTED");
  EXPECT_THAT(SecretValues(spec), ElementsAre("listed-value", "abcdefgh", "abcd"));
}

TEST(SecretNamesTest, ShortSecretValuesAreNotSearchedFor) {
  EXPECT_THAT(SecretValues(SpecWith({{"A_TOKEN", "abc"}, {"B_KEY", ""}})), IsEmpty());
}

TEST(SecretNamesTest, MaskReplacesEverySecretValueAndKeepsOthers) {
  runyard::v1::RunSpec spec =
      SpecWith({{"A_TOKEN", "abcdefgh"}, {"SHORT_KEY", "x"}, {"PLAIN", "visible"}});
  MaskSecretValues(&spec);
  const auto& env = spec.environment().environment_variables();
  EXPECT_EQ(env.at("A_TOKEN"), "***");
  EXPECT_EQ(env.at("SHORT_KEY"), "***");
  EXPECT_EQ(env.at("PLAIN"), "visible");
  EXPECT_THAT(SecretValues(spec), IsEmpty()) << "a masked spec has nothing left to redact";
}

}  // namespace
}  // namespace runyard::common
