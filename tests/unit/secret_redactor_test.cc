// Tests for common/secret_redactor.h: secret values masked in place in windows of a log
// file, and the end of a growing file held back while it may be the start of a secret.

#include "common/secret_redactor.h"

#include <string>

#include "gtest/gtest.h"

namespace runyard::common {
namespace {

// The whole window masked, as a file that is final is.
std::string MaskAll(const SecretRedactor& redactor, std::string_view text) {
  return redactor.Mask(text, 0, 0, static_cast<int64_t>(text.size()));
}

TEST(SecretRedactorTest, WholeSecretIsMaskedInPlace) {
  SecretRedactor redactor({"hunter22"});
  EXPECT_EQ(MaskAll(redactor, "pw=hunter22 ok\n"), "pw=******** ok\n");
  EXPECT_EQ(MaskAll(redactor, "hunter22hunter22"), "****************");
}

TEST(SecretRedactorTest, NothingChangesWithoutSecretsOrOccurrences) {
  EXPECT_TRUE(SecretRedactor({}).empty());
  EXPECT_TRUE(SecretRedactor({""}).empty());
  EXPECT_EQ(MaskAll(SecretRedactor({}), "anything"), "anything");
  EXPECT_EQ(MaskAll(SecretRedactor({"hunter22"}), "hunter2 hunter 22"), "hunter2 hunter 22");
}

TEST(SecretRedactorTest, OverlappingOccurrencesAreMaskedTogether) {
  SecretRedactor redactor({"abcd", "cdef"});
  EXPECT_EQ(MaskAll(redactor, "xxabcdefxx"), "xx******xx");
  // The same secret overlapping itself.
  EXPECT_EQ(MaskAll(SecretRedactor({"aaaa"}), "baaaaab"), "b*****b");
  // One secret inside another.
  EXPECT_EQ(MaskAll(SecretRedactor({"key", "my-key-1"}), "a my-key-1 key"), "a ******** ***");
}

TEST(SecretRedactorTest, ContextIsTheLongestSecretLessOne) {
  EXPECT_EQ(SecretRedactor({"abcd", "abcdefgh"}).context_bytes(), 7);
  EXPECT_EQ(SecretRedactor({}).context_bytes(), 0);
}

TEST(SecretRedactorTest, ARangeIsMaskedWhereAnOccurrenceOverlapsItFromEitherSide) {
  SecretRedactor redactor({"SECRET99"});
  const std::string file = "0123SECRET99abcd";
  // [6, 14) starts inside the occurrence [4, 12) and ends past it.
  EXPECT_EQ(redactor.Mask(file, 0, 6, 14), "******ab");
  // [0, 6) ends inside it.
  EXPECT_EQ(redactor.Mask(file, 0, 0, 6), "0123**");
  // A window that starts later: offsets are the file's.
  EXPECT_EQ(redactor.Mask(std::string_view(file).substr(2), 2, 6, 14), "******ab");
}

TEST(SecretRedactorTest, MaskingKeepsEveryByteInPlace) {
  SecretRedactor redactor({"tok-123456"});
  std::string file;
  for (int i = 0; i < 1000; ++i) file += i % 7 == 0 ? "tok-123456\n" : "line of output\n";
  const std::string masked = MaskAll(redactor, file);
  ASSERT_EQ(masked.size(), file.size());
  EXPECT_EQ(masked.find("tok-123456"), std::string::npos);
  for (size_t i = 0; i < file.size(); ++i) {
    if (masked[i] != '*') ASSERT_EQ(masked[i], file[i]) << "at " << i;
  }
}

TEST(SecretRedactorTest, ASecretAcrossTheMebibyteBoundaryIsMaskedInBothPieces) {
  SecretRedactor redactor({"straddling-secret"});
  const int64_t mib = 1 << 20;
  std::string file(static_cast<size_t>(2 * mib), 'x');
  file.replace(static_cast<size_t>(mib - 5), 17, "straddling-secret");
  const int64_t context = redactor.context_bytes();
  // Each piece masked alone, from the window a reader takes around it.
  const std::string first = redactor.Mask(std::string_view(file).substr(0, mib + context), 0, 0, mib);
  const std::string second = redactor.Mask(
      std::string_view(file).substr(mib - context, mib + context), mib - context, mib, 2 * mib);
  EXPECT_EQ(first + second, MaskAll(redactor, file));
  EXPECT_EQ(first.substr(first.size() - 5), "*****");
  EXPECT_EQ(second.substr(0, 12), "************");
}

TEST(SecretRedactorTest, ARangeReadAgainFromALongerFileIsTheSame) {
  SecretRedactor redactor({"abcdef12"});
  const std::string then = "log abcdef12 and abc";
  const std::string later = then + "def12 more";
  // What was decided (the bytes before the held-back end) masks the same either way.
  const int64_t until = redactor.HoldBackFrom(then, 0, 0);
  EXPECT_EQ(redactor.Mask(then, 0, 0, until), redactor.Mask(later, 0, 0, until));
}

TEST(SecretRedactorTest, TheStartOfASecretAtTheEndIsHeldBack) {
  SecretRedactor redactor({"abcdef12"});
  EXPECT_EQ(redactor.HoldBackFrom("log abc", 0, 0), 4);
  EXPECT_EQ(redactor.HoldBackFrom("log a", 100, 100), 104);  // offsets are the file's
  // Nothing to wait for: no secret starts so, or the whole secret is there.
  EXPECT_EQ(redactor.HoldBackFrom("log abx", 0, 0), 7);
  EXPECT_EQ(redactor.HoldBackFrom("log abcdef12", 0, 0), 12);
  // Never before `from`: that was handed on already ("bc" begins no secret).
  EXPECT_EQ(redactor.HoldBackFrom("log abc", 0, 5), 7);
}

TEST(SecretRedactorTest, HeldBackFromTheEarliestPossibleStart) {
  SecretRedactor redactor({"aab", "abcd"});
  // "aa" may begin "aab"; the last "a" may begin either.
  EXPECT_EQ(redactor.HoldBackFrom("xaa", 0, 0), 1);
}

TEST(SecretRedactorTest, ASecretWrittenInTwoPartsIsMaskedOnceItIsWhole) {
  SecretRedactor redactor({"abcdef12"});
  const std::string first = "token: abcd";
  const int64_t until = redactor.HoldBackFrom(first, 0, 0);
  ASSERT_EQ(until, 7);
  EXPECT_EQ(redactor.Mask(first, 0, 0, until), "token: ");
  const std::string file = first + "ef12\n";
  EXPECT_EQ(redactor.Mask(file, 0, until, static_cast<int64_t>(file.size())), "********\n");
}

TEST(SecretRedactorTest, ASecretAtTheFinalEndIsMasked) {
  SecretRedactor redactor({"abcdef12"});
  EXPECT_EQ(MaskAll(redactor, "end: abcdef12"), "end: ********");
  // The start of one, once the file is final, is only text.
  EXPECT_EQ(MaskAll(redactor, "end: abcdef1"), "end: abcdef1");
}

}  // namespace
}  // namespace runyard::common
