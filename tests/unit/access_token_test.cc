// Tests for common/access_token.h: the token string's form, parsing and its errors, the
// stored hash, and the comparison that takes the same time wherever two hashes differ.

#include "common/access_token.h"

#include <set>
#include <string>

#include "gtest/gtest.h"

namespace runyard::common {
namespace {

TEST(AccessTokenTest, NewTokensHaveTheDocumentedForm) {
  const AccessToken token = NewAccessToken(runyard::v1::TOKEN_KIND_AGENT);
  const std::string text = FormatAccessToken(token);
  EXPECT_EQ(text.substr(0, 4), "rya_");
  EXPECT_EQ(token.token_id.size(), kTokenIdLength);
  EXPECT_EQ(token.secret.size(), kTokenSecretLength);
  EXPECT_EQ(text, "rya_" + token.token_id + "_" + token.secret);
}

TEST(AccessTokenTest, EachKindHasItsLetterAndParsesBack) {
  for (auto [kind, prefix] : {std::pair{runyard::v1::TOKEN_KIND_USER, "ryu_"},
                              std::pair{runyard::v1::TOKEN_KIND_JOIN, "ryj_"},
                              std::pair{runyard::v1::TOKEN_KIND_AGENT, "rya_"},
                              std::pair{runyard::v1::TOKEN_KIND_RUN, "ryr_"}}) {
    const AccessToken token = NewAccessToken(kind);
    const std::string text = FormatAccessToken(token);
    EXPECT_EQ(text.substr(0, 4), prefix);
    absl::StatusOr<AccessToken> parsed = ParseAccessToken(text);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(parsed->kind, kind);
    EXPECT_EQ(parsed->token_id, token.token_id);
    EXPECT_EQ(parsed->secret, token.secret);
  }
}

TEST(AccessTokenTest, TokensDoNotRepeat) {
  std::set<std::string> ids;
  std::set<std::string> secrets;
  for (int i = 0; i < 200; ++i) {
    const AccessToken token = NewAccessToken(runyard::v1::TOKEN_KIND_RUN);
    ids.insert(token.token_id);
    secrets.insert(token.secret);
  }
  EXPECT_EQ(ids.size(), 200u);
  EXPECT_EQ(secrets.size(), 200u);
}

TEST(AccessTokenTest, MalformedTokensAreRefusedSayingWhy) {
  const std::string good =
      FormatAccessToken(NewAccessToken(runyard::v1::TOKEN_KIND_USER));
  struct Case {
    std::string text;
    std::string says;
  };
  std::string bad_letter = good;
  bad_letter[2] = 'x';
  std::string bad_separator = good;
  bad_separator[3] = '-';
  std::string upper_id = good;
  upper_id[4] = 'A';
  std::string bad_secret = good;
  bad_secret.back() = '+';
  for (const Case& c : std::vector<Case>{{"", "0 characters"},
                                         {good.substr(1), "characters instead of"},
                                         {"xx" + good.substr(2), "does not start with 'ry'"},
                                         {bad_letter, "unknown kind letter"},
                                         {bad_separator, "'_' missing"},
                                         {upper_id, "not lowercase hex"},
                                         {bad_secret, "not base64url"}}) {
    absl::StatusOr<AccessToken> parsed = ParseAccessToken(c.text);
    ASSERT_FALSE(parsed.ok()) << c.text;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(parsed.status().message().find(c.says), std::string::npos)
        << parsed.status().message();
    EXPECT_NE(parsed.status().message().find("malformed token"), std::string::npos);
    // Never repeated: a secret pasted in the wrong place stays out of logs.
    if (!c.text.empty()) {
      EXPECT_EQ(parsed.status().message().find(c.text), std::string::npos);
    }
  }
}

TEST(AccessTokenTest, TheStoredHashIsTheSecretsSha256) {
  // SHA-256("abc"), the FIPS 180-2 example.
  EXPECT_EQ(SecretSha256("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(AccessTokenTest, ConstantTimeEqualsComparesWholeStrings) {
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_TRUE(ConstantTimeEquals("abcdef", "abcdef"));
  EXPECT_FALSE(ConstantTimeEquals("abcdef", "abcdeg"));
  EXPECT_FALSE(ConstantTimeEquals("abcdef", "bbcdef"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abcd"));
}

}  // namespace
}  // namespace runyard::common
