#pragma once

#include <openssl/bio.h>

namespace runyard::common {

// An OpenSSL BIO over the socket `*fd` (which must outlive it) that sends with
// MSG_NOSIGNAL. OpenSSL's own socket BIO writes with write(2), which raises SIGPIPE when
// the peer has gone, and ignoring SIGPIPE process-wide would be inherited by the programs
// an agent runs. A socket that would block (non-blocking, or past SO_RCVTIMEO) sets the
// retry flags, so SSL_* calls report WANT_READ / WANT_WRITE.
BIO* NewSocketBio(int* fd);

}  // namespace runyard::common
