// Throughput of the Redis client: one command per round trip, many callers sharing one
// connection (pipelined by concurrency), and explicit batches. Prints a TSV line each.
// One caller is measured through both APIs: async/await (the worker, the CLI), which hops
// between a task and the event loop on every round trip, and the event-loop API the front's
// handlers use (`submit(_:on:)`, futures chained on the connection's own loop, no hop).
import Logging
import NIOCore
import Redis

let arguments = CommandLine.arguments
let url = arguments.count > 1 ? arguments[1] : "redis://127.0.0.1:6379/0"
let count = arguments.count > 2 ? Int(arguments[2]) ?? 200_000 : 200_000
var configuration = try RedisConfiguration(url: url)
configuration.connections = 1
let client = RedisClient(configuration: configuration, logger: Logger(label: "bench"))
try await client.ping()

func measure(_ name: String, operations: Int, _ body: () async throws -> Void) async throws {
    _ = try await client.send(["DEL", "bench:list"])
    let clock = ContinuousClock()
    let elapsed = try await clock.measure { try await body() }
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    print("redis_client\t\(name)\t\(Int(Double(operations) / seconds))")
}

print("bench\tmode\tops_per_s")
let sequential = count / 10
try await measure("unpipelined (1 caller, 1 command per round trip)", operations: sequential) {
    for _ in 0..<sequential { try await client.send(["LPUSH", "bench:list", "x"]) }
}
for callers in [16, 64, 256] {
    try await measure("pipelined by concurrency (\(callers) callers, 1 connection)", operations: count) {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<callers {
                group.addTask { for _ in 0..<(count / callers) { try await client.send(["LPUSH", "bench:list", "x"]) } }
            }
            try await group.waitForAll()
        }
    }
}
try await measure("explicit batches of 16 (1 caller)", operations: count) {
    let batch = Array(repeating: ["LPUSH", "bench:list", "x"], count: 16)
    for _ in 0..<(count / 16) { _ = try await client.pipeline(batch) }
}

/// `rounds` batches one after another, each sent when the previous one's replies are in,
/// all on `loop`.
func chain(_ batch: [[String]], rounds: Int, on loop: any EventLoop) -> EventLoopFuture<Void> {
    guard rounds > 0 else { return loop.makeSucceededVoidFuture() }
    return client.submit(batch, on: loop).flatMap { _ in chain(batch, rounds: rounds - 1, on: loop) }
}
let loop = client.eventLoopGroup.next()
try await measure("event-loop API, unpipelined (1 caller, 1 command per round trip)", operations: sequential) {
    try await chain([["LPUSH", "bench:list", "x"]], rounds: sequential, on: loop).get()
}
try await measure("event-loop API, explicit batches of 16 (1 caller)", operations: count) {
    try await chain(Array(repeating: ["LPUSH", "bench:list", "x"], count: 16), rounds: count / 16, on: loop).get()
}
_ = try await client.send(["DEL", "bench:list"])
await client.shutdown()
