#include "common/socket_bio.h"

#include <sys/socket.h>

#include <cerrno>

namespace runyard::common {
namespace {

int Fd(BIO* bio) { return *static_cast<int*>(BIO_get_data(bio)); }

int SocketWrite(BIO* bio, const char* data, size_t size, size_t* written) {
  BIO_clear_retry_flags(bio);
  const ssize_t sent = ::send(Fd(bio), data, size, MSG_NOSIGNAL);
  if (sent >= 0) {
    *written = static_cast<size_t>(sent);
    return 1;
  }
  if (errno == EAGAIN || errno == EINTR) BIO_set_retry_write(bio);
  return 0;
}

int SocketRead(BIO* bio, char* buffer, size_t size, size_t* read) {
  BIO_clear_retry_flags(bio);
  const ssize_t received = ::recv(Fd(bio), buffer, size, 0);
  if (received > 0) {
    *read = static_cast<size_t>(received);
    return 1;
  }
  if (received < 0 && (errno == EAGAIN || errno == EINTR)) BIO_set_retry_read(bio);
  return 0;  // 0 with no retry flag: end of stream or an error
}

long SocketControl(BIO*, int command, long, void*) { return command == BIO_CTRL_FLUSH ? 1 : 0; }

BIO_METHOD* SocketMethod() {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* made = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "runyard socket");
    BIO_meth_set_write_ex(made, SocketWrite);
    BIO_meth_set_read_ex(made, SocketRead);
    BIO_meth_set_ctrl(made, SocketControl);
    BIO_meth_set_create(made, [](BIO* bio) {
      BIO_set_init(bio, 1);
      return 1;
    });
    return made;
  }();
  return method;
}

}  // namespace

BIO* NewSocketBio(int* fd) {
  BIO* bio = BIO_new(SocketMethod());
  if (bio != nullptr) BIO_set_data(bio, fd);
  return bio;
}

}  // namespace runyard::common
