// The request decoder under libFuzzer: body, Content-Type and query string → a call bound to
// declared parameters. Whatever the bytes, it must answer with a value or an RPCError, never
// crash, hang or grow without bound.
//
//   scripts/fuzz [SECONDS]          # builds with -sanitize=fuzzer,address and runs on Tests/FuzzCorpus
//   swift run FuzzRequestDecoder Tests/FuzzCorpus/*   # replays inputs, no fuzzer
import SwiftRPC

/// Content types the decoder treats differently; the first input byte picks one.
let contentTypes: [String?] = [nil, "application/json", "application/json; charset=utf-8", "text/plain", "application/x-www-form-urlencoded", "APPLICATION/JSON", "multipart/form-data"]
let parameterLists: [[Parameter]] = [
    [.int("a"), .int("b")],
    [.any("a"), .any("b"), .any("name", default: "x")],
    [.double("seconds", default: 5)],
    [.string("s").optional, .bool("flag", default: false), .array("list"), .object("map")],
]

/// One input: byte 0 picks the content type, byte 1 the parameter list; then the query string
/// runs to the first NUL byte and the body is the rest.
func decodeOneInput(_ bytes: [UInt8]) {
    guard bytes.count >= 2 else { return }
    let contentType = contentTypes[Int(bytes[0]) % contentTypes.count]
    let parameters = parameterLists[Int(bytes[1]) % parameterLists.count]
    let rest = bytes.dropFirst(2)
    let split = rest.firstIndex(of: 0)
    let query = split.map { String(decoding: rest[rest.startIndex..<$0], as: UTF8.self) }
    let body = Array(split.map { rest[rest.index(after: $0)...] } ?? rest)
    do {
        let call = try CallDecoder.decode(contentType: contentType, body: body, query: query)
        let arguments = try Arguments.bind(positional: call.positional, keywords: call.keywords, to: parameters, function: "f")
        // Whatever was accepted serializes back to JSON that parses.
        let json = JSONValue.object(arguments.keywords).jsonText
        _ = try JSONParser.parse(json)
    } catch {
        // An RPCError (bad_request or invalid_arguments) is the expected answer to garbage.
    }
    _ = try? JSONParser.parse(body)
}

import CFuzzDriver
import Foundation

@main
struct FuzzRequestDecoder {
    static func main() throws {
        #if FUZZING
        // Built by scripts/fuzz with -sanitize=fuzzer: libFuzzer drives, with its usual flags.
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in
            decodeOneInput(Array(UnsafeBufferPointer(start: data, count: size)))
            return 0
        })
        #else
        // A plain build decodes each file named on the command line once.
        var count = 0
        for path in CommandLine.arguments.dropFirst() {
            decodeOneInput(Array(try Data(contentsOf: URL(fileURLWithPath: path))))
            count += 1
        }
        print("decoded \(count) inputs without a crash")
        #endif
    }
}
