"""The Python peers of the benchmark harness: Python's `ssl` (SSLObject over MemoryBIO) and
pyOpenSSL (Connection over memory BIOs), both on the system OpenSSL, running the same TLS workloads
as ours and C on the same certificates and keys.

    python3 python_peers.py DIRECTORY

DIRECTORY holds what the harness wrote (TLSFixtures.write): ecdsa-root.pem, ecdsa-chain.pem,
ecdsa-key.pem and the same for rsa. The script prints "ready LIBRARY..." and a line of versions,
then answers each request line "LIBRARY WORKLOAD ITERATIONS" with the CPU seconds of its thread
(time.thread_time) that the iterations took, or a line of text saying what failed. Workloads:
handshake-ecdsa, handshake-rsa (a full handshake, the client verifying the chain and the host name,
tickets read, nothing resumed), resumed (the ECDSA server, the client offering its last session,
clean close both ways) and bulk (one 16 KiB record from client to server, read whole).
"""

import os
import ssl
import sys
import time

HOST = "www.example.com"
RECORD = bytes((i * 31 + 7) & 0xFF for i in range(16384))


class Peer:
    """The workloads, in terms of what each library does differently: connect (a whole handshake,
    returning the pair), close (close_notify both ways), the session, whether it was reused, and
    one record through an established pair."""

    name = ""

    def __init__(self):
        self.session = None
        self.pair = None

    def handshake(self, kind, iterations):
        for _ in range(iterations):
            self.connect(kind)

    def resumed(self, iterations):
        if self.session is None:
            pair = self.connect("ecdsa")
            self.close(pair)
            self.session = self.session_of(pair)
        for _ in range(iterations):
            pair = self.connect("ecdsa", self.session)
            if not self.reused(pair):
                raise RuntimeError(self.name + ": the session was not resumed")
            self.close(pair)
            self.session = self.session_of(pair)

    def bulk(self, iterations):
        if self.pair is None:
            self.pair = self.connect("ecdsa")
        for _ in range(iterations):
            self.transfer(self.pair)



class PythonSSL(Peer):
    """Python's ssl module: SSLContext.wrap_bio over MemoryBIOs."""

    name = "python_ssl"

    def __init__(self, directory):
        self.servers = {}
        for kind in ("ecdsa", "rsa"):
            server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            server.minimum_version = ssl.TLSVersion.TLSv1_2
            server.load_cert_chain(os.path.join(directory, kind + "-chain.pem"), os.path.join(directory, kind + "-key.pem"))
            self.servers[kind] = server
        # PROTOCOL_TLS_CLIENT verifies the peer and checks the host name.
        self.client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self.client.minimum_version = ssl.TLSVersion.TLSv1_2
        for kind in ("ecdsa", "rsa"):
            self.client.load_verify_locations(os.path.join(directory, kind + "-root.pem"))
        super().__init__()

    def connect(self, kind, session=None):
        client_in, client_out, server_in, server_out = (ssl.MemoryBIO() for _ in range(4))
        client = self.client.wrap_bio(client_in, client_out, server_hostname=HOST, session=session)
        server = self.servers[kind].wrap_bio(server_in, server_out, server_side=True)
        client_done = server_done = False
        for _ in range(10):
            if not client_done:
                try:
                    client.do_handshake()
                    client_done = True
                except ssl.SSLWantReadError:
                    pass
            server_in.write(client_out.read())
            if not server_done:
                try:
                    server.do_handshake()
                    server_done = True
                except ssl.SSLWantReadError:
                    pass
            client_in.write(server_out.read())
            if client_done and server_done:
                try:
                    client.read(16384)  # the tickets in flight
                except ssl.SSLWantReadError:
                    pass
                return (client, client_in, client_out), (server, server_in, server_out)
        raise RuntimeError("python ssl: the handshake did not finish")

    @staticmethod
    def close(pair):
        (client, client_in, client_out), (server, server_in, server_out) = pair
        try:
            client.unwrap()
        except ssl.SSLWantReadError:
            pass
        server_in.write(client_out.read())
        # close_notify reads as the end of the data: b"" (SSL_ERROR_ZERO_RETURN).
        try:
            if server.read(16384):
                raise RuntimeError("python ssl: data instead of close_notify")
        except ssl.SSLZeroReturnError:
            pass
        server.unwrap()
        client_in.write(server_out.read())
        client.unwrap()

    @staticmethod
    def session_of(pair):
        return pair[0][0].session

    @staticmethod
    def reused(pair):
        return pair[0][0].session_reused

    @staticmethod
    def transfer(pair):
        (client, _, client_out), (server, server_in, _) = pair
        client.write(RECORD)
        server_in.write(client_out.read())
        received = 0
        while received < len(RECORD):
            received += len(server.read(16384))


