// Job-queue measurements:
//   QueueBench fill REDIS_URL COUNT        enqueue COUNT test_mq jobs (untimed set-up for the drain)
//   QueueBench latency PORT COUNT          COUNT sequential POST /test_mq?wait=5 on one keep-alive
//                                          connection: enqueue -> worker -> result, p50/p99 in ms
import Foundation
import Logging
import Redis
import SwiftRPC
import SwiftRPCRedis
import TestSupport

let arguments = CommandLine.arguments
guard arguments.count == 4, let count = Int(arguments[3]) else {
    print("usage: QueueBench fill REDIS_URL COUNT | QueueBench latency PORT COUNT")
    exit(2)
}

switch arguments[1] {
case "fill":
    let client = RedisClient(configuration: try RedisConfiguration(url: arguments[2]), logger: Logger(label: "bench"))
    let jobs = RedisJobQueue(redis: client, logger: client.logger)
    try await withThrowingTaskGroup(of: Void.self) { group in
        for worker in 0..<64 {
            group.addTask {
                for index in stride(from: worker, to: count, by: 64) {
                    _ = try await jobs.enqueue(
                        EnqueueRequest(id: "bench-\(index)", function: "test_mq", queue: "default", positional: [.int(index), 1], keywords: JSONObject(), maxAttempts: 1))
                }
            }
        }
        try await group.waitForAll()
    }
    print("queued \(count) jobs")
    await client.shutdown()
case "latency":
    let connection = try RawHTTPConnection(port: Int(arguments[2]) ?? 8080)
    // One blocking loop on one thread: the client itself adds no thread hops to what is measured.
    var milliseconds = try await onOwnThread {
        var milliseconds: [Double] = []
        let clock = ContinuousClock()
        for index in 0..<(count + 50) {
            let body = #"{"args": [\#(index), 1]}"#
            let started = clock.now
            let answer = try connection.exchangeBlocking(
                "POST /test_mq?wait=5 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
            guard answer?.status == 200 else { throw TestSupportError("unexpected answer: \(answer?.text ?? "none")") }
            let elapsed = clock.now - started
            if index >= 50 {  // the first 50 warm up
                milliseconds.append(Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)
            }
        }
        return milliseconds
    }
    milliseconds.sort()
    func percentile(_ p: Double) -> Double { milliseconds[min(milliseconds.count - 1, Int(Double(milliseconds.count) * p))] }
    print(String(format: "latency\tn=%d\tp50_ms=%.3f\tp99_ms=%.3f\tmax_ms=%.3f", milliseconds.count, percentile(0.5), percentile(0.99), milliseconds.last ?? 0))
default:
    print("usage: QueueBench fill REDIS_URL COUNT | QueueBench latency PORT COUNT")
    exit(2)
}
