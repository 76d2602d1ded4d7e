#include "common/secret_redactor.h"

#include <string.h>

#include <algorithm>

namespace runyard::common {

SecretRedactor::SecretRedactor(std::vector<std::string> secrets) {
  for (std::string& secret : secrets) {
    if (!secret.empty()) secrets_.push_back(std::move(secret));
  }
  std::sort(secrets_.begin(), secrets_.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  secrets_.erase(std::unique(secrets_.begin(), secrets_.end()), secrets_.end());
  if (!secrets_.empty()) context_ = static_cast<int64_t>(secrets_.front().size()) - 1;
}

std::string SecretRedactor::Mask(std::string_view window, int64_t window_offset, int64_t from,
                                 int64_t to) const {
  const auto window_end = window_offset + static_cast<int64_t>(window.size());
  from = std::clamp(from, window_offset, window_end);
  to = std::clamp(to, from, window_end);
  std::string out(window.substr(static_cast<size_t>(from - window_offset),
                                static_cast<size_t>(to - from)));
  for (const std::string& secret : secrets_) {
    const auto size = static_cast<int64_t>(secret.size());
    // Only where an occurrence could overlap [from, to).
    const int64_t begin = std::max(window_offset, from - size + 1);
    const int64_t end = std::min(window_end, to + size - 1);
    const char* const base = window.data() - window_offset;  // base[offset] is that byte
    for (int64_t at = begin; end - at >= size;) {
      const void* found = ::memmem(base + at, static_cast<size_t>(end - at), secret.data(),
                                   secret.size());
      if (found == nullptr) break;
      const int64_t start = static_cast<const char*>(found) - base;
      const int64_t mask_from = std::max(start, from);
      const int64_t mask_to = std::min(start + size, to);
      std::fill(out.begin() + (mask_from - from), out.begin() + (mask_to - from), '*');
      at = start + 1;  // occurrences may overlap ("aaaa" twice in "aaaaa")
    }
  }
  return out;
}

int64_t SecretRedactor::HoldBackFrom(std::string_view window, int64_t window_offset,
                                     int64_t from) const {
  const auto window_end = window_offset + static_cast<int64_t>(window.size());
  // A proper prefix is shorter than the longest secret: only the last context_ bytes.
  for (int64_t at = std::max({from, window_offset, window_end - context_}); at < window_end; ++at) {
    const std::string_view tail = window.substr(static_cast<size_t>(at - window_offset));
    for (const std::string& secret : secrets_) {
      if (tail.size() < secret.size() && std::string_view(secret).starts_with(tail)) return at;
    }
  }
  return window_end;
}

}  // namespace runyard::common
