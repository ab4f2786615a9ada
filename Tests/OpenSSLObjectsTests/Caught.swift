import Testing

/// The error of type `Failure` that `body` throws; records an issue (and throws) when it succeeds
/// or throws another kind of error.
func caught<Failure: Error>(
  _ type: Failure.Type, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
) throws -> Failure {
  do {
    try body()
  } catch let error as Failure {
    return error
  }
  Issue.record("no \(Failure.self) was thrown", sourceLocation: sourceLocation)
  throw NothingThrown()
}

/// The error of type `Failure` that the asynchronous `body` throws (see the synchronous one).
func caught<Failure: Error>(
  _ type: Failure.Type, sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void
) async throws -> Failure {
  do {
    try await body()
  } catch let error as Failure {
    return error
  }
  Issue.record("no \(Failure.self) was thrown", sourceLocation: sourceLocation)
  throw NothingThrown()
}

/// The body of ``caught(_:sourceLocation:_:)`` did not throw.
struct NothingThrown: Error {}
