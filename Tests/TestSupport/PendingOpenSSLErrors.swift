import COpenSSLFull

/// Takes the errors off this thread's OpenSSL queue (`ERR_get_error_all`) and describes them,
/// oldest first, each with the function, file and line that raised it: for a test's message when
/// it finds an error left behind, so that the message names who left it.
public func pendingOpenSSLErrors() -> String {
  var lines: [String] = []
  while true {
    var file: UnsafePointer<CChar>?
    var function: UnsafePointer<CChar>?
    var line: Int32 = 0
    let code = ERR_get_error_all(&file, &line, &function, nil, nil)
    if code == 0 { break }
    var text = [CChar](repeating: 0, count: 256)
    ERR_error_string_n(code, &text, text.count)
    let place = "\(file.map { String(cString: $0) } ?? "?"):\(line) \(function.map { String(cString: $0) } ?? "?")"
    lines.append(
      "\(String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)) at \(place)")
  }
  return lines.isEmpty ? "no error pending" : lines.joined(separator: "; ")
}
