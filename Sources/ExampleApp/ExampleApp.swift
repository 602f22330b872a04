import SwiftRPC

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The functions of swift_rpc's own example (SPEC §6). The front and the worker both call
/// this, so they serve the same catalog.
public func registerExampleFunctions(in registry: inout FunctionRegistry) {
    // Parameters without a Swift type of their own (swift_rpc's were untyped) take any JSON.
    registry.register("test", Param<JSONValue>("args")) { args in
        "this is test \(args.plainText)"
    }
    registry.register("test_args", Param<JSONValue>("a"), Param<JSONValue>("b"), Param<JSONValue>("name", default: "xiaorui.cc")) { a, _, name in
        "this is test \(a.plainText) \(name.plainText)"
    }
    registry.register("add", Param<Int>("a"), Param<Int>("b")) { a, b in
        try checkedSum(a, b, function: "add")
    }
    registry.register("echo", Param<JSONValue>("value")) { value in
        value
    }
    registry.register("fail", Param<JSONValue>("message")) { (message) throws -> JSONValue in
        throw FunctionError(message.plainText)
    }
    registry.registerAsync("test_async", Param<JSONValue>("arg")) { arg in
        "this is test_async async \(arg.plainText)"
    }
    registry.registerPool("test_block", Param<Double>("seconds", default: 5)) { seconds in
        try blockThread(seconds: seconds)
        return "You said "
    }
    registry.registerMQ("test_mq", Param<Int>("a"), Param<Int>("b")) { a, b in
        try checkedSum(a, b, function: "test_mq")
    }
    registry.registerMQ("go", Param<Double>("seconds", default: 1)) { seconds in
        // Bounded: `Duration.seconds` traps on values such as 1e21.
        guard let duration = Duration.checkedSeconds(seconds, limit: 3600) else {
            throw FunctionError("seconds must be between 0 and 3600")
        }
        try await Task.sleep(for: duration)
        return "done after \(JSONValue.double(seconds).jsonText)s"
    }
    registry.registerMQ("fail_mq", Param<JSONValue>("message")) { (message) async throws -> JSONValue in
        throw FunctionError(message.plainText)
    }
}

/// `a + b`, or a function error when the sum does not fit in 64 bits (never a crash).
func checkedSum(_ a: Int, _ b: Int, function: String) throws -> Int {
    let (sum, overflow) = a.addingReportingOverflow(b)
    if overflow { throw FunctionError("\(function): the sum does not fit in a 64-bit integer") }
    return sum
}

/// Blocks the calling thread (the point of `test_block`: it stands for blocking I/O).
func blockThread(seconds: Double) throws {
    guard Duration.checkedSeconds(seconds, limit: 3600) != nil else {
        throw FunctionError("seconds must be between 0 and 3600")
    }
    var request = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - seconds.rounded(.down)) * 1_000_000_000))
    var remaining = timespec()
    while nanosleep(&request, &remaining) != 0 && errno == EINTR {
        request = remaining
    }
}
