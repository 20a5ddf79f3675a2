"""An LDAP directory for the LDAP login tests: ldaptor's in-memory server (a real LDAP v3
protocol implementation on Twisted) loaded from an LDIF file.

    python ldap_server.py --ip IP --port P --ldif directory.ldif
"""

import argparse

from ldaptor.inmemory import fromLDIFFile
from ldaptor.interfaces import IConnectedLDAPEntry
from ldaptor.protocols.ldap.ldapserver import LDAPServer
from twisted.internet import reactor
from twisted.internet.protocol import ServerFactory
from twisted.python.components import registerAdapter


class Factory(ServerFactory):
    protocol = LDAPServer

    def __init__(self, root):
        self.root = root


registerAdapter(lambda factory: factory.root, Factory, IConnectedLDAPEntry)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ip", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--ldif", required=True)
    a = p.parse_args()
    d = fromLDIFFile(open(a.ldif, "rb"))
    d.addCallback(lambda root: reactor.listenTCP(a.port, Factory(root), interface=a.ip))
    d.addErrback(lambda f: (print(f), reactor.stop()))
    reactor.run()


if __name__ == "__main__":
    main()
