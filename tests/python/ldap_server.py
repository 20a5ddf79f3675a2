"""An LDAP directory for the LDAP login tests: ldaptor's in-memory server (a real LDAP v3
protocol implementation on Twisted) loaded from an LDIF file, in plain text, with StartTLS
(RFC 4511 4.14, which ldaptor's server lacks: added here) or as ldaps.

    python ldap_server.py --ip IP --port P --ldif directory.ldif [--tls starttls|ldaps
        --cert cert.pem --key key.pem]
"""

import argparse

from ldaptor.inmemory import fromLDIFFile
from ldaptor.interfaces import IConnectedLDAPEntry
from ldaptor.protocols import pureldap
from ldaptor.protocols.ldap.ldapserver import LDAPServer
from twisted.internet import reactor, ssl
from twisted.internet.protocol import ServerFactory
from twisted.python.components import registerAdapter


class TLSServer(LDAPServer):
    """Answers StartTLS, then speaks TLS on the same connection."""

    def extendedRequest_startTLS(self, data, reply):
        if self.factory.tls is None:
            raise ValueError("no certificate")
        reply(pureldap.LDAPStartTLSResponse(resultCode=0))
        self.transport.startTLS(self.factory.tls)
        return None

    extendedRequest_startTLS.oid = pureldap.LDAPStartTLSRequest.oid


class Factory(ServerFactory):
    protocol = TLSServer

    def __init__(self, root, tls=None):
        self.root, self.tls = root, tls


registerAdapter(lambda factory: factory.root, Factory, IConnectedLDAPEntry)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ip", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--ldif", required=True)
    p.add_argument("--tls", choices=["none", "starttls", "ldaps"], default="none")
    p.add_argument("--cert")
    p.add_argument("--key")
    a = p.parse_args()
    tls = ssl.DefaultOpenSSLContextFactory(a.key, a.cert) if a.tls != "none" else None

    def listen(root):
        if a.tls == "ldaps":
            return reactor.listenSSL(a.port, Factory(root, tls), tls, interface=a.ip)
        return reactor.listenTCP(a.port, Factory(root, tls), interface=a.ip)

    d = fromLDIFFile(open(a.ldif, "rb"))
    d.addCallback(listen)
    d.addErrback(lambda f: (print(f), reactor.stop()))
    reactor.run()


if __name__ == "__main__":
    main()
