#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace runyard::cli {

// gitignore rules, as .amlignore and .gitignore files hold them: '#' comments, '!'
// negation, a trailing '/' for folders only, a leading or inner '/' anchoring the pattern
// to the file's folder, '*', '?', '[...]', and '**' across folders. A deeper file's rules
// come after its parents', and the last rule that matches decides.
class IgnoreRules {
 public:
  // Adds the rules of one ignore file found in folder `base` ("" for the root,
  // else "a/b", relative to the snapshot root).
  void AddFile(const std::string& base, std::string_view text);

  // `path` relative to the snapshot root, '/'-separated.
  bool IsIgnored(const std::string& path, bool is_directory) const;

  bool empty() const { return rules_.empty(); }

 private:
  struct Rule {
    std::string base;     // folder of the ignore file, "" or "a/b"
    std::string pattern;  // without '!', trailing '/', or leading '/'
    bool negated = false;
    bool directory_only = false;
    bool anchored = false;  // matched against the path below base, else against the name
  };
  std::vector<Rule> rules_;
};

// gitignore's glob: '*', '?' and '[...]' never match '/', '**' as a whole component
// matches any number of folders. Exposed for tests.
bool GlobMatch(std::string_view pattern, std::string_view text);

}  // namespace runyard::cli
