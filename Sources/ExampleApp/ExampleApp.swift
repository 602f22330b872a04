import SwiftRPC

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The functions of swift_rpc's own example (SPEC §6). The front and the worker both call
/// this, so they serve the same catalog.
public func registerExampleFunctions(in registry: inout FunctionRegistry) {
    registry.register("test", .any("args")) { args in
        "this is test \(args.text("args"))"
    }
    registry.register("test_args", .any("a"), .any("b"), .any("name", default: "xiaorui.cc")) { args in
        "this is test \(args.text("a")) \(args.text("name"))"
    }
    registry.register("add", .int("a"), .int("b")) { args in
        try checkedSum(args, function: "add")
    }
    registry.register("echo", .any("value")) { args in
        args["value"]
    }
    registry.register("fail", .any("message")) { (args) throws -> JSONValue in
        throw FunctionError(args.text("message"))
    }
    registry.registerAsync("test_async", .any("arg")) { args in
        "this is test_async async \(args.text("arg"))"
    }
    registry.registerPool("test_block", .double("seconds", default: 5)) { args in
        try blockThread(seconds: args.double("seconds"))
        return "You said "
    }
    registry.registerMQ("test_mq", .int("a"), .int("b")) { args in
        try checkedSum(args, function: "test_mq")
    }
    registry.registerMQ("go", .double("seconds", default: 1)) { args in
        let seconds = try args.double("seconds")
        // Bounded: `Duration.seconds` traps on values such as 1e21.
        guard let duration = Duration.checkedSeconds(seconds, limit: 3600) else {
            throw FunctionError("seconds must be between 0 and 3600")
        }
        try await Task.sleep(for: duration)
        return "done after \(JSONValue.double(seconds).jsonText)s"
    }
    registry.registerMQ("fail_mq", .any("message")) { (args) async throws -> JSONValue in
        throw FunctionError(args.text("message"))
    }
}

/// `a + b`, or a function error when the sum does not fit in 64 bits (never a crash).
func checkedSum(_ args: Arguments, function: String) throws -> Int {
    let (sum, overflow) = try args.int("a").addingReportingOverflow(try args.int("b"))
    if overflow { throw FunctionError("\(function): the sum does not fit in a 64-bit integer") }
    return sum
}

/// Blocks the calling thread (the point of `test_block`: it stands for blocking I/O).
func blockThread(seconds: Double) throws {
    guard seconds.isFinite, seconds >= 0, seconds <= 3600 else {
        throw FunctionError("seconds must be between 0 and 3600")
    }
    var request = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - seconds.rounded(.down)) * 1_000_000_000))
    var remaining = timespec()
    while nanosleep(&request, &remaining) != 0 && errno == EINTR {
        request = remaining
    }
}
