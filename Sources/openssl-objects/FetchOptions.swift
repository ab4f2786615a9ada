import ArgumentParser
import OpenSSLObjects

/// Options of the commands that fetch revocation data over the network (OCSP responses, CRLs).
struct FetchOptions: ParsableArguments {
  @Flag(
    name: .customLong("allow-private-destinations"),
    help: "Let fetches reach loopback and private addresses (by default only public addresses are contacted).")
  var allowPrivateDestinations = false

  /// The destination policy the flags ask for.
  var destinations: DestinationPolicy { allowPrivateDestinations ? .allowingPrivate : .publicOnly }
}
