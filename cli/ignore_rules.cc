#include "cli/ignore_rules.h"

namespace runyard::cli {
namespace {

// Matches one '[...]' class at the start of `pattern` against `c`; sets `length` to the
// class's length in the pattern (0 when it is not a class, e.g. no closing ']').
bool MatchClass(std::string_view pattern, char c, size_t* length) {
  size_t i = 1;
  bool negate = false;
  if (i < pattern.size() && (pattern[i] == '!' || pattern[i] == '^')) {
    negate = true;
    ++i;
  }
  bool matched = false;
  bool first = true;
  while (i < pattern.size() && (pattern[i] != ']' || first)) {
    first = false;
    char low = pattern[i];
    if (low == '\\' && i + 1 < pattern.size()) low = pattern[++i];
    char high = low;
    if (i + 2 < pattern.size() && pattern[i + 1] == '-' && pattern[i + 2] != ']') {
      high = pattern[i + 2];
      if (high == '\\' && i + 3 < pattern.size()) {
        high = pattern[i + 3];
        ++i;
      }
      i += 2;
    }
    if (low <= c && c <= high) matched = true;
    ++i;
  }
  if (i >= pattern.size()) {
    *length = 0;
    return false;
  }
  *length = i + 1;
  return matched != negate;
}

}  // namespace

bool GlobMatch(std::string_view pattern, std::string_view text) {
  while (!pattern.empty()) {
    // "**" as a whole component: "**/" = zero or more folders, a trailing "**" = all.
    if (pattern.substr(0, 2) == "**" && (pattern.size() == 2 || pattern[2] == '/')) {
      if (pattern.size() == 2) return true;
      const std::string_view rest = pattern.substr(3);
      for (size_t i = 0; i <= text.size(); ++i) {
        if ((i == 0 || text[i - 1] == '/') && GlobMatch(rest, text.substr(i))) return true;
      }
      return false;
    }
    const char p = pattern[0];
    if (p == '*') {
      while (!pattern.empty() && pattern[0] == '*') pattern.remove_prefix(1);  // "a**b" = "a*b"
      for (size_t i = 0; i <= text.size(); ++i) {
        if (GlobMatch(pattern, text.substr(i))) return true;
        if (i < text.size() && text[i] == '/') break;
      }
      return false;
    }
    if (text.empty()) return false;
    if (p == '?') {
      if (text[0] == '/') return false;
    } else if (p == '[') {
      size_t length = 0;
      if (text[0] == '/') return false;
      const bool matched = MatchClass(pattern, text[0], &length);
      if (length > 0) {
        if (!matched) return false;
        pattern.remove_prefix(length);
        text.remove_prefix(1);
        continue;
      }
      if (text[0] != '[') return false;  // no closing ']': a literal '['
    } else if (p == '\\' && pattern.size() > 1) {
      if (text[0] != pattern[1]) return false;
      pattern.remove_prefix(1);
    } else if (p != text[0]) {
      return false;
    }
    pattern.remove_prefix(1);
    text.remove_prefix(1);
  }
  return text.empty();
}

void IgnoreRules::AddFile(const std::string& base, std::string_view text) {
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string line(text.substr(start, end - start));
    start = end + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    // Trailing spaces go, unless escaped with a backslash.
    while (!line.empty() && line.back() == ' ' && !(line.size() > 1 && line[line.size() - 2] == '\\')) {
      line.pop_back();
    }
    if (line.empty() || line[0] == '#') continue;
    Rule rule;
    rule.base = base;
    if (line[0] == '!') {
      rule.negated = true;
      line.erase(0, 1);
    } else if (line[0] == '\\' && line.size() > 1 && (line[1] == '#' || line[1] == '!')) {
      line.erase(0, 1);
    }
    if (!line.empty() && line.back() == '/') {
      rule.directory_only = true;
      line.pop_back();
    }
    if (line.empty()) continue;
    // A '/' at the start or in the middle anchors the pattern to the file's folder.
    rule.anchored = line.find('/') != std::string::npos;
    if (line[0] == '/') line.erase(0, 1);
    if (line.empty()) continue;
    rule.pattern = line;
    rules_.push_back(std::move(rule));
  }
}

bool IgnoreRules::IsIgnored(const std::string& path, bool is_directory) const {
  bool ignored = false;
  for (const Rule& rule : rules_) {
    if (rule.directory_only && !is_directory) continue;
    std::string_view below = path;
    if (!rule.base.empty()) {
      if (path.size() <= rule.base.size() || path.compare(0, rule.base.size(), rule.base) != 0 ||
          path[rule.base.size()] != '/') {
        continue;  // not under this ignore file's folder
      }
      below.remove_prefix(rule.base.size() + 1);
    }
    bool matched;
    if (rule.anchored) {
      matched = GlobMatch(rule.pattern, below);
    } else {
      const size_t slash = below.rfind('/');
      matched = GlobMatch(rule.pattern, slash == std::string_view::npos ? below : below.substr(slash + 1));
    }
    if (matched) ignored = !rule.negated;
  }
  return ignored;
}

}  // namespace runyard::cli
