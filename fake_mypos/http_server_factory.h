// The httplib server under FakeMyposServer: plain HTTP, or HTTPS with a
// PEM certificate and key, counting every TCP connection it accepts. Up to
// `worker_threads` connections are served at once (one worker thread each,
// started with the server), each for up to 1000 keep-alive requests; an idle
// connection is closed after 1 s (httplib's stop() does not wake a worker
// waiting on one, so stopping waits up to that long); request bodies are capped
// at 64 KiB; a port in use is an error (no SO_REUSEPORT).

#ifndef FAKE_MYPOS_HTTP_SERVER_FACTORY_H_
#define FAKE_MYPOS_HTTP_SERVER_FACTORY_H_

#include <httplib.h>

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>

namespace tokenservice {
namespace fake_mypos {

// An httplib::SSLServer when both files are given, else an httplib::Server,
// configured as above, that adds one to `*accepted` (which must outlive the
// server) per accepted connection, with `worker_threads` workers (at least
// 1). Check is_valid(): an SSLServer with an unusable certificate or key is
// not. Bind it with Bind() below.
std::unique_ptr<httplib::Server> MakeHttpServer(const std::string& cert_file,
                                                const std::string& key_file,
                                                size_t worker_threads,
                                                std::atomic<int>* accepted);

// Binds `server` (from MakeHttpServer) to host:port (0: any free port) and
// listens with a backlog of kListenBacklog instead of httplib's 5, with
// which a burst of connections (a cold start of TokenService opens dozens
// at once) waits out the clients' SYN retransmission, 1 s and more. The
// bound port, or -1.
int Bind(httplib::Server& server, const std::string& host, int port);

inline constexpr int kListenBacklog = 1024;

// TLS handshakes completed by `server` if MakeHttpServer made an SSLServer
// (`tls` true), else 0.
int TlsHandshakes(httplib::Server& server, bool tls);

}  // namespace fake_mypos
}  // namespace tokenservice

#endif  // FAKE_MYPOS_HTTP_SERVER_FACTORY_H_