class PyOpenSSL(Peer):
    """pyOpenSSL: Connection(context, None) reads and writes memory BIOs."""

    name = "pyopenssl"

    def __init__(self, directory):
        from OpenSSL import SSL
        from OpenSSL._util import lib

        self.SSL = SSL
        self.lib = lib
        self.servers = {}
        for kind in ("ecdsa", "rsa"):
            server = SSL.Context(SSL.TLS_SERVER_METHOD)
            server.set_min_proto_version(SSL.TLS1_2_VERSION)
            server.use_certificate_chain_file(os.path.join(directory, kind + "-chain.pem"))
            server.use_privatekey_file(os.path.join(directory, kind + "-key.pem"))
            self.servers[kind] = server
        self.client = SSL.Context(SSL.TLS_CLIENT_METHOD)
        self.client.set_min_proto_version(SSL.TLS1_2_VERSION)
        for kind in ("ecdsa", "rsa"):
            self.client.load_verify_locations(os.path.join(directory, kind + "-root.pem"))
        self.client.set_verify(SSL.VERIFY_PEER)
        self.client.set_session_cache_mode(SSL.SESS_CACHE_CLIENT)
        super().__init__()

    def connect(self, kind, session=None):
        SSL, lib = self.SSL, self.lib
        client = SSL.Connection(self.client, None)
        client.set_connect_state()
        client.set_tlsext_host_name(HOST.encode())
        # pyOpenSSL has no host name check of its own: OpenSSL's, as C sets it.
        param = lib.SSL_get0_param(client._ssl)
        lib.X509_VERIFY_PARAM_set_hostflags(param, lib.X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS)
        if lib.X509_VERIFY_PARAM_set1_host(param, HOST.encode(), 0) != 1:
            raise RuntimeError("pyOpenSSL: X509_VERIFY_PARAM_set1_host failed")
        if session is not None:
            client.set_session(session)
        server = SSL.Connection(self.servers[kind], None)
        server.set_accept_state()
        client_done = server_done = False
        for _ in range(10):
            if not client_done:
                try:
                    client.do_handshake()
                    client_done = True
                except SSL.WantReadError:
                    pass
            self.move(client, server)
            if not server_done:
                try:
                    server.do_handshake()
                    server_done = True
                except SSL.WantReadError:
                    pass
            self.move(server, client)
            if client_done and server_done:
                try:
                    client.recv(16384)  # the tickets in flight
                except SSL.WantReadError:
                    pass
                return client, server
        raise RuntimeError("pyOpenSSL: the handshake did not finish")

    def move(self, source, destination):
        while True:
            try:
                data = source.bio_read(65536)
            except self.SSL.WantReadError:
                return
            destination.bio_write(data)

    def close(self, pair):
        SSL = self.SSL
        client, server = pair
        client.shutdown()
        self.move(client, server)
        try:
            server.recv(16384)
            raise RuntimeError("pyOpenSSL: data instead of close_notify")
        except SSL.ZeroReturnError:
            pass
        server.shutdown()
        self.move(server, client)
        client.shutdown()

    @staticmethod
    def session_of(pair):
        return pair[0].get_session()

    def reused(self, pair):
        return self.lib.SSL_session_reused(pair[0]._ssl) == 1

    def transfer(self, pair):
        client, server = pair
        client.sendall(RECORD)
        self.move(client, server)
        received = 0
        while received < len(RECORD):
            received += len(server.recv(16384))


def run(library, workload, iterations):
    if workload == "handshake-ecdsa":
        library.handshake("ecdsa", iterations)
    elif workload == "handshake-rsa":
        library.handshake("rsa", iterations)
    elif workload == "resumed":
        library.resumed(iterations)
    elif workload == "bulk":
        library.bulk(iterations)
    else:
        raise RuntimeError("unknown workload " + workload)


def main():
    directory = sys.argv[1]
    libraries = {"python_ssl": PythonSSL(directory)}
    versions = ["Python " + sys.version.split()[0], "ssl on " + ssl.OPENSSL_VERSION]
    try:
        import OpenSSL

        libraries["pyopenssl"] = PyOpenSSL(directory)
        versions.append("pyOpenSSL " + OpenSSL.__version__ + " on " + OpenSSL.SSL.SSLeay_version(OpenSSL.SSL.SSLEAY_VERSION).decode())
    except ImportError:
        versions.append("no pyOpenSSL")
    print("ready " + " ".join(libraries), flush=True)
    print(", ".join(versions), flush=True)
    for line in sys.stdin:
        try:
            name, workload, count = line.split()
            library = libraries[name]
            start = time.thread_time()
            run(library, workload, int(count))
            print(repr(time.thread_time() - start), flush=True)
        except Exception as error:  # answered, so the harness can say what failed
            print("error: " + repr(error).replace("\n", " "), flush=True)


if __name__ == "__main__":
    main()
