/// The few command-line options the two executables take: `--name value` pairs and flags.
public struct Arguments {
  public private(set) var positional: [String] = []
  private var options: [String: String] = [:]
  private var flags: Set<String> = []

  public init(_ arguments: [String], flags known: Set<String>) {
    var index = 0
    while index < arguments.count {
      let argument = arguments[index]
      if argument.hasPrefix("--") {
        let name = String(argument.dropFirst(2))
        if known.contains(name) {
          flags.insert(name)
        } else if index + 1 < arguments.count {
          options[name] = arguments[index + 1]
          index += 1
        } else {
          options[name] = ""
        }
      } else {
        positional.append(argument)
      }
      index += 1
    }
  }

  public func flag(_ name: String) -> Bool { flags.contains(name) }
  public func string(_ name: String) -> String? { options[name] }
  public func int(_ name: String) -> Int? { options[name].flatMap { Int($0) } }
  public func double(_ name: String) -> Double? { options[name].flatMap { Double($0) } }
}
